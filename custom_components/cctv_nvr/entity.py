"""Base entity of the integration."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .access import SYSTEM, AccessDenied, Right, async_caller_for_context, async_policy
from .const import CONF_STREAM_INFO, DOMAIN
from .coordinator import CameraCoordinator
from .util import entity_unique_id


class CctvNvrEntity(CoordinatorEntity[CameraCoordinator]):
    """An entity of one camera device."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CameraCoordinator, key: str) -> None:
        """Attach the entity to the camera's device."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._attr_unique_id = entity_unique_id(entry.entry_id, key)
        info = entry.data.get(CONF_STREAM_INFO) or {}
        model = None
        if info.get("video_codec") and info.get("width"):
            model = f"{info['video_codec'].upper()} {info['width']}x{info['height']}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="Push camera (RTMP)" if coordinator.push else "RTSP camera",
            model=model,
        )

    async def _async_require(self, right: Right) -> None:
        """Refuse a change by a user without ``right`` on this camera (automations may)."""
        context = self._context
        caller = SYSTEM if context is None else await async_caller_for_context(self.hass, context)
        if not async_policy(self.hass).allows(caller, self.coordinator.camera_key, right):
            raise AccessDenied("camera_unauthorized", camera=self.coordinator.config_entry.title)
