"""What users do with stored footage: export it, protect it, delete it.

Services and WebSocket commands check the caller and the range, then call these. Export
writes one MP4 of a range (engine ``export``) and records it in the index; the panel
runs exports as background jobs (``ExportJobs``) and polls their state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
import logging
import time
from typing import Any
import uuid

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import slugify
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, EXPORT_JOB_KEEP_SECONDS
from .coordinator import CctvNvrConfigEntry
from .data import NvrData
from .engine.export import ExportError, export_range
from .engine.retention import delete_range
from .urls import MediaId, export_path

_LOGGER = logging.getLogger(__name__)


async def async_export(
    hass: HomeAssistant, entry: CctvNvrConfigEntry, start: float, end: float, name: str | None
) -> dict[str, Any]:
    """Write one MP4 of a camera's [start, end) by remuxing; return what the service answers."""
    coordinator = entry.runtime_data
    nvr = coordinator.nvr
    camera = coordinator.camera_key
    segments = await hass.async_add_executor_job(nvr.index.segments, camera, start, end)
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    stamp = datetime.fromtimestamp(start, UTC).strftime("%Y%m%dT%H%M%SZ")
    label = slugify(name) if name else ""
    relative = f"{camera}/{stamp}-{int(end - start)}s{'-' + label if label else ''}.mp4"
    target = nvr.exports / relative
    try:
        result = await export_range(
            segments, nvr.root, start, end, target, ffmpeg=coordinator.recorder.config.ffmpeg
        )
    except ExportError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="export_failed",
            translation_placeholders={"reason": err.reason},
        ) from err
    title = name or f"{entry.title} {stamp}"
    export_id = await hass.async_add_executor_job(
        nvr.index.exports.add, camera, title, start, end, relative, result.bytes, result.duration
    )
    return {
        "id": export_id,
        "name": title,
        "path": str(target),
        "media_id": MediaId.for_export(export_id).uri,
        "url": export_path(export_id),
        "duration": round(result.duration, 3),
        "bytes": result.bytes,
    }


async def async_remove_export(hass: HomeAssistant, nvr: NvrData, export_id: int) -> bool:
    """Delete an export's file and row; return False when there is no such export."""
    return bool(await hass.async_add_executor_job(nvr.index.exports.remove, nvr.exports, export_id))


async def async_protect(
    hass: HomeAssistant, entry: CctvNvrConfigEntry, start: float, end: float, *, protected: bool
) -> int:
    """Protect (or unprotect) a camera's footage in [start, end); return how many changed."""
    coordinator = entry.runtime_data
    index = coordinator.nvr.index
    func = index.protect if protected else index.unprotect
    return int(await hass.async_add_executor_job(func, coordinator.camera_key, start, end))


async def async_delete_range(
    hass: HomeAssistant, entry: CctvNvrConfigEntry, start: float, end: float
) -> tuple[int, int]:
    """Delete a camera's segments in [start, end): files and index rows together."""
    coordinator = entry.runtime_data
    nvr = coordinator.nvr
    return await hass.async_add_executor_job(
        delete_range, nvr.index, nvr.root, coordinator.camera_key, start, end
    )


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
    started: float = field(default_factory=time.time)
    status: str = "running"  # running, done, failed
    finished: float | None = None
    export_id: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return what the panel shows."""
        return {
            "id": self.id,
            "camera": self.camera,
            "start": self.start,
            "end": self.end,
            "name": self.name,
            "status": self.status,
            "started": self.started,
            "finished": self.finished,
            "export_id": self.export_id,
            "error": self.error,
        }


class ExportJobs:
    """The panel's export jobs: running ones and those finished within the last hour."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no jobs."""
        self.hass = hass
        self._jobs: dict[str, ExportJob] = {}

    def start(
        self,
        entry: CctvNvrConfigEntry,
        user_id: str,
        start: float,
        end: float,
        name: str | None,
    ) -> ExportJob:
        """Start exporting in the background; return the job (its state changes as it runs)."""
        job = ExportJob(
            id=uuid.uuid4().hex,
            camera=entry.runtime_data.camera_key,
            user_id=user_id,
            start=start,
            end=end,
            name=name,
        )
        self._jobs[job.id] = job
        self.hass.async_create_background_task(
            self._async_run(job, entry), f"{DOMAIN} export {job.id}"
        )
        return job

    async def _async_run(self, job: ExportJob, entry: CctvNvrConfigEntry) -> None:
        try:
            result = await async_export(self.hass, entry, job.start, job.end, job.name)
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

        Jobs finished more than an hour ago are forgotten first.
        """
        now = time.time()
        for job_id in [
            job.id
            for job in self._jobs.values()
            if job.finished is not None and now - job.finished > EXPORT_JOB_KEEP_SECONDS
        ]:
            del self._jobs[job_id]
        return [
            job
            for job in sorted(self._jobs.values(), key=lambda j: j.started, reverse=True)
            if (job.user_id == user_id or admin) and (camera is None or job.camera == camera)
        ]


DATA_EXPORT_JOBS: HassKey[ExportJobs] = HassKey(f"{DOMAIN}_export_jobs")
