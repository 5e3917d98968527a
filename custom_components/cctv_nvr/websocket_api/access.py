"""Access administration (the panel's Access view) and the audit trail; administrators only.

Grants edited here are the same config subentries Home Assistant's settings edit, so both
show one model; a change takes effect at the next request of any view or command.
"""

from __future__ import annotations

from datetime import date
import time
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND
from homeassistant.components.websocket_api.decorators import (
    async_response,
    require_admin,
    websocket_command,
)
from homeassistant.components.websocket_api.messages import event_message
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.dispatcher import async_dispatcher_connect
import probatio as vol

from ..access import SIGNAL_ACCESS_CHANGED, default_rights, grants_of
from ..audit import Action, async_audit
from ..config_flow import grantable_users, parse_grant
from ..const import (
    CONF_DEFAULT_RIGHTS,
    CONF_LIVE_PANEL_ONLY,
    DOMAIN,
    GRANT_LOOKBACK_HOURS,
    GRANT_RIGHTS,
    GRANT_USER_ID,
    GRANT_WINDOWS,
    SUBENTRY_ACCESS,
)
from ..coordinator import loaded_cameras
from ..data import DATA_NVR
from ..engine.index import AuditRecord
from ..engine.policy import DAYS, Right
from ..urls import audit_csv_path
from ..util import day_range
from .helpers import CAMERA, CameraCall, Message, WsError, send_error, sign, with_camera

_RIGHTS = vol.All(cv.ensure_list, [vol.In([str(right) for right in Right])])
_WINDOW = vol.Schema(
    {
        vol.Required("days"): vol.All(cv.ensure_list, [vol.In(list(DAYS))]),
        vol.Required("start"): cv.string,
        vol.Required("end"): cv.string,
    }
)


@websocket_command({vol.Required("type"): f"{DOMAIN}/access"})
@require_admin
@async_response
async def ws_access(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """Return the users grants are for and every camera's rules."""
    users = grantable_users(await hass.auth.async_get_users())
    cameras = []
    for key, entry in sorted(loaded_cameras(hass).items(), key=lambda kv: kv[1].title):
        cameras.append(
            {
                "id": key,
                "name": entry.title,
                "default_rights": sorted(str(right) for right in default_rights(entry)),
                "live_panel_only": bool(entry.options.get(CONF_LIVE_PANEL_ONLY)),
                "grants": [
                    {"user_id": user_id, "user": users.get(user_id, user_id), **grant.as_dict()}
                    for user_id, (_sid, grant) in sorted(grants_of(entry).items())
                ],
            }
        )
    connection.send_result(
        msg["id"],
        {
            "users": [{"id": uid, "name": name} for uid, name in users.items()],
            "rights": [str(right) for right in Right],
            "days": list(DAYS),
            "cameras": cameras,
        },
    )


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/access/set_grant",
        vol.Required(CAMERA): cv.string,
        vol.Required(GRANT_USER_ID): cv.string,
        vol.Required(GRANT_RIGHTS): _RIGHTS,
        vol.Optional(GRANT_WINDOWS, default=[]): vol.All([_WINDOW], vol.Length(max=14)),
        vol.Optional(GRANT_LOOKBACK_HOURS): vol.Any(
            None, vol.All(vol.Coerce(float), vol.Range(min=1, max=24 * 3650))
        ),
    }
)
@require_admin
@with_camera(None)
async def ws_set_grant(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Add or change a user's grant on a camera."""
    entry = call.entry
    users = grantable_users(await hass.auth.async_get_users())
    user_id = msg[GRANT_USER_ID]
    if user_id not in users:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="unknown_user")
    try:
        grant = parse_grant(msg)
    except ValueError as err:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key=str(err)) from err
    data = {GRANT_USER_ID: user_id, **grant.as_dict()}
    existing = grants_of(entry).get(user_id)
    if existing is None:
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType(data),
                subentry_type=SUBENTRY_ACCESS,
                title=users[user_id],
                unique_id=user_id,
            ),
        )
    else:
        hass.config_entries.async_update_subentry(
            entry, entry.subentries[existing[0]], data=data, title=users[user_id]
        )
    await async_audit(
        hass,
        call.access.caller,
        msg[CAMERA],
        Action.ACCESS_CHANGED,
        detail=f"{users[user_id]}: {grant.as_dict()}",
    )
    connection.send_result(msg["id"], {"user_id": user_id, **grant.as_dict()})


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/access/delete_grant",
        vol.Required(CAMERA): cv.string,
        vol.Required(GRANT_USER_ID): cv.string,
    }
)
@require_admin
@with_camera(None)
async def ws_delete_grant(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Remove a user's grant on a camera (they get the camera's rights for users without)."""
    entry = call.entry
    existing = grants_of(entry).get(msg[GRANT_USER_ID])
    if existing is None:
        send_error(connection, msg["id"], WsError(ERR_NOT_FOUND, "unknown_grant"))
        return
    title = entry.subentries[existing[0]].title
    hass.config_entries.async_remove_subentry(entry, existing[0])
    await async_audit(
        hass,
        call.access.caller,
        msg[CAMERA],
        Action.ACCESS_CHANGED,
        detail=f"{title}: grant removed",
    )
    connection.send_result(msg["id"], {"deleted": msg[GRANT_USER_ID]})


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/access/set_defaults",
        vol.Required(CAMERA): cv.string,
        vol.Optional(CONF_DEFAULT_RIGHTS): _RIGHTS,
        vol.Optional(CONF_LIVE_PANEL_ONLY): cv.boolean,
    }
)
@require_admin
@with_camera(None)
async def ws_set_defaults(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Change what users without a grant may do, and whether live video stays in the panel."""
    entry = call.entry
    changes: dict[str, Any] = {
        key: sorted(msg[key]) if key == CONF_DEFAULT_RIGHTS else msg[key]
        for key in (CONF_DEFAULT_RIGHTS, CONF_LIVE_PANEL_ONLY)
        if key in msg
    }
    # Options change without a reload: recording goes on; the policy is rebuilt.
    hass.config_entries.async_update_entry(entry, options={**entry.options, **changes})
    entry.runtime_data.async_update_listeners()  # the camera entity shows the change
    await async_audit(
        hass,
        call.access.caller,
        msg[CAMERA],
        Action.ACCESS_CHANGED,
        detail=f"users without a grant: {changes}",
    )
    connection.send_result(
        msg["id"],
        {
            "default_rights": sorted(str(right) for right in default_rights(entry)),
            "live_panel_only": bool(entry.options.get(CONF_LIVE_PANEL_ONLY)),
        },
    )


@websocket_command({vol.Required("type"): f"{DOMAIN}/subscribe_access"})
@callback
def ws_subscribe_access(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """Tell the panel when access changes (it asks for the camera list again)."""

    @callback
    def _changed() -> None:
        connection.send_message(event_message(msg["id"], {"changed": True}))

    connection.subscriptions[msg["id"]] = async_dispatcher_connect(
        hass, SIGNAL_ACCESS_CHANGED, _changed
    )
    connection.send_result(msg["id"])


def _record(record: AuditRecord) -> dict[str, Any]:
    return {
        "ts": record.ts,
        "user_id": record.user_id,
        "user": record.user_name,
        "camera": record.camera,
        "action": record.action,
        "start": record.start,
        "end": record.end,
        "detail": record.detail,
    }


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/audit",
        vol.Required("from"): cv.date,
        vol.Optional("to"): cv.date,
        vol.Optional("user_id"): cv.string,
        vol.Optional(CAMERA): cv.string,
    }
)
@require_admin
@async_response
async def ws_audit(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """Return the audit trail of local days (newest first), optionally of a user or camera.

    Also answers a signed URL of the same selection as CSV.
    """
    first: date = msg["from"]
    last: date = msg.get("to", first)
    since, until = day_range(first, last, ZoneInfo(hass.config.time_zone))
    records = await hass.async_add_executor_job(
        lambda: hass.data[DATA_NVR].index.audit.find(
            since, until, user_id=msg.get("user_id"), camera=msg.get(CAMERA)
        )
    )
    users = [
        {"id": user.id, "name": user.name or user.id}
        for user in sorted(await hass.auth.async_get_users(), key=lambda u: (u.name or "").lower())
        if not user.system_generated
    ]
    connection.send_result(
        msg["id"],
        {
            "records": [_record(record) for record in records],
            "users": users,
            "csv_url": sign(
                hass,
                connection,
                audit_csv_path(first, last, msg.get("user_id"), msg.get(CAMERA)),
            ),
            "now": time.time(),
        },
    )
