"""The CCTV sidebar panel: registered with the first camera, served with cache busting, removed
with the last one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.components.frontend import DATA_PANELS
from homeassistant.core import HomeAssistant

from custom_components.cctv_nvr.panel import (
    DATA_PANEL_VERSION,
    _bundle_hash,
    async_setup_panel,
)
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator


async def test_panel_registered_served_and_removed(
    hass: HomeAssistant, simulator: CameraSimulator, hass_client: Any
) -> None:
    """The panel exists while a camera is loaded; its bundle is served; it goes with the last."""
    front = await setup_camera(hass, camera_entry(simulator))
    garden = await setup_camera(hass, camera_entry(simulator, name="Garden", mount="sub", sub=None))
    panel = hass.data[DATA_PANELS]["cctv"]
    assert panel.sidebar_title == "CCTV"
    assert panel.sidebar_icon == "mdi:cctv"
    assert panel.require_admin is False
    custom = panel.config["_panel_custom"]
    assert custom["name"] == "cctv-panel"
    assert custom["embed_iframe"] is False
    module_url = custom["module_url"]
    path, version = module_url.split("?v=")
    assert path == "/cctv_nvr_static/cctv-panel.js"
    assert version.startswith("0.1.0-")
    assert len(version) == len("0.1.0-") + 10  # content hash: a new build gets a new URL

    client = await hass_client()
    response = await client.get(module_url)
    assert response.status == 200
    body = await response.text()
    assert 'customElements.define("cctv-panel"' in body
    assert (await client.get("/cctv_nvr_static/missing.js")).status == 404

    assert await hass.config_entries.async_unload(front.entry_id)
    await hass.async_block_till_done()
    assert "cctv" in hass.data[DATA_PANELS]  # the garden is still loaded
    assert await hass.config_entries.async_unload(garden.entry_id)
    await hass.async_block_till_done()
    assert "cctv" not in hass.data[DATA_PANELS]
    # Loading a camera again brings it back.
    assert await hass.config_entries.async_setup(garden.entry_id)
    await hass.async_block_till_done()
    assert "cctv" in hass.data[DATA_PANELS]


async def test_panel_version_is_set_once_and_missing_bundle_is_named(
    hass: HomeAssistant, simulator: CameraSimulator, tmp_path: Path
) -> None:
    """A second set-up keeps the served version; an unbuilt bundle hashes to "missing"."""
    await setup_camera(hass, camera_entry(simulator))
    version = hass.data[DATA_PANEL_VERSION]
    await async_setup_panel(hass)
    assert hass.data[DATA_PANEL_VERSION] == version
    assert _bundle_hash(tmp_path / "cctv-panel.js") == "missing"
    (tmp_path / "cctv-panel.js").write_text("x")
    assert _bundle_hash(tmp_path / "cctv-panel.js") == "2d711642b7"
