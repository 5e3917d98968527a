"""Diagnostics download: settings and recorder state, without credentials."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .cloud import CloudRuntime
from .const import CONF_KEY, CONF_MAIN_URL, CONF_STREAM_KEY, CONF_SUB_URL
from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .engine.rtsp import redact_url
from .renditions import DATA_RENDITIONS

TO_REDACT = {CONF_USERNAME, CONF_PASSWORD, CONF_STREAM_KEY}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: CctvNvrConfigEntry
) -> dict[str, Any]:
    """Return diagnostics of a camera, or of the cloud tier."""
    runtime: CameraCoordinator | CloudRuntime = entry.runtime_data
    if isinstance(runtime, CloudRuntime):
        return _cloud_diagnostics(entry, runtime)
    coordinator = runtime
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


def _cloud_diagnostics(entry: ConfigEntry, runtime: CloudRuntime) -> dict[str, Any]:
    """Return the cloud tier's settings and status; the key is never shown, not even in part."""
    data = {k: v for k, v in entry.data.items() if k != CONF_KEY}
    data[CONF_KEY] = REDACTED if entry.data.get(CONF_KEY) else None
    config = asdict(runtime.tier.config)
    config.pop("key", None)
    status = asdict(runtime.tier.status)
    status["state"] = str(runtime.tier.status.state)
    return {
        "entry": {"data": data, "options": dict(entry.options)},
        "config": {k: str(v) if v is not None else None for k, v in config.items()},
        "status": status,
    }
