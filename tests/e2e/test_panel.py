"""The CCTV sidebar panel in a real browser against a real Home Assistant process.

Playwright drives Debian's Chromium (`executable_path`; Playwright's browser download cannot
run here) with Home Assistant's real frontend: the user's tokens are put where the frontend
keeps them (localStorage ``hassTokens``, exactly what its login page stores), ``/cctv`` opens
the panel, and the test uses it like a person would: live grid, a camera's timeline, playback
across a segment boundary, export and download (checked with ffprobe), and a non-admin user
who sees no delete button and whom the API refuses.
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from datetime import datetime
import json
from pathlib import Path
import sqlite3
import subprocess
import time
from typing import Any
from zoneinfo import ZoneInfo

from tests.e2e import chromium
from tests.e2e.harness import (
    CHROMIUM_ARGS,
    ROOT,
    RunningHomeAssistant,
    login_tokens,
    open_panel,
    ws_call,
    zoom_to_footage,
)
from tests.e2e.provision import provision
from tests.simulator import CameraSimulator

ARTIFACTS = ROOT / "test-artifacts"
VIEWER = ("viewer", "viewer-password")


def _segments(db: Path, camera: str) -> list[tuple[float, float]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT start_ts, end_ts FROM segments WHERE camera = ? ORDER BY start_ts", (camera,)
        ).fetchall()


def _create_viewer(base: str, admin_token: str) -> None:
    """A non-admin user (the ordinary 'users' group) with a password login."""
    created = asyncio.run(
        ws_call(
            base,
            admin_token,
            {"type": "config/auth/create", "name": "Viewer", "group_ids": ["system-users"]},
        )
    )[0]
    assert created["success"], created
    user_id = created["result"]["user"]["id"]
    answer = asyncio.run(
        ws_call(
            base,
            admin_token,
            {
                "type": "config/auth_provider/homeassistant/create",
                "user_id": user_id,
                "username": VIEWER[0],
                "password": VIEWER[1],
            },
        )
    )[0]
    assert answer["success"], answer


def _ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(result.stdout))


def _grid(page: Any, panel: Any) -> None:
    """The live grid: both cameras, their state badges, a live view in each tile; enlarge."""
    tiles = panel.locator("section.tile")
    assert tiles.count() == 2
    assert tiles.locator(".name").all_inner_texts() == ["Driveway", "Garden"]
    driveway = panel.locator("section.tile[data-camera=driveway]")
    driveway.locator(".badge.ok").wait_for(timeout=30_000)
    driveway.locator(".badge.rec").wait_for(timeout=30_000)
    # The camera records: its tile plays the panel's own live video (HLS from the recording
    # being written), moving, and no Home Assistant card (no stream session) in the grid.
    moving = "video => video.readyState >= 2 && video.currentTime > 1"
    own = driveway.locator("cctv-live-video video")
    own.wait_for(timeout=60_000)
    page.wait_for_function(moving, arg=own.element_handle(), timeout=60_000)
    assert driveway.locator("hui-picture-entity-card").count() == 0
    page.screenshot(path=str(ARTIFACTS / "panel-grid-desktop.png"))
    # Enlarged: Home Assistant's own picture-entity card in live mode (WebRTC/HLS, audio), its
    # video moving. The page was opened on the panel itself: Home Assistant's dashboards' code
    # (their card helpers) was never loaded, and the panel loads it (without it the card kept
    # the still picture).
    driveway.locator("button.view").click()
    big = panel.locator(".overlay .big")
    big.wait_for()
    video = big.locator("hui-picture-entity-card video")
    video.wait_for(timeout=60_000)
    page.wait_for_function(moving, arg=video.element_handle(), timeout=60_000)
    page.keyboard.press("Escape")
    panel.locator(".overlay").wait_for(state="detached")


def _playback(page: Any, panel: Any, first_segment: tuple[float, float]) -> None:
    """Open the timeline, zoom in with the wheel, click the footage: it plays past a boundary."""
    panel.locator("section.tile[data-camera=driveway] button.open").click()
    box = zoom_to_footage(page, panel)
    panel.locator("select").select_option("4")
    page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
    video = panel.locator("video")
    video.wait_for(state="visible", timeout=30_000)
    boundary = first_segment[1] - first_segment[0] + 1
    try:
        page.wait_for_function(
            "([el, boundary]) => el.currentTime > boundary",
            arg=[video.element_handle(), boundary],
            timeout=90_000,
        )
    finally:
        page.screenshot(path=str(ARTIFACTS / "panel-playback-desktop.png"))
        state = video.evaluate(
            "v => ({t: v.currentTime, err: v.error && v.error.code, paused: v.paused,"
            " rate: v.playbackRate, w: v.videoWidth, ready: v.readyState})"
        )
        print("video state:", state, panel.locator(".message").all_inner_texts())
    assert state["rate"] == 4
    assert state["err"] is None
    assert state["w"] == 1920
    # "Now playing" is the wall-clock time of the frame, in Home Assistant's zone (Amsterdam).
    video.evaluate("v => v.pause()")
    page.wait_for_timeout(500)  # the last timeupdate after the pause
    media = video.evaluate("v => v.currentTime")
    text = panel.locator(".now time").inner_text()
    shown = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(
        tzinfo=ZoneInfo("Europe/Amsterdam")
    )
    moment = shown.timestamp()
    assert first_segment[0] - 1 <= moment - media <= first_segment[0] + 30, (shown, media)


def _drag_select(page: Any, panel: Any, pixels: float) -> None:
    box = panel.locator(".timeline .span").first.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + max(min(box["width"] - 2, pixels), 30), y, steps=8)
    page.mouse.up()
    assert "Selection" in panel.locator(".sel-text").inner_text()


def _export(page: Any, panel: Any, target: Path) -> None:
    """Select a range by dragging, export it, download it (ffprobe), see the other tabs."""
    _drag_select(page, panel, 400)
    assert panel.locator("button.delete").count() == 1  # the admin sees it
    panel.locator("button.export").click()
    link = panel.locator(".job.done a.download")
    link.wait_for(timeout=120_000)
    with page.expect_download() as info:
        link.click()
    info.value.save_as(target)
    # Admin actions on the same selection: protect, then unprotect.
    panel.locator("button.protect").click()
    panel.locator(".message", has_text="segments protected").wait_for()
    panel.locator("button.unprotect").click()
    panel.locator(".message", has_text="segments unprotected").wait_for()
    probe = _ffprobe(target)
    video_stream = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert video_stream["codec_name"] == "h264"
    assert float(probe["format"]["duration"]) > 1
    panel.locator("button[role=tab]", has_text="Exports").click()
    assert panel.locator("ul.exports li").count() >= 1
    panel.locator("button[role=tab]", has_text="Storage").click()
    panel.locator(".storage table tbody tr").nth(1).wait_for()
    page.screenshot(path=str(ARTIFACTS / "panel-storage-desktop.png"))


def _phone(browser: Any, base: str, tokens: dict[str, Any]) -> None:
    """Phone width, dark theme: one column of tiles, and the timeline opens."""
    # In dark mode: Home Assistant's default theme follows the device, and so does the panel.
    phone = open_panel(browser, base, tokens, {"width": 390, "height": 844}, "dark")
    panel = phone.locator("cctv-panel")
    background = panel.evaluate(
        "el => getComputedStyle(el).backgroundColor.match(/[0-9.]+/g).slice(0, 3).map(Number)"
    )
    assert sum(background) / 3 < 100, background  # a dark background
    boxes = [t.bounding_box() for t in panel.locator("section.tile").all()]
    assert len(boxes) == 2
    assert boxes[0] is not None
    assert boxes[1] is not None
    assert all(b is not None and b["width"] <= 390 for b in boxes)
    assert boxes[1]["y"] > boxes[0]["y"]  # stacked, one column
    phone.screenshot(path=str(ARTIFACTS / "panel-grid-phone.png"))
    panel.locator("section.tile[data-camera=driveway] button.open").click()
    panel.locator(".timeline .span").first.wait_for()
    phone.screenshot(path=str(ARTIFACTS / "panel-timeline-phone.png"))
    phone.context.close()


def _viewer(browser: Any, base: str, tokens: dict[str, Any]) -> None:
    """A non-admin user: same cameras, may export, but no protect/delete and no settings link."""
    page = open_panel(browser, base, tokens, {"width": 1280, "height": 860})
    panel = page.locator("cctv-panel")
    assert panel.locator("section.tile").count() == 2
    assert panel.locator("a.settings").count() == 0
    panel.locator("section.tile[data-camera=driveway] button.open").click()
    zoom_to_footage(page, panel)
    _drag_select(page, panel, 200)
    panel.locator("button.export").wait_for()
    assert panel.locator("button.delete").count() == 0
    assert panel.locator("button.protect").count() == 0
    # Keyboard: focus the timeline, move with the arrow keys, Enter plays.
    panel.locator(".timeline").focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    panel.locator(".timeline .cursor").wait_for()
    page.keyboard.press("Enter")
    panel.locator("video").wait_for(state="visible", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "panel-viewer-desktop.png"))
    page.context.close()


def test_panel_in_chromium(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator, tmp_path: Path
) -> None:
    """Live grid, timeline, playback across a boundary, export + download, non-admin limits."""
    from playwright.sync_api import sync_playwright

    api = home_assistant.api()
    provision(api, f"rtsp://127.0.0.1:{simulator.rtsp_port}", "dev", "dev-password")
    assert api.token is not None
    _create_viewer(home_assistant.url, api.token)
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    deadline = time.monotonic() + 120
    while len(rows := (_segments(db, "driveway") if db.exists() else [])) < 3:
        assert time.monotonic() < deadline, "no footage recorded"
        time.sleep(2)
    admin_tokens = login_tokens(api, "dev", "dev-password")
    viewer_tokens = login_tokens(api, *VIEWER)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium.executable(), args=CHROMIUM_ARGS
        )
        try:
            page = open_panel(
                browser, home_assistant.url, admin_tokens, {"width": 1280, "height": 860}
            )
            panel = page.locator("cctv-panel")
            _grid(page, panel)
            _playback(page, panel, rows[0])
            _export(page, panel, tmp_path / "export.mp4")
            page.context.close()
            _phone(browser, home_assistant.url, admin_tokens)
            _viewer(browser, home_assistant.url, viewer_tokens)
        finally:
            browser.close()

    # The API refuses the viewer's delete, and nothing was deleted.
    start, end = rows[0]
    answer = asyncio.run(
        ws_call(
            home_assistant.url,
            viewer_tokens["access_token"],
            {"type": "cctv_nvr/delete", "camera": "driveway", "start": start, "end": end},
        )
    )[0]
    assert not answer["success"]
    assert answer["error"]["code"] == "unauthorized"
    assert _segments(db, "driveway")[0] == rows[0]
