"""What every WebSocket command shares: the camera lookup, errors with codes, signed URLs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

from ..access import can_view
from ..const import DOMAIN, SIGNED_URL_LIFETIME
from ..coordinator import CctvNvrConfigEntry, loaded_cameras

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
type CameraHandler = Callable[
    [HomeAssistant, ActiveConnection, Message, CctvNvrConfigEntry], Awaitable[None]
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


def camera_for(hass: HomeAssistant, connection: ActiveConnection, key: str) -> CctvNvrConfigEntry:
    """Return a loaded camera the user may watch; raise not_found / unauthorized."""
    entry = loaded_cameras(hass).get(key)
    if entry is None:
        raise WsError(ERR_NOT_FOUND, "camera_not_found", camera=key)
    if not can_view(hass, connection.user, entry):
        raise WsError(ERR_UNAUTHORIZED, "camera_unauthorized", camera=key)
    return entry


def with_camera(func: CameraHandler) -> Handler:
    """Run a command for the camera its ``camera`` field names, once the user may see it.

    Use under ``websocket_command`` (and ``require_admin``); the command runs as an
    async response and gets the camera's config entry as a fourth argument. Unknown
    cameras answer ``not_found``, cameras the user may not watch ``unauthorized``.
    """

    @async_response
    @functools.wraps(func)
    async def handler(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
        try:
            entry = camera_for(hass, connection, msg[CAMERA])
        except WsError as err:
            send_error(connection, msg["id"], err)
            return
        await func(hass, connection, msg, entry)

    return handler


def sign(hass: HomeAssistant, connection: ActiveConnection, path: str) -> str:
    """Sign a path for the connection's user, valid for the playback lifetime."""
    return async_sign_path(
        hass, path, SIGNED_URL_LIFETIME, refresh_token_id=connection.refresh_token_id
    )
