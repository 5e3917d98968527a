"""Push cameras on Home Assistant's side: the installation's one RTMP ingest server.

Every push camera entry (data ``kind: push``) records a `PushRecorder` that the shared
`IngestServer` (engine/ingest.py) feeds. The server starts, in Home Assistant's event
loop, when the first push camera is set up and stops when the last one unloads.

The port is one setting for the whole installation, so it is kept once, in a
`helpers.storage.Store` (``.storage/cctv_nvr.ingest``), not in each camera's options
where copies could disagree; any push camera's options and the repair flow change it.
A port the server cannot listen on (taken by another program, or not allowed) is a
fixable repair issue: its flow asks for another port; the issue clears as soon as the
server listens, and a taken port is tried again every minute meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import NumberSelector, NumberSelectorConfig, NumberSelectorMode
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey
from yarl import URL

from .const import DEFAULT_INGEST_PORT, DOMAIN
from .engine.ingest import IngestError, IngestServer, PortInUseError, PushRecorder, publish_url

_LOGGER = logging.getLogger(__name__)

DATA_INGEST: HassKey[IngestManager] = HassKey(f"{DOMAIN}_ingest")
STORE_KEY = f"{DOMAIN}.ingest"
STORE_VERSION = 1
ISSUE_PORT = "ingest_port"
RETRY_SECONDS = 60.0
FALLBACK_HOST = "homeassistant.local"
MIN_PORT = 1
MAX_PORT = 65535


@callback
def async_get_ingest(hass: HomeAssistant) -> IngestManager:
    """Return the installation's ingest manager (created on first use; nothing listens yet)."""
    manager = hass.data.get(DATA_INGEST)
    if manager is None:
        manager = hass.data[DATA_INGEST] = IngestManager(hass)
    return manager


@callback
def async_publish_host(hass: HomeAssistant) -> str:
    """Return the host devices reach Home Assistant at on the local network."""
    try:
        host = URL(get_url(hass, allow_external=False, allow_cloud=False)).host
    except NoURLAvailableError:
        host = None
    return host or FALLBACK_HOST


@callback
def async_url_placeholders(hass: HomeAssistant, port: int, key: str) -> dict[str, str]:
    """Return a form's placeholders: the publish URL, and server and key apart (OBS, Larix)."""
    host = async_publish_host(hass)
    url = publish_url(host, port, key)
    return {"url": url, "server": url.rsplit("/", 1)[0], "key": key, "port": str(port)}


def port_selector() -> NumberSelector:
    """Return the form field of the ingest port."""
    return NumberSelector(
        NumberSelectorConfig(min=MIN_PORT, max=MAX_PORT, step=1, mode=NumberSelectorMode.BOX)
    )


def port_error(err: Exception) -> str:
    """Return a form's error key for a port the server cannot listen on."""
    return "port_in_use" if isinstance(err, PortInUseError) else "port_unavailable"


class IngestManager:
    """Owns the ingest server: its port, its cameras, its repair issue."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare; the stored port is read on first use."""
        self.hass = hass
        self.port = DEFAULT_INGEST_PORT
        self.server: IngestServer | None = None
        self._store: Store[dict[str, Any]] = Store(hass, STORE_VERSION, STORE_KEY)
        self._loaded = False
        self._lock = asyncio.Lock()
        self._cameras: set[str] = set()
        self._retry: CALLBACK_TYPE | None = None
        self._unsub_stop: CALLBACK_TYPE | None = None

    @property
    def listening(self) -> bool:
        """Return True while the server accepts publishers."""
        return self.server is not None and self.server.listening

    async def async_port(self) -> int:
        """Return the port publishers use (the stored one)."""
        async with self._lock:
            await self._async_load()
        return self.port

    async def _async_load(self) -> None:
        if self._loaded:
            return
        data = await self._store.async_load() or {}
        port = data.get("port")
        if isinstance(port, int) and MIN_PORT <= port <= MAX_PORT:
            self.port = port
        self._loaded = True

    # -- cameras --------------------------------------------------------------------------

    async def async_add_camera(self, recorder: PushRecorder, key: str) -> None:
        """Accept this camera's key; the first camera starts the server."""
        async with self._lock:
            await self._async_load()
            if self.server is None:
                self.server = IngestServer(port=self.port)
                self._unsub_stop = self.hass.bus.async_listen_once(
                    EVENT_HOMEASSISTANT_STOP, self._async_hass_stop
                )
            self.server.add_camera(recorder, key)
            self._cameras.add(recorder.config.camera)
            if not self.server.listening:
                await self._async_listen()

    async def async_remove_camera(self, camera: str) -> None:
        """Refuse this camera's key (its publisher leaves); the last camera stops the server."""
        async with self._lock:
            if self.server is None:
                return
            self.server.remove_camera(camera)
            self._cameras.discard(camera)
            if not self._cameras:
                await self._async_stop()

    @callback
    def set_key(self, camera: str, key: str) -> None:
        """Give a camera a new key; a publisher on the old one is disconnected at once."""
        if self.server is not None and camera in self._cameras:
            self.server.set_key(camera, key)

    # -- the port -------------------------------------------------------------------------

    async def async_try_port(self, port: int) -> str | None:
        """Move to ``port`` and keep it; return a form's error key when it cannot be used.

        Publishers already connected stay connected; without push cameras it is only stored.
        """
        async with self._lock:
            await self._async_load()
            server = self.server
            if server is not None:
                old = self.port
                try:
                    await server.set_port(port)  # listening: moves; else: only remembers
                    await server.start()
                except (OSError, IngestError) as err:
                    if not server.listening:
                        await server.set_port(old)
                    _LOGGER.info("Push cameras: port %d cannot be used: %s", port, err)
                    return port_error(err)
            self.port = port
            await self._store.async_save({"port": port})
            if server is not None:
                self._listening()
            return None

    async def _async_listen(self) -> None:
        assert self.server is not None  # noqa: S101
        try:
            await self.server.start()
        except (OSError, IngestError) as err:
            self._not_listening(err)
        else:
            self._listening()

    @callback
    def _listening(self) -> None:
        _LOGGER.info("Push cameras: listening for RTMP publishers on port %d", self.port)
        self._cancel_retry()
        ir.async_delete_issue(self.hass, DOMAIN, ISSUE_PORT)

    @callback
    def _not_listening(self, err: Exception) -> None:
        in_use = isinstance(err, PortInUseError)
        _LOGGER.warning("Push cameras: cannot listen on port %d: %s", self.port, err)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            ISSUE_PORT,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="ingest_port_in_use" if in_use else "ingest_port_unavailable",
            translation_placeholders={"port": str(self.port), "error": str(err)},
        )
        self._cancel_retry()
        self._retry = async_call_later(self.hass, RETRY_SECONDS, self._retry_listen)

    @callback
    def _retry_listen(self, _now: Any) -> None:
        self._retry = None
        self.hass.async_create_background_task(self._async_retry(), "cctv_nvr ingest retry")

    async def _async_retry(self) -> None:
        async with self._lock:
            if self.server is not None and not self.server.listening:
                await self._async_listen()

    @callback
    def _cancel_retry(self) -> None:
        if self._retry is not None:
            self._retry()
            self._retry = None

    # -- stopping -------------------------------------------------------------------------

    async def _async_stop(self) -> None:
        self._cancel_retry()
        if self._unsub_stop is not None:
            self._unsub_stop()
            self._unsub_stop = None
        ir.async_delete_issue(self.hass, DOMAIN, ISSUE_PORT)
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
            _LOGGER.info("Push cameras: the RTMP ingest server stopped")

    async def _async_hass_stop(self, _event: Event) -> None:
        self._unsub_stop = None
        async with self._lock:
            self._cameras.clear()
            await self._async_stop()
