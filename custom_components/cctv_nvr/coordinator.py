"""Per-camera coordinator: owns the recorder and tells entities what it is doing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
from pathlib import Path
import time
from typing import Any

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import slugify

from .const import (
    CONF_MAIN_URL,
    CONF_MAX_SIZE_GB,
    CONF_MIN_FREE_GB,
    CONF_OFFLINE_REPAIR_MINUTES,
    CONF_RECORD_AUDIO,
    CONF_RETENTION_DAYS,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_INFO,
    CONF_TRANSPORT,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_OFFLINE_MINUTES,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DOMAIN,
    MAX_PRE_ROLL,
)
from .data import CctvNvrConfigEntry, NvrData
from .engine import rtsp
from .engine.export import ExportError, export_range
from .engine.index import Recording, Segment, SegmentIndex
from .engine.recorder import Recorder, RecorderConfig, RecorderState, RecorderStatus
from .engine.retention import delete_range, disk_free_bytes, prune_buffer
from .events import (
    EVENT_CAMERA_OFFLINE,
    EVENT_CAMERA_ONLINE,
    EVENT_EVENT_SAVED,
    EVENT_RECORDING_STARTED,
    EVENT_RECORDING_STOPPED,
    camera_event_data,
    recording_event_data,
    saved_event_data,
)

_LOGGER = logging.getLogger(__name__)

UPDATE_INTERVAL = timedelta(seconds=30)
STORAGE_REFRESH_SECONDS = 60
GB = 1024**3

MODE_OFF = "off"
MODE_CONTINUOUS = "continuous"
MODE_EVENTS = "events"
RECORDING_MODES = [MODE_OFF, MODE_CONTINUOUS, MODE_EVENTS]
KIND_MANUAL = "manual"
KIND_EVENT = "event"
# The rolling buffer kept while continuous recording is off: the longest pre-roll.
BUFFER_SECONDS = float(MAX_PRE_ROLL)


@dataclass(slots=True)
class RunningRecording:
    """A manual or event recording in progress (its row in the index has no end yet)."""

    id: int
    kind: str
    label: str | None
    start: float
    post_roll: float = 0.0
    ends_at: float | None = None  # planned end (duration or post-roll); None: until stopped
    timer: CALLBACK_TYPE | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """What entities show about a camera."""

    online: bool
    recording: bool
    recorder: RecorderStatus


@dataclass(frozen=True, slots=True)
class StorageStats:
    """Storage figures of a camera, refreshed at most once a minute."""

    segments: int
    bytes: int
    oldest: float | None
    newest: float | None
    disk_free: int
    bitrate_kbps: float | None
    days_that_fit: float | None


def storage_stats(
    index: SegmentIndex,
    root: Path,
    camera: str,
    max_bytes: int | None,
    max_days: float | None,
    min_free: int,
) -> StorageStats:
    """Compute a camera's storage figures (executor)."""
    count, size, oldest, newest = index.camera_stats(camera)
    free = disk_free_bytes(root)
    bitrate = None
    fit = None
    if oldest is not None and newest is not None and newest > oldest and size:
        bitrate = size * 8 / 1000 / (newest - oldest)
        per_day = size / ((newest - oldest) / 86400)
        budget = size + max(0, free - min_free)
        if max_bytes is not None:
            budget = min(budget, max_bytes)
        fit = budget / per_day
        if max_days is not None:
            fit = min(fit, max_days)
    return StorageStats(count, size, oldest, newest, free, bitrate, fit)


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
        self.mode = MODE_OFF
        self.storage: StorageStats | None = None
        self._storage_checked = 0.0
        self.running: dict[tuple[str, str | None], RunningRecording] = {}
        self._continuous_until = 0.0  # segments starting before this were continuous
        # Buffer pruning looks no further back (older leftovers go by age with retention).
        self._prune_from = time.time() - 86400.0
        self._prune_busy = False
        self._was_online: bool | None = None
        self._ranges = asyncio.Lock()
        self._stale_closed = False
        self.recorder.kind_for = self._segment_kind

    # -- recording control ---------------------------------------------------

    @property
    def continuous(self) -> bool:
        """Return True while 24/7 recording is wanted."""
        return self.mode == MODE_CONTINUOUS

    @property
    def manual_active(self) -> bool:
        """Return True while a manual recording runs."""
        return (KIND_MANUAL, None) in self.running

    async def async_set_continuous(self, enabled: bool) -> None:
        """Turn continuous recording on or off (off: no recording unless asked)."""
        await self.async_set_mode(MODE_CONTINUOUS if enabled else MODE_OFF)

    async def async_set_mode(self, mode: str) -> None:
        """Set the recording mode: off, continuous, or events only (rolling pre-roll buffer)."""
        if mode not in RECORDING_MODES:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_mode",
                translation_placeholders={"mode": mode},
            )
        if self.mode == MODE_CONTINUOUS and mode != MODE_CONTINUOUS:
            self._continuous_until = time.time()
        self.mode = mode
        await self._async_apply()

    def _segment_kind(self, start: float, _end: float) -> str:
        """Return continuous, or buffer: deleted as it ages unless a recording covers it.

        Called from the executor (it only reads two attributes).
        """
        if self.mode == MODE_CONTINUOUS or start < self._continuous_until:
            return "continuous"
        return "buffer"

    async def async_start_manual(self, duration: float | None) -> None:
        """Start (or extend) a manual recording, optionally for a duration."""
        await self.async_start_recording(KIND_MANUAL, None, duration=duration)

    async def async_stop_manual(self) -> None:
        """End the manual recording, if any."""
        manual = self.running.get((KIND_MANUAL, None))
        if manual is not None:
            await self._async_finish(manual, time.time())
        else:
            await self._async_apply()

    async def async_start_recording(
        self,
        kind: str,
        label: str | None,
        *,
        pre_roll: float = 0.0,
        duration: float | None = None,
        post_roll: float = 0.0,
    ) -> RunningRecording:
        """Start a manual or event recording, or extend the running one of that label.

        The range starts ``pre_roll`` seconds ago (footage of the continuous
        recording or of the rolling buffer). A retrigger while it runs, or within
        the pre-roll after it ended, extends it instead of adding another range.
        """
        async with self._ranges:  # one lookup-or-create at a time: no duplicate ranges
            now = time.time()
            key = (kind, label)
            running = self.running.get(key)
            new = running is None
            if running is None:
                index = self.nvr.index
                start = now - pre_roll
                previous = await self.hass.async_add_executor_job(
                    index.last_recording, self.camera_key, kind, label, start
                )
                if previous is not None and previous.end is not None:
                    await self.hass.async_add_executor_job(
                        index.set_recording_end, previous.id, None
                    )
                    running = RunningRecording(previous.id, kind, label, previous.start, post_roll)
                else:
                    recording_id = await self.hass.async_add_executor_job(
                        index.start_recording, self.camera_key, kind, label, start
                    )
                    running = RunningRecording(recording_id, kind, label, start, post_roll)
                self.running[key] = running
            else:
                running.post_roll = max(running.post_roll, post_roll)
            if duration is None:
                self._cancel_timer(running)
                running.ends_at = None
            elif new or running.ends_at is not None:
                self._schedule_end(running, max(now + duration, running.ends_at or 0.0))
        if new:
            self._fire(
                EVENT_RECORDING_STARTED,
                recording_event_data(
                    self.hass, self.config_entry, self._recording_of(running, None)
                ),
            )
        await self._async_apply()
        return running

    async def async_stop_recording(
        self, label: str | None = None, post_roll: float | None = None
    ) -> bool:
        """End running recordings (all, or the events of one label) after their post-roll.

        Return False when nothing matched.
        """
        now = time.time()
        matched = [
            running
            for running in list(self.running.values())
            if label is None or (running.kind == KIND_EVENT and running.label == label)
        ]
        for running in matched:
            roll = running.post_roll if post_roll is None else post_roll
            if roll > 0:
                self._schedule_end(running, now + roll)
            else:
                await self._async_finish(running, now, apply=False)
        if matched:
            await self._async_apply()
        return bool(matched)

    def _cancel_timer(self, running: RunningRecording) -> None:
        if running.timer is not None:
            running.timer()
            running.timer = None

    def _schedule_end(self, running: RunningRecording, end: float) -> None:
        self._cancel_timer(running)
        running.ends_at = end

        async def _end(_now: object) -> None:
            running.timer = None
            await self._async_finish(running, end)

        running.timer = async_call_later(self.hass, max(0.0, end - time.time()), _end)

    def _recording_of(self, running: RunningRecording, end: float | None) -> Recording:
        return Recording(
            running.id, self.camera_key, running.kind, running.label, running.start, end
        )

    async def _async_finish(
        self, running: RunningRecording, end: float, *, apply: bool = True
    ) -> None:
        """Close a recording's range and tell automations (event saved for events)."""
        async with self._ranges:
            self._cancel_timer(running)
            if self.running.get((running.kind, running.label)) is not running:
                return
            del self.running[(running.kind, running.label)]
            await self.hass.async_add_executor_job(
                self.nvr.index.set_recording_end, running.id, end
            )
        recording = self._recording_of(running, end)
        self._fire(
            EVENT_RECORDING_STOPPED, recording_event_data(self.hass, self.config_entry, recording)
        )
        if running.kind == KIND_EVENT:
            self._fire(EVENT_EVENT_SAVED, saved_event_data(self.hass, self.config_entry, recording))
        if apply:
            await self._async_apply()

    @callback
    def _fire(self, event_type: str, data: dict[str, Any]) -> None:
        self.hass.bus.async_fire(event_type, data)

    async def _async_apply(self) -> None:
        if self.mode != MODE_OFF or self.running:
            await self.recorder.start()
        else:
            await self.recorder.stop()
        await self.async_refresh()

    async def async_shutdown(self) -> None:
        """Stop recording (the open segment is finished) and the coordinator."""
        now = time.time()
        for running in list(self.running.values()):
            await self._async_finish(running, now, apply=False)
        await self.recorder.stop()
        await super().async_shutdown()

    # -- footage ---------------------------------------------------------------

    async def async_export(self, start: float, end: float, name: str | None) -> dict[str, Any]:
        """Write one MP4 of [start, end) by remuxing; return what the service answers."""
        nvr = self.nvr
        segments = await self.hass.async_add_executor_job(
            nvr.index.segments, self.camera_key, start, end
        )
        if not segments:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
        stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")
        label = slugify(name) if name else ""
        relative = (
            f"{self.camera_key}/{stamp}-{int(end - start)}s{'-' + label if label else ''}.mp4"
        )
        target = nvr.exports / relative
        try:
            result = await export_range(
                segments, nvr.root, start, end, target, ffmpeg=self.recorder.config.ffmpeg
            )
        except ExportError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="export_failed",
                translation_placeholders={"reason": err.reason},
            ) from err
        title = name or f"{self.config_entry.title} {stamp}"
        export_id = await self.hass.async_add_executor_job(
            nvr.index.add_export,
            self.camera_key,
            title,
            start,
            end,
            relative,
            result.bytes,
            result.duration,
        )
        return {
            "id": export_id,
            "name": title,
            "path": str(target),
            "media_id": f"media-source://{DOMAIN}/export/{export_id}",
            "url": f"/api/{DOMAIN}/export/{export_id}.mp4",
            "duration": round(result.duration, 3),
            "bytes": result.bytes,
        }

    async def async_protect(self, start: float, end: float, *, protected: bool) -> int:
        """Protect (or unprotect) this camera's footage in [start, end)."""
        index = self.nvr.index
        func = index.protect if protected else index.unprotect
        return int(await self.hass.async_add_executor_job(func, self.camera_key, start, end))

    async def async_delete_range(self, start: float, end: float) -> tuple[int, int]:
        """Delete this camera's segments in [start, end): files and index rows together."""
        return await self.hass.async_add_executor_job(
            delete_range, self.nvr.index, self.nvr.root, self.camera_key, start, end
        )

    # -- status ----------------------------------------------------------------

    @callback
    def _recorder_status(self, _status: RecorderStatus) -> None:
        self.hass.async_create_task(self.async_request_refresh(), eager_start=True)

    @callback
    def _recorder_segment(self, segment: Segment) -> None:
        _LOGGER.debug("Camera %s: segment %s indexed", self.camera_key, segment.path)
        if not self._prune_busy:
            self._prune_busy = True
            self.hass.async_create_background_task(
                self._async_prune_buffer(), f"{DOMAIN} prune buffer {self.camera_key}"
            )

    async def _async_prune_buffer(self) -> None:
        """Delete the rolling buffer that aged out (what no recording covers)."""
        try:
            cutoff = time.time() - BUFFER_SECONDS
            deleted, _size = await self.hass.async_add_executor_job(
                prune_buffer,
                self.nvr.index,
                self.nvr.root,
                self.camera_key,
                cutoff,
                None,
                self._prune_from,
            )
            self._prune_from = cutoff - 2 * BUFFER_SECONDS - 300
            if deleted:
                _LOGGER.debug("Camera %s: %d buffer segments aged out", self.camera_key, deleted)
        finally:
            self._prune_busy = False

    @callback
    def async_update_listeners(self) -> None:
        """Tell entities, and fire camera offline/online events on a change."""
        super().async_update_listeners()
        online = self.last_update_success and self.data is not None and self.data.online
        previous, self._was_online = self._was_online, online
        if previous is not None and previous != online:
            self._fire(
                EVENT_CAMERA_ONLINE if online else EVENT_CAMERA_OFFLINE,
                camera_event_data(self.hass, self.config_entry),
            )

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
        options = self.config_entry.options
        max_gb = float(options.get(CONF_MAX_SIZE_GB) or 0)
        self.storage = await self.hass.async_add_executor_job(
            storage_stats,
            self.nvr.index,
            self.nvr.root,
            self.camera_key,
            int(max_gb * GB) if max_gb > 0 else None,
            float(options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            int(float(options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)) * GB),
        )

    @callback
    def _async_update_issues(self) -> None:
        """Raise or clear this camera's repair issues from the recorder's state."""
        status = self.recorder.status
        entry = self.config_entry
        placeholders = {"camera": entry.title, "path": str(self.nvr.root)}
        for reason in ("ffmpeg_missing", "storage_unwritable"):
            issue_id = f"{reason}_{entry.entry_id}"
            if status.state == RecorderState.ERROR and status.reason == reason:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key=reason,
                    translation_placeholders=placeholders,
                )
            else:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        minutes = float(entry.options.get(CONF_OFFLINE_REPAIR_MINUTES, DEFAULT_OFFLINE_MINUTES))
        offline_id = f"camera_offline_{entry.entry_id}"
        if (
            self.recorder.running
            and status.state == RecorderState.OFFLINE
            and time.time() - status.since > minutes * 60
        ):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                offline_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="camera_offline",
                translation_placeholders={**placeholders, "minutes": f"{minutes:g}"},
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, offline_id)

    def _close_stale_recordings(self) -> None:
        """Close ranges a crash left open, at the end of the camera's footage (executor)."""
        index = self.nvr.index
        last = index.last_segment(self.camera_key)
        index.close_open_recordings(self.camera_key, last.end if last else 0.0)

    async def _async_update_data(self) -> CameraStatus:
        if not self._stale_closed:
            self._stale_closed = True
            await self.hass.async_add_executor_job(self._close_stale_recordings)
        await self._async_refresh_storage()
        self._async_update_issues()
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
