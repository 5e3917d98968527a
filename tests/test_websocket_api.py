"""The panel's WebSocket API: every command with real cameras (simulator) and real footage.

Footage is real fragmented MP4 made by ffmpeg (``segment_factory``) placed in the recordings
root and indexed, so timelines, playlists and exports run over real files without waiting
for a live recording.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
import time
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import CLIENT_ID, MockGroup, MockUser

from custom_components.cctv_nvr.const import EXPORT_JOB_KEEP_SECONDS
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.index import Segment
from custom_components.cctv_nvr.footage import DATA_EXPORT_JOBS
from tests.engine.helpers import wait_for
from tests.engine.segments_factory import SegmentFactory
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

ZONE = "Europe/Amsterdam"


class Ws:
    """A WebSocket client that numbers its messages."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.next_id = 1

    async def call(self, command: str, **data: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.client.send_json({"id": self.next_id, "type": f"cctv_nvr/{command}", **data})
        answer: dict[str, Any] = await self.client.receive_json()
        assert answer["id"] == self.next_id
        return answer

    async def ok(self, command: str, **data: Any) -> Any:
        answer = await self.call(command, **data)
        assert answer["success"], answer
        return answer["result"]

    async def error(self, command: str, **data: Any) -> dict[str, Any]:
        answer = await self.call(command, **data)
        assert not answer["success"], answer
        error: dict[str, Any] = answer["error"]
        return error


async def _cameras_with_footage(
    hass: HomeAssistant, sim: CameraSimulator, factory: SegmentFactory
) -> tuple[list[Segment], list[Segment], float]:
    """Two cameras; the front door has two runs of footage with a 60 s gap and a manual range."""
    await hass.config.async_update(time_zone=ZONE)
    await setup_camera(hass, camera_entry(sim))
    await setup_camera(hass, camera_entry(sim, name="Garden", mount="sub", sub=None))
    nvr = hass.data[DATA_NVR]
    # At the start of an hour, so the two minutes of footage never straddle local midnight.
    start = float(int(time.time()) // 3600 * 3600 - 3600)
    first = await hass.async_add_executor_job(
        factory.make_history, nvr.root, nvr.index, "front_door", start, 5, 4, "r1"
    )
    second = await hass.async_add_executor_job(
        factory.make_history, nvr.root, nvr.index, "front_door", first[-1].end + 60, 3, 4, "r2"
    )
    manual = await hass.async_add_executor_job(
        nvr.index.recordings.start, "front_door", "manual", "Delivery", first[1].start
    )
    await hass.async_add_executor_job(nvr.index.recordings.set_end, manual, first[2].end)
    return first, second, start


async def _user_ws(hass: HomeAssistant, hass_ws_client: Any, user: Any) -> Ws:
    refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    return Ws(await hass_ws_client(hass, hass.auth.async_create_access_token(refresh)))


async def test_cameras_timeline_and_playback(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
    hass_client_no_auth: Any,
) -> None:
    """Cameras with state; a day's coverage, gaps and events; a signed playlist that plays."""
    first, second, start = await _cameras_with_footage(hass, simulator, segment_factory)
    ws = Ws(await hass_ws_client(hass))

    cameras = await ws.ok("cameras")
    assert cameras["admin"] is True
    assert cameras["time_zone"] == ZONE
    assert [c["name"] for c in cameras["cameras"]] == ["Front door", "Garden"]
    front = cameras["cameras"][0]
    assert front["id"] == "front_door"
    assert front["entity_id"] == "camera.front_door"
    assert front["online"] is True
    assert front["recording"] is False
    assert "rtsp" not in str(cameras)

    # A range: two spans, the 60 s gap between them, and the manual recording as an event.
    timeline = await ws.ok("timeline", camera="front_door", start=start - 600, end=start + 1200)
    spans = timeline["spans"]
    assert spans == [
        [pytest.approx(first[0].start), pytest.approx(first[-1].end)],
        [pytest.approx(second[0].start), pytest.approx(second[-1].end)],
    ]
    assert [pytest.approx(first[-1].end), pytest.approx(second[0].start)] in timeline["gaps"]
    assert timeline["first"] == pytest.approx(first[0].start)
    # After the last footage, up to the end of the asked range (before now), is a gap too.
    assert timeline["gaps"][-1] == [pytest.approx(second[-1].end), pytest.approx(start + 1200)]
    assert timeline["events"] == [
        {
            "id": timeline["events"][0]["id"],
            "kind": "manual",
            "label": "Delivery",
            "start": pytest.approx(first[1].start),
            "end": pytest.approx(first[2].end),
        }
    ]

    # A local day: its bounds are local midnights (Amsterdam), and it holds the same footage.
    local = datetime.fromtimestamp(start, ZoneInfo(ZONE))
    day = await ws.ok("timeline", camera="front_door", date=local.date().isoformat())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    assert day["start"] == midnight.timestamp()
    assert day["end"] - day["start"] in (23 * 3600, 24 * 3600, 25 * 3600)
    assert day["spans"] == spans

    # Playback: a signed URL of a playlist over both runs; anonymous clients may fetch it.
    play = await ws.ok("playback", camera="front_door", start=start, end=second[-1].end)
    assert play["url"].startswith("/api/cctv_nvr/playlist/front_door/")
    assert "authSig=" in play["url"]
    assert play["first"] == pytest.approx(first[0].start)
    anonymous = await hass_client_no_auth()
    response = await anonymous.get(play["url"])
    assert response.status == 200
    text = await response.text()
    assert text.startswith("#EXTM3U")
    assert "#EXT-X-DISCONTINUITY" in text  # the gap
    assert text.count("#EXT-X-PROGRAM-DATE-TIME") >= 2


async def test_bad_input_and_unknown_camera(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
) -> None:
    """Malformed input, reversed/too long/future ranges and unknown cameras get clear errors."""
    _first, _second, start = await _cameras_with_footage(hass, simulator, segment_factory)
    ws = Ws(await hass_ws_client(hass))

    for command in ("timeline", "playback", "export", "protect", "unprotect", "delete"):
        error = await ws.error(command, camera="nowhere", start=start, end=start + 10)
        assert error["code"] == "not_found", command
        assert error["translation_key"] == "camera_not_found"
        assert error["message"] == "There is no loaded CCTV NVR camera nowhere"
    assert (await ws.error("exports", camera="nowhere"))["code"] == "not_found"

    error = await ws.error("timeline", camera="front_door", start="soon", end=start)
    assert error["code"] == "invalid_format"
    error = await ws.error("timeline", camera="front_door", date="2026-13-45")
    assert error["code"] == "invalid_format"
    error = await ws.error("timeline", camera="front_door", date="2026-01-01", start=start)
    assert error["code"] == "invalid_format"  # a date or a range, not both
    error = await ws.error("timeline", camera="front_door")
    assert error["translation_key"] == "timeline_when"
    assert error["message"] == "Give either a date or a start and an end"
    error = await ws.error("timeline", camera="front_door", start=start, end=start - 1)
    assert error["translation_key"] == "range_reversed"
    assert error["message"] == "The end must be after the start"
    error = await ws.error("timeline", camera="front_door", start=start, end=start + 3 * 86400)
    assert error["translation_key"] == "range_too_long"
    error = await ws.error("playback", camera="front_door", start=start, end=start + 2 * 86400)
    assert error["translation_key"] == "range_too_long"
    error = await ws.error(
        "playback", camera="front_door", start=time.time() + 60, end=time.time() + 120
    )
    assert error["translation_key"] == "range_future"
    error = await ws.error("playback", camera="garden", start=start, end=start + 60)
    assert error["translation_key"] == "no_footage"
    error = await ws.error("export", camera="front_door", start=start, end=start + 7 * 3600)
    assert error["translation_key"] == "range_too_long"
    assert error["message"] == "The range is too long; the most is 6 hours"
    error = await ws.error("export", camera="garden", start=start, end=start + 60)
    assert error["translation_key"] == "no_footage"
    error = await ws.error("export", camera="front_door", start=start, end=start + 10, name="")
    assert error["code"] == "invalid_format"
    error = await ws.error("protect", camera="front_door", start=-5, end=start)
    assert error["code"] == "invalid_format"
    error = await ws.error("delete_export", export_id=4242)
    assert error["code"] == "not_found"
    assert error["message"] == "There is no export with id 4242"
    # Nothing was touched by any of it.
    index = hass.data[DATA_NVR].index
    segments = await hass.async_add_executor_job(index.segments, "front_door", 0, time.time())
    assert len(segments) == 8
    assert not any(s.protected for s in segments)


async def test_export_progress_list_download_and_delete(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
    hass_client_no_auth: Any,
    hass_read_only_user: Any,
) -> None:
    """An export runs as a job; when done it is listed with a signed download URL of an MP4."""
    first, _second, _start = await _cameras_with_footage(hass, simulator, segment_factory)
    ws = Ws(await hass_ws_client(hass))
    job = await ws.ok(
        "export", camera="front_door", start=first[0].start + 1, end=first[2].end, name="Parcel"
    )
    assert job["status"] in ("queued", "running")
    assert job["camera"] == "front_door"
    deadline = time.monotonic() + 60
    while True:
        listing = await ws.ok("exports")
        mine = next(j for j in listing["jobs"] if j["id"] == job["id"])
        if mine["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert mine["status"] == "done", mine
    assert mine["error"] is None
    export = next(e for e in listing["exports"] if e["id"] == mine["export_id"])
    assert export["name"] == "Parcel"
    assert export["camera"] == "front_door"
    assert export["duration"] == pytest.approx(first[2].end - first[0].start, abs=1.5)
    assert "authSig=" in export["url"]
    assert "/exports/" not in export["url"]  # no file path, only the id
    assert (await ws.ok("exports", camera="garden"))["exports"] == []

    anonymous = await hass_client_no_auth()
    download = await anonymous.get(export["url"])
    assert download.status == 200
    body = await download.read()
    assert len(body) == export["bytes"]
    assert body[4:8] == b"ftyp"

    # Deleting an export is for administrators.
    reader = await _user_ws(hass, hass_ws_client, hass_read_only_user)
    error = await reader.error("delete_export", export_id=export["id"])
    assert error["code"] == "unauthorized"
    assert (await ws.ok("delete_export", export_id=export["id"])) == {"deleted": export["id"]}
    assert not any(e["id"] == export["id"] for e in (await ws.ok("exports"))["exports"])
    # Finished jobs are listed for an hour, then forgotten.
    jobs = hass.data[DATA_EXPORT_JOBS]._jobs
    jobs[job["id"]].finished = time.time() - EXPORT_JOB_KEEP_SECONDS - 1
    assert (await ws.ok("exports"))["jobs"] == []
    assert job["id"] not in jobs


async def test_failed_export_job_reports_the_reason(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
) -> None:
    """A job whose footage vanished before it ran is listed as failed with a translated reason."""
    first, _second, _start = await _cameras_with_footage(hass, simulator, segment_factory)
    nvr = hass.data[DATA_NVR]
    ws = Ws(await hass_ws_client(hass))
    # The files are gone from disk (the index still lists them): ffmpeg cannot read them.
    for segment in first:
        await hass.async_add_executor_job((nvr.root / segment.path).unlink)
    job = await ws.ok("export", camera="front_door", start=first[0].start, end=first[-1].end)
    deadline = time.monotonic() + 60
    while True:
        jobs = (await ws.ok("exports", camera="front_door"))["jobs"]
        mine = next(j for j in jobs if j["id"] == job["id"])
        if mine["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert mine["status"] == "failed"
    assert mine["error"].startswith("The export failed")
    assert mine["export_id"] is None


async def test_storage(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
) -> None:
    """Disk used/free and per-camera footage, bitrate and days that fit."""
    first, second, _start = await _cameras_with_footage(hass, simulator, segment_factory)
    ws = Ws(await hass_ws_client(hass))
    storage = await ws.ok("storage")
    assert storage["disk_total"] > 0
    assert 0 < storage["disk_free"] <= storage["disk_total"]
    assert storage["disk_used"] > 0
    front, garden = storage["cameras"]
    assert front["id"] == "front_door"
    assert front["segments"] == len(first) + len(second)
    assert front["bytes"] == sum(s.bytes for s in first + second)
    assert storage["footage_bytes"] == front["bytes"]
    assert front["oldest"] == pytest.approx(first[0].start)
    assert front["bitrate_kbps"] > 0
    assert 0 < front["days_that_fit"] <= 14
    assert garden == {
        "id": "garden",
        "name": "Garden",
        "bytes": 0,
        "segments": 0,
        "oldest": None,
        "newest": None,
        "bitrate_kbps": None,
        "days_that_fit": None,
    }


async def test_admin_actions(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
    hass_read_only_user: Any,
) -> None:
    """Protect, unprotect and delete: refused for non-admins (nothing changes), done for admins."""
    first, second, _start = await _cameras_with_footage(hass, simulator, segment_factory)
    nvr = hass.data[DATA_NVR]
    window = {"camera": "front_door", "start": first[0].start, "end": first[-1].end}
    reader = await _user_ws(hass, hass_ws_client, hass_read_only_user)
    for command in ("protect", "unprotect", "delete"):
        error = await reader.error(command, **window)
        assert error["code"] == "unauthorized", command
    segments = await hass.async_add_executor_job(nvr.index.segments, "front_door", 0, time.time())
    assert len(segments) == 8
    assert not any(s.protected for s in segments)
    # The reader may still look.
    assert (await reader.ok("timeline", **window))["spans"]

    ws = Ws(await hass_ws_client(hass))
    assert await ws.ok("protect", **window) == {"segments": len(first)}
    stored = await hass.async_add_executor_job(nvr.index.segments, "front_door", 0, time.time())
    assert [s.protected for s in stored] == [True] * len(first) + [False] * len(second)
    assert await ws.ok("unprotect", **window) == {"segments": len(first)}
    result = await ws.ok("delete", **window)
    assert result == {"segments": len(first), "bytes": sum(s.bytes for s in first)}
    assert not any((nvr.root / s.path).exists() for s in first)
    assert all((nvr.root / s.path).exists() for s in second)
    timeline = await ws.ok("timeline", camera="front_door", start=first[0].start, end=time.time())
    assert timeline["spans"] == [[pytest.approx(s) for s in (second[0].start, second[-1].end)]]


async def test_camera_the_user_may_not_view(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
) -> None:
    """A user allowed only the garden sees only the garden; the front door is unauthorized."""
    _first, _second, start = await _cameras_with_footage(hass, simulator, segment_factory)
    nvr = hass.data[DATA_NVR]
    await hass.async_add_executor_job(
        nvr.index.exports.add, "front_door", "Secret", start, start + 4, "x/secret.mp4", 10, 4.0
    )
    group = MockGroup(name="garden only")
    group.policy = {"entities": {"entity_ids": {"camera.garden": True}}}
    group.add_to_hass(hass)
    user = MockUser(name="Limited", groups=[group]).add_to_hass(hass)
    ws = await _user_ws(hass, hass_ws_client, user)

    cameras = await ws.ok("cameras")
    assert cameras["admin"] is False
    assert [c["id"] for c in cameras["cameras"]] == ["garden"]
    for command, data in (
        ("timeline", {"start": start, "end": start + 60}),
        ("timeline", {"date": "2026-01-01"}),
        ("playback", {"start": start, "end": start + 60}),
        ("export", {"start": start, "end": start + 10}),
        ("exports", {}),
    ):
        error = await ws.error(command, camera="front_door", **data)
        assert error["code"] == "unauthorized", command
        assert error["message"] == "You are not allowed to do this with camera front_door"
    listing = await ws.ok("exports")
    assert listing["exports"] == []
    assert listing["jobs"] == []
    storage = await ws.ok("storage")
    assert [c["id"] for c in storage["cameras"]] == ["garden"]
    assert (await ws.ok("timeline", camera="garden", start=start, end=start + 60))["spans"] == []


async def test_live_recording_is_not_a_gap(
    hass: HomeAssistant, simulator: CameraSimulator, hass_ws_client: Any
) -> None:
    """While a camera records, the segment being written is "recording", not a gap."""
    await setup_camera(hass, camera_entry(simulator))
    index = hass.data[DATA_NVR].index
    started = time.time()
    await hass.services.async_call(
        "switch",
        "turn_on",
        {ATTR_ENTITY_ID: "switch.front_door_continuous_recording"},
        blocking=True,
    )
    await wait_for(lambda: hass.states.get("camera.front_door").state == "recording", timeout=20)
    await wait_for(lambda: index.last_segment("front_door") is not None, timeout=30)
    ws = Ws(await hass_ws_client(hass))
    cameras = await ws.ok("cameras")
    assert cameras["cameras"][0]["recording"] is True
    assert cameras["cameras"][0]["continuous"] is True
    timeline = await ws.ok(
        "timeline", camera="front_door", start=started - 60, end=time.time() + 60
    )
    last_end = timeline["spans"][-1][1]
    assert timeline["recording"] == [pytest.approx(last_end), pytest.approx(timeline["now"])]
    assert all(gap[1] <= last_end for gap in timeline["gaps"])
    await hass.services.async_call(
        "switch",
        "turn_off",
        {ATTR_ENTITY_ID: "switch.front_door_continuous_recording"},
        blocking=True,
    )
    await hass.async_block_till_done()
    # Not recording any more: the time since the last footage is a gap again.
    await asyncio.sleep(1.5)
    timeline = await ws.ok("timeline", camera="front_door", start=started - 60, end=time.time())
    assert timeline["recording"] is None
    assert timeline["gaps"][-1][0] == pytest.approx(timeline["spans"][-1][1])
