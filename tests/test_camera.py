"""Camera entity: stream source, snapshots, device."""

from __future__ import annotations

import io

from homeassistant.components.camera import (
    DATA_COMPONENT,
    async_get_image,
    async_get_stream_source,
)
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from PIL import Image

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.engine.recorder import RecorderState
from tests.const import CAMERA, SIM_PASSWORD, SIM_USER, SWITCH
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator


async def test_stream_source_and_device(
    hass: HomeAssistant, auth_simulator: CameraSimulator
) -> None:
    """The stream source carries credentials for HA's stream only; the state does not."""
    entry = await setup_camera(
        hass, camera_entry(auth_simulator, username=SIM_USER, password=SIM_PASSWORD, live="sub")
    )
    source = await async_get_stream_source(hass, CAMERA)
    assert source == auth_simulator.url("sub", with_credentials=True)
    state = hass.states.get(CAMERA)
    assert SIM_PASSWORD not in str(state.attributes)
    assert state.attributes["supported_features"] & 2  # CameraEntityFeature.STREAM
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    assert device.name == "Front door"
    assert device.model == "H264 1920x1080"


async def test_stream_source_main_when_chosen(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """Live view can use the main stream."""
    await setup_camera(hass, camera_entry(simulator, live="main"))
    assert await async_get_stream_source(hass, CAMERA) == simulator.url("main")


async def test_cold_snapshot_is_jpeg_of_requested_size(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """Without a recording a snapshot opens the stream (ffmpeg) and scales it."""
    await setup_camera(hass, camera_entry(simulator))
    image = await async_get_image(hass, CAMERA, width=640, height=360)
    assert image.content_type == "image/jpeg"
    with Image.open(io.BytesIO(image.content)) as picture:
        assert picture.format == "JPEG"
        assert picture.size == (640, 360)


async def test_snapshot_from_running_recording(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """While recording, the snapshot comes from the recording (no new RTSP session)."""
    entry = await setup_camera(hass, camera_entry(simulator))
    await hass.services.async_call(
        "switch",
        SERVICE_TURN_ON,
        {ATTR_ENTITY_ID: "switch.front_door_continuous_recording"},
        blocking=True,
    )
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    await wait_for(lambda: entry.runtime_data.recorder.status.last_segment_end, timeout=20)
    clients = (await hass.async_add_executor_job(simulator.status))["clients"]
    image = await async_get_image(hass, CAMERA)
    with Image.open(io.BytesIO(image.content)) as picture:
        assert picture.format == "JPEG"
        assert picture.size == (1920, 1080)
    scaled = await async_get_image(hass, CAMERA, width=480)
    with Image.open(io.BytesIO(scaled.content)) as picture:
        assert picture.size == (480, 270)
    # No new RTSP session was opened for the snapshots.
    assert (await hass.async_add_executor_job(simulator.status))["clients"] == clients
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_recording_goes_first_on_a_one_session_camera(
    hass: HomeAssistant, own_simulator: CameraSimulator
) -> None:
    """A camera that allows one RTSP session, held by the live stream: recording takes it.

    The recorder is refused (camera_busy); the live stream is stopped and not offered
    again until recording runs; snapshots then come from the recording.
    """
    await own_simulator.amax_sessions(1)
    entry = await setup_camera(hass, camera_entry(own_simulator, sub=None, live="main"))
    assert await async_setup_component(hass, "stream", {})
    camera = hass.data[DATA_COMPONENT].get_entity(CAMERA)
    assert camera is not None
    stream = await camera.async_create_stream()
    assert stream is not None
    stream.add_provider("hls")
    await stream.start()
    await wait_for(lambda: own_simulator.status()["sessions"] == 1, timeout=20)

    recorder = entry.runtime_data.recorder
    await hass.services.async_call(
        "switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )
    await wait_for(lambda: recorder.status.reason == "camera_busy", timeout=20)
    await wait_for(lambda: camera.stream is None, timeout=10)
    assert await async_get_stream_source(hass, CAMERA) is None  # not offered meanwhile
    await wait_for(lambda: recorder.status.state is RecorderState.RECORDING, timeout=30)
    await wait_for(lambda: recorder.status.last_segment_end, timeout=20)
    assert own_simulator.status()["refused"] >= 1
    # Recording runs: live view gets snapshots from it (no session) and the stream back.
    image = await async_get_image(hass, CAMERA)
    assert image.content[:2] == b"\xff\xd8"
    await hass.async_block_till_done()
    assert await async_get_stream_source(hass, CAMERA) == own_simulator.url("main")
    await stream.stop()
    assert await hass.config_entries.async_unload(entry.entry_id)
