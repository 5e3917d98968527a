"""What every WebSocket command shares: the caller, the camera and its access check.

Also errors with codes and signed URLs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import functools
from typing import Any, Final

from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.const import ERR_NOT_FOUND, ERR_UNAUTHORIZED
from homeassistant.components.websocket_api.decorators import async_response
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
import probatio as vol

from ..access import Access, Right, async_access, caller_of
from ..const import DOMAIN, SIGNED_URL_LIFETIME
from ..coordinator import CameraCoordinator, CctvNvrConfigEntry, loaded_cameras

CAMERA: Final = "camera"
START: Final = "start"
END: Final = "end"
DATE: Final = "date"

MOMENT = vol.All(vol.Coerce(float), vol.Range(min=0, max=1e11))
RANGE: Final[dict[Any, Any]] = {
    vol.Required(CAMERA): cv.string,
    vol.Required(START): MOMENT,
    vol.Required(END): MOMENT,
}

type Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class CameraCall:
    """A command for one camera: its entry, and what the caller may see and do."""

    entry: CctvNvrConfigEntry
    access: Access

    @property
    def key(self) -> str:
        """Return the camera's storage key."""
        return self.coordinator.camera_key

    @property
    def coordinator(self) -> CameraCoordinator:
        """Return the camera's coordinator."""
        return self.entry.runtime_data


type CameraHandler = Callable[
    [HomeAssistant, ActiveConnection, Message, CameraCall], Awaitable[None]
]
type Handler = Callable[[HomeAssistant, ActiveConnection, Message], None]


class WsError(HomeAssistantError):
    """An error answered with a specific WebSocket error code (translated)."""

    def __init__(self, code: str, key: str, **placeholders: str) -> None:
        """Remember the code; the message comes from the translation key."""
        super().__init__(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders or None,
        )
        self.code = code


def send_error(connection: ActiveConnection, msg_id: int, err: WsError) -> None:
    """Answer a command with a WsError's code and translated message."""
    connection.send_error(
        msg_id,
        err.code,
        str(err),
        translation_key=err.translation_key,
        translation_domain=err.translation_domain,
        translation_placeholders=err.translation_placeholders,
    )


def access_of(hass: HomeAssistant, connection: ActiveConnection) -> Access:
    """Return what the connection's user may see and do."""
    caller = caller_of(hass, connection.user)
    if caller is None:
        raise WsError(ERR_UNAUTHORIZED, "access_denied")
    return async_access(hass, caller)


def camera_for(
    hass: HomeAssistant, connection: ActiveConnection, key: str, right: Right | None
) -> CameraCall:
    """Return a loaded camera the user has a right on; raise not_found / unauthorized.

    ``right`` None: administrators only (commands about the camera's settings).
    """
    access = access_of(hass, connection)
    if key not in loaded_cameras(hass):
        raise WsError(ERR_NOT_FOUND, "camera_not_found", camera=key)
    if right is None:
        entry = loaded_cameras(hass)[key] if connection.user.is_admin else None
    else:
        entry = access.camera(key, right)
    if entry is None:
        raise WsError(ERR_UNAUTHORIZED, "camera_unauthorized", camera=key)
    return CameraCall(entry, access)


def with_camera(right: Right | None) -> Callable[[CameraHandler], Handler]:
    """Run a command for the camera its ``camera`` field names, if the user has ``right``.

    ``right`` None: only administrators may (settings of the camera; keep
    ``require_admin`` on such commands too, so the rule is visible where they are declared).

    Use under ``websocket_command`` (and ``require_admin``); the command runs as an
    async response and gets a ``CameraCall`` as a fourth argument. Unknown cameras answer
    ``not_found``, cameras the user has no such right on ``unauthorized``.
    """

    def decorator(func: CameraHandler) -> Handler:
        @async_response
        @functools.wraps(func)
        async def handler(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
            try:
                call = camera_for(hass, connection, msg[CAMERA], right)
            except WsError as err:
                send_error(connection, msg["id"], err)
                return
            await func(hass, connection, msg, call)

        return handler

    return decorator


def sign(hass: HomeAssistant, connection: ActiveConnection, path: str) -> str:
    """Sign a path for the connection's user, valid for the playback lifetime."""
    return async_sign_path(
        hass, path, SIGNED_URL_LIFETIME, refresh_token_id=connection.refresh_token_id
    )
