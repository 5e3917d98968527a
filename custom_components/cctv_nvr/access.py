"""Who may see which camera: Home Assistant users and entity permissions.

Every door (HTTP views, WebSocket commands, the media source, services) asks here.
"""

from __future__ import annotations

from homeassistant.auth.models import User
from homeassistant.auth.permissions.const import POLICY_READ
from homeassistant.core import HomeAssistant, callback

from .coordinator import CctvNvrConfigEntry, loaded_cameras
from .util import camera_entity_id


@callback
def can_view(hass: HomeAssistant, user: User | None, entry: CctvNvrConfigEntry) -> bool:
    """Return True if the user may watch this camera's footage (read permission on its entity)."""
    if user is None:
        return False
    if user.is_admin:
        return True
    entity_id = camera_entity_id(hass, entry.entry_id)
    return entity_id is not None and user.permissions.check_entity(entity_id, POLICY_READ)


@callback
def visible_cameras(hass: HomeAssistant, user: User | None) -> dict[str, CctvNvrConfigEntry]:
    """Return the loaded cameras a user may watch."""
    return {
        key: entry for key, entry in loaded_cameras(hass).items() if can_view(hass, user, entry)
    }
