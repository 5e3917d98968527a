"""Storage: the recordings disk and every visible camera's footage and days that fit."""

from __future__ import annotations

from pathlib import Path

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import async_response, websocket_command
from homeassistant.core import HomeAssistant
import probatio as vol

from ..access import Right
from ..const import DOMAIN
from ..coordinator import storage_limits
from ..data import DATA_NVR
from ..engine.index import SegmentIndex
from ..engine.stats import DiskUsage, StorageStats, disk_usage, storage_stats
from .helpers import Message, access_of

type _Limits = tuple[int | None, float, int]


def _storage(
    index: SegmentIndex, root: Path, cameras: dict[str, _Limits]
) -> tuple[dict[str, StorageStats], DiskUsage | None]:
    """Storage figures of the cameras and of the recordings disk (executor)."""
    stats = {key: storage_stats(index, root, key, *limits) for key, limits in cameras.items()}
    return stats, disk_usage(root)


@websocket_command({vol.Required("type"): f"{DOMAIN}/storage"})
@async_response
async def ws_storage(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """Disk used/free, and per camera: footage size, oldest/newest, days that fit."""
    nvr = hass.data[DATA_NVR]
    entries = access_of(hass, connection).cameras(Right.RECORDINGS)
    stats, disk = await hass.async_add_executor_job(
        _storage,
        nvr.index,
        nvr.root,
        {key: storage_limits(entry.options) for key, entry in entries.items()},
    )
    cameras = [
        {
            "id": key,
            "name": entries[key].title,
            "bytes": stat.bytes,
            "segments": stat.segments,
            "oldest": stat.oldest,
            "newest": stat.newest,
            "bitrate_kbps": None if stat.bitrate_kbps is None else round(stat.bitrate_kbps, 1),
            "days_that_fit": None if stat.days_that_fit is None else round(stat.days_that_fit, 2),
        }
        for key, stat in sorted(stats.items(), key=lambda kv: entries[kv[0]].title)
    ]
    connection.send_result(
        msg["id"],
        {
            "disk_total": disk.total if disk else None,
            "disk_used": disk.used if disk else None,
            "disk_free": disk.free if disk else None,
            "footage_bytes": sum(camera["bytes"] for camera in cameras),
            "cameras": cameras,
        },
    )
