"""Recording mode select: off, continuous, or events only (rolling pre-roll buffer)."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .access import Right
from .const import RECORDING_MODES
from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .entity import CctvNvrEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: CctvNvrConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the recording mode select of a camera."""
    async_add_entities([RecordingModeSelect(entry.runtime_data)])


class RecordingModeSelect(CctvNvrEntity, SelectEntity, RestoreEntity):
    """How a camera records; the continuous switch is the same setting seen as on/off."""

    _attr_translation_key = "recording_mode"
    _attr_entity_category = EntityCategory.CONFIG
    _attr_options = RECORDING_MODES

    def __init__(self, coordinator: CameraCoordinator) -> None:
        """Create the select."""
        super().__init__(coordinator, "recording_mode")

    @property
    def available(self) -> bool:
        """The mode stays settable while the camera is offline (recording resumes)."""
        return True

    @property
    def current_option(self) -> str:
        """Return the recording mode."""
        return self.coordinator.recordings.mode

    async def async_added_to_hass(self) -> None:
        """Restore the previous mode (the continuous switch restores 'continuous' too)."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if (
            last is not None
            and last.state in RECORDING_MODES
            and last.state != self.coordinator.recordings.mode
        ):
            await self.coordinator.recordings.async_set_mode(last.state)

    async def async_select_option(self, option: str) -> None:
        """Change the recording mode (needs the control right)."""
        await self._async_require(Right.CONTROL)
        await self.coordinator.recordings.async_set_mode(option)
        self.async_write_ha_state()
