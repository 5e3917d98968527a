"""Repair of fragmented MP4 files cut short by a crash.

A segment written by a killed ffmpeg ends in the middle of a fragment. The
complete fragments before it are valid; the tail is garbage a decoder chokes
on. Trimming the file back to the end of its last complete fragment keeps
every frame that can be kept and makes the file play cleanly everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from .mp4box import top_level_boxes


def complete_length(path: Path) -> int:
    """Return the length of the file's valid prefix (whole boxes, whole fragments).

    Reads only the top-level box headers, never the media data.
    """
    end = 0
    pending_moof = False
    for box in top_level_boxes(path):
        if box.kind == b"moof":
            pending_moof = True
            continue
        if box.kind == b"mdat" and pending_moof:
            pending_moof = False
        end = box.end
    return end


def trim_incomplete_tail(path: Path) -> int:
    """Cut a fragmented MP4 back to its last complete fragment; return bytes removed."""
    size = path.stat().st_size
    keep = complete_length(path)
    if keep == 0 or keep >= size:
        return 0
    with path.open("r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep
