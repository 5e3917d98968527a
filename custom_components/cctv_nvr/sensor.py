"""Storage sensors of a camera: used, oldest recording, bitrate, days that fit, disk free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfDataRate, UnitOfInformation, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .engine.recorder import RecorderState
from .engine.stats import StorageStats
from .entity import CctvNvrEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class NvrSensorDescription(SensorEntityDescription):
    """How a sensor reads the storage statistics."""

    value: Callable[[StorageStats], float | datetime | None] | None = None
    live: Callable[[CameraCoordinator], float | datetime | None] | None = None


def _oldest(stats: StorageStats) -> datetime | None:
    return datetime.fromtimestamp(stats.oldest, UTC) if stats.oldest is not None else None


def _last_segment(coordinator: CameraCoordinator) -> datetime | None:
    end = coordinator.recorder.status.last_segment_end
    return datetime.fromtimestamp(end, UTC) if end is not None else None


def _while_recording(value: float | None, coordinator: CameraCoordinator) -> float | None:
    return value if coordinator.recorder.status.state == RecorderState.RECORDING else None


SENSORS: tuple[NvrSensorDescription, ...] = (
    NvrSensorDescription(
        key="last_segment",
        translation_key="last_segment",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        live=_last_segment,
    ),
    NvrSensorDescription(
        key="incoming_bitrate",
        translation_key="incoming_bitrate",
        device_class=SensorDeviceClass.DATA_RATE,
        native_unit_of_measurement=UnitOfDataRate.KILOBITS_PER_SECOND,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        live=lambda c: _while_recording(c.recorder.status.bitrate_kbps, c),
    ),
    NvrSensorDescription(
        key="incoming_fps",
        translation_key="incoming_fps",
        native_unit_of_measurement="fps",
        suggested_display_precision=1,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        live=lambda c: _while_recording(c.recorder.status.fps, c),
    ),
    NvrSensorDescription(
        key="storage_used",
        translation_key="storage_used",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=2,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda stats: stats.bytes,
    ),
    NvrSensorDescription(
        key="oldest_recording",
        translation_key="oldest_recording",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=_oldest,
    ),
    NvrSensorDescription(
        key="average_bitrate",
        translation_key="average_bitrate",
        device_class=SensorDeviceClass.DATA_RATE,
        native_unit_of_measurement=UnitOfDataRate.KILOBITS_PER_SECOND,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda stats: stats.bitrate_kbps,
    ),
    NvrSensorDescription(
        key="days_that_fit",
        translation_key="days_that_fit",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.DAYS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda stats: stats.days_that_fit,
    ),
    NvrSensorDescription(
        key="disk_free",
        translation_key="disk_free",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        suggested_display_precision=1,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda stats: stats.disk_free,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the storage sensors of a camera."""
    async_add_entities(NvrSensor(entry.runtime_data, description) for description in SENSORS)


class NvrSensor(CctvNvrEntity, SensorEntity):
    """A storage figure of one camera."""

    entity_description: NvrSensorDescription

    def __init__(self, coordinator: CameraCoordinator, description: NvrSensorDescription) -> None:
        """Create the sensor."""
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def available(self) -> bool:
        """Storage and recorder figures stay available while the camera is away."""
        return self.entity_description.live is not None or self.coordinator.storage is not None

    @property
    def native_value(self) -> float | datetime | None:
        """Return the figure."""
        description = self.entity_description
        if description.live is not None:
            return description.live(self.coordinator)
        stats = self.coordinator.storage
        return None if stats is None or description.value is None else description.value(stats)
