"""Per-camera coordinator: the recorder, whether the camera is reachable, and its figures.

Entities read a camera's state here: ``data`` (online, recording, the recorder's status),
``storage`` (storage figures, refreshed at most once a minute) and ``recordings`` (the
recording mode and running manual/event recordings, see ``recordings``). Recording
problems the user must fix become repair issues (``issues``); the camera going away and
coming back fire bus events.

A push camera (``data.is_push``) records a `PushRecorder` fed by the installation's
ingest server (push.py) through the same pipeline; it is online while a publisher is
connected, and is never DESCRIBEd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
import logging
import time
from typing import Any

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .cloud import async_enqueue_segment
from .const import (
    CONF_MAIN_URL,
    CONF_MAX_SIZE_GB,
    CONF_MIN_FREE_GB,
    CONF_RECORD_AUDIO,
    CONF_RETENTION_DAYS,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_INFO,
    CONF_TRANSPORT,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DOMAIN,
    EVENT_CAMERA_OFFLINE,
    EVENT_CAMERA_ONLINE,
    GB,
    SEGMENT_BUFFER,
)
from .data import NvrData, is_camera_entry, is_push
from .engine import rtsp
from .engine.index import Segment
from .engine.ingest import PushRecorder, PushStatus
from .engine.live import LiveFeed
from .engine.recorder import Recorder, RecorderConfig, RecorderState, RecorderStatus
from .engine.stats import StorageStats, storage_stats
from .events import camera_event_data
from .issues import async_update_camera_issues
from .locations import CameraLocation
from .recordings import RecordingControl

_LOGGER = logging.getLogger(__name__)

UPDATE_INTERVAL = timedelta(seconds=30)
STORAGE_REFRESH_SECONDS = 60

type CctvNvrConfigEntry = ConfigEntry[CameraCoordinator]


@callback
def loaded_cameras(hass: HomeAssistant) -> dict[str, CctvNvrConfigEntry]:
    """Return the loaded camera entries by their storage key."""
    entries: list[CctvNvrConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    return {
        entry.data[CONF_STORAGE_KEY]: entry
        for entry in entries
        if entry.state is ConfigEntryState.LOADED and is_camera_entry(entry)
    }


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """What entities show about a camera."""

    online: bool
    recording: bool
    recorder: RecorderStatus


def storage_limits(options: Mapping[str, Any]) -> tuple[int | None, float, int]:
    """Return a camera's storage options: (max bytes or None, max days, free-space floor)."""
    max_gb = float(options.get(CONF_MAX_SIZE_GB) or 0)
    return (
        int(max_gb * GB) if max_gb > 0 else None,
        float(options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
        int(float(options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)) * GB),
    )


LIVE_FILES = 3  # the newest files cover the live window (12 s) with any segment length


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
        self.push = is_push(entry)
        config = RecorderConfig(
            camera=self.camera_key,
            root=nvr.root,
            url=entry.data.get(CONF_MAIN_URL, ""),
            username=entry.data.get(CONF_USERNAME),
            password=entry.data.get(CONF_PASSWORD),
            transport=entry.data.get(CONF_TRANSPORT, "tcp"),
            segment_seconds=float(entry.options.get(CONF_SEGMENT_SECONDS, DEFAULT_SEGMENT_SECONDS)),
            record_audio=entry.options.get(CONF_RECORD_AUDIO, True),
            ffmpeg=get_ffmpeg_manager(hass).binary,
            fps_hint=info.get("fps"),
            video_codec_hint=info.get("video_codec"),
        )
        self.recorder: Recorder
        if self.push:
            self.recorder = PushRecorder(
                config,
                nvr.index,
                executor=hass.async_add_executor_job,
                on_status=self._recorder_status,
                on_segment=self._recorder_segment,
                on_push_status=self._recorder_status,
            )
        else:
            self.recorder = Recorder(
                config,
                nvr.index,
                executor=hass.async_add_executor_job,
                on_status=self._recorder_status,
                on_segment=self._recorder_segment,
            )
        self.location = CameraLocation(hass, entry, nvr, self.recorder)
        self.recordings = RecordingControl(
            hass, entry, nvr, self.camera_key, self.recorder, self.async_refresh
        )
        self.live = LiveFeed()
        self.storage: StorageStats | None = None
        self._storage_checked = 0.0
        self._was_online: bool | None = None
        self._stale_closed = False

    @property
    def push_status(self) -> PushStatus | None:
        """Return who publishes to a push camera (None: a pulled camera)."""
        recorder = self.recorder
        return recorder.push_status if isinstance(recorder, PushRecorder) else None

    async def async_live_feed(self) -> LiveFeed | None:
        """Return the live feed, refreshed from the files being recorded (None: not recording).

        Live video comes from the recording itself (no second camera session): the newest
        files' complete fragments, a few seconds behind the camera.
        """
        if self.recorder.status.state != RecorderState.RECORDING:
            return None
        files = await self.recorder.latest_files(LIVE_FILES)
        await self.hass.async_add_executor_job(self.live.refresh, files[::-1])
        return self.live

    async def async_shutdown(self) -> None:
        """Stop recording (the open segment is finished) and the coordinator."""
        await self.recordings.async_finish_all()
        await self.location.async_stop_move()
        await self.recorder.stop()
        await super().async_shutdown()

    # -- what the recorder tells -----------------------------------------------------------

    @callback
    def _recorder_status(self, _status: RecorderStatus | PushStatus) -> None:
        self.hass.async_create_task(self.async_request_refresh(), eager_start=True)

    @callback
    def _recorder_segment(self, segment: Segment) -> None:
        _LOGGER.debug("Camera %s: segment %s indexed", self.camera_key, segment.path)
        self.recordings.async_segment_indexed(segment)
        cloud = self.nvr.cloud
        if cloud is not None and segment.kind != SEGMENT_BUFFER:
            # The rolling buffer goes up only if an event keeps it (the tier's scan finds it).
            self.hass.async_create_background_task(
                async_enqueue_segment(cloud, segment), f"{DOMAIN} cloud enqueue {self.camera_key}"
            )

    @callback
    def async_update_listeners(self) -> None:
        """Tell entities, and fire camera offline/online events on a change."""
        super().async_update_listeners()
        online = self.last_update_success and self.data is not None and self.data.online
        previous, self._was_online = self._was_online, online
        if previous is not None and previous != online:
            self.hass.bus.async_fire(
                EVENT_CAMERA_ONLINE if online else EVENT_CAMERA_OFFLINE,
                camera_event_data(self.hass, self.config_entry),
            )

    # -- polling -----------------------------------------------------------------------------

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

    async def _async_refresh_storage(self) -> None:
        if time.monotonic() - self._storage_checked < STORAGE_REFRESH_SECONDS and self.storage:
            return
        self._storage_checked = time.monotonic()
        self.storage = await self.hass.async_add_executor_job(
            storage_stats,
            self.nvr.index,
            self.recorder.config.root,  # free space where it records now
            self.camera_key,
            *storage_limits(self.config_entry.options),
        )

    async def _async_update_data(self) -> CameraStatus:
        if not self._stale_closed:
            self._stale_closed = True
            await self.hass.async_add_executor_job(self.recordings.close_stale)
        # Recording is wanted but a supervising task ended: start it again (a fault).
        await self.recorder.revive()
        await self._async_refresh_storage()
        async_update_camera_issues(self.hass, self.config_entry, self.recorder)
        status = self.recorder.status
        push = self.push_status
        if push is not None:  # online: a publisher is connected
            if not push.connected:
                raise UpdateFailed(translation_domain=DOMAIN, translation_key="not_publishing")
            return CameraStatus(
                online=True, recording=status.state == RecorderState.RECORDING, recorder=status
            )
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
