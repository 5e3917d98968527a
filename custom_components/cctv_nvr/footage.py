"""What users do with stored footage: export it, protect it, delete it.

Services and WebSocket commands check the caller (``access``) and the range, then call
these; every action is written to the audit trail. Nothing a viewer can trigger is
unbounded: remuxes (exports and event clips) run at most ``MAX_CONCURRENT_REMUXES`` at a
time for everyone together (the rest wait in a queue), a user may have at most
``MAX_EXPORT_JOBS_PER_USER`` exports queued or running and ``MAX_EXPORTS_PER_USER`` stored,
a non-admin user's exports are deleted after ``USER_EXPORT_DAYS``, and no export starts
while the recordings disk is under its free-space floor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
import logging
import secrets
import time
from typing import Any
import uuid

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import slugify
from homeassistant.util.hass_dict import HassKey

from .audit import Action, async_audit
from .cloud import async_local_segments
from .const import (
    DEFAULT_MIN_FREE_GB,
    DOMAIN,
    EXPORT_JOB_KEEP_SECONDS,
    GB,
    MAX_CONCURRENT_REMUXES,
    MAX_EXPORT_JOBS_PER_USER,
    MAX_EXPORTS_PER_USER,
    USER_EXPORT_DAYS,
)
from .coordinator import CctvNvrConfigEntry, loaded_cameras, storage_limits
from .data import DATA_NVR, NvrData
from .engine.export import ExportError, export_range
from .engine.index import KIND_EVENT, Recording, Segment
from .engine.policy import Caller
from .engine.retention import delete_range, disk_free_bytes
from .engine.transcode import LIBX264, TranscodeError, export_h264, wants_rendition
from .renditions import DATA_RENDITIONS
from .urls import MediaId, export_path

_LOGGER = logging.getLogger(__name__)

FORMAT_RECORDED = "recorded"  # an export as recorded (remuxed, no re-encoding)
FORMAT_H264 = "h264"  # H.264 for sharing: H.265 footage re-encoded
EXPORT_FORMATS = (FORMAT_RECORDED, FORMAT_H264)


class RemuxQueue:
    """At most a few remuxes (exports, event clips) at a time; the rest wait their turn."""

    def __init__(self, limit: int = MAX_CONCURRENT_REMUXES) -> None:
        """Allow ``limit`` remuxes at once."""
        self._slots = asyncio.Semaphore(limit)
        self._waiting: list[object] = []
        self._locks: dict[object, asyncio.Lock] = {}

    def position(self, ticket: object) -> int | None:
        """Return a waiting ticket's place in the queue (1 = next), None when not waiting."""
        try:
            return self._waiting.index(ticket) + 1
        except ValueError:
            return None

    @asynccontextmanager
    async def turn(self, ticket: object, *, key: object | None = None) -> AsyncIterator[None]:
        """Wait for a slot (and, with ``key``, for any other remux of the same key)."""
        lock = self._locks.setdefault(key, asyncio.Lock()) if key is not None else None
        self._waiting.append(ticket)
        try:
            if lock is not None:
                await lock.acquire()
            try:
                await self._slots.acquire()
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
        finally:
            self._waiting.remove(ticket)
        try:
            yield
        finally:
            self._slots.release()
            if lock is not None:
                lock.release()
                if not lock.locked() and self._locks.get(key) is lock:
                    del self._locks[key]


DATA_REMUXES: HassKey[RemuxQueue] = HassKey(f"{DOMAIN}_remuxes")


def free_space_floor(hass: HomeAssistant) -> int:
    """Return the recordings disk's free-space floor in bytes (the largest camera option)."""
    floors = [storage_limits(entry.options)[2] for entry in loaded_cameras(hass).values()]
    return max(floors, default=int(DEFAULT_MIN_FREE_GB * GB))


def _export_name(camera: str, start: float, end: float, name: str | None) -> tuple[str, str]:
    """Return (stamp, relative path) of a new export; paths never collide."""
    stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")
    label = slugify(name) if name else ""
    unique = secrets.token_hex(3)
    relative = f"{camera}/{stamp}-{int(end - start)}s{'-' + label if label else ''}-{unique}.mp4"
    return stamp, relative


async def async_check_export_allowed(
    hass: HomeAssistant, caller: Caller, segments: list[Segment]
) -> None:
    """Refuse an export that would fill the disk or break the user's quota (translated)."""
    nvr = hass.data[DATA_NVR]
    needed = sum(segment.bytes for segment in segments)
    free = await hass.async_add_executor_job(disk_free_bytes, nvr.root)
    if free - needed < free_space_floor(hass):
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="export_no_space")
    if caller.user_id is not None and not caller.admin:
        stored = await hass.async_add_executor_job(nvr.index.exports.count_by_user, caller.user_id)
        if stored >= MAX_EXPORTS_PER_USER:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="export_quota",
                translation_placeholders={"count": str(MAX_EXPORTS_PER_USER)},
            )


async def async_export(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    caller: Caller,
    start: float,
    end: float,
    name: str | None,
    *,
    ticket: object | None = None,
    fmt: str = FORMAT_RECORDED,
) -> dict[str, Any]:
    """Write one MP4 of a camera's [start, end) by remuxing; return what the service answers.

    Waits for a remux slot (``ticket`` shows its place in the queue). With ``fmt``
    ``h264`` ("H.264 for sharing") H.265 footage is re-encoded to H.264 after the remux, in
    the same slot (nice'd ffmpeg, the encoder detected at start); H.264 footage is
    already that and stays as recorded.
    """
    coordinator = entry.runtime_data
    nvr = coordinator.nvr
    camera = coordinator.camera_key
    segments = await hass.async_add_executor_job(nvr.index.segments, camera, start, end)
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    await async_check_export_allowed(hass, caller, segments)
    stamp, relative = _export_name(camera, start, end, name)
    target = nvr.exports / relative
    ffmpeg = coordinator.recorder.config.ffmpeg
    sharing = fmt == FORMAT_H264 and any(
        wants_rendition(segment.video_codec, client_decodes_hevc=False) for segment in segments
    )
    remuxed = target.with_name(f".{target.stem}.recorded.mp4") if sharing else target
    async with hass.data[DATA_REMUXES].turn(ticket if ticket is not None else object()):
        try:
            async with async_local_segments(hass, segments, nvr.exports) as readable:
                result = await export_range(readable, nvr.root, start, end, remuxed, ffmpeg=ffmpeg)
            duration, size = result.duration, result.bytes
            if sharing:
                caps = hass.data[DATA_RENDITIONS].capabilities
                shared = await export_h264(
                    remuxed, target, encoder=(caps and caps.best) or LIBX264, ffmpeg=ffmpeg
                )
                duration, size = shared.duration or duration, shared.bytes
        except (ExportError, TranscodeError) as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="export_failed",
                translation_placeholders={"reason": err.reason},
            ) from err
        finally:
            if sharing:
                await hass.async_add_executor_job(partial(remuxed.unlink, missing_ok=True))
    title = name or f"{entry.title} {stamp}"
    owner = None if caller.admin else caller.user_id
    expires = time.time() + USER_EXPORT_DAYS * 86400 if owner is not None else None
    export_id = await hass.async_add_executor_job(
        lambda: nvr.index.exports.add(
            camera,
            title,
            start,
            end,
            relative,
            size,
            duration,
            user_id=owner,
            expires=expires,
        )
    )
    await async_audit(hass, caller, camera, Action.EXPORTED, start=start, end=end, detail=title)
    if nvr.cloud is not None:  # exports go to the bucket in every upload scope
        await nvr.cloud.enqueue_export(export_id)
    return {
        "id": export_id,
        "name": title,
        "path": str(target),
        "media_id": MediaId.for_export(export_id).uri,
        "url": export_path(export_id),
        "duration": round(duration, 3),
        "bytes": size,
    }


async def async_remove_export(
    hass: HomeAssistant, nvr: NvrData, export_id: int, caller: Caller
) -> bool:
    """Delete an export's file and row; return False when there is no such export."""
    export = await hass.async_add_executor_job(nvr.index.exports.get, export_id)
    if export is None:
        return False
    if not await hass.async_add_executor_job(nvr.index.exports.remove, nvr.exports, export_id):
        return False
    await async_audit(
        hass,
        caller,
        export.camera,
        Action.EXPORT_DELETED,
        start=export.start,
        end=export.end,
        detail=export.name,
    )
    return True


async def async_protect(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    caller: Caller,
    start: float,
    end: float,
    *,
    protected: bool,
) -> int:
    """Protect (or unprotect) a camera's footage in [start, end); return how many changed."""
    coordinator = entry.runtime_data
    index = coordinator.nvr.index
    func = index.protect if protected else index.unprotect
    changed = int(await hass.async_add_executor_job(func, coordinator.camera_key, start, end))
    await async_audit(
        hass,
        caller,
        coordinator.camera_key,
        Action.PROTECTED if protected else Action.UNPROTECTED,
        start=start,
        end=end,
        detail=f"{changed} segments",
    )
    return changed


async def async_delete_range(
    hass: HomeAssistant, entry: CctvNvrConfigEntry, caller: Caller, start: float, end: float
) -> tuple[int, int]:
    """Delete a camera's segments in [start, end): files and index rows together."""
    coordinator = entry.runtime_data
    nvr = coordinator.nvr
    count, size = await hass.async_add_executor_job(
        delete_range, nvr.index, nvr.root, coordinator.camera_key, start, end
    )
    await hass.data[DATA_RENDITIONS].async_prune()  # their renditions go too
    await async_audit(
        hass,
        caller,
        coordinator.camera_key,
        Action.DELETED,
        start=start,
        end=end,
        detail=f"{count} segments, {size} bytes",
    )
    return count, size


def _remove_event(nvr: NvrData, recording: Recording) -> bool:
    """Delete an event's row and its cached clip and snapshots (executor)."""
    cache = nvr.thumbnails / "events" / recording.camera
    if cache.is_dir():
        for path in cache.glob(f"{recording.id}-*"):
            path.unlink(missing_ok=True)
    return nvr.index.recordings.delete(recording.id)


async def async_delete_event(
    hass: HomeAssistant, nvr: NvrData, recording_id: int, caller: Caller
) -> bool:
    """Delete an event recording (its footage stays); its notification links stop working.

    Return False when there is no such event.
    """
    recording = await hass.async_add_executor_job(nvr.index.recordings.get, recording_id)
    if recording is None or recording.kind != KIND_EVENT:
        return False
    if not await hass.async_add_executor_job(_remove_event, nvr, recording):
        return False
    await async_audit(
        hass,
        caller,
        recording.camera,
        Action.EVENT_DELETED,
        start=recording.start,
        end=recording.end,
        detail=recording.label,
    )
    return True


# -- export jobs of the panel -----------------------------------------------------------------


@dataclass(slots=True)
class ExportJob:
    """An export started from the panel, until it is finished (or failed)."""

    id: str
    camera: str
    user_id: str
    start: float
    end: float
    name: str | None
    format: str = FORMAT_RECORDED
    started: float = field(default_factory=time.time)
    status: str = "queued"  # queued, running, done, failed
    finished: float | None = None
    export_id: int | None = None
    error: str | None = None
    position: int | None = None  # place in the queue while queued

    def as_dict(self) -> dict[str, Any]:
        """Return what the panel shows."""
        return {
            "id": self.id,
            "camera": self.camera,
            "start": self.start,
            "end": self.end,
            "name": self.name,
            "format": self.format,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "export_id": self.export_id,
            "error": self.error,
            "position": self.position,
        }


class ExportJobs:
    """The panel's export jobs: queued, running, and those finished within the last hour."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no jobs."""
        self.hass = hass
        self._jobs: dict[str, ExportJob] = {}

    def start(
        self,
        entry: CctvNvrConfigEntry,
        caller: Caller,
        start: float,
        end: float,
        name: str | None,
        fmt: str = FORMAT_RECORDED,
    ) -> ExportJob:
        """Queue an export in the background; return the job (its state changes as it runs).

        A user may have at most ``MAX_EXPORT_JOBS_PER_USER`` jobs queued or running.
        """
        user_id = caller.user_id or ""
        active = [
            job for job in self._jobs.values() if job.user_id == user_id and job.finished is None
        ]
        if len(active) >= MAX_EXPORT_JOBS_PER_USER:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="too_many_exports",
                translation_placeholders={"count": str(MAX_EXPORT_JOBS_PER_USER)},
            )
        job = ExportJob(
            id=uuid.uuid4().hex,
            camera=entry.runtime_data.camera_key,
            user_id=user_id,
            start=start,
            end=end,
            name=name,
            format=fmt,
        )
        self._jobs[job.id] = job
        self.hass.async_create_background_task(
            self._async_run(job, entry, caller), f"{DOMAIN} export {job.id}"
        )
        return job

    async def _async_run(self, job: ExportJob, entry: CctvNvrConfigEntry, caller: Caller) -> None:
        try:
            result = await async_export(
                self.hass, entry, caller, job.start, job.end, job.name, ticket=job, fmt=job.format
            )
        except HomeAssistantError as err:
            job.status = "failed"
            job.error = str(err)
        except Exception as err:
            _LOGGER.exception("Export %s of %s failed", job.id, job.camera)
            job.status = "failed"
            job.error = str(
                HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="export_failed",
                    translation_placeholders={"reason": type(err).__name__},
                )
            )
        else:
            job.status = "done"
            job.export_id = int(result["id"])
        job.finished = time.time()

    def listed(self, user_id: str, *, admin: bool, camera: str | None) -> list[ExportJob]:
        """Return the jobs a user sees (their own; all for administrators), newest first.

        Jobs finished more than an hour ago are forgotten first; queued jobs carry their
        place in the queue.
        """
        now = time.time()
        for job_id in [
            job.id
            for job in self._jobs.values()
            if job.finished is not None and now - job.finished > EXPORT_JOB_KEEP_SECONDS
        ]:
            del self._jobs[job_id]
        queue = self.hass.data[DATA_REMUXES]
        for job in self._jobs.values():
            if job.finished is None:
                job.position = queue.position(job)
                job.status = "queued" if job.position is not None else "running"
            else:
                job.position = None
        return [
            job
            for job in sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)
            if (job.user_id == user_id or admin) and (camera is None or job.camera == camera)
        ]


DATA_EXPORT_JOBS: HassKey[ExportJobs] = HassKey(f"{DOMAIN}_export_jobs")
