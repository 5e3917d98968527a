"""The audit trail: who watched, exported, downloaded, protected or deleted footage.

Also who changed access. Kept in the index (``index.audit``) and shown as logbook entries.
Entries name the user and the camera and, where there is one, the footage's range. They
never hold URLs, tokens or credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
import time
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import ATTR_CAMERA_NAME, DOMAIN, EVENT_AUDIT
from .coordinator import loaded_cameras
from .data import DATA_NVR
from .engine.policy import Caller
from .util import camera_entity_id

REPEAT_SECONDS = 600.0
# (user id, camera, action, start, end) -> when it was last recorded (monotonic)
type _Recent = dict[tuple[str | None, str | None, str, float | None, float | None], float]
DATA_RECENT: HassKey[_Recent] = HassKey(f"{DOMAIN}_audit_recent")


class Action(StrEnum):
    """What a user did."""

    WATCHED = "watched"  # played recordings (a range)
    WATCHED_LIVE = "watched_live"  # live video in the panel (our live playlist)
    EXPORTED = "exported"
    DOWNLOADED = "downloaded"  # an export or an event clip
    PROTECTED = "protected"
    UNPROTECTED = "unprotected"
    DELETED = "deleted"  # footage in a range
    EXPORT_DELETED = "export_deleted"
    EVENT_DELETED = "event_deleted"
    ACCESS_CHANGED = "access_changed"  # a grant or the rights of users without one


async def async_user_name(hass: HomeAssistant, caller: Caller) -> str:
    """Return the name to record for a caller."""
    if caller.user_id is None:
        return "automation"
    user = await hass.auth.async_get_user(caller.user_id)
    if user is None:
        return "unknown user"
    if user.system_generated:
        return f"{user.name} (link)"
    return user.name or user.id


async def async_audit(
    hass: HomeAssistant,
    caller: Caller,
    camera: str | None,
    action: Action,
    *,
    start: float | None = None,
    end: float | None = None,
    detail: str | None = None,
    user_name: str | None = None,
) -> None:
    """Record what a caller did (and tell the logbook); ``user_name`` overrides the name.

    The same user watching the same range (or the same camera live) again within
    ``REPEAT_SECONDS`` (a player fetching the playlist again) is recorded once.
    """
    if action in (Action.WATCHED, Action.WATCHED_LIVE):
        recent = hass.data.setdefault(DATA_RECENT, {})
        key = (caller.user_id, camera, str(action), start, end)
        now = time.monotonic()
        if now - recent.get(key, -REPEAT_SECONDS) < REPEAT_SECONDS:
            return
        for old in [k for k, moment in recent.items() if now - moment >= REPEAT_SECONDS]:
            del recent[old]
        recent[key] = now
    name = user_name or await async_user_name(hass, caller)
    await hass.async_add_executor_job(
        hass.data[DATA_NVR].index.audit.add,
        time.time(),
        caller.user_id,
        name,
        camera,
        str(action),
        start,
        end,
        detail,
    )
    _async_fire(hass, name, camera, action, start, end, detail)


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


@callback
def _async_fire(
    hass: HomeAssistant,
    user_name: str,
    camera: str | None,
    action: Action,
    start: float | None,
    end: float | None,
    detail: str | None,
) -> None:
    entry = loaded_cameras(hass).get(camera or "")
    data: dict[str, Any] = {
        "user": user_name,
        "action": str(action),
        "start": _iso(start),
        "end": _iso(end),
        "detail": detail,
    }
    if entry is not None:
        data["entity_id"] = camera_entity_id(hass, entry.entry_id)
        data[ATTR_CAMERA_NAME] = entry.title
    hass.bus.async_fire(EVENT_AUDIT, data)


_WHAT: dict[str, str] = {
    str(Action.WATCHED): "watched recordings",
    str(Action.WATCHED_LIVE): "watched live",
    str(Action.EXPORTED): "exported footage",
    str(Action.DOWNLOADED): "downloaded",
    str(Action.PROTECTED): "protected footage",
    str(Action.UNPROTECTED): "unprotected footage",
    str(Action.DELETED): "deleted footage",
    str(Action.EXPORT_DELETED): "deleted an export",
    str(Action.EVENT_DELETED): "deleted an event",
    str(Action.ACCESS_CHANGED): "changed access",
}


def describe(data: dict[str, Any]) -> str:
    """Return the logbook text of an audit entry (the camera is the logbook entry's name)."""
    user = data.get("user") or "someone"
    action = str(data.get("action"))
    what = _WHAT.get(action, action)
    span = ""
    if data.get("start") and data.get("end"):
        span = f" ({data['start']} to {data['end']})"
    detail = f": {data['detail']}" if data.get("detail") else ""
    return f"{user} {what}{span}{detail}"
