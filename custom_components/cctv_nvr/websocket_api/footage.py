"""Administrators' actions on a camera's footage: protect, unprotect, delete."""

from __future__ import annotations

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import require_admin, websocket_command
from homeassistant.core import HomeAssistant
import probatio as vol

from ..const import DOMAIN, MAX_TIMELINE_SECONDS
from ..coordinator import CctvNvrConfigEntry
from ..footage import async_delete_range, async_protect
from ..util import checked_range
from .helpers import END, RANGE, START, Message, with_camera


@websocket_command({vol.Required("type"): f"{DOMAIN}/protect", **RANGE})
@require_admin
@with_camera
async def ws_protect(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, entry: CctvNvrConfigEntry
) -> None:
    """Keep a camera's footage in a range from automatic deletion (administrators only)."""
    start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    changed = await async_protect(hass, entry, start, end, protected=True)
    connection.send_result(msg["id"], {"segments": changed})


@websocket_command({vol.Required("type"): f"{DOMAIN}/unprotect", **RANGE})
@require_admin
@with_camera
async def ws_unprotect(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, entry: CctvNvrConfigEntry
) -> None:
    """Return a camera's footage in a range to automatic deletion (administrators only)."""
    start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    changed = await async_protect(hass, entry, start, end, protected=False)
    connection.send_result(msg["id"], {"segments": changed})


@websocket_command({vol.Required("type"): f"{DOMAIN}/delete", **RANGE})
@require_admin
@with_camera
async def ws_delete(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, entry: CctvNvrConfigEntry
) -> None:
    """Delete a camera's footage in a range: files and index rows (administrators only)."""
    start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS)
    count, size = await async_delete_range(hass, entry, start, end)
    connection.send_result(msg["id"], {"segments": count, "bytes": size})
