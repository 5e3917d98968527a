"""Repair of fragmented MP4 files cut short by a crash.

A segment written by a killed ffmpeg ends in the middle of a fragment. The
complete fragments before it are valid; the tail is garbage a decoder chokes
on. Trimming the file back to the end of its last complete fragment keeps
every frame that can be kept and makes the file play cleanly everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
import struct

_HEADER = 8


def _boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """Return (type, offset, size) of complete top-level boxes; stop at the first broken one."""
    boxes = []
    offset = 0
    total = len(data)
    while offset + _HEADER <= total:
        size, kind = struct.unpack(">I4s", data[offset : offset + _HEADER])
        if size == 1:
            if offset + 16 > total:
                break
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        elif size == 0:
            size = total - offset
        if size < _HEADER or offset + size > total:
            break
        boxes.append((kind, offset, size))
        offset += size
    return boxes


def complete_length(path: Path) -> int:
    """Return the length of the file's valid prefix (whole boxes, whole fragments)."""
    data = path.read_bytes()
    boxes = _boxes(data)
    end = 0
    pending_moof = False
    for kind, offset, size in boxes:
        if kind == b"moof":
            pending_moof = True
            continue
        if kind == b"mdat" and pending_moof:
            pending_moof = False
        end = offset + size
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
