"""H.265 cameras in Chromium: recorded footage and live video as H.264 renditions.

Debian's Chromium decodes no HEVC (``MediaSource.isTypeSupported`` says no to the footage's
``hvc1...`` string), so the panel asks for the rendition playlist: a real Home Assistant
transcodes each part with ffmpeg as hls.js asks for it. The Garden camera (provision.py)
records the simulator's H.265 mount. Its
recording is stopped for a few seconds so its footage has a gap; the panel plays from the
first segment, across a segment boundary and over the gap. First, while Home Assistant's
card can show it (its H.264 sub stream), its live tile tries the panel's own live video and,
as the browser cannot decode it, falls back to Home Assistant's card without asking for live
renditions. Then its live video is kept to the panel (made from its recording, H.265), so its
tile plays live H.264 renditions and moves on; stopped, the tile says the camera does not
record, and it plays again by itself when the recording resumes. Timing is generous: the
machine is loaded, and renditions are made on demand.
"""

from __future__ import annotations

from contextlib import closing
import json
from pathlib import Path
import sqlite3
import time
from typing import Any

from tests.e2e import chromium
from tests.e2e.harness import (
    CHROMIUM_ARGS,
    ROOT,
    RunningHomeAssistant,
    login_tokens,
    open_panel,
    zoom_to_footage,
)
from tests.e2e.provision import provision
from tests.simulator import CameraSimulator

ARTIFACTS = ROOT / "test-artifacts"
SWITCH = "switch.garden_continuous_recording"
GAP = 8.0  # seconds without recording


def _garden(db: Path) -> list[tuple[float, float, str]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT start_ts, end_ts, video_codec FROM segments WHERE camera = 'garden'"
            " ORDER BY start_ts"
        ).fetchall()


def _wait_rows(db: Path, count: int, timeout: float = 180) -> list[tuple[float, float, str]]:
    deadline = time.monotonic() + timeout
    while len(rows := (_garden(db) if db.exists() else [])) < count:
        assert time.monotonic() < deadline, f"garden: {len(rows)} of {count} segments recorded"
        time.sleep(2)
    return rows


def _footage_with_a_gap(home_assistant: RunningHomeAssistant, api: Any) -> list[tuple[float, ...]]:
    """Two H.265 segments, a pause of the recording, then another segment."""
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    before = _wait_rows(db, 2)
    api.call_service("switch", "turn_off", {"entity_id": SWITCH})
    time.sleep(GAP)
    first_run = _garden(db)
    api.call_service("switch", "turn_on", {"entity_id": SWITCH})
    rows = _wait_rows(db, len(first_run) + 1)
    assert {row[2] for row in rows} == {"hevc"}, rows
    assert len(before) >= 2
    after = [row for row in rows if row[0] > first_run[-1][1] + 1]
    assert after, ("no footage after the gap", rows)
    return [(row[0], row[1]) for row in rows]


def _keep_to_panel(api: Any) -> None:
    """Keep the Garden's live video to the panel (its tile plays the panel's own live view)."""
    entry = next(e for e in api.config_entries("cctv_nvr") if e["title"] == "Garden")
    path = "/api/config/config_entries/options/flow"
    form = api._request("POST", path, {"handler": entry["entry_id"]})
    # Every field at its default; optional fields without one (the recordings folder) left out.
    values = {f["name"]: f["default"] for f in form["data_schema"] if f.get("default") is not None}
    values["live_panel_only"] = True
    done = api._request("POST", f"{path}/{form['flow_id']}", values)
    assert done["type"] == "create_entry", done


def _tile_falls_back_to_the_card(page: Any, supported: bool) -> None:
    """Garden records and Home Assistant's card can show it: the tile tries the panel's own live
    video first (its ``cctv_nvr/live`` request is seen on the WebSocket); without HEVC here it
    asks for no live rendition (a transcode per fragment) and plays Home Assistant's card."""
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.reload()  # with the listener on from the first message
    tile = page.locator("cctv-panel section.tile[data-camera=garden]")
    if supported:  # a Chromium with HEVC plays the panel's own live video of the recording
        tile.locator("cctv-live-video video").wait_for(state="attached", timeout=60_000)
        return
    # Home Assistant's card plays the sub stream (H.264) through its own stream component.
    video = tile.locator("hui-picture-entity-card video")
    video.wait_for(timeout=90_000)
    page.wait_for_function(
        "video => video.readyState >= 2 && video.currentTime > 1",
        arg=video.element_handle(),
        timeout=90_000,
    )
    page.screenshot(path=str(ARTIFACTS / "h265-live-tile-card.png"))
    assert tile.locator("cctv-live-video").count() == 0
    asked = [json.loads(frame) for frame in sent if '"cctv_nvr/live"' in frame]
    assert {"type": "cctv_nvr/live", "camera": "garden"} in [
        {key: value for key, value in message.items() if key != "id"} for message in asked
    ], sent
    # The H.264 camera's tile keeps the panel's own live video.
    driveway = page.locator("cctv-panel section.tile[data-camera=driveway]")
    assert driveway.locator("hui-picture-entity-card").count() == 0


def _live_tile_moves(page: Any, panel: Any) -> None:
    """The Garden tile (H.265, kept to the panel) plays live H.264 renditions; they move on."""
    tile = panel.locator("section.tile[data-camera=garden]")
    video = tile.locator("cctv-live-video video")
    video.wait_for(state="attached", timeout=120_000)
    page.wait_for_function(
        "el => el.currentTime > 1 && el.videoWidth > 0",
        arg=video.element_handle(),
        timeout=120_000,
    )
    first = video.evaluate("v => v.currentTime")
    page.wait_for_function(
        "([el, t]) => el.currentTime > t + 2", arg=[video.element_handle(), first], timeout=60_000
    )
    state = video.evaluate("v => ({w: v.videoWidth, err: v.error && v.error.code})")
    page.screenshot(path=str(ARTIFACTS / "h265-live-tile.png"))
    assert state["err"] is None
    assert state["w"] == 1920  # the recording's picture, as H.264


def _live_tile_resumes(page: Any, panel: Any, api: Any) -> None:
    """The Garden stops recording: its tile (kept to the panel, no other live view) says so; it
    records again: the tile plays again by itself, with the next camera list (every 15 s)."""
    tile = panel.locator("section.tile[data-camera=garden]")
    api.call_service("switch", "turn_off", {"entity_id": SWITCH})
    note = tile.locator("cctv-live-video .error")
    note.wait_for(timeout=120_000)
    assert note.inner_text() == "Not recording"  # not hls.js's word for the 404
    page.screenshot(path=str(ARTIFACTS / "h265-live-tile-not-recording.png"))
    api.call_service("switch", "turn_on", {"entity_id": SWITCH})
    video = tile.locator("cctv-live-video video")
    video.wait_for(timeout=120_000)
    page.wait_for_function(
        "el => el.currentTime > 1 && el.videoWidth > 0", arg=video.element_handle(), timeout=120_000
    )


def _plays_over_the_gap(page: Any, panel: Any, rows: list[tuple[float, ...]]) -> None:
    """Click the footage's start: the rendition plays past a boundary and over the gap."""
    panel.locator("section.tile[data-camera=garden] button.open").click()
    box = zoom_to_footage(page, panel)
    panel.locator("select.speed, select").first.select_option("4")
    page.mouse.click(box["x"] + 2, box["y"] + box["height"] / 2)
    video = panel.locator("video")
    video.wait_for(state="visible", timeout=60_000)
    # Media time runs on over the gap (cut out): past the first run's footage plus 2 s.
    gap_at = next(index for index in range(1, len(rows)) if rows[index][0] - rows[index - 1][1] > 1)
    beyond_gap = sum(end - start for start, end in rows[:gap_at]) + 2
    try:
        page.wait_for_function(
            "([el, t]) => el.currentTime > t",
            arg=[video.element_handle(), beyond_gap],
            timeout=240_000,
        )
    finally:
        page.screenshot(path=str(ARTIFACTS / "h265-playback.png"))
        state = video.evaluate(
            "v => ({t: v.currentTime, err: v.error && v.error.code, w: v.videoWidth,"
            " rate: v.playbackRate})"
        )
        print("video state:", state, panel.locator(".message").all_inner_texts())
    assert state["err"] is None
    assert state["w"] == 1920  # the rendition keeps the picture size
    # Seeking back into the first segment plays from there (its parts are cached or made again).
    video.evaluate("v => { v.currentTime = 3; }")
    page.wait_for_function(
        "el => el.currentTime > 5 && el.currentTime < 20 && !el.seeking",
        arg=video.element_handle(),
        timeout=120_000,
    )
    assert video.evaluate("v => v.error") is None


def test_h265_camera_plays_in_chromium(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator
) -> None:
    """Recorded H.265 plays as H.264 renditions over a boundary and a gap; live tile moves."""
    from playwright.sync_api import sync_playwright

    api = home_assistant.api()
    provision(api, f"rtsp://127.0.0.1:{simulator.rtsp_port}", "dev", "dev-password")
    rows = _footage_with_a_gap(home_assistant, api)  # and Garden records again
    tokens = login_tokens(api, "dev", "dev-password")
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    viewport = {"width": 1280, "height": 860}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium.executable(), args=CHROMIUM_ARGS
        )
        try:
            page = open_panel(browser, home_assistant.url, tokens, viewport)
            page.on("request", lambda request: requests.append(request.url))
            supported = page.evaluate(
                "() => MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L120.90\"')"
            )
            _tile_falls_back_to_the_card(page, supported)
            if not supported:
                assert not [url for url in requests if "/api/cctv_nvr/live/garden/" in url]
            page.context.close()
            requests.clear()
            # The options reload the camera: its recording goes on after a new segment.
            db = home_assistant.config_dir / "cctv_nvr" / "index.db"
            recorded = len(_garden(db))
            _keep_to_panel(api)
            _wait_rows(db, recorded + 2)
            page = open_panel(browser, home_assistant.url, tokens, viewport)
            page.on("request", lambda request: requests.append(request.url))
            panel = page.locator("cctv-panel")
            _live_tile_moves(page, panel)
            _live_tile_resumes(page, panel, api)
            _plays_over_the_gap(page, panel, rows)
        finally:
            browser.close()
    renditions = [url for url in requests if "/api/cctv_nvr/rendition/" in url]
    stored = [url for url in requests if "/api/cctv_nvr/media/" in url]
    live = [url for url in requests if "/api/cctv_nvr/live/garden/h264/" in url]
    if supported:  # a Chromium with HEVC would play the stored stream untouched
        assert stored and not renditions
    else:
        assert renditions, requests[-20:]
        assert live, requests[-20:]
        assert not stored  # nothing stored was asked: it could not be decoded here
        assert any(".m4s?" in url for url in renditions)
