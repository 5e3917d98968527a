"""Services: start and stop recordings of cameras."""

from __future__ import annotations

import voluptuous as vol

from homeassistant.components.camera import DOMAIN as CAMERA_DOMAIN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, service

from .const import ATTR_DURATION, DOMAIN, SERVICE_START_RECORDING, SERVICE_STOP_RECORDING


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's services (once, in async_setup)."""
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_START_RECORDING,
        entity_domain=CAMERA_DOMAIN,
        schema={
            vol.Optional(ATTR_DURATION): vol.All(
                cv.time_period, lambda value: value.total_seconds()
            ),
        },
        func="async_start_recording",
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_STOP_RECORDING,
        entity_domain=CAMERA_DOMAIN,
        schema={},
        func="async_stop_recording",
    )
