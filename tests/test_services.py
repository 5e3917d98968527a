"""start_recording / stop_recording services."""

from __future__ import annotations

import time

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
import pytest

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from tests.const import CAMERA
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator


async def test_start_with_duration_records_and_stops(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """A manual recording with a duration records, is labelled in the index, and ends."""
    entry = await setup_camera(hass, camera_entry(simulator))
    started = time.time()
    await hass.services.async_call(
        DOMAIN, "start_recording", {ATTR_ENTITY_ID: CAMERA, "duration": 6}, blocking=True
    )
    assert entry.runtime_data.recordings.manual_active
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    await wait_for(lambda: not entry.runtime_data.recordings.manual_active, timeout=15)
    await hass.async_block_till_done()
    assert hass.states.get(CAMERA).state == "idle"
    index = hass.data[DATA_NVR].index
    recordings = await hass.async_add_executor_job(
        index.recordings.overlapping, "front_door", started - 1, time.time() + 1
    )
    assert len(recordings) == 1
    assert recordings[0].kind == "manual"
    assert recordings[0].end is not None
    assert 5.5 <= recordings[0].end - recordings[0].start <= 8
    segments = await hass.async_add_executor_job(
        index.segments, "front_door", started - 1, time.time() + 1
    )
    assert segments


async def test_start_until_stop(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """Without a duration a manual recording runs until stop_recording."""
    entry = await setup_camera(hass, camera_entry(simulator))
    await hass.services.async_call(
        DOMAIN, "start_recording", {ATTR_ENTITY_ID: CAMERA}, blocking=True
    )
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    await hass.services.async_call(
        DOMAIN, "stop_recording", {ATTR_ENTITY_ID: CAMERA}, blocking=True
    )
    await hass.async_block_till_done()
    assert not entry.runtime_data.recordings.manual_active
    assert not entry.runtime_data.recorder.running


async def test_stop_when_continuous_keeps_recording(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """Ending a manual recording does not stop 24/7 recording."""
    entry = await setup_camera(hass, camera_entry(simulator))
    await hass.services.async_call(
        "switch",
        "turn_on",
        {ATTR_ENTITY_ID: "switch.front_door_continuous_recording"},
        blocking=True,
    )
    await hass.services.async_call(
        DOMAIN, "start_recording", {ATTR_ENTITY_ID: CAMERA}, blocking=True
    )
    await hass.services.async_call(
        DOMAIN, "stop_recording", {ATTR_ENTITY_ID: CAMERA}, blocking=True
    )
    assert entry.runtime_data.recorder.running
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("duration", [0, -5, 24 * 3600 + 1, 10**9])
async def test_bad_durations_are_refused(
    hass: HomeAssistant, simulator: CameraSimulator, duration: int
) -> None:
    """Zero, negative and huge durations get a translated error; nothing starts."""
    entry = await setup_camera(hass, camera_entry(simulator))
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "start_recording", {ATTR_ENTITY_ID: CAMERA, "duration": duration}, blocking=True
        )
    assert err.value.translation_key == "invalid_duration"
    assert err.value.translation_domain == DOMAIN
    assert not entry.runtime_data.recorder.running


async def test_stop_without_recording_is_refused(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """stop_recording with nothing running is a translated error."""
    await setup_camera(hass, camera_entry(simulator))
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_recording", {ATTR_ENTITY_ID: CAMERA}, blocking=True
        )
    assert err.value.translation_key == "not_recording"


async def test_unknown_camera_is_refused(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """Targeting an entity that is not one of our cameras is an error, not a silent no-op."""
    await setup_camera(hass, camera_entry(simulator))
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "start_recording", {ATTR_ENTITY_ID: "camera.nope"}, blocking=True
        )
    assert err.value.translation_key == "unknown_camera"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "stop_recording", {"area_id": "nowhere"}, blocking=True
        )
    assert err.value.translation_key == "no_cameras"
