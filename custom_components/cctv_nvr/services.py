"""Services: start and stop recordings of cameras."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.helpers.target import TargetSelection, async_extract_referenced_entity_ids
import probatio as vol

from .const import (
    ATTR_DURATION,
    DOMAIN,
    MAX_MANUAL_RECORDING,
    SERVICE_START_RECORDING,
    SERVICE_STOP_RECORDING,
)

if TYPE_CHECKING:
    from .coordinator import CameraCoordinator

_TARGET = cv.make_entity_service_schema({})
START_SCHEMA = cv.make_entity_service_schema(
    {vol.Optional(ATTR_DURATION): vol.All(cv.time_period, lambda value: value.total_seconds())}
)
STOP_SCHEMA = _TARGET


@callback
def async_target_cameras(hass: HomeAssistant, call: ServiceCall) -> list[CameraCoordinator]:
    """Return the coordinators of the cameras a service call targets.

    Explicitly named entities that are not loaded cameras of this integration are
    an error (a typo must not pass silently); devices and areas may hold others.
    """
    selected = async_extract_referenced_entity_ids(hass, TargetSelection(call.data))
    registry = er.async_get(hass)
    found: dict[str, CameraCoordinator] = {}
    for entity_id in sorted(selected.referenced | selected.indirectly_referenced):
        entry = registry.async_get(entity_id)
        ours = (
            entry is not None
            and entry.platform == DOMAIN
            and entry.domain == CAMERA_DOMAIN
            and entry.config_entry_id is not None
        )
        config_entry = (
            hass.config_entries.async_get_entry(entry.config_entry_id)
            if ours and entry is not None and entry.config_entry_id
            else None
        )
        if config_entry is None or config_entry.state is not ConfigEntryState.LOADED:
            if entity_id in selected.referenced:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="unknown_camera",
                    translation_placeholders={"entity_id": entity_id},
                )
            continue
        found[config_entry.entry_id] = config_entry.runtime_data
    if not found:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_cameras")
    return list(found.values())


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's services (once, in async_setup)."""

    async def start_recording(call: ServiceCall) -> None:
        duration: float | None = call.data.get(ATTR_DURATION)
        if duration is not None and not 0 < duration <= MAX_MANUAL_RECORDING:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_duration",
                translation_placeholders={"max": str(MAX_MANUAL_RECORDING)},
            )
        for coordinator in async_target_cameras(hass, call):
            await coordinator.async_start_manual(duration)

    async def stop_recording(call: ServiceCall) -> None:
        cameras = async_target_cameras(hass, call)
        if not any(coordinator.manual_active for coordinator in cameras):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_recording",
                translation_placeholders={
                    "camera": ", ".join(c.config_entry.title for c in cameras)
                },
            )
        for coordinator in cameras:
            await coordinator.async_stop_manual()

    hass.services.async_register(DOMAIN, SERVICE_START_RECORDING, start_recording, START_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_STOP_RECORDING, stop_recording, STOP_SCHEMA)
