"""Event recordings: pre-roll from the rolling buffer, retrigger, post-roll, bus events, links.

Real Home Assistant, real simulator, real ffmpeg recording with 2 s segments. The rolling
buffer is shortened from 60 s to 6 s for the test (a module constant, so the suite does
not wait a minute); everything else runs as in production.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import io
import os
from pathlib import Path
import time
from typing import Any

import av
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest

from custom_components.cctv_nvr import recordings as recordings_module
from custom_components.cctv_nvr.const import (
    DOMAIN,
    EVENT_EVENT_SAVED,
    EVENT_RECORDING_STARTED,
    EVENT_RECORDING_STOPPED,
)
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.layout import parse_segment_name
from custom_components.cctv_nvr.events import notification_links
from custom_components.cctv_nvr.logbook import async_describe_events, describe
from custom_components.cctv_nvr.retention import current_policy
from tests.const import CAMERA, KEY, MODE, SWITCH
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, run_retention, setup_camera
from tests.simulator import CameraSimulator


def _collect(hass: HomeAssistant, *event_types: str) -> list[Event]:
    events: list[Event] = []

    @callback
    def _add(event: Event) -> None:  # a callback: in order, in the event loop
        events.append(event)

    for event_type in event_types:
        hass.bus.async_listen(event_type, _add)
    return events


def _mp4_duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        assert stream.codec_context.name == "h264"
        return float(container.duration) / 1_000_000


async def test_event_with_pre_roll_retrigger_post_roll_and_links(  # noqa: PLR0915
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_client_no_auth: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events only mode keeps a rolling buffer; an event starts in it and is saved with links."""
    monkeypatch.setattr(recordings_module, "BUFFER_SECONDS", 6.0)
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    coordinator = entry.runtime_data
    index = hass.data[DATA_NVR].index
    root: Path = hass.data[DATA_NVR].root
    events = _collect(hass, EVENT_RECORDING_STARTED, EVENT_RECORDING_STOPPED, EVENT_EVENT_SAVED)

    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": "events"}, blocking=True
    )
    assert hass.states.get(MODE).state == "events"
    assert hass.states.get(SWITCH).state == "off"
    assert coordinator.recorder.running
    # Let the buffer fill past its 6 s so that older buffer segments age out.
    await wait_for(lambda: coordinator.recorder.status.last_segment_end, timeout=30)
    first_end = coordinator.recorder.status.last_segment_end
    assert first_end is not None
    await wait_for(lambda: time.time() > first_end + 9, timeout=15)

    trigger = time.time()
    await hass.services.async_call(
        DOMAIN,
        "start_recording",
        {ATTR_ENTITY_ID: CAMERA, "label": "motion", "pre_roll": 4, "post_roll": 30},
        blocking=True,
    )
    await asyncio.sleep(2)
    # A retrigger while it runs extends the same event (no second range, no second start).
    await hass.services.async_call(
        DOMAIN,
        "start_recording",
        {ATTR_ENTITY_ID: CAMERA, "label": "motion", "pre_roll": 4},
        blocking=True,
    )
    await asyncio.sleep(1)
    stopped = time.time()
    # The post-roll given here overrides the 30 s given at the start.
    await hass.services.async_call(
        DOMAIN,
        "stop_recording",
        {ATTR_ENTITY_ID: CAMERA, "label": "motion", "post_roll": 2},
        blocking=True,
    )
    assert coordinator.recordings.running  # still recording its post-roll
    await wait_for(lambda: any(e.event_type == EVENT_EVENT_SAVED for e in events), timeout=10)

    assert [e.event_type for e in events] == [
        EVENT_RECORDING_STARTED,
        EVENT_RECORDING_STOPPED,
        EVENT_EVENT_SAVED,
    ]
    recordings = await hass.async_add_executor_job(
        index.recordings.overlapping, KEY, trigger - 60, time.time() + 60
    )
    assert len(recordings) == 1
    event = recordings[0]
    assert (event.kind, event.label) == ("event", "motion")
    assert event.start == pytest.approx(trigger - 4, abs=0.5)
    assert event.end == pytest.approx(stopped + 2, abs=0.5)

    saved = events[-1].data
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    assert saved["entity_id"] == CAMERA
    assert saved["device_id"] == device.id
    assert saved["label"] == "motion"
    assert saved["media_id"] == (
        f"media-source://{DOMAIN}/play/{KEY}/{int(event.start)}/{int(event.end) + 1}"
    )
    assert saved["duration"] == pytest.approx(event.end - event.start, abs=0.01)

    # Pre-roll footage really precedes the trigger: the files' own start times say so.
    await wait_for(lambda: (coordinator.recorder.status.last_segment_end or 0) > event.end, 15)
    covering = await hass.async_add_executor_job(index.segments, KEY, event.start, event.end)
    first = covering[0]
    parsed = parse_segment_name(Path(first.path).name)
    assert parsed is not None
    assert parsed[0] <= trigger - 3
    assert first.start <= event.start + 0.2
    assert first.kind == "buffer"

    # The signed links serve the clip and snapshot without a session.
    anonymous = await hass_client_no_auth()
    clip = await anonymous.get(saved["clip_url"])
    assert clip.status == 200
    assert clip.headers["Content-Type"] == "video/mp4"
    body = await clip.read()
    assert _mp4_duration(body) == pytest.approx(event.end - event.start, abs=1.5)
    ranged = await anonymous.get(saved["clip_url"], headers={"Range": "bytes=0-99"})
    assert ranged.status == 206
    assert await ranged.read() == body[:100]
    snapshot = await anonymous.get(saved["snapshot_url"])
    assert snapshot.status == 200
    jpeg = await snapshot.read()
    assert jpeg[:2] == b"\xff\xd8"
    # A signature is good for its own path only, and never without one.
    sig = saved["clip_url"].split("?", 1)[1]
    assert (await anonymous.get(saved["snapshot_url"].split("?")[0] + "?" + sig)).status == 401
    assert (await anonymous.get(saved["clip_url"].split("?")[0])).status == 401
    other = saved["clip_url"].replace(f"/event/{event.id}/", f"/event/{event.id + 1}/")
    assert (await anonymous.get(other)).status == 401
    # The links expire: sign for one second and wait.
    short = notification_links(hass, event.id, timedelta(seconds=1))
    assert (await anonymous.get(short["clip_url"])).status == 200
    await asyncio.sleep(2.2)
    assert (await anonymous.get(short["clip_url"])).status == 401
    assert (await anonymous.get(short["snapshot_url"])).status == 401

    # The buffer ages out, except the segments the event covers.
    def buffer_state() -> tuple[list[Any], list[Any]]:
        segments = index.segments(KEY, 0, time.time() + 60)
        old = [s for s in segments if s.kind == "buffer" and s.end < time.time() - 8]
        return old, segments

    async def aged_out() -> bool:
        old, _ = await hass.async_add_executor_job(buffer_state)
        return all(s.start < event.end and s.end > event.start for s in old)

    deadline = time.monotonic() + 20
    while not await aged_out():
        assert time.monotonic() < deadline, "buffer segments did not age out"
        await asyncio.sleep(0.5)
    old, segments = await hass.async_add_executor_job(buffer_state)
    assert old  # the event's own segments are old by now and kept
    assert segments[0].start > first_end - 3  # the first buffer segments are gone
    on_disk = {p.relative_to(root).as_posix() for p in (root / KEY).rglob("*.mp4")}
    indexed = {s.path for s in segments}
    assert indexed <= on_disk
    gone = on_disk - indexed
    # Only the open segment (not yet indexed) may be on disk without a row.
    assert len(gone) <= 1

    # Logbook wording of what happened.
    described: dict[str, Any] = {}
    async_describe_events(hass, lambda _d, kind, func: described.setdefault(kind, func))
    line = described[EVENT_EVENT_SAVED](events[-1])
    assert line["name"] == "Front door"
    assert line["entity_id"] == CAMERA
    assert line["message"].startswith("saved an event recording 'motion' (")
    assert described[EVENT_RECORDING_STARTED](events[0])["message"] == (
        "started an event recording 'motion'"
    )

    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": "off"}, blocking=True
    )
    assert not coordinator.recorder.running


def test_logbook_wording() -> None:
    """Every event type has its sentence."""
    assert describe(EVENT_RECORDING_STOPPED, {"kind": "manual"}) == "stopped a manual recording"
    assert describe(EVENT_EVENT_SAVED, {"kind": "event", "label": None}) == (
        "saved an event recording"
    )
    assert describe("cctv_nvr_camera_offline", {}) == "went offline"
    assert describe("cctv_nvr_camera_online", {}) == "came back online"


async def test_retrigger_within_pre_roll_reopens_and_bad_input(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """A trigger just after an event ended reopens it; bad rolls and stops are refused."""
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    coordinator = entry.runtime_data
    index = hass.data[DATA_NVR].index
    saved = _collect(hass, EVENT_EVENT_SAVED)
    for data, key in (
        ({"pre_roll": 61}, "invalid_pre_roll"),
        ({"post_roll": 3601}, "invalid_post_roll"),
        ({"duration": 0, "label": "x"}, "invalid_duration"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN, "start_recording", {ATTR_ENTITY_ID: CAMERA, **data}, blocking=True
            )
        assert err.value.translation_key == key
    assert not coordinator.recordings.running
    assert not coordinator.recorder.running

    started = time.time()
    await hass.services.async_call(
        DOMAIN,
        "start_recording",
        {ATTR_ENTITY_ID: CAMERA, "label": "door", "duration": 1},
        blocking=True,
    )
    assert coordinator.recorder.running  # mode off: an event still records
    await wait_for(lambda: len(saved) == 1, timeout=5)
    # Stopping another label is refused; nothing runs any more.
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_recording", {ATTR_ENTITY_ID: CAMERA, "label": "door"}, blocking=True
        )
    assert err.value.translation_key == "not_recording"
    # Within the pre-roll of the new trigger the old range is reopened, not duplicated.
    await hass.services.async_call(
        DOMAIN,
        "start_recording",
        {ATTR_ENTITY_ID: CAMERA, "label": "door", "pre_roll": 5, "duration": 1},
        blocking=True,
    )
    await wait_for(lambda: len(saved) == 2, timeout=5)
    recordings = await hass.async_add_executor_job(
        index.recordings.overlapping, KEY, started - 10, time.time() + 10
    )
    assert len(recordings) == 1
    assert recordings[0].start == pytest.approx(started, abs=0.3)
    assert saved[0].data["recording_id"] == saved[1].data["recording_id"]
    assert recordings[0].end == pytest.approx(time.time(), abs=1)
    await hass.async_block_till_done()
    assert not coordinator.recorder.running


async def test_event_retention_option_and_stale_ranges(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """The event retention option reaches the retention policy; a crash's open range is closed."""
    db = Path(hass.config.path("cctv_nvr", "index.db"))

    def leave_open_range() -> int:
        index = SegmentIndex(db)
        try:
            return index.recordings.start(KEY, "event", "motion", time.time() - 100)
        finally:
            index.close()

    stale = await hass.async_add_executor_job(leave_open_range)
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "event_retention_days": 45}
    )
    await setup_camera(hass, entry)
    policy = current_policy(hass)
    assert policy.cameras[KEY].event_max_age_days == 45
    assert policy.cameras[KEY].max_age_days == 14
    index = hass.data[DATA_NVR].index
    recording = await hass.async_add_executor_job(index.recordings.get, stale)
    assert recording is not None
    assert recording.end is not None  # closed (at the end of the footage: none, so its start)
    assert recording.end == recording.start
    # Retention drops cached event clips older than the longest event retention, and those
    # of events or footage that are gone; a snapshot of a live event and segment stays.
    cache = hass.data[DATA_NVR].thumbnails / "events" / KEY

    def make_cache() -> str:
        index.add_segment(Segment(KEY, f"{KEY}/x.mp4", time.time() - 90, time.time() - 86, 1))
        segment = index.segment_by_path(f"{KEY}/x.mp4")
        kept = f"{stale}-{segment.row_id}.jpg"
        cache.mkdir(parents=True)
        for name, age in (
            (f"{stale}-{segment.row_id}-{segment.row_id}-1-5.mp4", 46),  # too old
            (kept, 44),
            (f"{stale}-999999.jpg", 1),  # its segment is gone
            ("424242-1.jpg", 1),  # its event is gone
        ):
            (cache / name).write_bytes(b"x")
            moment = time.time() - age * 86400
            os.utime(cache / name, (moment, moment))
        return kept

    kept = await hass.async_add_executor_job(make_cache)
    await run_retention(hass)
    assert sorted(p.name for p in cache.iterdir()) == [kept]

    # Two triggers at the same moment make one range; unloading the camera ends it cleanly.
    stopped = _collect(hass, EVENT_RECORDING_STOPPED)
    started = _collect(hass, EVENT_RECORDING_STARTED)
    await asyncio.gather(
        *(
            hass.services.async_call(
                DOMAIN, "start_recording", {ATTR_ENTITY_ID: CAMERA, "label": "gate"}, blocking=True
            )
            for _ in range(2)
        )
    )
    assert len(started) == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert [e.data["label"] for e in stopped] == ["gate"]
    gate = await hass.async_add_executor_job(index.recordings.get, stopped[0].data["recording_id"])
    assert gate is not None
    assert gate.end is not None
