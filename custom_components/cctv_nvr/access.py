"""Which cameras exist and who may see them (Home Assistant users and entity permissions)."""

from __future__ import annotations

from homeassistant.auth.models import User
from homeassistant.auth.permissions.const import POLICY_READ
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from .const import CONF_STORAGE_KEY, DOMAIN
from .data import CctvNvrConfigEntry


@callback
def loaded_cameras(hass: HomeAssistant) -> dict[str, CctvNvrConfigEntry]:
    """Return the loaded camera entries by their storage key."""
    entries: list[CctvNvrConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    return {
        entry.data[CONF_STORAGE_KEY]: entry
        for entry in entries
        if entry.state is ConfigEntryState.LOADED
    }


@callback
def camera_entity_id(hass: HomeAssistant, entry: CctvNvrConfigEntry) -> str | None:
    """Return the camera entity of an entry."""
    return er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{entry.entry_id}_camera")


@callback
def can_view(hass: HomeAssistant, user: User | None, entry: CctvNvrConfigEntry) -> bool:
    """Return True if the user may watch this camera's footage (read permission on its entity)."""
    if user is None:
        return False
    if user.is_admin:
        return True
    entity_id = camera_entity_id(hass, entry)
    return entity_id is not None and user.permissions.check_entity(entity_id, POLICY_READ)


@callback
def visible_cameras(hass: HomeAssistant, user: User | None) -> dict[str, CctvNvrConfigEntry]:
    """Return the loaded cameras a user may watch."""
    return {
        key: entry for key, entry in loaded_cameras(hass).items() if can_view(hass, user, entry)
    }
