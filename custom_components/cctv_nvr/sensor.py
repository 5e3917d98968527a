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
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .cloud import CloudRuntime, cloud_device_info
from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .engine.cloud import CloudState, CloudStatus
from .engine.recorder import RecorderState
from .engine.stats import StorageStats
from .entity import CctvNvrEntity
from .util import entity_unique_id

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
    """Add the storage sensors of a camera, or the cloud tier's sensors."""
    runtime: CameraCoordinator | CloudRuntime = entry.runtime_data
    if isinstance(runtime, CloudRuntime):
        async_add_entities(CloudSensor(runtime, description) for description in CLOUD_SENSORS)
        return
    async_add_entities(NvrSensor(runtime, description) for description in SENSORS)


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


@dataclass(frozen=True, kw_only=True)
class CloudSensorDescription(SensorEntityDescription):
    """How a cloud sensor reads the tier's status."""

    value: Callable[[CloudStatus], float | datetime | None]


def _last_verified(status: CloudStatus) -> datetime | None:
    moment = status.last_verified
    return datetime.fromtimestamp(moment, UTC) if moment is not None else None


CLOUD_SENSORS: tuple[CloudSensorDescription, ...] = (
    CloudSensorDescription(
        key="cloud_queue",
        translation_key="cloud_queue",
        state_class=SensorStateClass.MEASUREMENT,
        value=lambda status: status.queue_items,
    ),
    CloudSensorDescription(
        key="cloud_queue_bytes",
        translation_key="cloud_queue_bytes",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEGABYTES,
        value=lambda status: status.queue_bytes,
    ),
    CloudSensorDescription(
        key="cloud_last_verified",
        translation_key="cloud_last_verified",
        device_class=SensorDeviceClass.TIMESTAMP,
        value=_last_verified,
    ),
    CloudSensorDescription(
        key="cloud_upload_rate",
        translation_key="cloud_upload_rate",
        device_class=SensorDeviceClass.DATA_RATE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfDataRate.BYTES_PER_SECOND,
        suggested_unit_of_measurement=UnitOfDataRate.KILOBYTES_PER_SECOND,
        value=lambda status: round(status.upload_rate),
    ),
    CloudSensorDescription(
        key="cloud_bytes",
        translation_key="cloud_bytes",
        device_class=SensorDeviceClass.DATA_SIZE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.GIGABYTES,
        value=lambda status: status.cloud_bytes,
    ),
    CloudSensorDescription(
        key="cloud_state",
        translation_key="cloud_state",
        device_class=SensorDeviceClass.ENUM,
        options=[str(state) for state in CloudState],
        value=lambda status: str(status.state),  # type: ignore[arg-type,return-value]
    ),
)


class CloudSensor(SensorEntity):
    """A figure of the cloud tier (updated from its status snapshots, no polling)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: CloudSensorDescription

    def __init__(self, runtime: CloudRuntime, description: CloudSensorDescription) -> None:
        """Create the sensor."""
        self._runtime = runtime
        self.entity_description = description
        self._attr_unique_id = entity_unique_id(runtime.entry.entry_id, description.key)
        self._attr_device_info = cloud_device_info(runtime.entry)

    async def async_added_to_hass(self) -> None:
        """Follow the tier's status."""
        self.async_on_remove(self._runtime.async_add_listener(self._status_changed))

    @callback
    def _status_changed(self) -> None:
        self.async_write_ha_state()

    @property
    def native_value(self) -> float | datetime | str | None:
        """Return the figure."""
        return self.entity_description.value(self._runtime.tier.status)
