"""Typed runtime data of the integration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .engine.index import SegmentIndex

if TYPE_CHECKING:
    from .coordinator import CameraCoordinator
    from .retention import RetentionRunner


@dataclass(slots=True)
class NvrData:
    """State shared by all cameras: the recordings root and the segment index."""

    root: Path  # recordings
    exports: Path
    thumbnails: Path  # cache, safe to delete
    index: SegmentIndex
    retention: RetentionRunner | None = None


DATA_NVR: HassKey[NvrData] = HassKey(DOMAIN)

type CctvNvrConfigEntry = ConfigEntry[CameraCoordinator]
