"""Recorded footage plays in a real browser: Chromium (Debian's) with hls.js, via Playwright.

Chromium and hls.js as tests/e2e/chromium.py sets them up (shared with the other browser tests
and the bench).
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from pathlib import Path
import sqlite3
import time

import pytest

from tests.e2e import chromium
from tests.e2e.harness import ROOT, RunningHomeAssistant, ws_call
from tests.e2e.provision import provision
from tests.simulator import CameraSimulator

ARTIFACTS = ROOT / "test-artifacts"


def _segments(db: Path, camera: str) -> list[tuple[float, float]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT start_ts, end_ts FROM segments WHERE camera = ? ORDER BY start_ts", (camera,)
        ).fetchall()


async def _resolve(base: str, token: str, media_id: str) -> str:
    (answer,) = await ws_call(
        base, token, {"type": "media_source/resolve_media", "media_content_id": media_id}
    )
    assert answer["success"], answer
    return str(answer["result"]["url"])


def test_recording_plays_across_segments_in_chromium(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator
) -> None:
    """The media browser's item plays in Chromium and keeps playing past a segment boundary."""
    from playwright.sync_api import sync_playwright

    try:
        executable = chromium.executable()
    except chromium.BrowserMissingError as err:
        pytest.fail(str(err))
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
        browser = playwright.chromium.launch(executable_path=executable, args=chromium.ARGS)
        try:
            page = browser.new_page()
            # On Home Assistant's own origin: the signed URLs are same-origin requests. Past the
            # first segment's end: playback crossed a segment boundary.
            played = chromium.play_until(page, home_assistant.url, url, first_end + 1, 60)
            assert played == {"fatal": None, "width": 1920, "error": None}
            page.screenshot(path=str(ARTIFACTS / "browser-playback.png"))
        finally:
            browser.close()
