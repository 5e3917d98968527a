"""State shared by every camera, owned by the integration (``async_setup``), not by an entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.util.hass_dict import HassKey

from .const import CONF_KIND, DOMAIN, ENTRY_KIND_CLOUD, KIND_PUSH
from .engine.index import SegmentIndex

if TYPE_CHECKING:
    from .engine.cloud import CloudTier


@dataclass(slots=True)
class NvrData:
    """Where footage lives and the index of all of it."""

    root: Path  # recordings: <root>/<camera>/<YYYY-MM-DD>/<HH>/<start>.mp4 (UTC)
    exports: Path  # exported clips: <exports>/<camera>/<name>.mp4
    thumbnails: Path  # a cache (thumbnails, event clips and snapshots), safe to delete
    index: SegmentIndex
    cloud: CloudTier | None = None  # the cloud tier, while its config entry is loaded
    rebuilt: bool = False  # the index was rebuilt and the bucket not listed again yet


def is_camera_entry(entry: ConfigEntry) -> bool:
    """Return True for a camera's config entry, pulled or push (not the cloud tier's)."""
    return entry.data.get(CONF_KIND) != ENTRY_KIND_CLOUD


def is_push(entry: ConfigEntry) -> bool:
    """Return True for a push camera's entry."""
    return entry.data.get(CONF_KIND) == KIND_PUSH


def is_cloud_entry(entry: ConfigEntry) -> bool:
    """Return True for the cloud tier's config entry."""
    return entry.data.get(CONF_KIND) == ENTRY_KIND_CLOUD


DATA_NVR: HassKey[NvrData] = HassKey(DOMAIN)
