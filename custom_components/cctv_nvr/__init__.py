"""CCTV NVR: a network video recorder for IP cameras inside Home Assistant."""

from __future__ import annotations

from pathlib import Path

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, STORAGE_DIR
from .coordinator import CameraCoordinator
from .data import DATA_NVR, CctvNvrConfigEntry, NvrData
from .engine.index import SegmentIndex
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.CAMERA, Platform.SWITCH]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up what all cameras share: the index, and the services."""
    base = Path(hass.config.path(STORAGE_DIR))
    index = await hass.async_add_executor_job(SegmentIndex, base / "index.db")
    hass.data[DATA_NVR] = NvrData(root=base / "recordings", index=index)

    async def _close_index(_event: Event) -> None:
        await hass.async_add_executor_job(index.close)

    hass.bus.async_listen_once("homeassistant_final_write", _close_index)
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: CctvNvrConfigEntry) -> bool:
    """Set up one camera."""
    coordinator = CameraCoordinator(hass, entry, hass.data[DATA_NVR])
    entry.runtime_data = coordinator
    await coordinator.async_refresh()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)

    async def _stop_recording(_event: Event) -> None:
        await coordinator.recorder.stop()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _stop_recording))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: CctvNvrConfigEntry) -> bool:
    """Unload a camera; its recording stops after finishing the open segment."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_shutdown()
    return unloaded
