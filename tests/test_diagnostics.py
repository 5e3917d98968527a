"""Diagnostics never contain credentials."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant

from custom_components.cctv_nvr.diagnostics import async_get_config_entry_diagnostics
from tests.const import SIM_PASSWORD, SIM_USER
from tests.helpers import camera_entry
from tests.simulator import CameraSimulator


async def test_diagnostics_redacted(hass: HomeAssistant, auth_simulator: CameraSimulator) -> None:
    """Username and password are redacted; URLs carry no credentials."""
    entry = camera_entry(auth_simulator, username=SIM_USER, password=SIM_PASSWORD)
    entry.add_to_hass(hass)
    # A URL with credentials saved by an older version must still come out clean.
    hass.config_entries.async_update_entry(
        entry,
        data={**entry.data, "sub_url": auth_simulator.url("sub", with_credentials=True)},
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    assert SIM_PASSWORD not in text
    assert f"{SIM_USER}:" not in text
    assert diagnostics["entry"]["data"]["password"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["sub_url"] == auth_simulator.url("sub")
    assert diagnostics["recorder"]["state"] == "idle"
    assert diagnostics["index"]["segments"] == 0
