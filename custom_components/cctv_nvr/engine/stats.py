"""Storage figures of a camera: footage size, oldest/newest, bitrate and days that fit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import shutil

from .index import SegmentIndex
from .retention import disk_free_bytes


@dataclass(frozen=True, slots=True)
class StorageStats:
    """Storage figures of a camera."""

    segments: int
    bytes: int
    oldest: float | None
    newest: float | None
    disk_free: int
    bitrate_kbps: float | None
    days_that_fit: float | None


def storage_stats(
    index: SegmentIndex,
    root: Path,
    camera: str,
    max_bytes: int | None,
    max_days: float | None,
    min_free: int,
) -> StorageStats:
    """Compute a camera's storage figures (blocking).

    Days that fit: the footage the camera may keep (what it has plus the free space above
    the floor, at most ``max_bytes``) divided by what it records per day, at most
    ``max_days``.
    """
    count, size, oldest, newest = index.camera_stats(camera)
    free = disk_free_bytes(root)
    bitrate = None
    fit = None
    if oldest is not None and newest is not None and newest > oldest and size:
        bitrate = size * 8 / 1000 / (newest - oldest)
        per_day = size / ((newest - oldest) / 86400)
        budget = size + max(0, free - min_free)
        if max_bytes is not None:
            budget = min(budget, max_bytes)
        fit = budget / per_day
        if max_days is not None:
            fit = min(fit, max_days)
    return StorageStats(count, size, oldest, newest, free, bitrate, fit)


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Size, used and free bytes of the filesystem holding a folder."""

    total: int
    used: int
    free: int


def disk_usage(path: Path) -> DiskUsage | None:
    """Return the usage of the filesystem of ``path`` (or of its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return None
    return DiskUsage(usage.total, usage.used, usage.free)
