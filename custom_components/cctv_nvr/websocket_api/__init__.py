"""WebSocket API of the CCTV panel (``cctv_nvr/*`` commands), one room per topic.

- ``cameras``: the camera list, a day's timeline, a signed playback URL.
- ``exports``: exports and the panel's export jobs.
- ``storage``: disk and per-camera storage figures.
- ``footage``: protect, unprotect, delete footage and events (administrators only).
- ``access``: grants, rights of users without one, the audit trail (administrators only),
  and a subscription that tells open panels when access changed.

Every command that names a camera is decorated with ``helpers.with_camera``: unknown
cameras answer ``not_found``, cameras the user may not watch ``unauthorized``. Errors
carry a translation key of this integration and the translated message. Playback and
downloads are signed, expiring URLs; no file path is ever sent.

To add a command: write it in the module of its topic (or a new one) and list it below.
"""

from __future__ import annotations

from homeassistant.components.websocket_api import async_register_command
from homeassistant.core import HomeAssistant, callback

from .access import (
    ws_access,
    ws_audit,
    ws_delete_grant,
    ws_set_defaults,
    ws_set_grant,
    ws_subscribe_access,
)
from .cameras import ws_cameras, ws_live, ws_playback, ws_timeline
from .exports import ws_delete_export, ws_export, ws_exports
from .footage import ws_delete, ws_delete_event, ws_protect, ws_unprotect
from .storage import ws_storage

COMMANDS = (
    ws_cameras,
    ws_timeline,
    ws_playback,
    ws_live,
    ws_exports,
    ws_export,
    ws_delete_export,
    ws_storage,
    ws_protect,
    ws_unprotect,
    ws_delete,
    ws_delete_event,
    ws_access,
    ws_set_grant,
    ws_delete_grant,
    ws_set_defaults,
    ws_subscribe_access,
    ws_audit,
)


@callback
def async_setup_websocket_api(hass: HomeAssistant) -> None:
    """Register the panel's commands (once, from async_setup)."""
    for command in COMMANDS:
        async_register_command(hass, command)
