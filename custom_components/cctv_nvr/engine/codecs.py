"""The RFC 6381 codec string of a stored segment's video (``hvc1.1.6.L93.90``, ``avc1.64001f``).

A browser says whether it can play a stream with ``MediaSource.isTypeSupported`` for the
stream's exact codec string: profile and level matter (a browser may decode H.265 Main
but not Main 10, or not above some level). The string is read from the segment's sample
description (``hvcC``/``avcC``), as ISO/IEC 14496-15 annex E builds it.
"""

from __future__ import annotations

from pathlib import Path

from . import mp4box

_VISUAL_SAMPLE_ENTRY = 78  # bytes of a visual sample entry before its child boxes
_STSD_HEADER = 8  # version/flags and entry count
_PATH = (b"mdia", b"minf", b"stbl", b"stsd")
_HVC = (b"hvc1", b"hev1")
_AVC = (b"avc1", b"avc3")


def _find(data: bytes, start: int, end: int, kind: bytes) -> mp4box.Box | None:
    return next((box for box in mp4box.iter_boxes(data, start, end) if box.kind == kind), None)


def _hevc(entry: str, data: bytes, at: int) -> str:
    """Build ``hvc1.<space><profile>.<compat>.<tier><level>.<constraints>`` from an hvcC body."""
    first = data[at + 1]
    space = ("", "A", "B", "C")[first >> 6]
    tier = "H" if first & 0x20 else "L"
    profile = first & 0x1F
    compat = int.from_bytes(data[at + 2 : at + 6], "big")
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = bytearray(data[at + 6 : at + 12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    level = data[at + 12]
    parts = [entry, f"{space}{profile}", f"{reversed_compat:X}", f"{tier}{level}"]
    parts += [f"{byte:02X}" for byte in constraints]
    return ".".join(parts)


def video_codec_string(moov: bytes) -> str | None:
    """Return the codec string of the first video track of a moov box, None when unknown."""
    root = mp4box.iter_boxes(moov)[0]
    for trak in mp4box.iter_boxes(moov, root.body, root.end):
        if trak.kind != b"trak":
            continue
        box: mp4box.Box | None = trak
        for kind in _PATH:
            box = _find(moov, box.body, box.end, kind) if box is not None else None
        if box is None:
            continue
        entries = mp4box.iter_boxes(moov, box.body + _STSD_HEADER, box.end)
        if not entries:
            continue
        entry = entries[0]
        name = entry.kind.decode(errors="replace")
        config = entry.body + _VISUAL_SAMPLE_ENTRY
        if entry.kind in _HVC and (hvcc := _find(moov, config, entry.end, b"hvcC")):
            return _hevc(name, moov, hvcc.body)
        if entry.kind in _AVC and (avcc := _find(moov, config, entry.end, b"avcC")):
            return f"{name}.{moov[avcc.body + 1 : avcc.body + 4].hex()}"
    return None


def segment_codec_string(path: Path) -> str | None:
    """Return the video codec string of a stored segment file. Blocks: reads its moov.

    Raises ``mp4box.Mp4Error`` (a ValueError) when the file is not a fragmented MP4.
    """
    init = mp4box.read_init(path, mp4box.layout(path))  # layout found its moov
    moov = next(box for box in mp4box.iter_boxes(init) if box.kind == b"moov")
    return video_codec_string(init[moov.offset : moov.end])
