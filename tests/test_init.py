"""Recording end to end in a real Home Assistant: switch → segments on disk and in the index."""

from __future__ import annotations

from pathlib import Path
import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON, STATE_ON
from homeassistant.core import HomeAssistant, State
import pytest
from pytest_homeassistant_custom_component.common import mock_restore_cache

from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.recorder import RecorderState
from tests.const import CAMERA, SWITCH
from tests.engine.helpers import inspect_file, wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

FRAME = 1 / 15


async def test_switch_records_valid_contiguous_segments(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """Turning the switch on leaves valid, gap-free segments on disk and in the index."""
    entry = await setup_camera(hass, camera_entry(simulator))
    assert hass.states.get(SWITCH).state == "off"
    assert hass.states.get(CAMERA).state == "idle"
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )
    nvr = hass.data[DATA_NVR]
    coordinator = entry.runtime_data
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    await wait_for(
        lambda: (
            (coordinator.recorder.status.last_segment_end or 0) > time.time() - 60
            and len(nvr.index.segments("front_door", 0, time.time() + 60)) >= 3
        ),
        timeout=40,
    )
    await hass.services.async_call(
        "switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )
    await hass.async_block_till_done()
    assert hass.states.get(CAMERA).state == "idle"
    assert coordinator.recorder.status.state == RecorderState.IDLE
    segments = await hass.async_add_executor_job(
        nvr.index.segments, "front_door", 0, time.time() + 60
    )
    assert len(segments) >= 3
    root: Path = nvr.root
    for segment in segments:
        facts = await hass.async_add_executor_job(inspect_file, root / segment.path)
        assert facts.first_is_keyframe
        assert facts.decoded_frames == facts.video_packets
        assert abs(facts.video_packets * FRAME - segment.duration) <= 1.5 * FRAME
    for before, after in zip(segments, segments[1:], strict=False):
        assert abs(after.start - before.end) <= FRAME
    # Nothing else is on disk: every file is indexed.
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4"))
    assert on_disk == sorted(s.path for s in segments)


async def test_restart_restores_switch(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """After a restart the switch comes back on and recording resumes."""
    mock_restore_cache(hass, [State(SWITCH, STATE_ON)])
    entry = await setup_camera(hass, camera_entry(simulator))
    assert hass.states.get(SWITCH).state == STATE_ON
    recorder = entry.runtime_data.recorder
    assert recorder.running
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not recorder.running


async def test_camera_offline_marks_unavailable_and_logs_once(
    hass: HomeAssistant, own_simulator: CameraSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """While the camera is away its entity is unavailable; going and returning log once each."""
    entry = await setup_camera(hass, camera_entry(own_simulator, sub=None))
    coordinator = entry.runtime_data
    assert hass.states.get(CAMERA).state == "idle"
    await own_simulator.aoffline()
    for _ in range(3):
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(CAMERA).state == "unavailable"
    await own_simulator.aonline()
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(CAMERA).state == "idle"
    went = [r for r in caplog.records if "Error fetching" in r.getMessage()]
    back = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(went) == 1
    assert len(back) == 1
    # The switch stays usable while the camera is away.
    assert hass.states.get(SWITCH).state == "off"


async def test_recording_survives_outage_in_home_assistant(
    hass: HomeAssistant, own_simulator: CameraSimulator
) -> None:
    """Recording through an outage: unavailable while away, recording again after."""
    entry = await setup_camera(hass, camera_entry(own_simulator, sub=None))
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    await own_simulator.aoffline()
    await wait_for(lambda: hass.states.get(CAMERA).state == "unavailable", timeout=10)
    await own_simulator.aonline()
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=10)
    assert entry.runtime_data.recorder.status.restarts >= 1
    assert await hass.config_entries.async_unload(entry.entry_id)
