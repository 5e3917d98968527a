"""Camera entity: live stream, fast snapshots, recording state.

Recording goes first: when the camera refuses the recorder a session (``camera_busy``:
it allows only so many, and a live stream holds one), the live stream is stopped and
not offered again until recording runs; live view shows snapshots meanwhile (taken
from the recording once it runs, no session needed).

A push camera has no stream to hand to Home Assistant's stream component (the ingest
server only receives): it offers snapshots from its recording, and live video in the
CCTV panel (HLS from the recording being written, `CameraCoordinator.async_live_feed`).
"""

from __future__ import annotations

import logging
from pathlib import Path
import shlex

from homeassistant.components.camera import Camera
from homeassistant.components.camera.const import CameraEntityFeature
from homeassistant.components.ffmpeg import async_get_image
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    CONF_LIVE_PANEL_ONLY,
    CONF_LIVE_STREAM,
    CONF_MAIN_URL,
    CONF_SUB_URL,
    CONF_TRANSPORT,
    STREAM_SUB,
)
from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .engine.media import ProbeError, last_keyframe_jpeg
from .engine.recorder import RecorderState
from .engine.rtsp import credential_url
from .entity import CctvNvrEntity

_LOGGER = logging.getLogger(__name__)

SMALL_SNAPSHOT = (704, 576)  # at most this size: from the sub stream (D1, a common sub size)

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the camera entity."""
    async_add_entities([NvrCamera(entry.runtime_data)])


class NvrCamera(CctvNvrEntity, Camera):
    """An IP camera recorded by the NVR."""

    _attr_name = None

    def __init__(self, coordinator: CameraCoordinator) -> None:
        """Create the camera entity."""
        CctvNvrEntity.__init__(self, coordinator, "camera")
        Camera.__init__(self)

    def _url(self, live: bool) -> str:
        data = self.coordinator.config_entry.data
        url: str = data[CONF_MAIN_URL]
        options = self.coordinator.config_entry.options
        if live and data.get(CONF_SUB_URL) and options.get(CONF_LIVE_STREAM) == STREAM_SUB:
            url = data[CONF_SUB_URL]
        return credential_url(url, data.get(CONF_USERNAME), data.get(CONF_PASSWORD))

    def _snapshot_url(self, width: int | None, height: int | None) -> str:
        """Return the stream a snapshot without a recording opens.

        A small one (a dashboard card, a thumbnail) comes from the sub stream when the camera
        has one: a fraction of the main stream's pixels to decode, so it arrives sooner and
        costs less; a full-size one from the main stream.
        """
        data = self.coordinator.config_entry.data
        small = bool(width or height) and (width or 0) <= SMALL_SNAPSHOT[0]
        small = small and (height or 0) <= SMALL_SNAPSHOT[1]
        url: str = data[CONF_SUB_URL] if small and data.get(CONF_SUB_URL) else data[CONF_MAIN_URL]
        return credential_url(url, data.get(CONF_USERNAME), data.get(CONF_PASSWORD))

    @property
    def _panel_only(self) -> bool:
        """Return True when this camera's video is kept off Home Assistant's own views."""
        return bool(self.coordinator.config_entry.options.get(CONF_LIVE_PANEL_ONLY))

    @property
    def supported_features(self) -> CameraEntityFeature:
        """Stream live video, unless it is kept to the CCTV panel or pushed to us."""
        if self._panel_only or self.coordinator.push:
            return CameraEntityFeature(0)
        return CameraEntityFeature.STREAM

    @property
    def is_recording(self) -> bool:
        """Return True while segments are being written."""
        return self.coordinator.data is not None and self.coordinator.data.recording

    @property
    def available(self) -> bool:
        """A camera is unavailable while it cannot be reached."""
        return self.coordinator.last_update_success

    @property
    def _recording_blocked(self) -> bool:
        """Return True while the camera refuses the recorder a session."""
        recorder = self.coordinator.recorder
        return recorder.running and recorder.status.reason == "camera_busy"

    async def stream_source(self) -> str | None:
        """Return the RTSP URL Home Assistant's stream component plays (none: panel only, busy)."""
        if self._panel_only or self._recording_blocked or self.coordinator.push:
            return None
        return self._url(live=True)

    def _handle_coordinator_update(self) -> None:
        """Give the camera's session to the recorder when the live stream holds it."""
        if self._recording_blocked and self.stream is not None:
            stream, self.stream = self.stream, None
            _LOGGER.info(
                "%s: the camera refuses the recorder a session; live stream stopped",
                self.entity_id,
            )
            self.hass.async_create_task(stream.stop(), eager_start=True)
        super()._handle_coordinator_update()

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """Return a JPEG, from the running recording when there is one (none: panel only)."""
        if self._panel_only:
            return None
        recorder = self.coordinator.recorder
        if recorder.status.state == RecorderState.RECORDING:
            for path in await recorder.latest_files():
                image = await self.hass.async_add_executor_job(
                    _keyframe_or_none, path, width, height
                )
                if image is not None:
                    return image
        if self.coordinator.push:
            return None  # nothing to pull a frame from: pictures come from the recording
        transport = self.coordinator.config_entry.data.get(CONF_TRANSPORT, "tcp")
        # Input options go before -i: ha-ffmpeg puts extra_cmd after the input, where ffmpeg
        # ignored the transport and tried UDP first (seconds lost before falling back to TCP).
        source = shlex.join(["-rtsp_transport", transport, "-i", self._snapshot_url(width, height)])
        return await async_get_image(
            self.hass,
            source,
            width=width,
            height=height,
        )


def _keyframe_or_none(path: Path, width: int | None, height: int | None) -> bytes | None:
    try:
        return last_keyframe_jpeg(path, width, height)
    except (ProbeError, OSError) as err:
        _LOGGER.debug("No snapshot from %s: %s", path.name, err)
        return None
