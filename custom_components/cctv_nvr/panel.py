"""The CCTV sidebar panel: a Lit web component served from the integration's static path.

The bundle (``frontend/cctv-panel.js``) is built from the top-level ``frontend/`` sources. The
static path is registered once (``async_setup``); the panel itself is shown while at least one
camera is loaded and removed when the last one unloads.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components import frontend, panel_custom
from homeassistant.components.http.server import StaticPathConfig
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.loader import async_get_integration
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .coordinator import CctvNvrConfigEntry
from .data import is_camera_entry

PANEL_URL_PATH = "cctv"
PANEL_TITLE = "CCTV"
PANEL_ICON = "mdi:cctv"
PANEL_ELEMENT = "cctv-panel"
STATIC_URL = f"/{DOMAIN}_static"
BUNDLE_DIR = Path(__file__).parent / "frontend"
BUNDLE_NAME = "cctv-panel.js"

DATA_PANEL_VERSION: HassKey[str] = HassKey(f"{DOMAIN}_panel_version")


def _bundle_hash(path: Path) -> str:
    """Return a short content hash of the bundle ("missing" if it was not built)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    except OSError:
        return "missing"


async def async_setup_panel(hass: HomeAssistant) -> None:
    """Serve the bundle (once per Home Assistant start) and remember its cache-busting version."""
    if DATA_PANEL_VERSION in hass.data:
        return
    integration = await async_get_integration(hass, DOMAIN)
    digest = await hass.async_add_executor_job(_bundle_hash, BUNDLE_DIR / BUNDLE_NAME)
    hass.data[DATA_PANEL_VERSION] = f"{integration.version}-{digest}"
    # The URL changes with every build (?v=), so the file may be cached for long.
    await hass.http.async_register_static_paths(
        [StaticPathConfig(STATIC_URL, str(BUNDLE_DIR), cache_headers=True)]
    )


def module_url(hass: HomeAssistant) -> str:
    """Return the bundle's URL with its cache-busting version."""
    return f"{STATIC_URL}/{BUNDLE_NAME}?v={hass.data[DATA_PANEL_VERSION]}"


async def async_register_panel(hass: HomeAssistant) -> None:
    """Show the CCTV panel in the sidebar (for every user; data is filtered per user)."""
    if frontend.async_panel_exists(hass, PANEL_URL_PATH):
        return
    await panel_custom.async_register_panel(
        hass,
        frontend_url_path=PANEL_URL_PATH,
        webcomponent_name=PANEL_ELEMENT,
        sidebar_title=PANEL_TITLE,
        sidebar_icon=PANEL_ICON,
        module_url=module_url(hass),
        embed_iframe=False,
        require_admin=False,
        config={"domain": DOMAIN},
    )


@callback
def async_remove_panel_if_unused(hass: HomeAssistant, unloading: CctvNvrConfigEntry) -> None:
    """Remove the panel when no other camera is loaded."""
    others = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.entry_id != unloading.entry_id
        and entry.state is ConfigEntryState.LOADED
        and is_camera_entry(entry)
    ]
    if not others:
        frontend.async_remove_panel(hass, PANEL_URL_PATH, warn_if_unknown=False)
