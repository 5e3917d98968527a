"""Snapshots of what a camera shows Home Assistant: its entities (registry entries and
states, one platform at a time, as core's integrations test them) and its diagnostics.

Update them after an intended change with ``scripts/test tests/test_snapshots.py
--snapshot-update`` and review the diff of ``tests/snapshots/``.
"""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from tests.const import SIM_PASSWORD, SIM_USER
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

ENTRY_ID = "01JCCTVNVRSNAPSHOTENTRY00"
# Values that differ from run to run: the camera's access token (and the picture URL that
# carries it), the free space of this machine's disk (checked separately below).
VOLATILE = props("access_token", "entity_picture")


@pytest.mark.parametrize(
    "platform",
    [Platform.BINARY_SENSOR, Platform.CAMERA, Platform.SELECT, Platform.SENSOR, Platform.SWITCH],
)
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    simulator: CameraSimulator,
    platform: Platform,
) -> None:
    """Every entity of a camera that is reachable and not recording, as registered and shown."""
    with patch("custom_components.cctv_nvr.PLATFORMS", [platform]):
        entry = await setup_camera(hass, camera_entry(simulator, entry_id=ENTRY_ID))
    entities = sorted(
        er.async_entries_for_config_entry(entity_registry, entry.entry_id),
        key=lambda entity: entity.entity_id,
    )
    assert entities
    for entity in entities:
        assert entity == snapshot(name=f"{entity.entity_id}-entry")
        state = hass.states.get(entity.entity_id)
        assert state is not None
        if entity.entity_id == "sensor.front_door_recording_disk_free":
            assert float(state.state) > 0
            assert state == snapshot(name=f"{entity.entity_id}-state", exclude=props("state"))
        else:
            assert state == snapshot(name=f"{entity.entity_id}-state", exclude=VOLATILE)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    auth_simulator: CameraSimulator,
) -> None:
    """The diagnostics download, fetched over HTTP as a user does (no credentials in it)."""
    entry = await setup_camera(
        hass,
        camera_entry(auth_simulator, username=SIM_USER, password=SIM_PASSWORD, entry_id=ENTRY_ID),
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = str(diagnostics)
    assert SIM_PASSWORD not in text
    # The simulator listens on a free port of this run.
    port = str(auth_simulator.rtsp_port)
    for key in ("main_url", "sub_url"):
        diagnostics["entry"]["data"][key] = diagnostics["entry"]["data"][key].replace(
            port, "<port>"
        )  # type: ignore[index,union-attr]
    # What encoder this machine has is found in the background at start: done or not
    # yet when the download is made (tests/test_renditions.py checks its contents).
    transcoding = diagnostics.pop("transcoding")
    assert set(transcoding) == {"capabilities", "status"}  # type: ignore[arg-type]
    assert diagnostics == snapshot(exclude=props("since"))
