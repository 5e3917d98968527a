"""What a camera records and why: the recording mode, and manual and event recordings.

``RecordingControl`` decides whether the camera's recorder runs: in *continuous* mode, in
*events only* mode (a rolling pre-roll buffer: segments of kind ``buffer`` that age out
unless a recording covers them), and while a manual or event recording runs. Manual and
event recordings are labelled ranges in the index (``index.recordings``); a retrigger
extends the running range instead of adding another. Starting and ending ranges fire the
bus events automations and the logbook see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import logging
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.event import async_call_later

from .const import (
    DOMAIN,
    EVENT_EVENT_SAVED,
    EVENT_RECORDING_STARTED,
    EVENT_RECORDING_STOPPED,
    MAX_PRE_ROLL,
    MODE_CONTINUOUS,
    MODE_OFF,
    RECORDING_MODES,
)
from .data import NvrData
from .engine.index import (
    KIND_EVENT,
    KIND_MANUAL,
    SEGMENT_BUFFER,
    SEGMENT_CONTINUOUS,
    Recording,
    Segment,
)
from .engine.recorder import Recorder
from .engine.retention import prune_buffer
from .events import recording_event_data, saved_event_data

_LOGGER = logging.getLogger(__name__)

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


class RecordingControl:
    """A camera's recording mode and running recordings; starts and stops its recorder."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nvr: NvrData,
        camera: str,
        recorder: Recorder,
        on_change: Callable[[], Awaitable[None]],
    ) -> None:
        """Control ``recorder``; ``on_change`` is awaited after every change (entity refresh)."""
        self.hass = hass
        self._entry = entry
        self._nvr = nvr
        self._camera = camera
        self._recorder = recorder
        self._on_change = on_change
        self.mode = MODE_OFF
        self.running: dict[tuple[str, str | None], RunningRecording] = {}
        self._continuous_until = 0.0  # segments starting before this were continuous
        # Buffer pruning looks no further back (older leftovers go by age with retention).
        self._prune_from = time.time() - 86400.0
        self._prune_busy = False
        self._ranges = asyncio.Lock()
        recorder.kind_for = self._segment_kind

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
            return SEGMENT_CONTINUOUS
        return SEGMENT_BUFFER

    async def async_start_manual(self, duration: float | None) -> None:
        """Start (or extend) a manual recording, optionally for a duration."""
        await self.async_start(KIND_MANUAL, None, duration=duration)

    async def async_stop_manual(self) -> None:
        """End the manual recording, if any."""
        manual = self.running.get((KIND_MANUAL, None))
        if manual is not None:
            await self._async_finish(manual, time.time())
        else:
            await self._async_apply()

    async def async_start(
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
                store = self._nvr.index.recordings
                start = now - pre_roll
                previous = await self.hass.async_add_executor_job(
                    store.last, self._camera, kind, label, start
                )
                if previous is not None and previous.end is not None:
                    await self.hass.async_add_executor_job(store.set_end, previous.id, None)
                    running = RunningRecording(previous.id, kind, label, previous.start, post_roll)
                else:
                    recording_id = await self.hass.async_add_executor_job(
                        store.start, self._camera, kind, label, start
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
                recording_event_data(self.hass, self._entry, self._recording_of(running, None)),
            )
        await self._async_apply()
        return running

    async def async_stop(self, label: str | None = None, post_roll: float | None = None) -> bool:
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
        return Recording(running.id, self._camera, running.kind, running.label, running.start, end)

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
                self._nvr.index.recordings.set_end, running.id, end
            )
        recording = self._recording_of(running, end)
        self._fire(EVENT_RECORDING_STOPPED, recording_event_data(self.hass, self._entry, recording))
        if running.kind == KIND_EVENT:
            self._fire(EVENT_EVENT_SAVED, saved_event_data(self.hass, self._entry, recording))
        if apply:
            await self._async_apply()

    @callback
    def _fire(self, event_type: str, data: dict[str, Any]) -> None:
        self.hass.bus.async_fire(event_type, data)

    async def _async_apply(self) -> None:
        if self.mode != MODE_OFF or self.running:
            await self._recorder.start()
        else:
            await self._recorder.stop()
        await self._on_change()

    async def async_finish_all(self) -> None:
        """End every running recording now (the camera is unloading)."""
        now = time.time()
        for running in list(self.running.values()):
            await self._async_finish(running, now, apply=False)

    def close_stale(self) -> None:
        """Close ranges a crash left open, at the end of the camera's footage (executor)."""
        index = self._nvr.index
        last = index.last_segment(self._camera)
        index.recordings.close_open(self._camera, last.end if last else 0.0)

    @callback
    def async_segment_indexed(self, _segment: Segment) -> None:
        """Prune the rolling buffer after a new segment (one pruning at a time)."""
        if not self._prune_busy:
            self._prune_busy = True
            self.hass.async_create_background_task(
                self._async_prune_buffer(), f"{DOMAIN} prune buffer {self._camera}"
            )

    async def _async_prune_buffer(self) -> None:
        """Delete the rolling buffer that aged out (what no recording covers)."""
        try:
            cutoff = time.time() - BUFFER_SECONDS
            deleted, _size = await self.hass.async_add_executor_job(
                prune_buffer,
                self._nvr.index,
                self._nvr.root,
                self._camera,
                cutoff,
                None,
                self._prune_from,
            )
            self._prune_from = cutoff - 2 * BUFFER_SECONDS - 300
            if deleted:
                _LOGGER.debug("Camera %s: %d buffer segments aged out", self._camera, deleted)
        finally:
            self._prune_busy = False
