"""Per-user access through the CCTV panel, in Chromium against a real Home Assistant process.

An administrator uses the panel's Access view: users without a grant may do nothing with the
Garden camera, the Driveway's live video is kept to the panel (the panel's own live view then
plays it), and a new non-admin user (made with Home Assistant's own admin API) gets
*recordings* on the Driveway — a config subentry of that camera in Home Assistant. That user,
logged into the panel, sees only the Driveway, without live video, export or administrators'
buttons, plays its footage, and gets 401/403/404 when they edit the URLs the panel used to
reach the Garden's footage. The Audit view lists what they watched and its CSV downloads.
Finally the administrator edits the grant so recordings are no longer allowed: the user's open
camera view closes by itself (the panel's `cctv_nvr/subscribe_access`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
import csv
from datetime import datetime, timedelta
import io
import json
from pathlib import Path
import re
import sqlite3
import time
from typing import Any
from zoneinfo import ZoneInfo

from tests.e2e import chromium
from tests.e2e.harness import (
    CHROMIUM_ARGS,
    RunningHomeAssistant,
    login_tokens,
    open_panel,
    ws_call,
    zoom_to_footage,
)
from tests.e2e.provision import provision
from tests.e2e.test_panel import ARTIFACTS, _segments
from tests.simulator import CameraSimulator

GUARD = ("guard", "guard-password")
ZONE = ZoneInfo("Europe/Amsterdam")  # config/configuration.yaml
DESKTOP = {"width": 1280, "height": 860}


def _call(base: str, token: str, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """WebSocket commands from a thread of its own (Playwright's sync API runs a loop here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, ws_call(base, token, *messages)).result(timeout=60)


def _create_user(base: str, admin_token: str, name: str, username: str, password: str) -> str:
    """A non-admin user with a password login, through Home Assistant's own admin API."""
    (created,) = asyncio.run(
        ws_call(
            base,
            admin_token,
            {"type": "config/auth/create", "name": name, "group_ids": ["system-users"]},
        )
    )
    assert created["success"], created
    user_id = str(created["result"]["user"]["id"])
    (login,) = asyncio.run(
        ws_call(
            base,
            admin_token,
            {
                "type": "config/auth_provider/homeassistant/create",
                "user_id": user_id,
                "username": username,
                "password": password,
            },
        )
    )
    assert login["success"], login
    return user_id


def _tab(panel: Any, name: str) -> None:
    panel.get_by_role("tab", name=name, exact=True).click()


def _restrict_and_grant(panel: Any, guard_id: str) -> None:
    """(a) The Access view: Garden closed to users without a grant; Guard gets recordings."""
    _tab(panel, "Access")
    garden = panel.locator("section.camera-access[data-camera=garden]")
    defaults = garden.locator("fieldset.defaults")
    for box in defaults.get_by_role("checkbox").all():
        box.uncheck()
    defaults.locator(".hint.none").wait_for()
    garden.locator(".status", has_text="Saved").wait_for()
    assert not any(box.is_checked() for box in defaults.get_by_role("checkbox").all())

    driveway = panel.locator("section.camera-access[data-camera=driveway]")
    driveway.get_by_role("button", name="Add access grant").click()
    editor = driveway.locator("cctv-grant-editor")
    editor.get_by_label("User").select_option(label="Guard")
    # Saving without a right is refused by the form itself, with a reason.
    editor.get_by_role("button", name="Save").click()
    editor.get_by_role("alert").filter(has_text="Choose at least one right").wait_for()
    editor.locator("fieldset.rights").get_by_label("Recordings").check()
    # A weekly window (every day, midnight to midnight: across midnight) and a look-back.
    editor.get_by_role("button", name="Add time window").click()
    window = editor.locator("fieldset.window").first
    window.get_by_label("Sat").check()
    window.get_by_label("Sun").check()
    window.get_by_label("From").fill("00:00")
    window.get_by_label("To").fill("00:00")
    window.locator(".overnight").wait_for()
    editor.get_by_label("Look-back (hours, optional)").fill("48")
    editor.get_by_role("button", name="Save").click()
    editor.wait_for(state="detached")
    row = driveway.locator(f"tr[data-user='{guard_id}']")
    row.wait_for()
    assert row.locator(".user").inner_text() == "Guard"
    assert row.locator(".rights").inner_text() == "Recordings"
    assert row.locator(".windows").inner_text() == "Every day 00:00\u201300:00 (ends the next day)"
    assert row.locator(".lookback").inner_text() == "48 h"


def _panel_only_live(page: Any, panel: Any) -> None:
    """(a') The Driveway's live video kept to the panel: its tile plays the panel's own live
    view (HLS made from the recording, through the integration's live views). The Driveway is
    H.264: Chromium here has no H.265 decoder for the Garden's HEVC (issue 13's renditions)."""
    _tab(panel, "Access")
    driveway = panel.locator("section.camera-access[data-camera=driveway]")
    driveway.locator("label.panel-only input").check()
    _tab(panel, "Live")
    video = panel.locator("section.tile[data-camera=driveway] cctv-live-video video")
    video.wait_for(timeout=30_000)
    page.wait_for_function(
        "video => video.readyState >= 2 && video.currentTime > 1",
        arg=video.element_handle(),
        timeout=60_000,
    )
    # The Garden (not kept to the panel) records, but in H.265, which this Chromium cannot
    # decode: a grid tile does not transcode live video, so it shows Home Assistant's card
    # (the card's own stream) and the panel's own live video is gone from it.
    garden = panel.locator("section.tile[data-camera=garden]")
    garden.locator("hui-picture-entity-card").wait_for(state="attached", timeout=30_000)
    assert garden.locator("cctv-live-video").count() == 0


def _stored_grant(config_dir: Path, entry_id: str, guard_id: str) -> dict[str, Any]:
    """The grant as Home Assistant keeps it: the camera entry's subentry (saved with a delay)."""
    deadline = time.monotonic() + 15
    while True:
        stored = json.loads((config_dir / ".storage" / "core.config_entries").read_text())
        entry = next(e for e in stored["data"]["entries"] if e["entry_id"] == entry_id)
        found = [s for s in entry.get("subentries", []) if s["unique_id"] == guard_id]
        if found:
            return dict(found[0]["data"])
        assert time.monotonic() < deadline, "the grant was not saved in core.config_entries"
        time.sleep(0.5)


def _guard_plays(page: Any, panel: Any) -> list[str]:
    """(b) The user sees only the Driveway, without live video or buttons they may not use,
    and plays its footage; returns the URLs the panel fetched."""
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    tiles = panel.locator("section.tile")
    assert tiles.locator(".name").all_inner_texts() == ["Driveway"]
    tile = panel.locator("section.tile[data-camera=driveway]")
    assert "Not allowed to watch live now" in tile.locator(".no-live").inner_text()
    assert tile.locator("button.view").count() == 0  # no live view to enlarge
    assert panel.get_by_role("tab").all_inner_texts() == ["Live", "Exports", "Storage"]
    assert panel.locator("a.settings").count() == 0
    tile.locator("button.open").click()
    box = zoom_to_footage(page, panel)
    # A drag selects nothing: there is nothing this user could do with a range.
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + max(box["width"] - 2, 40), y, steps=6)
    page.mouse.up()
    for absent in (
        "button.export",
        "button.protect",
        "button.unprotect",
        "button.delete",
        ".selection-panel",
    ):
        assert panel.locator(absent).count() == 0, absent
    page.mouse.click(box["x"] + 2, y)
    video = panel.locator("video")
    video.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("el => el.currentTime > 1", arg=video.element_handle(), timeout=60_000)
    assert video.evaluate("v => v.error") is None
    assert panel.locator("button.delete-event").count() == 0
    page.screenshot(path=str(ARTIFACTS / "panel-access-guard.png"))
    return fetched


def _status(page: Any, url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return int(page.request.get(url, headers=headers, max_redirects=0).status)


def _edited_urls_refused(
    page: Any, fetched: list[str], token: str, garden_segment: int, unknown_segment: int
) -> None:
    """(b) The URLs the panel got work; edited to reach the Garden (or nothing), they do not."""
    playlist = next(u for u in fetched if "/api/cctv_nvr/playlist/driveway/" in u)
    media = next(u for u in fetched if re.search(r"/api/cctv_nvr/media/\d+/", u))
    assert _status(page, playlist) == 200
    assert _status(page, media) == 200
    # The signature and the media token cover the path they were made for: 401.
    assert _status(page, playlist.replace("/playlist/driveway/", "/playlist/garden/")) == 401
    assert _status(page, re.sub(r"/media/\d+/", f"/media/{garden_segment}/", media)) == 401
    # The user's own login reaching for the Garden: refused (403); a segment that is not: 404.
    base = playlist.split("/api/", 1)[0]
    garden_playlist = playlist.split("?", 1)[0].replace("/playlist/driveway/", "/playlist/garden/")
    assert _status(page, garden_playlist, token) == 403
    assert _status(page, f"{base}/api/cctv_nvr/media/{garden_segment}/0.m4s", token) == 403
    assert _status(page, f"{base}/api/cctv_nvr/segment/{garden_segment}.mp4", token) == 403
    assert _status(page, f"{base}/api/cctv_nvr/segment/{unknown_segment}.mp4", token) == 404


def _audit(page: Any, panel: Any, target: Path) -> None:
    """(c) The Audit view: the user's watching, newest first, and the CSV download."""
    _tab(panel, "Audit")
    audit = panel.locator("cctv-audit-view")
    yesterday = (datetime.now(ZONE) - timedelta(days=1)).date().isoformat()
    audit.locator("input.from").fill(yesterday)  # robust across midnight
    audit.get_by_label("User").select_option(label="Guard")
    watched = audit.locator("tr[data-action=watched]").first
    watched.wait_for()
    assert watched.locator(".user").inner_text() == "Guard"
    assert watched.locator(".camera").inner_text() == "Driveway"
    assert watched.locator(".action").inner_text() == "Watched recordings"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \u2013 .+", watched.locator(".range").inner_text()
    )
    times = audit.locator("td.time").all_inner_texts()
    assert times == sorted(times, reverse=True)  # newest first
    assert set(audit.locator("td.user").all_inner_texts()) == {"Guard"}
    page.screenshot(path=str(ARTIFACTS / "panel-audit.png"))
    with page.expect_download() as info:
        audit.get_by_role("link", name="Download CSV").click()
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows, "the CSV holds no records"
    assert {row["user"] for row in rows} == {"Guard"}
    assert any(row["action"] == "watched" and row["camera"] == "driveway" for row in rows)


def _revoke_recordings(panel: Any, guard_id: str) -> None:
    """The administrator edits the grant: control instead of recordings."""
    _tab(panel, "Access")
    row = panel.locator(f"section.camera-access[data-camera=driveway] tr[data-user='{guard_id}']")
    row.get_by_role("button", name="Edit the grant of Guard").click()
    editor = panel.locator("section.camera-access[data-camera=driveway] cctv-grant-editor")
    rights = editor.locator("fieldset.rights")
    rights.get_by_label("Recordings").uncheck()
    rights.get_by_label("Control recording").check()
    editor.get_by_role("button", name="Save").click()
    editor.wait_for(state="detached")
    row.locator(".rights", has_text="Control recording").wait_for()


def _phone_width(page: Any, panel: Any, guard_id: str) -> None:
    """At phone width the grant form and the audit table fit; Escape closes the form."""
    page.set_viewport_size({"width": 390, "height": 844})
    width = 390 + 1  # sub-pixel rounding
    _tab(panel, "Access")
    driveway = panel.locator("section.camera-access[data-camera=driveway]")
    driveway.locator(f"tr[data-user='{guard_id}']").get_by_role("button", name="Edit").click()
    editor = driveway.locator("cctv-grant-editor form")
    editor.get_by_role("button", name="Add time window").click()
    for box in (driveway.bounding_box(), editor.bounding_box()):
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width, box
    page.screenshot(path=str(ARTIFACTS / "panel-access-phone.png"), full_page=True)
    editor.locator("input.start").last.focus()
    page.keyboard.press("Escape")
    editor.wait_for(state="detached")
    _tab(panel, "Audit")
    table = panel.locator("cctv-audit-view .table-wrap")
    table.wait_for()
    box = table.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width, box  # the table scrolls inside it


def test_access_in_the_panel(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator, tmp_path: Path
) -> None:
    """Access view → a subentry in Home Assistant → what the user sees and reaches → audit."""
    from playwright.sync_api import sync_playwright

    api = home_assistant.api()
    provision(api, f"rtsp://127.0.0.1:{simulator.rtsp_port}", "dev", "dev-password")
    assert api.token is not None
    guard_id = _create_user(home_assistant.url, api.token, "Guard", *GUARD)
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    deadline = time.monotonic() + 120
    while (
        len(_segments(db, "driveway") if db.exists() else []) < 3
        or len(_segments(db, "garden")) < 1
    ):
        assert time.monotonic() < deadline, "no footage recorded"
        time.sleep(2)
    entries = {e["title"]: e["entry_id"] for e in api.config_entries("cctv_nvr")}
    admin_tokens = login_tokens(api, "dev", "dev-password")
    guard_tokens = login_tokens(api, *GUARD)
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium.executable(), args=CHROMIUM_ARGS
        )
        try:
            admin = open_panel(browser, home_assistant.url, admin_tokens, DESKTOP)
            admin_panel = admin.locator("cctv-panel")
            _restrict_and_grant(admin_panel, guard_id)
            _panel_only_live(admin, admin_panel)
            admin.screenshot(path=str(ARTIFACTS / "panel-access-admin.png"))

            # Home Assistant holds the grant as a config subentry of the Driveway camera.
            (subentries,) = _call(
                home_assistant.url,
                api.token,
                {"type": "config_entries/subentries/list", "entry_id": entries["Driveway"]},
            )
            assert subentries["success"], subentries
            assert [
                (s["subentry_type"], s["unique_id"], s["title"]) for s in subentries["result"]
            ] == [("access", guard_id, "Guard")]
            assert _stored_grant(home_assistant.config_dir, entries["Driveway"], guard_id) == {
                "user_id": guard_id,
                "rights": ["recordings"],
                "windows": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "start": "00:00",
                        "end": "00:00",
                    }
                ],
                "lookback_hours": 48.0,
            }

            guard = open_panel(browser, home_assistant.url, guard_tokens, DESKTOP)
            guard_panel = guard.locator("cctv-panel")
            fetched = _guard_plays(guard, guard_panel)
            garden_segment = int(_segment_ids(db, "garden")[0])
            unknown = max(_segment_ids(db, "driveway") + _segment_ids(db, "garden")) + 10_000
            _edited_urls_refused(
                guard, fetched, guard_tokens["access_token"], garden_segment, unknown
            )

            _audit(admin, admin_panel, tmp_path / "audit.csv")

            # Recordings withdrawn while the user's camera view is open: it closes by itself.
            _revoke_recordings(admin_panel, guard_id)
            guard_panel.locator(".message", has_text="Your access to Driveway changed").wait_for(
                timeout=15_000
            )
            assert guard_panel.locator("cctv-camera-view .timeline").count() == 0
            tile = guard_panel.locator("section.tile[data-camera=driveway]")
            tile.locator(".no-recordings").wait_for()
            assert tile.locator("button.open").count() == 0
            guard.screenshot(path=str(ARTIFACTS / "panel-access-revoked.png"))

            _phone_width(admin, admin_panel, guard_id)
        finally:
            browser.close()

    # The WebSocket API agrees with what the panel showed.
    cameras, garden = asyncio.run(
        ws_call(
            home_assistant.url,
            guard_tokens["access_token"],
            {"type": "cctv_nvr/cameras"},
            {"type": "cctv_nvr/timeline", "camera": "garden", "date": "2026-06-01"},
        )
    )
    assert [(c["id"], c["rights"]) for c in cameras["result"]["cameras"]] == [
        ("driveway", ["control"])
    ]
    assert garden["error"]["code"] == "unauthorized"


def _segment_ids(db: Path, camera: str) -> list[int]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [
            int(row[0])
            for row in conn.execute(
                "SELECT id FROM segments WHERE camera = ? ORDER BY start_ts", (camera,)
            )
        ]
