"""Notification links: signed, expiring URLs of a saved event's snapshot and clip.

A companion app opens them without a session, often hours later, so they must outlive a
restart of Home Assistant. Home Assistant's own signed paths (``async_sign_path``) are signed
with a secret made anew at every start and die with it; these are signed with the
integration's own key (an HMAC-SHA256 of the path and the expiry), kept in
``.storage/cctv_nvr.links`` and made once. A signature is valid for its one path until its
expiry; deleting the event (or its footage) ends it sooner: the views answer 404.
"""

from __future__ import annotations

import base64
from datetime import timedelta
import hashlib
import hmac
import secrets
import time
from typing import Any

from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

STORAGE_KEY = f"{DOMAIN}.links"
STORAGE_VERSION = 1
DATA_LINK_KEY: HassKey[bytes] = HassKey(f"{DOMAIN}_link_key")
EXPIRES = "exp"
SIGNATURE = "sig"
MAX_QUERY_CHARS = 200


async def async_setup_links(hass: HomeAssistant) -> None:
    """Load the integration's link key, making it on the first start."""
    store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, STORAGE_KEY, private=True)
    data = await store.async_load()
    key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, str) or len(key) < 64:  # noqa: PLR2004 - 32 bytes as hex
        key = secrets.token_hex(32)
        await store.async_save({"key": key})
    hass.data[DATA_LINK_KEY] = bytes.fromhex(key)


def _signature(key: bytes, path: str, expires: int) -> str:
    digest = hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


@callback
def sign_link(hass: HomeAssistant, path: str, lifetime: timedelta) -> str:
    """Return the path with its expiry and signature in the query."""
    expires = int(time.time() + lifetime.total_seconds())
    signature = _signature(hass.data[DATA_LINK_KEY], path, expires)
    return f"{path}?{EXPIRES}={expires}&{SIGNATURE}={signature}"


@callback
def link_valid(hass: HomeAssistant, request: web.Request) -> bool:
    """Return True if the request carries a valid, unexpired link signature for its path."""
    if len(request.query_string) > MAX_QUERY_CHARS:
        return False
    expires, signature = request.query.get(EXPIRES, ""), request.query.get(SIGNATURE, "")
    if not expires.isdigit() or len(expires) > 12 or int(expires) < time.time():  # noqa: PLR2004
        return False
    expected = _signature(hass.data[DATA_LINK_KEY], request.path, int(expires))
    return hmac.compare_digest(expected, signature)
