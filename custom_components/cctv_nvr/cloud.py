"""The cloud tier's Home Assistant side: its config entry, status, repairs and reading back.

The engine (``engine.cloud.CloudTier``) does the work in its own thread pool; this
module builds its settings from the entry's data and options, starts and stops it with
the entry, turns its status into a repair issue (the bucket unreachable or missing for
a while) or a reauth (the key refused), and fetches footage that is only in the bucket
into a small local cache for playback and thumbnails.

The service account key lives only in the entry's data: never in logs, entity
attributes, diagnostics or anything sent to the frontend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
import contextlib
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
import logging
import os
from pathlib import Path
import shutil
import time
from typing import Any
import uuid

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.util.hass_dict import HassKey

from .const import (
    BUCKET_DEFAULT_CLASS,
    CLOUD_REPAIR_SECONDS,
    CONF_BANDWIDTH_MBPS,
    CONF_BUCKET,
    CONF_DELAY_MINUTES,
    CONF_KEEP_CLOUD_DAYS,
    CONF_KEEP_LOCAL_DAYS,
    CONF_KEY,
    CONF_LIFECYCLE_COLDER_CLASS,
    CONF_LIFECYCLE_COLDER_DAYS,
    CONF_LIFECYCLE_DELETE_DAYS,
    CONF_PREFIX,
    CONF_STORAGE_CLASS,
    CONF_UPLOAD,
    DOMAIN,
    MAX_CLOUD_CACHE_FILES,
)
from .data import DATA_NVR, NvrData
from .engine.cloud import (
    CloudConfig,
    CloudState,
    CloudStatus,
    CloudTier,
    StorageClass,
    UploadScope,
    lifecycle_warnings,
)
from .engine.index import LOCATION_BOTH, LOCATION_CLOUD, Segment, SegmentIndex
from .engine.retention import CloudRetention

_LOGGER = logging.getLogger(__name__)

ISSUE_CLOUD_UNAVAILABLE = "cloud_unavailable"
MBIT = 1_000_000 / 8  # bytes per second in one Mbit/s
CACHE_DIR = "cloud"  # under the thumbnails cache folder
FETCH_TIMEOUT = 120.0  # seconds an executor thread waits for a segment from the bucket
DATA_CLOUD: HassKey[CloudRuntime] = HassKey(f"{DOMAIN}_cloud")


class CloudRuntime:
    """The running tier of the cloud entry, and who listens to its status."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, nvr: NvrData) -> None:
        """Make the (not yet started) tier from the entry."""
        self.hass = hass
        self.entry = entry
        self.tier = CloudTier(
            cloud_config(entry.data, entry.options),
            nvr.index,
            nvr.root,
            nvr.exports,
            on_status=self.async_status,
        )
        self._listeners: list[Callable[[], None]] = []
        self._reauth_started = False
        self._fetching: dict[int, asyncio.Future[Path]] = {}
        self._fetch_slots = asyncio.Semaphore(2)  # what viewers can make the machine download
        self.cache_files = MAX_CLOUD_CACHE_FILES  # cloud-only segments kept downloaded

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` on every status snapshot; return the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_status(self, status: CloudStatus) -> None:
        """Raise or clear the repair issue, start a reauth, tell the entities."""
        failing = status.state in (CloudState.OFFLINE, CloudState.BUCKET_MISSING)
        long_enough = (
            status.failing_since is not None
            and time.time() - status.failing_since >= CLOUD_REPAIR_SECONDS
        )
        issue_id = f"{ISSUE_CLOUD_UNAVAILABLE}_{self.entry.entry_id}"
        if failing and (long_enough or status.state == CloudState.BUCKET_MISSING):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_CLOUD_UNAVAILABLE,
                translation_placeholders={
                    "bucket": self.tier.config.bucket,
                    "state": str(status.state),
                    "items": str(status.queue_items),
                },
            )
        elif not failing:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        if status.state == CloudState.AUTH_FAILED:
            if not self._reauth_started:
                self._reauth_started = True
                self.entry.async_start_reauth(self.hass)
        else:
            self._reauth_started = False
        for listener in list(self._listeners):
            listener()

    async def async_local_file(self, segment: Segment) -> Path:
        """Return a local file of a segment only in the bucket (fetched once, then cached).

        At most two downloads run at once for everyone; the cache keeps the newest
        ``MAX_CLOUD_CACHE_FILES`` files.
        """
        segment_id = segment.row_id
        pending = self._fetching.get(segment_id)
        if pending is not None:  # someone fetches it already: wait for the same download
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = self.hass.loop.create_future()
        self._fetching[segment_id] = future
        nvr = self.hass.data[DATA_NVR]
        dest = nvr.thumbnails / CACHE_DIR / f"{segment_id}.mp4"
        try:
            if not await self.hass.async_add_executor_job(_touch_if_exists, dest):
                async with self._fetch_slots:
                    copy = await self.hass.async_add_executor_job(
                        nvr.index.cloud.segment_copy, segment_id
                    )
                    await self.tier.fetch(
                        segment.cloud_uri or "", dest, copy.crc32c if copy is not None else None
                    )
                await self.hass.async_add_executor_job(_prune_cache, dest.parent, self.cache_files)
            future.set_result(dest)
        except Exception as err:
            future.set_exception(err)
            future.exception()  # retrieved: no "never retrieved" warning when no one waits
            raise
        finally:
            del self._fetching[segment_id]
        return dest


def _touch_if_exists(path: Path) -> bool:
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


def _prune_cache(directory: Path, keep: int) -> None:
    """Keep the ``keep`` most recently used files of the cache (executor)."""
    files = sorted(
        (entry for entry in os.scandir(directory) if entry.is_file()),
        key=lambda entry: entry.stat().st_mtime,
        reverse=True,
    )
    for old in files[keep:]:
        Path(old.path).unlink(missing_ok=True)


def _days(options: Mapping[str, Any], key: str) -> float | None:
    value = float(options.get(key) or 0)
    return value if value > 0 else None


def cloud_config(data: Mapping[str, Any], options: Mapping[str, Any]) -> CloudConfig:
    """Build the tier's settings from the cloud entry's data and options."""
    cap = float(options.get(CONF_BANDWIDTH_MBPS) or 0)
    storage_class = options.get(CONF_STORAGE_CLASS) or BUCKET_DEFAULT_CLASS
    return CloudConfig(
        bucket=data[CONF_BUCKET],
        key=data.get(CONF_KEY),
        prefix=data.get(CONF_PREFIX) or "",
        upload=UploadScope(options.get(CONF_UPLOAD, UploadScope.ALL)),
        delay_seconds=float(options.get(CONF_DELAY_MINUTES) or 0) * 60,
        bandwidth_bytes_per_second=cap * MBIT if cap > 0 else None,
        storage_class=None
        if storage_class == BUCKET_DEFAULT_CLASS
        else StorageClass(storage_class),
        keep_local_days=_days(options, CONF_KEEP_LOCAL_DAYS),
        keep_cloud_days=_days(options, CONF_KEEP_CLOUD_DAYS),
    )


def normalize_prefix(prefix: str) -> str:
    """Return an object prefix ending in one slash ("" stays "")."""
    prefix = prefix.strip().strip("/")
    return f"{prefix}/" if prefix else ""


async def async_setup_cloud(hass: HomeAssistant, entry: ConfigEntry) -> CloudRuntime:
    """Start the tier of the cloud entry (a bad key or bucket does not fail the setup)."""
    nvr: NvrData = hass.data[DATA_NVR]
    runtime = CloudRuntime(hass, entry, nvr)
    tier = runtime.tier
    await tier.start()
    nvr.cloud = tier
    hass.data[DATA_CLOUD] = runtime
    for warning in lifecycle_warnings(tier.config):  # minimum storage durations
        _LOGGER.warning("Cloud storage: %s", warning)
    lifecycle_days = _days(entry.options, CONF_LIFECYCLE_DELETE_DAYS)
    colder_days = _days(entry.options, CONF_LIFECYCLE_COLDER_DAYS)
    colder_class = entry.options.get(CONF_LIFECYCLE_COLDER_CLASS, str(StorageClass.COLDLINE))
    wanted = lifecycle_days is not None or colder_days is not None
    if wanted and tier.status.state in (CloudState.IDLE, CloudState.UPLOADING):
        try:
            warnings = await tier.apply_lifecycle(
                delete_after_days=lifecycle_days,
                colder_after_days=colder_days,
                colder_class=colder_class if colder_days is not None else None,
            )
        except Exception as err:  # noqa: BLE001 - a lifecycle rule is a safety net, not required
            _LOGGER.warning("Cloud storage: the bucket's lifecycle rule was not set: %s", err)
        else:
            for warning in warnings[len(lifecycle_warnings(tier.config)) :]:
                _LOGGER.warning("Cloud storage: %s", warning)
    return runtime


async def async_unload_cloud(hass: HomeAssistant, runtime: CloudRuntime) -> None:
    """Stop the tier; uploads under way resume from the queue on the next start."""
    nvr = hass.data[DATA_NVR]
    if nvr.cloud is runtime.tier:
        nvr.cloud = None
    if hass.data.get(DATA_CLOUD) is runtime:
        del hass.data[DATA_CLOUD]
    await runtime.tier.stop()
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_CLOUD_UNAVAILABLE}_{runtime.entry.entry_id}")


@callback
def cloud_runtime(hass: HomeAssistant) -> CloudRuntime | None:
    """Return the running cloud tier's runtime (None while the cloud entry is not set up)."""
    return hass.data.get(DATA_CLOUD)


@callback
def cloud_retention(hass: HomeAssistant) -> CloudRetention | None:
    """Return the cloud part of the retention policy (None while the tier is off)."""
    nvr = hass.data[DATA_NVR]
    if nvr.cloud is None:
        return None
    config = nvr.cloud.config
    return CloudRetention(
        keep_local_days=config.keep_local_days, keep_cloud_days=config.keep_cloud_days
    )


async def async_footage_file(hass: HomeAssistant, segment: Segment, local: Path) -> Path:
    """Return where a segment's bytes can be read: its local file, or a copy from the bucket.

    Raises FileNotFoundError when it is only in the bucket and the tier is off.
    """
    if segment.location != LOCATION_CLOUD:
        return local
    runtime = cloud_runtime(hass)
    if runtime is None:
        raise FileNotFoundError(segment.path)
    return await runtime.async_local_file(segment)


def cloud_device_info(entry: ConfigEntry) -> DeviceInfo:
    """Return the "Cloud storage" device of the cloud entry."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.entry_id)},
        name="Cloud storage",
        manufacturer="Google Cloud Storage",
        model=entry.data[CONF_BUCKET],
        entry_type=DeviceEntryType.SERVICE,
    )


def footage_locations(
    index: SegmentIndex, camera: str, start: float, end: float, max_gap: float
) -> dict[str, list[list[float]]]:
    """Return where a camera's footage of [start, end) is, beyond the local disk.

    ``cloud``: spans in the bucket only; ``both``: spans local and in the bucket; the
    rest of the coverage is local only.

    Blocking (the index): call it in an executor.
    """
    spans: dict[str, list[list[float]]] = {LOCATION_CLOUD: [], LOCATION_BOTH: []}
    for segment in index.segments(camera, start, end):
        where = spans.get(segment.location)
        if where is None:
            continue
        lo, hi = max(segment.start, start), min(segment.end, end)
        if where and lo - where[-1][1] <= max_gap:
            where[-1][1] = max(where[-1][1], hi)
        else:
            where.append([lo, hi])
    return spans


def footage_file_blocking(hass: HomeAssistant, segment: Segment, local: Path) -> Path:
    """Like ``async_footage_file``, from an executor thread (waits for the download).

    Raises FileNotFoundError when the footage cannot be had.
    """
    if segment.location != LOCATION_CLOUD:
        return local
    future = asyncio.run_coroutine_threadsafe(async_footage_file(hass, segment, local), hass.loop)
    try:
        return future.result(timeout=FETCH_TIMEOUT)
    except Exception as err:
        future.cancel()
        raise FileNotFoundError(segment.path) from err


@asynccontextmanager
async def async_local_segments(
    hass: HomeAssistant, segments: list[Segment], scratch: Path
) -> AsyncIterator[list[Segment]]:
    """Give segments whose ``path`` can be read under the recordings root (for an export).

    Segments only in the bucket are downloaded into a scratch folder under ``scratch``
    (their ``path`` made absolute, which the root then does not change), removed after.
    Those that cannot be had are left out (the export says when nothing is left).
    """
    cloud_only = [s for s in segments if s.location == LOCATION_CLOUD]
    runtime = cloud_runtime(hass)
    if not cloud_only:
        yield segments
        return
    folder = scratch / f".cloud-{uuid.uuid4().hex[:8]}"
    try:
        local: list[Segment] = []
        for segment in segments:
            if segment.location != LOCATION_CLOUD:
                local.append(segment)
                continue
            if runtime is None or segment.cloud_uri is None:
                continue
            dest = folder / f"{segment.row_id}.mp4"
            try:
                await runtime.tier.fetch(segment.cloud_uri, dest)
            except Exception as err:  # noqa: BLE001 - left out of the export, as a missing file
                _LOGGER.warning("Export: %s not fetched from the bucket: %s", segment.path, err)
                continue
            local.append(replace(segment, path=str(dest)))
        yield local
    finally:
        await hass.async_add_executor_job(partial(shutil.rmtree, folder, ignore_errors=True))


async def async_enqueue_segment(tier: CloudTier, segment: Segment) -> None:
    """Queue a segment just indexed; quietly not when the tier stopped (Home Assistant stops).

    Recorders finish their open segment after the tier stopped; the next start's scan
    queues those.
    """
    with contextlib.suppress(RuntimeError):
        await tier.enqueue_segment(segment)
