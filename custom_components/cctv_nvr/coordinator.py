"""Per-camera coordinator: owns the recorder and tells entities what it is doing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
import logging
import time

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    CONF_MAIN_URL,
    CONF_RECORD_AUDIO,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_INFO,
    CONF_TRANSPORT,
    DEFAULT_SEGMENT_SECONDS,
    DOMAIN,
)
from .data import CctvNvrConfigEntry, NvrData
from .engine import rtsp
from .engine.index import Segment
from .engine.recorder import Recorder, RecorderConfig, RecorderState, RecorderStatus

_LOGGER = logging.getLogger(__name__)

UPDATE_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """What entities show about a camera."""

    online: bool
    recording: bool
    recorder: RecorderStatus


class CameraCoordinator(DataUpdateCoordinator[CameraStatus]):
    """Keeps one camera's recorder and availability."""

    config_entry: CctvNvrConfigEntry

    def __init__(self, hass: HomeAssistant, entry: CctvNvrConfigEntry, nvr: NvrData) -> None:
        """Create the coordinator and its (not yet started) recorder."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=entry.data[CONF_NAME],
            update_interval=UPDATE_INTERVAL,
            request_refresh_debouncer=Debouncer(hass, _LOGGER, cooldown=0.2, immediate=True),
        )
        self.nvr = nvr
        self.camera_key: str = entry.data[CONF_STORAGE_KEY]
        info = entry.data.get(CONF_STREAM_INFO) or {}
        self.recorder = Recorder(
            RecorderConfig(
                camera=self.camera_key,
                root=nvr.root,
                url=entry.data[CONF_MAIN_URL],
                username=entry.data.get(CONF_USERNAME),
                password=entry.data.get(CONF_PASSWORD),
                transport=entry.data.get(CONF_TRANSPORT, "tcp"),
                segment_seconds=float(
                    entry.options.get(CONF_SEGMENT_SECONDS, DEFAULT_SEGMENT_SECONDS)
                ),
                record_audio=entry.options.get(CONF_RECORD_AUDIO, True),
                ffmpeg=get_ffmpeg_manager(hass).binary,
                fps_hint=info.get("fps"),
                video_codec_hint=info.get("video_codec"),
            ),
            nvr.index,
            executor=hass.async_add_executor_job,
            on_status=self._recorder_status,
            on_segment=self._recorder_segment,
        )
        self.continuous = False
        self._manual_id: int | None = None
        self._manual_timer: CALLBACK_TYPE | None = None

    # -- recording control ---------------------------------------------------

    @property
    def manual_active(self) -> bool:
        """Return True while a manual recording runs."""
        return self._manual_id is not None

    async def async_set_continuous(self, enabled: bool) -> None:
        """Turn continuous recording on or off."""
        self.continuous = enabled
        await self._async_apply()

    async def async_start_manual(self, duration: float | None) -> None:
        """Start (or extend) a manual recording, optionally for a duration."""
        if self._manual_timer is not None:
            self._manual_timer()
            self._manual_timer = None
        if self._manual_id is None:
            self._manual_id = await self.hass.async_add_executor_job(
                self.nvr.index.start_recording, self.camera_key, "manual", None, time.time()
            )
        if duration is not None:
            self._manual_timer = async_call_later(self.hass, duration, self._manual_expired)
        await self._async_apply()

    async def async_stop_manual(self) -> None:
        """End the manual recording, if any."""
        if self._manual_timer is not None:
            self._manual_timer()
            self._manual_timer = None
        if self._manual_id is not None:
            manual_id, self._manual_id = self._manual_id, None
            await self.hass.async_add_executor_job(
                self.nvr.index.end_recording, manual_id, time.time()
            )
        await self._async_apply()

    async def _manual_expired(self, _now: object) -> None:
        self._manual_timer = None
        await self.async_stop_manual()

    async def _async_apply(self) -> None:
        if self.continuous or self.manual_active:
            await self.recorder.start()
        else:
            await self.recorder.stop()
        await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Stop recording (the open segment is finished) and the coordinator."""
        if self._manual_timer is not None:
            self._manual_timer()
            self._manual_timer = None
        if self._manual_id is not None:
            await self.hass.async_add_executor_job(
                self.nvr.index.end_recording, self._manual_id, time.time()
            )
            self._manual_id = None
        await self.recorder.stop()
        await super().async_shutdown()

    # -- status ----------------------------------------------------------------

    @callback
    def _recorder_status(self, _status: RecorderStatus) -> None:
        self.hass.async_create_task(self.async_request_refresh(), eager_start=True)

    @callback
    def _recorder_segment(self, segment: Segment) -> None:
        _LOGGER.debug("Camera %s: segment %s indexed", self.camera_key, segment.path)

    async def _async_check_camera(self) -> None:
        """DESCRIBE the main stream; one quick retry rides over a busy moment (RTSP 503)."""
        data = self.config_entry.data
        for attempt in range(2):
            try:
                await rtsp.describe(
                    data[CONF_MAIN_URL],
                    data.get(CONF_USERNAME),
                    data.get(CONF_PASSWORD),
                    timeout=5,
                )
            except rtsp.RtspAuthError:
                raise
            except rtsp.RtspError:
                if attempt:
                    raise
                await asyncio.sleep(1)
            else:
                return

    async def _async_update_data(self) -> CameraStatus:
        status = self.recorder.status
        if self.recorder.running:
            if status.state == RecorderState.AUTH_FAILED:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="auth_failed"
                )
            if status.state == RecorderState.OFFLINE:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="camera_offline",
                    translation_placeholders={"reason": status.reason or "unknown"},
                )
            return CameraStatus(
                online=True,
                recording=status.state == RecorderState.RECORDING,
                recorder=status,
            )
        try:
            await self._async_check_camera()
        except rtsp.RtspAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except rtsp.RtspError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="camera_offline",
                translation_placeholders={"reason": err.reason},
            ) from err
        return CameraStatus(online=True, recording=False, recorder=status)
