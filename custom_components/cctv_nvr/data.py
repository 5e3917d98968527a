"""State shared by every camera, owned by the integration (``async_setup``), not by an entry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .engine.index import SegmentIndex


@dataclass(slots=True)
class NvrData:
    """Where footage lives and the index of all of it."""

    root: Path  # recordings: <root>/<camera>/<YYYY-MM-DD>/<HH>/<start>.mp4 (UTC)
    exports: Path  # exported clips: <exports>/<camera>/<name>.mp4
    thumbnails: Path  # a cache (thumbnails, event clips and snapshots), safe to delete
    index: SegmentIndex


DATA_NVR: HassKey[NvrData] = HassKey(DOMAIN)
