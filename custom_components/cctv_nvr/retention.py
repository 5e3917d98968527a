"""Runs the engine's retention: periodically, and at once when the disk runs low."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
import logging
import time

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_time_interval

from .cloud import cloud_retention
from .const import (
    CONF_AUDIT_DAYS,
    CONF_EVENT_RETENTION_DAYS,
    CONF_MIN_FREE_GB,
    DEFAULT_AUDIT_DAYS,
    DEFAULT_EVENT_RETENTION_DAYS,
    DEFAULT_MIN_FREE_GB,
    FREE_SPACE_CHECK_SECONDS,
    GB,
    MAX_THUMBNAILS,
    RETENTION_INTERVAL_SECONDS,
)
from .coordinator import loaded_cameras, storage_limits
from .data import NvrData
from .engine.retention import (
    CameraRetention,
    RetentionPolicy,
    RetentionReport,
    disk_free_bytes,
    enforce,
    prune_cache,
    prune_thumbnails,
)
from .issues import async_set_disk_full
from .renditions import DATA_RENDITIONS

_LOGGER = logging.getLogger(__name__)


@callback
def audit_days(hass: HomeAssistant) -> dict[str, float]:
    """Return how long each loaded camera keeps its audit trail (days)."""
    return {
        key: float(entry.options.get(CONF_AUDIT_DAYS, DEFAULT_AUDIT_DAYS))
        for key, entry in loaded_cameras(hass).items()
    }


@callback
def current_policy(hass: HomeAssistant) -> RetentionPolicy:
    """Build the retention policy from the loaded cameras' options.

    The free-space floor is shared by all cameras: the largest value set on any camera applies.
    """
    cameras: dict[str, CameraRetention] = {}
    min_free = 0.0
    for key, entry in loaded_cameras(hass).items():
        options = entry.options
        max_bytes, max_days, _floor = storage_limits(options)
        cameras[key] = CameraRetention(
            max_age_days=max_days,
            max_bytes=max_bytes,
            event_max_age_days=float(
                options.get(CONF_EVENT_RETENTION_DAYS, DEFAULT_EVENT_RETENTION_DAYS)
            ),
        )
        min_free = max(min_free, float(options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)))
    return RetentionPolicy(
        cameras=cameras, min_free_bytes=int(min_free * GB) or None, cloud=cloud_retention(hass)
    )


class RetentionRunner:
    """Applies retention off the event loop, one run at a time."""

    def __init__(self, hass: HomeAssistant, nvr: NvrData) -> None:
        """Prepare the runner (nothing is scheduled until start())."""
        self.hass = hass
        self._nvr = nvr
        self._lock = asyncio.Lock()

    @callback
    def start(self) -> None:
        """Schedule the periodic run and the free-space watch (both end when HA stops)."""

        async def _periodic(_now: object) -> None:
            await self.async_run()

        async def _watch(_now: object) -> None:
            await self.async_check_free_space()

        cancels = [
            async_track_time_interval(
                self.hass, _periodic, timedelta(seconds=RETENTION_INTERVAL_SECONDS)
            ),
            async_track_time_interval(
                self.hass, _watch, timedelta(seconds=FREE_SPACE_CHECK_SECONDS)
            ),
        ]

        @callback
        def _stop(_event: object) -> None:
            for cancel in cancels:
                cancel()

        self.hass.bus.async_listen_once("homeassistant_stop", _stop)

    async def async_check_free_space(self) -> None:
        """Run retention now if the disk is below its floor."""
        policy = current_policy(self.hass)
        if policy.min_free_bytes is None:
            return
        free = await self.hass.async_add_executor_job(disk_free_bytes, self._nvr.root)
        if free < policy.min_free_bytes:
            _LOGGER.warning("Recording disk low (%d MB free); cleaning up now", free // 2**20)
            await self.async_run()

    async def async_run(self) -> RetentionReport | None:
        """Apply the current policy once."""
        policy = current_policy(self.hass)
        if not policy.cameras:
            return None
        nvr = self._nvr
        async with self._lock:
            report = await self.hass.async_add_executor_job(
                partial(
                    enforce,
                    nvr.index,
                    nvr.root,
                    policy,
                    free_bytes=partial(disk_free_bytes, nvr.root),
                )
            )
        # Event clips and snapshots (a cache) go once no event could still need them.
        longest = max(
            (limits.event_max_age_days or 0.0 for limits in policy.cameras.values()),
            default=0.0,
        )
        if longest:
            await self.hass.async_add_executor_job(
                prune_cache, nvr.thumbnails / "events", time.time() - longest * 86400
            )
        await self.hass.async_add_executor_job(self._prune_rest, audit_days(self.hass))
        await self.hass.data[DATA_RENDITIONS].async_prune()
        async_set_disk_full(self.hass, report.still_short)
        if nvr.cloud is not None and (report.deleted_segments or report.offloaded_segments):
            await nvr.cloud.refresh_status()
        return report

    def _prune_rest(self, audit_days_by_camera: dict[str, float]) -> None:
        """Expired exports, thumbnails of deleted footage, old audit entries (executor)."""
        nvr = self._nvr
        now = time.time()
        for export in nvr.index.exports.expired(now):
            nvr.index.exports.remove(nvr.exports, export.id)
        prune_thumbnails(nvr.index, nvr.thumbnails, MAX_THUMBNAILS)
        for camera, days in audit_days_by_camera.items():
            nvr.index.audit.prune(camera, now - days * 86400)
