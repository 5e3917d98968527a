"""Helpers for Home Assistant side tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.cctv_nvr.const import (
    CONF_LIVE_STREAM,
    CONF_MAIN_URL,
    CONF_RECORD_AUDIO,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_INFO,
    CONF_SUB_URL,
    CONF_TRANSPORT,
    DOMAIN,
    FREE_SPACE_CHECK_SECONDS,
    RETENTION_INTERVAL_SECONDS,
)
from tests.simulator import CameraSimulator


def camera_entry(
    sim: CameraSimulator,
    *,
    name: str = "Front door",
    mount: str = "main",
    sub: str | None = "sub",
    username: str | None = None,
    password: str | None = None,
    segment_seconds: int = 4,
    live: str = "sub",
    entry_id: str | None = None,
) -> MockConfigEntry:
    """Return a config entry for a simulated camera (as the config flow would create it)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=name,
        unique_id=f"127.0.0.1:{sim.rtsp_port}/{mount}",
        data={
            CONF_NAME: name,
            CONF_STORAGE_KEY: name.lower().replace(" ", "_"),
            CONF_MAIN_URL: sim.url(mount),
            CONF_SUB_URL: sim.url(sub) if sub else None,
            CONF_USERNAME: username,
            CONF_PASSWORD: password,
            CONF_TRANSPORT: "tcp",
            CONF_STREAM_INFO: {
                "video_codec": "h264",
                "width": 1920,
                "height": 1080,
                "fps": 15.0,
                "audio_codec": None,
                "duration": None,
            },
        },
        options={
            CONF_SEGMENT_SECONDS: segment_seconds,
            CONF_RECORD_AUDIO: True,
            CONF_LIVE_STREAM: live,
        },
        version=1,
        minor_version=1,
        **({"entry_id": entry_id} if entry_id else {}),
    )


async def setup_camera(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add and set up a camera entry."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def user_input(sim: CameraSimulator, **overrides: Any) -> dict[str, Any]:
    """Return the config flow's user step input for a simulated camera."""
    data: dict[str, Any] = {
        CONF_NAME: "Front door",
        CONF_MAIN_URL: sim.url("main"),
        CONF_SUB_URL: sim.url("sub"),
        CONF_TRANSPORT: "tcp",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


async def run_retention(hass: HomeAssistant, *, free_space_only: bool = False) -> None:
    """Let the retention timers fire now and wait for the run they start.

    The periodic run comes every 10 minutes; the free-space watch (``free_space_only``)
    every 30 s and runs retention only while the disk is below its floor.
    """
    seconds = FREE_SPACE_CHECK_SECONDS if free_space_only else RETENTION_INTERVAL_SECONDS
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=seconds + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
