"""Camera entity: stream source, snapshots, device."""

from __future__ import annotations

import io

from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from PIL import Image

from custom_components.cctv_nvr.const import DOMAIN
from tests.const import CAMERA, SIM_PASSWORD, SIM_USER
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
