"""Recording mode select: off / continuous / events only, consistent with the switch, restored."""

from __future__ import annotations

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import mock_restore_cache

from custom_components.cctv_nvr.const import RECORDING_MODES
from tests.const import MODE, SWITCH
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator


async def _select(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": option}, blocking=True
    )


async def test_mode_select_and_switch_agree(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """The select and the continuous switch show one setting; the recorder follows it."""
    entry = await setup_camera(hass, camera_entry(simulator))
    coordinator = entry.runtime_data
    state = hass.states.get(MODE)
    assert state.state == "off"
    assert state.attributes["options"] == RECORDING_MODES
    assert not coordinator.recorder.running

    await _select(hass, "continuous")
    assert hass.states.get(SWITCH).state == "on"
    assert coordinator.recorder.running
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await hass.async_block_till_done()
    assert hass.states.get(MODE).state == "off"
    assert not coordinator.recorder.running
    await _select(hass, "events")
    assert hass.states.get(SWITCH).state == "off"
    assert coordinator.recorder.running  # the rolling pre-roll buffer
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await hass.async_block_till_done()
    assert hass.states.get(MODE).state == "continuous"

    with pytest.raises(ServiceValidationError) as err:
        await coordinator.recordings.async_set_mode("sometimes")
    assert err.value.translation_key == "invalid_mode"
    with pytest.raises(ServiceValidationError):
        await _select(hass, "sometimes")
    assert hass.states.get(MODE).state == "continuous"
    await _select(hass, "off")
    assert not coordinator.recorder.running


async def test_mode_restored_after_restart(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """The mode of the last run comes back (events only: the buffer records again)."""
    mock_restore_cache(hass, [State(MODE, "events"), State(SWITCH, "off")])
    entry = await setup_camera(hass, camera_entry(simulator))
    assert hass.states.get(MODE).state == "events"
    assert hass.states.get(SWITCH).state == "off"
    assert entry.runtime_data.recorder.running
    await _select(hass, "off")
