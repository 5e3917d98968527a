"""Exports: list them (and the running export jobs), start one, delete one."""

from __future__ import annotations

import time

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND, ERR_UNAUTHORIZED
from homeassistant.components.websocket_api.decorators import (
    async_response,
    require_admin,
    websocket_command,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio as vol

from ..access import Right
from ..const import DOMAIN, MAX_EXPORT_SECONDS
from ..data import DATA_NVR
from ..engine.index import Export
from ..footage import (
    DATA_EXPORT_JOBS,
    EXPORT_FORMATS,
    FORMAT_RECORDED,
    async_remove_export,
)
from ..urls import export_path
from ..util import checked_range
from .helpers import (
    CAMERA,
    END,
    RANGE,
    START,
    CameraCall,
    Message,
    WsError,
    access_of,
    camera_for,
    send_error,
    sign,
    with_camera,
)


def _export_dict(hass: HomeAssistant, connection: ActiveConnection, export: Export) -> Message:
    return {
        "id": export.id,
        "camera": export.camera,
        "name": export.name,
        "start": export.start,
        "end": export.end,
        "bytes": export.bytes,
        "duration": export.duration,
        "created": export.created,
        "expires": export.expires,
        "url": sign(hass, connection, export_path(export.id)),
    }


@websocket_command({vol.Required("type"): f"{DOMAIN}/exports", vol.Optional(CAMERA): cv.string})
@async_response
async def ws_exports(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """List the exports (and running export jobs) the user may see, newest first."""
    camera: str | None = msg.get(CAMERA)
    try:
        access = (
            camera_for(hass, connection, camera, Right.RECORDINGS).access
            if camera is not None
            else access_of(hass, connection)
        )
    except WsError as err:
        send_error(connection, msg["id"], err)
        return
    exports = await hass.async_add_executor_job(
        hass.data[DATA_NVR].index.exports.newest_first, camera
    )
    now = time.time()
    jobs = hass.data[DATA_EXPORT_JOBS].listed(
        connection.user.id, admin=access.caller.admin, camera=camera
    )
    connection.send_result(
        msg["id"],
        {
            "exports": [
                _export_dict(hass, connection, export)
                for export in exports
                if access.may_see_export(export, now)
            ],
            "jobs": [job.as_dict() for job in jobs],
        },
    )


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/export",
        **RANGE,
        vol.Optional("name"): vol.All(cv.string, vol.Length(min=1, max=100)),
        # "recorded" (as recorded, the default) or "h264" (H.264 for sharing)
        vol.Optional("format", default=FORMAT_RECORDED): vol.In(EXPORT_FORMATS),
    }
)
@with_camera(Right.EXPORT)
async def ws_export(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Queue an export of a range to one MP4; answer the job at once.

    The job's status (queued with its place, running, done with the export id, failed with
    the reason) is in ``cctv_nvr/exports``. The whole range must be footage the user may see.
    """
    start, end = checked_range(msg[START], msg[END], MAX_EXPORT_SECONDS)
    now = time.time()
    end = min(end, now)
    if not call.access.policy.range_visible(call.access.caller, call.key, start, end, now):
        send_error(connection, msg["id"], WsError(ERR_UNAUTHORIZED, "range_not_allowed"))
        return
    segments = await hass.async_add_executor_job(
        call.coordinator.nvr.index.segments, call.key, start, end
    )
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    job = hass.data[DATA_EXPORT_JOBS].start(
        call.entry, call.access.caller, start, end, msg.get("name"), msg["format"]
    )
    connection.send_result(msg["id"], job.as_dict())


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/delete_export",
        vol.Required("export_id"): vol.All(vol.Coerce(int), vol.Range(min=1, max=2**62)),
    }
)
@require_admin
@async_response
async def ws_delete_export(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """Delete an export and its file (administrators only)."""
    caller = access_of(hass, connection).caller
    if not await async_remove_export(hass, hass.data[DATA_NVR], msg["export_id"], caller):
        send_error(
            connection,
            msg["id"],
            WsError(ERR_NOT_FOUND, "unknown_export", export_id=str(msg["export_id"])),
        )
        return
    connection.send_result(msg["id"], {"deleted": msg["export_id"]})
