"""Who may see and do what with which camera: Home Assistant users, grants, one policy.

Every door asks here — each HTTP view on every request, every WebSocket command, the
media source, every service and the control entities — and the answer comes from one
``engine.policy.Policy`` built from the cameras' settings:

- Administrators (and Home Assistant's own system users, which only reach the views with
  paths the integration signed) have every right on every camera.
- A non-admin user with a grant on a camera (a config subentry of type ``access`` of
  that camera) has exactly its rights, windows and look-back there.
- A non-admin user without a grant has the camera's *rights for users without a grant*
  (option; all rights unless an administrator narrows them), so an installation that
  upgrades keeps working until an administrator restricts someone.
- Calls without a user (automations, scripts) act as the system.

The policy is cached and rebuilt when a camera is loaded or unloaded or its options or
grants change, so a change takes effect at the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from zoneinfo import ZoneInfo

from homeassistant.auth.models import User
from homeassistant.auth.permissions.const import POLICY_READ
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
)
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.exceptions import Unauthorized
from homeassistant.helpers.dispatcher import async_dispatcher_connect, async_dispatcher_send
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_DEFAULT_RIGHTS,
    CONF_STORAGE_KEY,
    DOMAIN,
    GRANT_USER_ID,
    SUBENTRY_ACCESS,
)
from .coordinator import CctvNvrConfigEntry, loaded_cameras
from .data import is_camera_entry
from .engine.index import Export
from .engine.policy import ALL_RIGHTS, SYSTEM, Caller, CameraRules, Grant, Policy, Right
from .util import camera_entity_id

_LOGGER = logging.getLogger(__name__)

DATA_POLICY: HassKey[Policy] = HassKey(f"{DOMAIN}_policy")
SIGNAL_ACCESS_CHANGED = f"{DOMAIN}_access_changed"

__all__ = [
    "SYSTEM",
    "AccessDenied",
    "Caller",
    "Right",
    "async_access",
    "async_caller_for_context",
    "async_invalidate",
    "async_policy",
    "async_setup_access",
    "caller_of",
    "grants_of",
]


class AccessDenied(Unauthorized):
    """A caller may not do this with this camera (translated)."""

    def __init__(self, key: str = "access_denied", **placeholders: str) -> None:
        """Refuse with a translated message."""
        super().__init__(permission=key)
        self.translation_domain = DOMAIN
        self.translation_key = key
        self.translation_placeholders = placeholders or None
        self.generate_message = True
        self.args = (key,)


@callback
def caller_of(hass: HomeAssistant, user: User | None) -> Caller | None:
    """Return the caller a Home Assistant user is (None: nobody, refuse).

    Home Assistant's own entity permissions still apply on top of the grants: a user
    without read permission on a camera's entity gets nothing of that camera.
    """
    if user is None or not user.is_active:
        return None
    if user.is_admin or user.system_generated:
        return Caller(user.id, admin=True)
    denied = frozenset(
        key
        for key, entry in loaded_cameras(hass).items()
        if not _may_read_entity(hass, user, entry)
    )
    return Caller(user.id, admin=False, denied=denied)


def _may_read_entity(hass: HomeAssistant, user: User, entry: ConfigEntry) -> bool:
    entity_id = camera_entity_id(hass, entry.entry_id)
    return entity_id is None or user.permissions.check_entity(entity_id, POLICY_READ)


async def async_caller_for_context(hass: HomeAssistant, context: Context) -> Caller:
    """Return who called a service or changed an entity (no user: the system)."""
    if context.user_id is None:
        return SYSTEM
    user = await hass.auth.async_get_user(context.user_id)
    caller = caller_of(hass, user)
    if caller is None:
        raise AccessDenied
    return caller


def default_rights(entry: ConfigEntry) -> frozenset[Right]:
    """Return the rights of users without a grant on a camera (option)."""
    stored = entry.options.get(CONF_DEFAULT_RIGHTS)
    if stored is None:
        return ALL_RIGHTS
    return frozenset(Right(right) for right in stored if right in Right)


def grants_of(entry: ConfigEntry) -> dict[str, tuple[str, Grant]]:
    """Return a camera's grants by user id, with their subentry ids (unreadable ones skipped)."""
    grants: dict[str, tuple[str, Grant]] = {}
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type != SUBENTRY_ACCESS:
            continue
        try:
            grant = Grant.from_dict(subentry.data)
            user_id = str(subentry.data[GRANT_USER_ID])
        except (KeyError, TypeError, ValueError) as err:
            _LOGGER.warning("Ignoring an unreadable access grant of %s: %s", entry.title, err)
            continue
        grants[user_id] = (subentry_id, grant)
    return grants


def _build(hass: HomeAssistant) -> Policy:
    # Every configured camera, loaded or not: an entity of a camera whose entry is still
    # being set up (a reload) is asked for rights before the entry counts as loaded.
    # Doors that serve footage also require the camera to be loaded (Access.camera).
    entries: list[CctvNvrConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    cameras = {
        entry.data[CONF_STORAGE_KEY]: CameraRules(
            default_rights=default_rights(entry),
            grants={user_id: grant for user_id, (_sid, grant) in grants_of(entry).items()},
        )
        for entry in entries
        if is_camera_entry(entry)
    }
    return Policy(cameras, ZoneInfo(hass.config.time_zone))


@callback
def async_policy(hass: HomeAssistant) -> Policy:
    """Return the current access policy (built once, until something changes)."""
    policy = hass.data.get(DATA_POLICY)
    if policy is None:
        policy = hass.data[DATA_POLICY] = _build(hass)
    return policy


@callback
def async_invalidate(hass: HomeAssistant) -> None:
    """Forget the policy (cameras, options or grants changed); tell open panels."""
    hass.data.pop(DATA_POLICY, None)
    async_dispatcher_send(hass, SIGNAL_ACCESS_CHANGED)


@dataclass(frozen=True, slots=True)
class Access:
    """A caller's view of the cameras: what they may see and do."""

    hass: HomeAssistant
    caller: Caller
    policy: Policy

    def camera(self, key: str, right: Right) -> CctvNvrConfigEntry | None:
        """Return a loaded camera the caller has a right on (None: not there, or not theirs)."""
        entry = loaded_cameras(self.hass).get(key)
        if entry is None or not self.policy.allows(self.caller, key, right):
            return None
        return entry

    def cameras(self, right: Right) -> dict[str, CctvNvrConfigEntry]:
        """Return the loaded cameras on which the caller has a right."""
        return {
            key: entry
            for key, entry in loaded_cameras(self.hass).items()
            if self.policy.allows(self.caller, key, right)
        }

    def may_see_export(self, export: Export, now: float) -> bool:
        """Return True if the caller may see (list, play, download) an export."""
        if self.caller.admin:
            return True
        return self.camera(export.camera, Right.RECORDINGS) is not None and (
            self.policy.range_visible(self.caller, export.camera, export.start, export.end, now)
        )

    def rights(self, key: str) -> list[str]:
        """Return the caller's rights on a camera (for the panel)."""
        grant = self.policy.grant(self.caller, key)
        return [] if grant is None else sorted(str(right) for right in grant.rights)


@callback
def async_access(hass: HomeAssistant, caller: Caller) -> Access:
    """Return a caller's view of the cameras under the current policy."""
    return Access(hass, caller, async_policy(hass))


@callback
def async_setup_access(hass: HomeAssistant) -> None:
    """Rebuild the policy whenever a camera loads, unloads, or its options or grants change."""

    @callback
    def _changed(_change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry.domain == DOMAIN:
            async_invalidate(hass)

    async_dispatcher_connect(hass, SIGNAL_CONFIG_ENTRY_CHANGED, _changed)
