"""Where a camera records: its chosen folder, the local fallback, and moving footage.

A camera records into its *recordings folder* option (default: the installation's
``<config>/cctv_nvr/recordings``). Each segment row knows its root (index schema 5),
so changing the folder moves nothing: old footage stays playable where it is, new
segments go to the new folder, and ``cctv_nvr.move_footage`` moves the old files
over when asked (one file at a time, see ``engine.location``), with progress events.

``CameraLocation`` watches a chosen folder (every ``CHECK_INTERVAL``, off the loop).
When it vanishes (its marker file is gone: a NAS off, a share unmounted) a repair
issue is raised and, with the "fall back to local storage" option (on by default),
recording goes on in the default folder; segments already written into the bare
mount point meanwhile are moved there too, so the returning share cannot hide them.
Without the fallback the recorder waits (state error, ``location_missing``). When
the folder is back, recording returns to it, its camera folder is re-indexed (a
segment finished while it was away), and the issue is cleared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import contextlib
from datetime import datetime, timedelta
from functools import partial
import logging
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval

from .const import (
    CONF_LOCAL_FALLBACK,
    CONF_RECORDINGS_FOLDER,
    CONF_STORAGE_KEY,
    DOMAIN,
    EVENT_MOVE_PROGRESS,
)
from .data import NvrData
from .engine import location
from .engine.rebuild import rebuild_index
from .engine.recorder import Recorder

_LOGGER = logging.getLogger(__name__)

CHECK_INTERVAL = timedelta(seconds=10)
# A stray file (written into a bare mount point) is one modified after the folder was
# last seen present, less this margin (a segment being written when it went).
_STRAY_MARGIN = 600.0
# Progress events at most this often (and at the end).
_PROGRESS_SECONDS = 1.0


def chosen_folder(options: Mapping[str, Any], default: Path) -> Path:
    """Return a camera's recordings folder from its options (the default when unset)."""
    folder = options.get(CONF_RECORDINGS_FOLDER)
    return Path(folder) if isinstance(folder, str) and folder else default


class CameraLocation:
    """Keeps one camera recording into its chosen folder, or the local fallback."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, nvr: NvrData, recorder: Recorder
    ) -> None:
        """Point the recorder at the chosen folder; nothing is checked until start."""
        self.hass = hass
        self.entry = entry
        self.nvr = nvr
        self.recorder = recorder
        self.camera: str = entry.data[CONF_STORAGE_KEY]
        self.chosen = chosen_folder(entry.options, nvr.root)
        self.fallback: bool = bool(entry.options.get(CONF_LOCAL_FALLBACK, True))
        self.missing = False
        self._last_present = time.time()
        self._lock = asyncio.Lock()
        self.move_task: asyncio.Task[location.MoveReport] | None = None
        self.move_progress: location.MoveReport | None = None
        recorder.config.root = self.chosen
        recorder.config.root_usable = self._usable

    @property
    def issue_id(self) -> str:
        """Return the id of this camera's repair issue."""
        return f"location_missing_{self.entry.entry_id}"

    def _usable(self, root: Path) -> bool:
        """Return whether the recorder may write root (blocking)."""
        return root == self.nvr.root or location.present(root)

    async def async_start(self) -> None:
        """Check the folder now and then periodically, until the entry unloads."""
        await self.async_check()
        self.entry.async_on_unload(
            async_track_time_interval(
                self.hass, self._async_tick, CHECK_INTERVAL, name=f"{DOMAIN} location check"
            )
        )
        self.entry.async_on_unload(self._unload)

    @callback
    def _unload(self) -> None:
        """Drop the issue (the next setup raises it again if it is still due)."""
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    async def async_stop_move(self) -> None:
        """Stop a running move after the file it is moving (every row stays right)."""
        if self.move_task is not None and not self.move_task.done():
            self.move_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.move_task

    async def _async_tick(self, _now: datetime) -> None:
        await self.async_check()

    async def async_check(self) -> None:
        """Follow the chosen folder: fall back when it vanished, return when it is back."""
        if self.chosen == self.nvr.root:
            return
        async with self._lock:
            here = await self.hass.async_add_executor_job(location.present, self.chosen)
            if here:
                if self.missing:
                    await self._async_returned()
                self._last_present = time.time()
            elif not self.missing:
                await self._async_vanished()

    async def _async_vanished(self) -> None:
        self.missing = True
        _LOGGER.warning(
            "Camera %s: recordings folder %s is gone (%s)",
            self.camera,
            self.chosen,
            "recording falls back to the local folder" if self.fallback else "recording waits",
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="location_missing" if self.fallback else "location_missing_stopped",
            translation_placeholders={"camera": self.entry.title, "path": str(self.chosen)},
        )
        if self.fallback:
            since = self._last_present - _STRAY_MARGIN
            await self.recorder.switch_root(
                self.nvr.root, before_start=partial(self._async_rescue, since)
            )

    async def _async_rescue(self, since: float) -> None:
        moved = await self.hass.async_add_executor_job(
            partial(
                location.rescue_strays,
                self.nvr.index,
                self.nvr.root,
                self.camera,
                self.chosen,
                self.nvr.root,
                since=since,
            )
        )
        if moved:
            _LOGGER.warning(
                "Camera %s: %d segments written into the bare folder %s moved to %s",
                self.camera,
                moved,
                self.chosen,
                self.nvr.root,
            )

    async def _async_returned(self) -> None:
        self.missing = False
        _LOGGER.info("Camera %s: recordings folder %s is back", self.camera, self.chosen)
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
        if self.recorder.config.root != self.chosen:
            await self.recorder.switch_root(self.chosen, before_start=self._async_reindex)
        else:
            await self._async_reindex()

    async def _async_reindex(self) -> None:
        """Index what was finished in the folder while it was away (a run's last file)."""
        await self.hass.async_add_executor_job(
            partial(rebuild_index, self.nvr.index, self.chosen, [self.camera], min_age=0.0)
        )

    # -- moving footage into the chosen folder -------------------------------------------------

    async def async_move(self) -> location.MoveReport:
        """Start moving the camera's footage into its folder; return the totals to move."""
        if self.move_task is not None and not self.move_task.done():
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="move_running",
                translation_placeholders={"camera": self.entry.title},
            )
        if self.missing or not await self.hass.async_add_executor_job(self._usable, self.chosen):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="location_unavailable",
                translation_placeholders={"camera": self.entry.title, "path": str(self.chosen)},
            )
        count, size = await self.hass.async_add_executor_job(
            self.nvr.index.count_not_in_root, self.camera, self.chosen
        )
        self.move_progress = location.MoveReport(total=count, total_bytes=size)
        self.move_task = self.hass.async_create_background_task(
            self._async_run_move(), f"{DOMAIN} move footage {self.camera}"
        )
        return self.move_progress

    async def _async_run_move(self) -> location.MoveReport:
        stop = False
        last = 0.0

        def progress(report: location.MoveReport) -> None:
            nonlocal last
            self.move_progress = report
            if time.monotonic() - last >= _PROGRESS_SECONDS:
                last = time.monotonic()
                self.hass.loop.call_soon_threadsafe(self._fire, report, False)

        job = self.hass.async_add_executor_job(
            partial(
                location.move_segments,
                self.nvr.index,
                self.nvr.root,
                self.camera,
                self.chosen,
                progress=progress,
                cancelled=lambda: stop,
            )
        )
        try:
            report = await asyncio.shield(job)
        except asyncio.CancelledError:
            stop = True  # the job ends after the file it is moving; this task with it
            await job
            raise
        self.move_progress = report
        self._fire(report, True)
        _LOGGER.info(
            "Camera %s: moved %d segments (%d bytes) to %s; %d not found, %d failed",
            self.camera,
            report.moved,
            report.moved_bytes,
            self.chosen,
            report.missing,
            report.failed,
        )
        return report

    @callback
    def _fire(self, report: location.MoveReport, done: bool) -> None:
        handled = report.moved + report.missing + report.failed
        self.hass.bus.async_fire(
            EVENT_MOVE_PROGRESS,
            {
                "camera": self.camera,
                "entry_id": self.entry.entry_id,
                "moved": report.moved,
                "missing": report.missing,
                "failed": report.failed,
                "total": report.total,
                "percent": 100 if not report.total else min(100, 100 * handled // report.total),
                "done": done,
            },
        )
