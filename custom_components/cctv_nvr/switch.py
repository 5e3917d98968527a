"""Continuous recording switch."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .access import Right
from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .entity import CctvNvrEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switch of a camera."""
    async_add_entities([ContinuousRecordingSwitch(entry.runtime_data)])


class ContinuousRecordingSwitch(CctvNvrEntity, SwitchEntity, RestoreEntity):
    """Turns 24/7 recording of a camera on and off; restored after a restart."""

    _attr_translation_key = "continuous_recording"

    def __init__(self, coordinator: CameraCoordinator) -> None:
        """Create the switch."""
        super().__init__(coordinator, "continuous_recording")

    @property
    def available(self) -> bool:
        """The switch stays usable while the camera is offline (recording resumes)."""
        return True

    @property
    def is_on(self) -> bool:
        """Return whether continuous recording is wanted."""
        return self.coordinator.recordings.continuous

    async def async_added_to_hass(self) -> None:
        """Restore the previous state and start recording if it was on."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None and last.state == STATE_ON:
            await self.coordinator.recordings.async_set_continuous(True)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start continuous recording (needs the control right)."""
        await self._async_require(Right.CONTROL)
        await self.coordinator.recordings.async_set_continuous(True)
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop continuous recording (needs the control right)."""
        await self._async_require(Right.CONTROL)
        await self.coordinator.recordings.async_set_continuous(False)
        self.async_write_ha_state()
