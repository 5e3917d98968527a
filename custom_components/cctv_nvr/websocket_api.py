"""WebSocket API of the CCTV panel: cameras, timeline, playback, exports, storage, admin actions.

Every command checks that the camera exists (``not_found``) and that the user may watch it
(``unauthorized``); protect, unprotect and delete are for administrators only. Errors carry
a translation key of this integration and the translated message. Playback and downloads are
signed, expiring URLs; no file path is ever sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
import logging
from pathlib import Path
import shutil
import time
from typing import Any
import uuid
from zoneinfo import ZoneInfo

from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND, ERR_UNAUTHORIZED
from homeassistant.components.websocket_api.decorators import (
    async_response,
    require_admin,
    websocket_command,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util.hass_dict import HassKey
import probatio as vol

from .access import camera_entity_id, can_view, loaded_cameras, visible_cameras
from .const import (
    CONF_MAX_SIZE_GB,
    CONF_MIN_FREE_GB,
    CONF_RETENTION_DAYS,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    MAX_EXPORT_SECONDS,
)
from .coordinator import GB, StorageStats, storage_stats
from .data import DATA_NVR, CctvNvrConfigEntry
from .engine.index import Export, SegmentIndex
from .services import remove_export
from .views import MAX_PLAYLIST_SECONDS, SIGNED_URL_LIFETIME, export_path, playlist_path

_LOGGER = logging.getLogger(__name__)

MAX_GAP = 1.0  # seconds between segments that still count as continuous
MAX_TIMELINE_SECONDS = 2 * 86400
JOB_KEEP_SECONDS = 3600

CAMERA = "camera"
START = "start"
END = "end"
DATE = "date"

_MOMENT = vol.All(vol.Coerce(float), vol.Range(min=0))
_RANGE: dict[str | vol.Marker, Any] = {
    vol.Required(CAMERA): cv.string,
    vol.Required(START): _MOMENT,
    vol.Required(END): _MOMENT,
}


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


DATA_JOBS: HassKey[dict[str, ExportJob]] = HassKey(f"{DOMAIN}_export_jobs")


@callback
def async_setup_websocket_api(hass: HomeAssistant) -> None:
    """Register the panel's commands (once, from async_setup)."""
    hass.data[DATA_JOBS] = {}
    for command in (
        ws_cameras,
        ws_timeline,
        ws_playback,
        ws_exports,
        ws_export,
        ws_delete_export,
        ws_storage,
        ws_protect,
        ws_unprotect,
        ws_delete,
    ):
        async_register_command(hass, command)


class _WsError(HomeAssistantError):
    """An error answered with a specific WebSocket error code."""

    def __init__(self, code: str, key: str, **placeholders: str) -> None:
        super().__init__(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders or None,
        )
        self.code = code


def _send_error(connection: ActiveConnection, msg_id: int, err: _WsError) -> None:
    connection.send_error(
        msg_id,
        err.code,
        str(err),
        translation_key=err.translation_key,
        translation_domain=err.translation_domain,
        translation_placeholders=err.translation_placeholders,
    )


def _camera(hass: HomeAssistant, connection: ActiveConnection, key: str) -> CctvNvrConfigEntry:
    """Return a loaded camera the user may watch; raise not_found / unauthorized."""
    entry = loaded_cameras(hass).get(key)
    if entry is None:
        raise _WsError(ERR_NOT_FOUND, "camera_not_found", camera=key)
    if not can_view(hass, connection.user, entry):
        raise _WsError(ERR_UNAUTHORIZED, "camera_unauthorized", camera=key)
    return entry


def _checked_range(
    start: float, end: float, max_seconds: float, *, allow_future: bool = False
) -> tuple[float, float]:
    """Refuse reversed, future or too long ranges (translated)."""
    if end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="range_reversed")
    if not allow_future and start > time.time():
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="range_future")
    if end - start > max_seconds:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="range_too_long",
            translation_placeholders={"hours": f"{max_seconds / 3600:g}"},
        )
    return start, end


def _local_day(day: date, zone: ZoneInfo) -> tuple[float, float]:
    """Return the UTC bounds of a local day (23, 24 or 25 hours long)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.timestamp(), end.timestamp()


def _sign(hass: HomeAssistant, connection: ActiveConnection, path: str) -> str:
    return async_sign_path(
        hass, path, SIGNED_URL_LIFETIME, refresh_token_id=connection.refresh_token_id
    )


# -- cameras ---------------------------------------------------------------------------


@websocket_command({vol.Required("type"): f"{DOMAIN}/cameras"})
@callback
def ws_cameras(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """List the cameras the user may watch, with their live state."""
    cameras = []
    for key, entry in sorted(
        visible_cameras(hass, connection.user).items(), key=lambda kv: kv[1].title
    ):
        coordinator = entry.runtime_data
        status = coordinator.data
        online = bool(coordinator.last_update_success and status is not None and status.online)
        cameras.append(
            {
                "id": key,
                "name": entry.title,
                "entry_id": entry.entry_id,
                "entity_id": camera_entity_id(hass, entry),
                "online": online,
                "recording": bool(online and status is not None and status.recording),
                "continuous": coordinator.continuous,
                "manual": coordinator.manual_active,
            }
        )
    connection.send_result(
        msg["id"],
        {
            "cameras": cameras,
            "admin": connection.user.is_admin,
            "time_zone": hass.config.time_zone,
        },
    )


# -- timeline --------------------------------------------------------------------------


def _timeline(
    index: SegmentIndex, camera: str, start: float, end: float, open_segment: float | None
) -> dict[str, Any]:
    """Coverage, gaps (up to now) and labelled recordings of [start, end) (executor).

    ``open_segment``: while the camera records, the segment being written (up to this many
    seconds long) is not indexed yet; the time since the last indexed footage is reported as
    ``recording``, not as a gap, unless it is longer than that.
    """
    spans = index.coverage(camera, start, end, MAX_GAP)
    recordings = index.recordings(camera, start, end)
    first = index.first_start(camera)
    now = time.time()
    until = min(end, now)
    recording: list[float] | None = None
    if open_segment is not None and spans and spans[-1][1] < until <= spans[-1][1] + open_segment:
        recording = [spans[-1][1], until]
        until = spans[-1][1]
    gaps: list[list[float]] = []
    cursor = start
    if first is not None:
        cursor = max(start, first)  # before the first footage there is nothing to miss
        for lo, hi in spans:
            if lo > cursor and lo < until:
                gaps.append([cursor, min(lo, until)])
            cursor = max(cursor, hi)
        if cursor < until:
            gaps.append([cursor, until])
    return {
        "start": start,
        "end": end,
        "now": now,
        "first": first,
        "spans": [[lo, hi] for lo, hi in spans],
        "gaps": gaps,
        "recording": recording,
        "events": [
            {
                "id": rec.id,
                "kind": rec.kind,
                "label": rec.label,
                "start": rec.start,
                "end": rec.end,
            }
            for rec in recordings
        ],
    }


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/timeline",
        vol.Required(CAMERA): cv.string,
        vol.Exclusive(DATE, "when"): cv.date,
        vol.Exclusive(START, "when"): _MOMENT,
        vol.Optional(END): _MOMENT,
    }
)
@async_response
async def ws_timeline(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Return a camera's coverage, gaps and events for a local day or a range."""
    try:
        entry = _camera(hass, connection, msg[CAMERA])
    except _WsError as err:
        _send_error(connection, msg["id"], err)
        return
    coordinator = entry.runtime_data
    status = coordinator.data
    # The open segment plus a little for ffmpeg to finish it and the index to take it.
    open_segment = (
        coordinator.recorder.config.segment_seconds * 2 + 5
        if status is not None and status.recording
        else None
    )
    if DATE in msg:
        start, end = _local_day(msg[DATE], ZoneInfo(hass.config.time_zone))
    elif START in msg and END in msg:
        start, end = _checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS, allow_future=True)
    else:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="timeline_when")
    result = await hass.async_add_executor_job(
        _timeline, hass.data[DATA_NVR].index, msg[CAMERA], start, end, open_segment
    )
    connection.send_result(msg["id"], result)


# -- playback --------------------------------------------------------------------------


@websocket_command({vol.Required("type"): f"{DOMAIN}/playback", **_RANGE})
@async_response
async def ws_playback(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Return a signed, expiring HLS playlist URL of a camera's footage in a range."""
    try:
        _camera(hass, connection, msg[CAMERA])
    except _WsError as err:
        _send_error(connection, msg["id"], err)
        return
    start, end = _checked_range(msg[START], msg[END], MAX_PLAYLIST_SECONDS)
    begin, finish = int(start), int(end) + (0 if end == int(end) else 1)
    segments = await hass.async_add_executor_job(
        hass.data[DATA_NVR].index.segments, msg[CAMERA], float(begin), float(finish)
    )
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    connection.send_result(
        msg["id"],
        {
            "url": _sign(hass, connection, playlist_path(msg[CAMERA], begin, finish)),
            "start": begin,
            "end": finish,
            "first": segments[0].start,
            "last": segments[-1].end,
            "expires": time.time() + SIGNED_URL_LIFETIME.total_seconds(),
        },
    )


# -- exports ---------------------------------------------------------------------------


def _export_dict(
    hass: HomeAssistant, connection: ActiveConnection, export: Export
) -> dict[str, Any]:
    return {
        "id": export.id,
        "camera": export.camera,
        "name": export.name,
        "start": export.start,
        "end": export.end,
        "bytes": export.bytes,
        "duration": export.duration,
        "created": export.created,
        "url": _sign(hass, connection, export_path(export.id)),
    }


@websocket_command({vol.Required("type"): f"{DOMAIN}/exports", vol.Optional(CAMERA): cv.string})
@async_response
async def ws_exports(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """List the exports (and running export jobs) the user may see, newest first."""
    camera: str | None = msg.get(CAMERA)
    if camera is not None:
        try:
            _camera(hass, connection, camera)
        except _WsError as err:
            _send_error(connection, msg["id"], err)
            return
    visible = visible_cameras(hass, connection.user)
    admin = connection.user.is_admin
    exports = await hass.async_add_executor_job(hass.data[DATA_NVR].index.list_exports, camera)
    jobs = hass.data[DATA_JOBS]
    now = time.time()
    for job_id in [
        job.id
        for job in jobs.values()
        if job.finished is not None and now - job.finished > JOB_KEEP_SECONDS
    ]:
        del jobs[job_id]
    connection.send_result(
        msg["id"],
        {
            "exports": [
                _export_dict(hass, connection, export)
                for export in exports
                if admin or export.camera in visible
            ],
            "jobs": [
                job.as_dict()
                for job in sorted(jobs.values(), key=lambda j: j.started, reverse=True)
                if (job.user_id == connection.user.id or admin)
                and (camera is None or job.camera == camera)
            ],
        },
    )


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/export",
        **_RANGE,
        vol.Optional("name"): vol.All(cv.string, vol.Length(min=1, max=100)),
    }
)
@async_response
async def ws_export(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Start exporting a range to one MP4; answer the job id at once.

    The job's status (running, done with the export id, failed with the reason) is in
    ``cctv_nvr/exports``.
    """
    try:
        entry = _camera(hass, connection, msg[CAMERA])
    except _WsError as err:
        _send_error(connection, msg["id"], err)
        return
    start, end = _checked_range(msg[START], msg[END], MAX_EXPORT_SECONDS)
    end = min(end, time.time())
    segments = await hass.async_add_executor_job(
        hass.data[DATA_NVR].index.segments, msg[CAMERA], start, end
    )
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    job = ExportJob(
        id=uuid.uuid4().hex,
        camera=msg[CAMERA],
        user_id=connection.user.id,
        start=start,
        end=end,
        name=msg.get("name"),
    )
    hass.data[DATA_JOBS][job.id] = job

    async def run() -> None:
        try:
            result = await entry.runtime_data.async_export(start, end, job.name)
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

    hass.async_create_background_task(run(), f"{DOMAIN} export {job.id}")
    connection.send_result(msg["id"], job.as_dict())


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/delete_export",
        vol.Required("export_id"): vol.All(vol.Coerce(int), vol.Range(min=1)),
    }
)
@require_admin
@async_response
async def ws_delete_export(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Delete an export and its file (administrators only)."""
    nvr = hass.data[DATA_NVR]
    if not await hass.async_add_executor_job(
        remove_export, nvr.index, nvr.exports, msg["export_id"]
    ):
        _send_error(
            connection,
            msg["id"],
            _WsError(ERR_NOT_FOUND, "unknown_export", export_id=str(msg["export_id"])),
        )
        return
    connection.send_result(msg["id"], {"deleted": msg["export_id"]})


# -- storage ---------------------------------------------------------------------------


def _storage(
    index: SegmentIndex, root: Path, cameras: list[tuple[str, dict[str, Any]]]
) -> tuple[dict[str, StorageStats], tuple[int, int, int] | None]:
    """Storage figures of the cameras and of the recordings disk (executor)."""
    stats = {}
    for key, options in cameras:
        max_gb = float(options.get(CONF_MAX_SIZE_GB) or 0)
        stats[key] = storage_stats(
            index,
            root,
            key,
            int(max_gb * GB) if max_gb > 0 else None,
            float(options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            int(float(options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)) * GB),
        )
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return stats, None
    return stats, (usage.total, usage.used, usage.free)


@websocket_command({vol.Required("type"): f"{DOMAIN}/storage"})
@async_response
async def ws_storage(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Disk used/free, and per camera: footage size, oldest/newest, days that fit."""
    nvr = hass.data[DATA_NVR]
    entries = visible_cameras(hass, connection.user)
    stats, disk = await hass.async_add_executor_job(
        _storage,
        nvr.index,
        nvr.root,
        [(key, dict(entry.options)) for key, entry in entries.items()],
    )
    cameras = [
        {
            "id": key,
            "name": entries[key].title,
            "bytes": stat.bytes,
            "segments": stat.segments,
            "oldest": stat.oldest,
            "newest": stat.newest,
            "bitrate_kbps": None if stat.bitrate_kbps is None else round(stat.bitrate_kbps, 1),
            "days_that_fit": None if stat.days_that_fit is None else round(stat.days_that_fit, 2),
        }
        for key, stat in sorted(stats.items(), key=lambda kv: entries[kv[0]].title)
    ]
    connection.send_result(
        msg["id"],
        {
            "disk_total": disk[0] if disk else None,
            "disk_used": disk[1] if disk else None,
            "disk_free": disk[2] if disk else None,
            "footage_bytes": sum(camera["bytes"] for camera in cameras),
            "cameras": cameras,
        },
    )


# -- admin actions ---------------------------------------------------------------------


async def _protection(
    hass: HomeAssistant,
    connection: ActiveConnection,
    msg: dict[str, Any],
    *,
    protected: bool,
) -> None:
    try:
        entry = _camera(hass, connection, msg[CAMERA])
    except _WsError as err:
        _send_error(connection, msg["id"], err)
        return
    start, end = _checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    changed = await entry.runtime_data.async_protect(start, end, protected=protected)
    connection.send_result(msg["id"], {"segments": changed})


@websocket_command({vol.Required("type"): f"{DOMAIN}/protect", **_RANGE})
@require_admin
@async_response
async def ws_protect(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Keep a camera's footage in a range from automatic deletion (administrators only)."""
    await _protection(hass, connection, msg, protected=True)


@websocket_command({vol.Required("type"): f"{DOMAIN}/unprotect", **_RANGE})
@require_admin
@async_response
async def ws_unprotect(
    hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]
) -> None:
    """Return a camera's footage in a range to automatic deletion (administrators only)."""
    await _protection(hass, connection, msg, protected=False)


@websocket_command({vol.Required("type"): f"{DOMAIN}/delete", **_RANGE})
@require_admin
@async_response
async def ws_delete(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Delete a camera's footage in a range: files and index rows (administrators only)."""
    try:
        entry = _camera(hass, connection, msg[CAMERA])
    except _WsError as err:
        _send_error(connection, msg["id"], err)
        return
    start, end = _checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    count, size = await entry.runtime_data.async_delete_range(start, end)
    connection.send_result(msg["id"], {"segments": count, "bytes": size})
