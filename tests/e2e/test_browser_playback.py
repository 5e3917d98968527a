"""Recorded footage plays in a real browser: Chromium (Debian's) with hls.js, via Playwright.

Playwright drives the system Chromium (`executable_path`); its own browser download cannot
run here. hls.js is installed from npm by scripts/setup (.cache/browser-test).
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from pathlib import Path
import shutil
import sqlite3
import time

import aiohttp
import pytest

from tests.e2e.conftest import ROOT, RunningHomeAssistant
from tests.e2e.provision import provision
from tests.simulator import CameraSimulator

HLSJS = ROOT / ".cache" / "browser-test" / "node_modules" / "hls.js" / "dist" / "hls.min.js"
ARTIFACTS = ROOT / "test-artifacts"
PAGE = """<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline style="width:100%"></video>
<script src="/cctv-test/hls.min.js"></script>
<script>
  const video = document.getElementById("v");
  window.fatal = null;
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) window.fatal = data.details; });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
  hls.loadSource(PLAYLIST);
  hls.attachMedia(video);
</script></body></html>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.fail("Chromium is required for the browser tests (apt-get install chromium)")


def _segments(db: Path, camera: str) -> list[tuple[float, float]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT start_ts, end_ts FROM segments WHERE camera = ? ORDER BY start_ts", (camera,)
        ).fetchall()


async def _resolve(base: str, token: str, media_id: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{base}/api/websocket") as ws,
    ):
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        await ws.send_json(
            {"id": 1, "type": "media_source/resolve_media", "media_content_id": media_id}
        )
        answer = await ws.receive_json()
        assert answer["success"], answer
        return str(answer["result"]["url"])


def test_recording_plays_across_segments_in_chromium(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator
) -> None:
    """The media browser's item plays in Chromium and keeps playing past a segment boundary."""
    from playwright.sync_api import sync_playwright

    if not HLSJS.is_file():
        pytest.fail(f"{HLSJS} is missing: run scripts/setup (it installs hls.js with npm)")
    api = home_assistant.api()
    provision(api, f"rtsp://127.0.0.1:{simulator.rtsp_port}", "dev", "dev-password")
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    deadline = time.monotonic() + 90
    while len(rows := (_segments(db, "driveway") if db.exists() else [])) < 3:
        assert time.monotonic() < deadline, "no footage recorded"
        time.sleep(2)
    first_end = rows[0][1] - rows[0][0]
    start, end = int(rows[0][0]), int(rows[-1][1])
    assert api.token is not None
    url = asyncio.run(
        _resolve(
            home_assistant.url, api.token, f"media-source://cctv_nvr/play/driveway/{start}/{end}"
        )
    )
    assert "authSig=" in url
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            page = browser.new_page()
            html = PAGE.replace("PLAYLIST", repr(url))
            # Served on Home Assistant's own origin, so the signed URLs are same-origin requests.
            page.route(
                f"{home_assistant.url}/cctv-test/page.html",
                lambda route: route.fulfill(body=html, content_type="text/html"),
            )
            page.route(
                f"{home_assistant.url}/cctv-test/hls.min.js",
                lambda route: route.fulfill(path=str(HLSJS), content_type="text/javascript"),
            )
            page.goto(f"{home_assistant.url}/cctv-test/page.html")
            # Past the first segment's end: playback crossed a segment boundary.
            boundary = first_end + 1
            page.wait_for_function(
                f"window.fatal !== null || document.getElementById('v').currentTime > {boundary}",
                timeout=60_000,
            )
            assert page.evaluate("window.fatal") is None
            assert page.evaluate("document.getElementById('v').videoWidth") == 1920
            assert page.evaluate("document.getElementById('v').error") is None
            page.screenshot(path=str(ARTIFACTS / "browser-playback.png"))
        finally:
            browser.close()
