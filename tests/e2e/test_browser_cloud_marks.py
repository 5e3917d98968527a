"""The panel's timeline tells footage on this disk, in the cloud only, and in both apart (Chromium).

A real Home Assistant process with the cloud tier against fake-gcs-server (the fixture of
``test_browser_cloud_playback``): the camera records, its footage is uploaded and verified,
Home Assistant stops and the engine's retention removes the local copies (cloud only);
after the restart the new footage is uploaded again (both) until the emulator stops, after
which it stays on the disk only. The panel's timeline of that camera, zoomed in with the
mouse wheel, must draw the three kinds distinctly: a hatched overlay titled "In the cloud
only" over the older footage, a green line titled "On this disk and in the cloud" under
the newer, nothing over the newest, in that order; the pixels of a screenshot are checked
as well as the elements.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.e2e import chromium
from tests.e2e.harness import RunningHomeAssistant, login_tokens, open_panel, zoom_to_footage
from tests.e2e.test_browser_cloud_playback import (
    CAMERA,
    _record_upload_and_offload,
    _rows,
    _wait,
    cloud_home_assistant,
)
from tests.e2e.test_browser_playback import ARTIFACTS
from tests.gcs_emulator import FakeGcs, TokenServer
from tests.simulator import CameraSimulator

__all__ = ["cloud_home_assistant"]  # the fixture, used here

Box = dict[str, float]


def test_timeline_marks_local_cloud_and_both_footage(
    cloud_home_assistant: tuple[RunningHomeAssistant, FakeGcs, TokenServer],
    simulator: CameraSimulator,
) -> None:
    """Footage only local, only in the cloud and in both: three distinct marks, in order."""
    home_assistant, gcs, tokens = cloud_home_assistant
    offloaded = _record_upload_and_offload(home_assistant, simulator, tokens)
    home_assistant.restart()
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    after = offloaded[-1][1]

    def newer(location: str) -> list[tuple[float, float, str, str]]:
        return [row for row in _rows(db) if row[0] > after and row[2] == location]

    _wait(lambda: len(newer("both")) >= 2, 180, "no footage verified after the restart")
    gcs.stop()  # the bucket goes away: what is recorded from now on stays on the disk only
    try:
        last_both = newer("both")[-1][1]
        _wait(
            lambda: sum(row[0] > last_both for row in newer("local")) >= 2,
            120,
            "no local-only footage after the bucket went away",
        )
        rows = _rows(db)
        assert any(row[2] == "cloud" for row in rows)
        _check_panel(home_assistant.url, login_tokens(home_assistant.api(), "dev", "dev-password"))
    finally:
        gcs.start()


def _check_panel(base: str, tokens: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium.executable(), args=chromium.ARGS
        )
        try:
            page = open_panel(browser, base, tokens, {"width": 1280, "height": 860})
            panel = page.locator("cctv-panel")
            panel.locator(f"section.tile[data-camera={CAMERA}] button.open").click()
            timeline = panel.locator(".timeline")
            # 20 wheel steps of 0.8: a day becomes about 17 minutes, with the footage (a few
            # minutes and a restart) inside it whatever the time of day (aimed at the point that
            # keeps it whole; aimed at its start, the newest part was past the right edge after
            # about 21:00).
            zoom_to_footage(page, panel, bursts=4, pause=150, timeout=60_000, whole=True)
            cloud = _boxes(panel.locator(".timeline .cloud"))
            both = _boxes(panel.locator(".timeline .both"))
            spans = _boxes(panel.locator(".timeline .span"))
            assert cloud, "no footage drawn as only in the cloud"
            assert both, "no footage drawn as in both places"
            titles = panel.locator(".timeline .cloud").first.get_attribute("title")
            assert titles == "In the cloud only"
            assert panel.locator(".timeline .both").first.get_attribute("title") == (
                "On this disk and in the cloud"
            )
            # In time order: the offloaded footage, then the uploaded, then the local only.
            cloud_end = max(b["x"] + b["width"] for b in cloud)
            both_start = min(b["x"] for b in both)
            both_end = max(b["x"] + b["width"] for b in both)
            coverage_end = max(b["x"] + b["width"] for b in spans)
            assert cloud_end <= both_start + 1, (cloud, both)
            assert coverage_end - both_end >= 8, "no local-only footage drawn after the rest"
            page.screenshot(path=str(ARTIFACTS / "browser-cloud-marks.png"))
            _check_pixels(timeline.screenshot(), timeline.bounding_box(), cloud, both, both_end)
        finally:
            browser.close()


def _boxes(locator: Any) -> list[Box]:
    boxes = []
    for element in locator.all():
        box = element.bounding_box()
        if box is not None and box["width"] > 0:
            boxes.append(dict(box))
    return boxes


def _check_pixels(
    png: bytes, frame: Box | None, cloud: list[Box], both: list[Box], both_end: float
) -> None:
    """Hatched where only in the cloud, a green line under both, plain where local only."""
    assert frame is not None
    image = Image.open(io.BytesIO(png)).convert("RGB")

    def pixel(x: float, y: float) -> tuple[int, int, int]:
        value = image.getpixel((int(x - frame["x"]), int(y - frame["y"])))
        assert isinstance(value, tuple)
        return int(value[0]), int(value[1]), int(value[2])

    def row(box: Box, x0: float, x1: float) -> set[tuple[int, int, int]]:
        y = box["y"] + box["height"] / 2
        return {pixel(x, y) for x in range(int(x0) + 1, int(x1) - 1)}

    widest_cloud = max(cloud, key=lambda b: b["width"])
    assert widest_cloud["width"] >= 8, widest_cloud
    hatched = row(widest_cloud, widest_cloud["x"], widest_cloud["x"] + widest_cloud["width"])
    assert len(hatched) >= 2, f"the cloud-only footage is not hatched: {hatched}"

    line = max(both, key=lambda b: b["width"])
    red, green, blue = pixel(line["x"] + line["width"] / 2, line["y"] + line["height"] - 1)
    assert green > red + 40 and green > blue + 20, f"not a green line: {(red, green, blue)}"

    # The local-only footage: a few pixels past the last green line, inside the coverage lane.
    lane = dict(line)
    lane["y"] = widest_cloud["y"]
    lane["height"] = widest_cloud["height"]
    plain = row(lane, both_end + 3, both_end + 8)
    assert len(plain) == 1, f"the local-only footage is not plain: {plain}"
    bottom = pixel(both_end + 5, line["y"] + line["height"] - 1)
    assert not (bottom[1] > bottom[0] + 40 and bottom[1] > bottom[2] + 20), (
        f"a green line under local-only footage: {bottom}"
    )
