"""Diagnostics download: settings and recorder state, without credentials."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_MAIN_URL, CONF_STREAM_KEY, CONF_SUB_URL
from .coordinator import CctvNvrConfigEntry
from .engine.rtsp import redact_url
from .renditions import DATA_RENDITIONS

TO_REDACT = {CONF_USERNAME, CONF_PASSWORD, CONF_STREAM_KEY}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: CctvNvrConfigEntry
) -> dict[str, Any]:
    """Return diagnostics of a camera."""
    coordinator = entry.runtime_data
    data = dict(entry.data)
    for key in (CONF_MAIN_URL, CONF_SUB_URL):
        if data.get(key):
            data[key] = redact_url(data[key])
    count, size, oldest, newest = await hass.async_add_executor_job(
        coordinator.nvr.index.camera_stats, coordinator.camera_key
    )
    status = coordinator.recorder.status
    push = coordinator.push_status
    return {
        "entry": {
            "data": async_redact_data(data, TO_REDACT),
            "options": dict(entry.options),
        },
        "recorder": {
            **asdict(status),
            "state": str(status.state),
            "wanted": coordinator.recorder.running,
        },
        "continuous": coordinator.recordings.continuous,
        "manual_active": coordinator.recordings.manual_active,
        "index": {"segments": count, "bytes": size, "oldest": oldest, "newest": newest},
        **({"push": asdict(push)} if push is not None else {}),
        # H.264 renditions of H.265 footage (the whole installation's): the encoder chosen
        # at start (hardware or not), what was tried, and the transcodes and cache now.
        "transcoding": hass.data[DATA_RENDITIONS].diagnostics(),
    }
