"""Recording health, and whether a push camera's publisher is connected."""

from __future__ import annotations

import time

from homeassistant.components.binary_sensor import BinarySensorEntity
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .engine.recorder import RecorderState
from .entity import CctvNvrEntity

PARALLEL_UPDATES = 0
# A segment may take its length plus one GOP plus indexing; beyond this it is late.
GRACE_SECONDS = 15


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the health sensor (and a push camera's publisher sensor)."""
    coordinator = entry.runtime_data
    entities: list[BinarySensorEntity] = [RecordingProblem(coordinator)]
    if coordinator.push:
        entities.append(PublisherConnected(coordinator))
    async_add_entities(entities)


class RecordingProblem(CctvNvrEntity, BinarySensorEntity):
    """On when recording is wanted but segments do not arrive or the recorder keeps failing."""

    _attr_translation_key = "recording_problem"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: CameraCoordinator) -> None:
        """Create the sensor."""
        super().__init__(coordinator, "recording_problem")

    @property
    def available(self) -> bool:
        """Health is known even while the camera is away (that is a problem)."""
        return True

    @property
    def is_on(self) -> bool:
        """Return True when recording is wanted and not healthy."""
        recorder = self.coordinator.recorder
        if not recorder.running:
            return False
        status = recorder.status
        if status.state in (RecorderState.OFFLINE, RecorderState.AUTH_FAILED, RecorderState.ERROR):
            return True
        if status.fault_since is not None or not recorder.alive:
            return True  # faults (exceptions survived) and no segment indexed since
        if status.state != RecorderState.RECORDING:
            return time.time() - status.since > recorder.config.start_timeout + GRACE_SECONDS
        expected = recorder.config.segment_seconds * 2 + GRACE_SECONDS
        last = status.last_segment_end or status.since
        return time.time() - last > expected


class PublisherConnected(CctvNvrEntity, BinarySensorEntity):
    """On while a device publishes to a push camera (its online state)."""

    _attr_translation_key = "publisher_connected"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: CameraCoordinator) -> None:
        """Create the sensor."""
        super().__init__(coordinator, "publisher_connected")

    @property
    def available(self) -> bool:
        """Known while nobody publishes (that is the off state)."""
        return True

    @property
    def is_on(self) -> bool:
        """Return True while a publisher is connected."""
        push = self.coordinator.push_status
        return push is not None and push.connected
