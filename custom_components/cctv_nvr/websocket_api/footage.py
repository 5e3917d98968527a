"""Administrators' actions on a camera's footage: protect, unprotect, delete."""

from __future__ import annotations

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND
from homeassistant.components.websocket_api.decorators import (
    async_response,
    require_admin,
    websocket_command,
)
from homeassistant.core import HomeAssistant
import probatio as vol

from ..access import Right
from ..const import DOMAIN, MAX_TIMELINE_SECONDS
from ..data import DATA_NVR
from ..footage import async_delete_event, async_delete_range, async_protect
from ..util import checked_range
from .helpers import (
    END,
    RANGE,
    START,
    CameraCall,
    Message,
    WsError,
    access_of,
    send_error,
    with_camera,
)


@websocket_command({vol.Required("type"): f"{DOMAIN}/protect", **RANGE})
@require_admin
@with_camera(Right.RECORDINGS)
async def ws_protect(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Keep a camera's footage in a range from automatic deletion (administrators only)."""
    start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    changed = await async_protect(hass, call.entry, call.access.caller, start, end, protected=True)
    connection.send_result(msg["id"], {"segments": changed})


@websocket_command({vol.Required("type"): f"{DOMAIN}/unprotect", **RANGE})
@require_admin
@with_camera(Right.RECORDINGS)
async def ws_unprotect(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Return a camera's footage in a range to automatic deletion (administrators only)."""
    start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    changed = await async_protect(hass, call.entry, call.access.caller, start, end, protected=False)
    connection.send_result(msg["id"], {"segments": changed})


@websocket_command({vol.Required("type"): f"{DOMAIN}/delete", **RANGE})
@require_admin
@with_camera(Right.RECORDINGS)
async def ws_delete(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Delete a camera's footage in a range: files and index rows (administrators only)."""
    start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    count, size = await async_delete_range(hass, call.entry, call.access.caller, start, end)
    connection.send_result(msg["id"], {"segments": count, "bytes": size})


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/delete_event",
        vol.Required("recording_id"): vol.All(vol.Coerce(int), vol.Range(min=1, max=2**62)),
    }
)
@require_admin
@async_response
async def ws_delete_event(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """Delete an event recording; its notification links stop working (administrators only)."""
    caller = access_of(hass, connection).caller
    if not await async_delete_event(hass, hass.data[DATA_NVR], msg["recording_id"], caller):
        send_error(
            connection,
            msg["id"],
            WsError(ERR_NOT_FOUND, "unknown_event", recording_id=str(msg["recording_id"])),
        )
        return
    connection.send_result(msg["id"], {"deleted": msg["recording_id"]})
