"""Minimal ISO-BMFF (MP4) tooling for fragmented segment files, in pure Python.

The recorder writes every segment as ``ftyp`` + ``moov`` (empty, with ``mvex``)
followed by ``moof``/``mdat`` fragments. This module splits such a file into
its *init* part (everything before the first ``moof``) and its *media* part
(the complete ``moof``/``mdat`` pairs), and can shift the media part on the
timeline by rewriting every ``traf/tfdt`` baseMediaDecodeTime. That is all it
takes to play consecutive files as one continuous stream without re-encoding.

Every function here reads files and blocks; call them off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import hashlib
import os
from pathlib import Path
import struct
from typing import Final

_HEADER: Final = 8
_LARGE_HEADER: Final = 16
_MAX_U32: Final = 0xFFFFFFFF
_MAX_INIT_BYTES: Final = 16 * 1024 * 1024
# tfhd flags
_TFHD_BASE_DATA_OFFSET: Final = 0x000001
_TFHD_DEFAULT_BASE_IS_MOOF: Final = 0x020000
# trun flags
_TRUN_DATA_OFFSET: Final = 0x000001
_CONTAINERS: Final = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"edts"})


class Mp4Error(ValueError):
    """A file is not a fragmented MP4 this module understands."""


@dataclass(frozen=True, slots=True)
class Box:
    """One box: its four-character type, offset, total size and header size."""

    kind: bytes
    offset: int
    size: int
    header: int

    @property
    def end(self) -> int:
        """Return the offset just past the box."""
        return self.offset + self.size

    @property
    def body(self) -> int:
        """Return the offset of the box's payload."""
        return self.offset + self.header


@dataclass(frozen=True, slots=True)
class Mp4Layout:
    """Where the init and media parts of a fragmented MP4 file are.

    ``init`` is bytes ``[0, init_end)``; ``media`` is ``[init_end, media_end)``
    (complete fragments only: a tail cut short by a crash is left out).
    """

    init_end: int
    media_end: int
    timescales: dict[int, int] = field(default_factory=dict)  # track id -> ticks per second
    # Hash of every track's sample description (codec, extradata, dimensions):
    # two files with the same digest can share one init segment.
    codec_digest: str = ""


def iter_boxes(data: bytes | bytearray, start: int = 0, end: int | None = None) -> list[Box]:
    """Return the complete boxes in ``data[start:end]``; stop at the first broken one."""
    stop = len(data) if end is None else end
    boxes = []
    offset = start
    while offset + _HEADER <= stop:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = _HEADER
        if size == 1:
            if offset + _LARGE_HEADER > stop:
                break
            size = struct.unpack_from(">Q", data, offset + _HEADER)[0]
            header = _LARGE_HEADER
        elif size == 0:
            size = stop - offset
        if size < header or offset + size > stop:
            break
        boxes.append(Box(kind, offset, size, header))
        offset += size
    return boxes


def _read_header(fd: int, offset: int, file_size: int) -> Box | None:
    raw = os.pread(fd, _LARGE_HEADER, offset)
    if len(raw) < _HEADER:
        return None
    size, kind = struct.unpack_from(">I4s", raw)
    header = _HEADER
    if size == 1:
        if len(raw) < _LARGE_HEADER:
            return None
        size = struct.unpack_from(">Q", raw, _HEADER)[0]
        header = _LARGE_HEADER
    elif size == 0:
        size = file_size - offset
    if size < header or offset + size > file_size:
        return None
    return Box(kind, offset, size, header)


def top_level_boxes(path: Path) -> list[Box]:
    """Return the file's complete top-level boxes, reading only their headers."""
    boxes = []
    with path.open("rb", buffering=0) as handle:  # one small pread per box, no read-ahead
        fd = handle.fileno()
        file_size = os.fstat(fd).st_size
        offset = 0
        while (box := _read_header(fd, offset, file_size)) is not None:
            boxes.append(box)
            offset = box.end
    return boxes


def _find(data: bytes, start: int, end: int, kind: bytes) -> Box | None:
    return next((box for box in iter_boxes(data, start, end) if box.kind == kind), None)


def _full_box_version(data: bytes, box: Box) -> int:
    return data[box.body]


def _track_timescale(moov: bytes, trak: Box) -> tuple[int, int] | None:
    """Return (track id, timescale) of a trak box."""
    tkhd = _find(moov, trak.body, trak.end, b"tkhd")
    mdia = _find(moov, trak.body, trak.end, b"mdia")
    mdhd = _find(moov, mdia.body, mdia.end, b"mdhd") if mdia else None
    if tkhd is None or mdhd is None:
        return None
    # version(1) flags(3), then creation/modification times of 4 (v0) or 8 (v1) bytes.
    skip = 16 if _full_box_version(moov, tkhd) == 1 else 8
    track_id = struct.unpack_from(">I", moov, tkhd.body + 4 + skip)[0]
    skip = 16 if _full_box_version(moov, mdhd) == 1 else 8
    timescale = struct.unpack_from(">I", moov, mdhd.body + 4 + skip)[0]
    return int(track_id), int(timescale)


def _sample_descriptions(moov: bytes, box: Box, found: list[bytes]) -> None:
    for child in iter_boxes(moov, box.body, box.end):
        if child.kind == b"stsd":
            found.append(moov[child.offset : child.end])
        elif child.kind in _CONTAINERS:
            _sample_descriptions(moov, child, found)


def parse_moov(moov: bytes) -> tuple[dict[int, int], str]:
    """Return (track id -> timescale, sample-description digest) of a whole moov box."""
    boxes = iter_boxes(moov)
    if not boxes or boxes[0].kind != b"moov":
        raise Mp4Error("not a moov box")
    root = boxes[0]
    timescales: dict[int, int] = {}
    descriptions: list[bytes] = []
    for trak in iter_boxes(moov, root.body, root.end):
        if trak.kind != b"trak":
            continue
        found = _track_timescale(moov, trak)
        if found is not None:
            timescales[found[0]] = found[1]
        _sample_descriptions(moov, trak, descriptions)
    return timescales, hashlib.sha256(b"".join(descriptions)).hexdigest()


# sample flags: sample_is_non_sync_sample
SAMPLE_NON_SYNC: Final = 0x00010000
# tfhd optional fields, in order
_TFHD_SAMPLE_DESCRIPTION: Final = 0x000002
_TFHD_DEFAULT_DURATION: Final = 0x000008
_TFHD_DEFAULT_SIZE: Final = 0x000010
_TFHD_DEFAULT_FLAGS: Final = 0x000020
# trun optional fields
_TRUN_FIRST_SAMPLE_FLAGS: Final = 0x000004
_TRUN_SAMPLE_DURATION: Final = 0x000100
_TRUN_SAMPLE_SIZE: Final = 0x000200
_TRUN_SAMPLE_FLAGS: Final = 0x000400
_TRUN_SAMPLE_CTO: Final = 0x000800
# the trun flags of the per-sample fields, in their order
_TRUN_FIELDS: Final = (
    _TRUN_SAMPLE_DURATION,
    _TRUN_SAMPLE_SIZE,
    _TRUN_SAMPLE_FLAGS,
    _TRUN_SAMPLE_CTO,
)


@dataclass(frozen=True, slots=True)
class Movie:
    """What a fragment parser needs from a ``moov`` box."""

    timescales: dict[int, int]  # track id -> ticks per second
    codec_digest: str  # see Mp4Layout.codec_digest
    video_track: int | None  # the first track whose handler is "vide"
    # track id -> (default sample duration, default sample flags) of its mvex/trex
    defaults: dict[int, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class TrackRun:
    """One ``traf`` of a ``moof``: a track's samples in one fragment."""

    track_id: int
    decode_time: int  # tfdt baseMediaDecodeTime, in the track's timescale
    samples: int
    duration: int  # sum of the sample durations, in the track's timescale
    first_flags: int | None  # sample flags of the first sample (None without samples)

    @property
    def starts_with_sync_sample(self) -> bool:
        """Return True when the first sample is a sync sample (a keyframe)."""
        return self.first_flags is not None and not self.first_flags & SAMPLE_NON_SYNC


def parse_movie(moov: bytes) -> Movie:
    """Return the timescales, codec digest, video track and trex defaults of a moov box."""
    timescales, digest = parse_moov(moov)
    root = iter_boxes(moov)[0]
    video: int | None = None
    defaults: dict[int, tuple[int, int]] = {}
    for child in iter_boxes(moov, root.body, root.end):
        if child.kind == b"trak" and video is None:
            found = _track_timescale(moov, child)
            mdia = _find(moov, child.body, child.end, b"mdia")
            hdlr = _find(moov, mdia.body, mdia.end, b"hdlr") if mdia else None
            # hdlr: version/flags(4) pre_defined(4) handler_type(4)
            if found and hdlr and moov[hdlr.body + 8 : hdlr.body + 12] == b"vide":
                video = found[0]
        elif child.kind == b"mvex":
            for trex in iter_boxes(moov, child.body, child.end):
                if trex.kind == b"trex" and trex.body + 24 <= trex.end:
                    # version/flags(4) track_ID description_index duration size flags
                    track, _, duration, _, flags = struct.unpack_from(">5I", moov, trex.body + 4)
                    defaults[int(track)] = (int(duration), int(flags))
    return Movie(timescales, digest, video, defaults)


def parse_moof(moof: bytes, movie: Movie) -> list[TrackRun]:
    """Return the track runs of a whole ``moof`` box (decode times, durations, first flags).

    Reads only the moof: defaults missing from a ``tfhd`` come from the movie's ``trex``.
    """
    boxes = iter_boxes(moof)
    if not boxes or boxes[0].kind != b"moof" or boxes[0].size != len(moof):
        raise Mp4Error("not a moof box")
    return [
        _track_run(moof, traf, movie)
        for traf in iter_boxes(moof, boxes[0].body, boxes[0].end)
        if traf.kind == b"traf"
    ]


def _u32(data: bytes, offset: int, end: int) -> int:
    if offset + 4 > end:
        raise Mp4Error("box too short")
    return int(struct.unpack_from(">I", data, offset)[0])


def _tfhd(moof: bytes, traf: Box, movie: Movie) -> tuple[int, int, int]:
    """Return (track id, default sample duration, default sample flags) of a traf."""
    tfhd = _find(moof, traf.body, traf.end, b"tfhd")
    if tfhd is None:
        raise Mp4Error("traf without tfhd")
    flags = _u32(moof, tfhd.body, tfhd.end) & 0xFFFFFF
    track_id = _u32(moof, tfhd.body + 4, tfhd.end)
    duration, sample_flags = movie.defaults.get(track_id, (0, 0))
    pos = tfhd.body + 8
    if flags & _TFHD_BASE_DATA_OFFSET:
        pos += 8
    if flags & _TFHD_SAMPLE_DESCRIPTION:
        pos += 4
    if flags & _TFHD_DEFAULT_DURATION:
        duration = _u32(moof, pos, tfhd.end)
        pos += 4
    if flags & _TFHD_DEFAULT_SIZE:
        pos += 4
    if flags & _TFHD_DEFAULT_FLAGS:
        sample_flags = _u32(moof, pos, tfhd.end)
    return track_id, duration, sample_flags


def _track_run(moof: bytes, traf: Box, movie: Movie) -> TrackRun:
    track_id, duration, sample_flags = _tfhd(moof, traf, movie)
    decode_time = 0
    samples = 0
    total = 0
    first: int | None = None
    for child in iter_boxes(moof, traf.body, traf.end):
        if child.kind == b"tfdt":
            if _full_box_version(moof, child) == 1:
                if child.body + 12 > child.end:
                    raise Mp4Error("box too short")
                decode_time = int(struct.unpack_from(">Q", moof, child.body + 4)[0])
            else:
                decode_time = _u32(moof, child.body + 4, child.end)
        elif child.kind == b"trun":
            count, run_total, run_first = _trun(moof, child, duration, sample_flags)
            if count and first is None:
                first = run_first
            samples += count
            total += run_total
    return TrackRun(track_id, decode_time, samples, total, first)


def _trun(moof: bytes, trun: Box, duration: int, sample_flags: int) -> tuple[int, int, int]:
    """Return (sample count, total duration, first sample flags) of a trun box."""
    flags = _u32(moof, trun.body, trun.end) & 0xFFFFFF
    count = _u32(moof, trun.body + 4, trun.end)
    pos = trun.body + 8
    if flags & _TRUN_DATA_OFFSET:
        pos += 4
    first_flags: int | None = None
    if flags & _TRUN_FIRST_SAMPLE_FLAGS:
        first_flags = _u32(moof, pos, trun.end)
        pos += 4
    fields = [
        bit
        for bit in (_TRUN_SAMPLE_DURATION, _TRUN_SAMPLE_SIZE, _TRUN_SAMPLE_FLAGS, _TRUN_SAMPLE_CTO)
        if flags & bit
    ]
    stride = 4 * len(fields)
    if pos + stride * count > trun.end:
        raise Mp4Error("trun shorter than its sample count")
    if flags & _TRUN_SAMPLE_DURATION:
        at = pos + 4 * fields.index(_TRUN_SAMPLE_DURATION)
        total = sum(struct.unpack_from(">I", moof, at + stride * i)[0] for i in range(count))
    else:
        total = duration * count
    if first_flags is None:
        first_flags = sample_flags
        if flags & _TRUN_SAMPLE_FLAGS and count:
            first_flags = _u32(moof, pos + 4 * fields.index(_TRUN_SAMPLE_FLAGS), trun.end)
    return count, int(total), first_flags


def layout(path: Path) -> Mp4Layout:
    """Locate the init part and the complete fragments of a fragmented MP4 file.

    Reads the top-level box headers and the moov box only, never the media data.
    """
    boxes = top_level_boxes(path)
    moov = next((box for box in boxes if box.kind == b"moov"), None)
    first_moof = next((i for i, box in enumerate(boxes) if box.kind == b"moof"), None)
    if moov is None or first_moof is None or moov.offset > boxes[first_moof].offset:
        raise Mp4Error(f"{path.name} is not a fragmented MP4 (moov then moof/mdat)")
    if moov.size > _MAX_INIT_BYTES:
        raise Mp4Error(f"{path.name}: moov box too large")
    with path.open("rb") as handle:
        handle.seek(moov.offset)
        timescales, digest = parse_moov(handle.read(moov.size))
    init_end = boxes[first_moof].offset
    media_end = init_end
    pending_moof = False
    for box in boxes[first_moof:]:
        if box.kind == b"moof":
            pending_moof = True
            continue
        if box.kind == b"mdat" and pending_moof:
            pending_moof = False
            media_end = box.end
        elif not pending_moof:
            media_end = box.end  # a box between fragments (free, sidx...): keep it
    if media_end == init_end:
        raise Mp4Error(f"{path.name} holds no complete fragment")
    return Mp4Layout(init_end, media_end, timescales, digest)


def read_init(path: Path, file_layout: Mp4Layout) -> bytes:
    """Return the init part (ftyp + moov) of a file."""
    with path.open("rb") as handle:
        return handle.read(file_layout.init_end)


def read_media(path: Path, file_layout: Mp4Layout) -> bytes:
    """Return the media part (complete moof/mdat pairs) of a file, unchanged."""
    with path.open("rb") as handle:
        handle.seek(file_layout.init_end)
        return handle.read(file_layout.media_end - file_layout.init_end)


def shift_fragments(
    media: bytes, timescales: dict[int, int], offset_seconds: float, media_start: int = 0
) -> bytes:
    """Add ``offset_seconds`` to every ``traf/tfdt`` of the top-level moof boxes in ``media``.

    Each track moves by ``round(offset_seconds * timescale)`` ticks. A version-0
    tfdt whose new value no longer fits 32 bits is rewritten as version 1; its
    moof then grows by 4 bytes, and the trun data offsets relative to that moof
    are raised to match so every sample still points at its data. Explicit
    ``tfhd`` base data offsets (absolute file positions) are rebased onto the
    returned bytes; ``media_start`` is where ``media`` began in its source file.
    Every other byte is copied unchanged.
    """
    out = bytearray()
    for box in iter_boxes(media):
        if box.kind != b"moof":
            out += media[box.offset : box.end]
            continue
        out += _shift_moof(
            media, box, timescales, offset_seconds, len(out) - box.offset - media_start
        )
    if sum(box.size for box in iter_boxes(media)) != len(media):
        raise Mp4Error("media part ends inside a box")
    return bytes(out)


def _shift_moof(
    media: bytes, moof: Box, timescales: dict[int, int], offset_seconds: float, moved: int
) -> bytearray:
    """Return a moof box with its tfdt values shifted (see shift_fragments).

    ``moved`` is how far bytes of this moof's source move in the output (for
    explicit base data offsets, which count from the start of the file).
    """
    children: list[bytearray] = []
    # (child index, position, struct format) of the data offsets pointing past this moof
    pointers: list[tuple[int, int, str]] = []
    first = True
    for child in iter_boxes(media, moof.body, moof.end):
        raw = bytearray(media[child.offset : child.end])
        if child.kind == b"traf":
            raw, positions = _shift_traf(raw, timescales, offset_seconds, moved, first=first)
            pointers.extend((len(children), pos, fmt) for pos, fmt in positions)
            first = False
        children.append(raw)
    body = sum(len(child) for child in children)
    growth = moof.header + body - moof.size
    if growth:  # the mdat moved: every offset into it follows
        for index, pos, fmt in pointers:
            value = struct.unpack_from(fmt, children[index], pos)[0]
            struct.pack_into(fmt, children[index], pos, value + growth)
    if moof.header == _LARGE_HEADER:
        header = struct.pack(">I4sQ", 1, b"moof", _LARGE_HEADER + body)
    else:
        header = struct.pack(">I4s", _HEADER + body, b"moof")
    result = bytearray(header)
    for part in children:
        result += part
    return result


def _shift_traf(
    traf: bytearray, timescales: dict[int, int], offset_seconds: float, moved: int, *, first: bool
) -> tuple[bytearray, list[tuple[int, str]]]:
    """Shift one traf box; return it and the (position, format) of its data offsets."""
    boxes = iter_boxes(traf)
    if not boxes:
        raise Mp4Error("broken traf box")
    traf_box = boxes[0]
    tfhd = _find(bytes(traf), traf_box.body, traf_box.end, b"tfhd")
    if tfhd is None:
        raise Mp4Error("traf without tfhd")
    flags = int.from_bytes(traf[tfhd.body + 1 : tfhd.body + 4], "big")
    track_id = struct.unpack_from(">I", traf, tfhd.body + 4)[0]
    timescale = timescales.get(track_id)
    if timescale is None:
        raise Mp4Error(f"fragment of unknown track {track_id}")
    ticks = round(offset_seconds * timescale)
    explicit_base = bool(flags & _TFHD_BASE_DATA_OFFSET)
    # trun offsets count from the moof unless the base is explicit or, without
    # default-base-is-moof, this traf continues where the previous one's data ended.
    moof_relative = not explicit_base and (first or bool(flags & _TFHD_DEFAULT_BASE_IS_MOOF))
    out = bytearray(traf[: traf_box.body])
    positions: list[tuple[int, str]] = []
    for child in iter_boxes(traf, traf_box.body, traf_box.end):
        raw = bytearray(traf[child.offset : child.end])
        if child.kind == b"tfdt":
            raw = _shift_tfdt(raw, child, ticks)
        elif child.kind == b"tfhd" and explicit_base:
            # An absolute file position: rebase it onto the returned bytes.
            pos = child.header + 8
            struct.pack_into(">Q", raw, pos, struct.unpack_from(">Q", raw, pos)[0] + moved)
            positions.append((len(out) + pos, ">Q"))
        elif child.kind == b"trun" and moof_relative:
            trun_flags = int.from_bytes(raw[child.header + 1 : child.header + 4], "big")
            if trun_flags & _TRUN_DATA_OFFSET:
                # version/flags(4) sample_count(4) data_offset(4), relative to the moof
                positions.append((len(out) + child.header + 8, ">i"))
        out += raw
    size = len(out)
    if traf_box.header == _LARGE_HEADER:
        struct.pack_into(">Q", out, 8, size)
    else:
        struct.pack_into(">I", out, 0, size)
    return out, positions


def _shift_tfdt(raw: bytearray, box: Box, ticks: int) -> bytearray:
    body = box.header
    version = raw[body]
    if version == 1:
        value = struct.unpack_from(">Q", raw, body + 4)[0] + ticks
        if value < 0:
            raise Mp4Error("negative decode time")
        struct.pack_into(">Q", raw, body + 4, value)
        return raw
    value = struct.unpack_from(">I", raw, body + 4)[0] + ticks
    if value < 0:
        raise Mp4Error("negative decode time")
    if value <= _MAX_U32:
        struct.pack_into(">I", raw, body + 4, value)
        return raw
    flags = bytes(raw[body + 1 : body + 4])
    return bytearray(struct.pack(">I4sB3sQ", _HEADER + 12, b"tfdt", 1, flags, value))


def shifted_media(path: Path, file_layout: Mp4Layout, offset_seconds: float) -> bytes:
    """Return the media part of a file moved ``offset_seconds`` later on the timeline."""
    media = read_media(path, file_layout)
    if not offset_seconds:
        return media
    return shift_fragments(media, file_layout.timescales, offset_seconds, file_layout.init_end)


def _read_moov(path: Path) -> bytes | None:
    moov = next((box for box in top_level_boxes(path) if box.kind == b"moov"), None)
    if moov is None or moov.size > _MAX_INIT_BYTES:
        return None
    with path.open("rb") as handle:
        handle.seek(moov.offset)
        data = handle.read(moov.size)
    return data if iter_boxes(data) else None


def _duration(data: bytes, box: Box) -> float | None:
    """Return the duration (seconds) of an mvhd or mdhd box."""
    if _full_box_version(data, box) == 1:
        timescale, duration = struct.unpack_from(">IQ", data, box.body + 4 + 16)
    else:
        timescale, duration = struct.unpack_from(">II", data, box.body + 4 + 8)
    if not timescale or duration in {0, _MAX_U32, 0xFFFFFFFFFFFFFFFF}:
        return None
    return float(duration / timescale)


def movie_duration(path: Path) -> float | None:
    """Return the mvhd duration (seconds) of a file, or None when it has none."""
    data = _read_moov(path)
    if data is None:
        return None
    root = iter_boxes(data)[0]
    mvhd = _find(data, root.body, root.end, b"mvhd")
    return _duration(data, mvhd) if mvhd is not None else None


def video_duration(path: Path) -> float | None:
    """Return the media duration (seconds) of the first video track, or None."""
    data = _read_moov(path)
    if data is None:
        return None
    root = iter_boxes(data)[0]
    for trak in iter_boxes(data, root.body, root.end):
        if trak.kind != b"trak":
            continue
        mdia = _find(data, trak.body, trak.end, b"mdia")
        if mdia is None:
            continue
        hdlr = _find(data, mdia.body, mdia.end, b"hdlr")
        mdhd = _find(data, mdia.body, mdia.end, b"mdhd")
        # hdlr: version/flags(4) pre_defined(4) handler_type(4)
        if (
            hdlr is not None
            and mdhd is not None
            and data[hdlr.body + 8 : hdlr.body + 12] == b"vide"
        ):
            return _duration(data, mdhd)
    return None


# NAL unit types of parameter sets (SPS/PPS; HEVC adds VPS) and of coded slices.
_H264_PARAMETER_SETS = frozenset({7, 8})
_HEVC_PARAMETER_SETS = frozenset({32, 33, 34})
_LEADING_BYTES = 4096  # parameter sets are a few dozen bytes at the start of a keyframe


def leading_parameter_sets(path: Path, codec: str) -> bytes:
    """Return the in-band parameter sets at the start of the first media sample.

    A camera that changes resolution without ending the RTSP session sends a new SPS
    in-band; with ``-c copy`` the file's header keeps the old one. Comparing these
    bytes between segments finds such a change by reading a few KiB, without
    opening a decoder. Reads the first ``mdat`` of the file, whose first sample is
    the video keyframe (video is the first track ffmpeg writes); NAL units are
    4-byte length-prefixed (the avcC/hvcC layout ffmpeg uses).
    """
    hevc = codec in ("hevc", "h265")
    wanted = _HEVC_PARAMETER_SETS if hevc else _H264_PARAMETER_SETS
    mdat = next((box for box in top_level_boxes(path) if box.kind == b"mdat"), None)
    if mdat is None:
        return b""
    with path.open("rb") as handle:
        handle.seek(mdat.body)
        data = handle.read(min(_LEADING_BYTES, mdat.end - mdat.body))
    found = bytearray()
    offset = 0
    while offset + 5 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        if length == 0 or offset + 4 + length > len(data):
            break
        first = data[offset + 4]
        nal_type = (first >> 1) & 0x3F if hevc else first & 0x1F
        if nal_type not in wanted:
            if found:
                break  # the slice data begins: the parameter sets are complete
            offset += 4 + length  # access unit delimiter, SEI, ...
            continue
        found += data[offset : offset + 4 + length]
        offset += 4 + length
    return bytes(found)


# -- the samples of a fragment: durations, and dropping a cut last frame ------------


@dataclass(frozen=True, slots=True)
class _TrackDefaults:
    track_id: int
    handler: bytes  # b"vide", b"soun", ...
    timescale: int
    duration: int  # trex default sample duration
    size: int  # trex default sample size
    flags: int = 0  # trex default sample flags


@dataclass(slots=True)
class _Trun:
    box: Box  # offset relative to the moof
    flags: int
    data_offset: int | None
    durations: list[int]
    sizes: list[int]
    first_sync: bool = True  # its first sample is a sync sample (a keyframe)


@dataclass(slots=True)
class _Traf:
    box: Box  # offset relative to the moof
    track_id: int
    flags: int
    base_data_offset: int | None
    decode_time: int | None
    truns: list[_Trun]


def _track_defaults(moov: bytes) -> dict[int, _TrackDefaults]:
    """Return each track's id, handler, timescale and trex defaults from a moov box."""
    root = iter_boxes(moov)[0]
    found: dict[int, tuple[bytes, int]] = {}
    trex: dict[int, tuple[int, int, int]] = {}
    for child in iter_boxes(moov, root.body, root.end):
        if child.kind == b"trak":
            ids = _track_timescale(moov, child)
            mdia = _find(moov, child.body, child.end, b"mdia")
            hdlr = _find(moov, mdia.body, mdia.end, b"hdlr") if mdia else None
            if ids is not None and hdlr is not None:
                found[ids[0]] = (moov[hdlr.body + 8 : hdlr.body + 12], ids[1])
        elif child.kind == b"mvex":
            for box in iter_boxes(moov, child.body, child.end):
                if box.kind == b"trex":
                    # version/flags(4) track_ID(4) description(4) duration(4) size(4) flags(4)
                    track_id, _desc, duration, size, flags = struct.unpack_from(
                        ">IIIII", moov, box.body + 4
                    )
                    trex[track_id] = (duration, size, flags)
    return {
        track_id: _TrackDefaults(track_id, handler, timescale, *trex.get(track_id, (0, 0, 0)))
        for track_id, (handler, timescale) in found.items()
    }


def _parse_trun(moof: bytes, box: Box, count_default: tuple[int, int, int]) -> _Trun:
    flags = int.from_bytes(moof[box.body + 1 : box.body + 4], "big")
    count = struct.unpack_from(">I", moof, box.body + 4)[0]
    pos = box.body + 8
    data_offset = None
    if flags & _TRUN_DATA_OFFSET:
        data_offset = struct.unpack_from(">i", moof, pos)[0]
        pos += 4
    first_flags = None
    if flags & _TRUN_FIRST_SAMPLE_FLAGS:
        first_flags = struct.unpack_from(">I", moof, pos)[0]
        pos += 4
    fields = [f for f in _TRUN_FIELDS if flags & f]
    entry = 4 * len(fields)
    if pos + count * entry > box.end:
        raise Mp4Error("trun box shorter than its samples")
    durations: list[int] = []
    sizes: list[int] = []
    for index in range(count):
        at = pos + index * entry
        values = dict(zip(fields, struct.unpack_from(f">{len(fields)}I", moof, at), strict=True))
        durations.append(values.get(_TRUN_SAMPLE_DURATION, count_default[0]))
        sizes.append(values.get(_TRUN_SAMPLE_SIZE, count_default[1]))
        if index == 0 and first_flags is None:
            first_flags = values.get(_TRUN_SAMPLE_FLAGS, count_default[2])
    sync = not (first_flags or 0) & SAMPLE_NON_SYNC
    return _Trun(box, flags, data_offset, durations, sizes, first_sync=sync)


def _parse_moof(moof: bytes, tracks: dict[int, _TrackDefaults]) -> list[_Traf]:
    """Return the trafs of one moof box (``moof`` holds the box alone, offsets from 0)."""
    root = iter_boxes(moof)[0]
    trafs = []
    for traf in iter_boxes(moof, root.body, root.end):
        if traf.kind != b"traf":
            continue
        tfhd = _find(moof, traf.body, traf.end, b"tfhd")
        if tfhd is None:
            raise Mp4Error("traf without tfhd")
        flags = int.from_bytes(moof[tfhd.body + 1 : tfhd.body + 4], "big")
        track_id = struct.unpack_from(">I", moof, tfhd.body + 4)[0]
        defaults = tracks.get(track_id)
        duration = defaults.duration if defaults else 0
        size = defaults.size if defaults else 0
        sample_flags = defaults.flags if defaults else 0
        pos = tfhd.body + 8
        base = None
        if flags & _TFHD_BASE_DATA_OFFSET:
            base = struct.unpack_from(">Q", moof, pos)[0]
            pos += 8
        if flags & _TFHD_SAMPLE_DESCRIPTION:
            pos += 4
        if flags & _TFHD_DEFAULT_DURATION:
            duration = struct.unpack_from(">I", moof, pos)[0]
            pos += 4
        if flags & _TFHD_DEFAULT_SIZE:
            size = struct.unpack_from(">I", moof, pos)[0]
            pos += 4
        if flags & _TFHD_DEFAULT_FLAGS:
            sample_flags = struct.unpack_from(">I", moof, pos)[0]
        tfdt = _find(moof, traf.body, traf.end, b"tfdt")
        decode_time = None
        if tfdt is not None:
            fmt = ">Q" if _full_box_version(moof, tfdt) == 1 else ">I"
            decode_time = struct.unpack_from(fmt, moof, tfdt.body + 4)[0]
        truns = [
            _parse_trun(moof, box, (duration, size, sample_flags))
            for box in iter_boxes(moof, traf.body, traf.end)
            if box.kind == b"trun"
        ]
        trafs.append(_Traf(traf, track_id, flags, base, decode_time, truns))
    return trafs


def _fragments(path: Path) -> tuple[dict[int, _TrackDefaults], list[tuple[Box, Box]]]:
    """Return the tracks and the complete (moof, mdat) pairs of a fragmented MP4 file."""
    boxes = top_level_boxes(path)
    moov = next((box for box in boxes if box.kind == b"moov"), None)
    if moov is None or moov.size > _MAX_INIT_BYTES:
        raise Mp4Error(f"{path.name}: no usable moov box")
    with path.open("rb") as handle:
        handle.seek(moov.offset)
        tracks = _track_defaults(handle.read(moov.size))
    pairs = [
        (box, after)
        for box, after in zip(boxes, boxes[1:], strict=False)
        if box.kind == b"moof" and after.kind == b"mdat"
    ]
    return tracks, pairs


def track_sample_times(moov: bytes, moofs: list[bytes], track_id: int) -> list[list[int]]:
    """Return the decode times (ticks) of a track's samples in each of the moof boxes.

    ``moov`` is the init part's moov box, each of ``moofs`` one moof box alone (its
    offsets from 0). A moof without the track (or without a tfdt) gives an empty list.
    """
    tracks = _track_defaults(moov)
    found: list[list[int]] = []
    for moof in moofs:
        times: list[int] = []
        for traf in _parse_moof(moof, tracks):
            if traf.track_id != track_id or traf.decode_time is None:
                continue
            now = traf.decode_time
            for trun in traf.truns:
                for duration in trun.durations:
                    times.append(now)
                    now += duration
        found.append(times)
    return found


def _read_box(path: Path, box: Box) -> bytes:
    if box.size > _MAX_INIT_BYTES:
        raise Mp4Error(f"{path.name}: {box.kind!r} box too large")
    with path.open("rb") as handle:
        handle.seek(box.offset)
        return handle.read(box.size)


def video_fragment_span(path: Path) -> float | None:
    """Return the seconds the video samples of a fragmented MP4 cover (from the moofs).

    First decode time to the end of the last sample, read from the moof boxes only (a
    few KiB). None when the file has no video fragment.
    """
    tracks, pairs = _fragments(path)
    video = next((t for t in tracks.values() if t.handler == b"vide"), None)
    if video is None or not video.timescale:
        return None
    first = end = None
    for moof, _mdat in pairs:
        for traf in _parse_moof(_read_box(path, moof), tracks):
            if traf.track_id != video.track_id or traf.decode_time is None:
                continue
            total = sum(sum(trun.durations) for trun in traf.truns)
            first = traf.decode_time if first is None else first
            end = traf.decode_time + total
    if first is None or end is None:
        return None
    return (end - first) / video.timescale


def last_gop(path: Path) -> tuple[bytes, int] | None:
    """Return the file cut down to its last group of pictures, and its video frames.

    The init part followed by the fragments from the last one that starts with a video
    keyframe to the end (ffmpeg starts a fragment at every keyframe); data offsets
    count from each moof, so the fragments stand on their own. None without video.
    """
    tracks, pairs = _fragments(path)
    video = next((t for t in tracks.values() if t.handler == b"vide"), None)
    if video is None or not pairs:
        return None
    start = None
    frames: list[int] = []
    for number, (moof, _mdat) in enumerate(pairs):
        trafs = _parse_moof(_read_box(path, moof), tracks)
        traf = next((t for t in trafs if t.track_id == video.track_id and t.truns), None)
        count = sum(len(trun.sizes) for trun in traf.truns) if traf else 0
        frames.append(count)
        if traf is not None and count and traf.truns[0].first_sync:
            start = number
    if start is None:
        return None
    moof, _ = pairs[start]
    last = pairs[-1][1]
    with path.open("rb") as handle:
        init = handle.read(pairs[0][0].offset)
        handle.seek(moof.offset)
        body = handle.read(last.end - moof.offset)
    return init + body, sum(frames[start:])


def drop_last_video_sample(path: Path) -> float:
    """Remove the last video sample (frame) of a fragmented MP4 file, in place.

    For a frame cut short when the camera vanished: the file then ends with its last
    whole frame. The last fragment is rewritten: its video ``trun`` loses the entry, the
    ``mdat`` the frame's bytes, and every data offset into the ``mdat`` follows; a
    fragment left without samples is removed. A trailing ``mfra`` index is dropped (it is
    optional). Returns the seconds removed (the frame's duration), 0.0 when there was
    nothing to remove. Raises ``Mp4Error`` for a layout this does not handle.
    """
    tracks, pairs = _fragments(path)
    video = next((t for t in tracks.values() if t.handler == b"vide"), None)
    if video is None or not pairs:
        return 0.0
    moof_box, mdat_box = pairs[-1]
    moof = bytearray(_read_box(path, moof_box))
    trafs = _parse_moof(bytes(moof), tracks)
    traf = next((t for t in trafs if t.track_id == video.track_id and t.truns), None)
    if traf is None:
        return 0.0
    if any(t.base_data_offset is not None for t in trafs):
        raise Mp4Error(f"{path.name}: explicit base data offsets")
    if not all(t.flags & _TFHD_DEFAULT_BASE_IS_MOOF or t is trafs[0] for t in trafs):
        raise Mp4Error(f"{path.name}: data offsets not relative to the moof")
    trun = traf.truns[-1]
    if trun.data_offset is None or not trun.sizes:
        raise Mp4Error(f"{path.name}: trun without data offset")
    removed_at = trun.data_offset + sum(trun.sizes[:-1])  # from the moof's start
    removed = trun.sizes[-1]
    seconds = trun.durations[-1] / video.timescale if video.timescale else 0.0
    header_end = mdat_box.offset + mdat_box.header - moof_box.offset
    if removed_at < header_end or removed_at + removed > mdat_box.end - moof_box.offset:
        raise Mp4Error(f"{path.name}: sample outside its mdat")
    with path.open("rb") as handle:
        handle.seek(mdat_box.offset)
        mdat = bytearray(handle.read(mdat_box.size))
    samples_left = sum(len(t.sizes) for tr in trafs for t in tr.truns) - 1
    if samples_left == 0:
        tail = b""  # the fragment held only this frame: it goes
    else:
        tail = _shrunk_fragment(moof, mdat, trafs, traf, trun, removed_at - header_end, removed)
    with path.open("r+b") as handle:
        handle.seek(moof_box.offset)
        handle.write(tail)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    return seconds


def _shrunk_fragment(
    moof: bytearray,
    mdat: bytearray,
    trafs: list[_Traf],
    traf: _Traf,
    trun: _Trun,
    data_at: int,
    removed: int,
) -> bytes:
    """Return the last fragment (moof + mdat) without the last sample of ``trun``."""
    flags = trun.flags
    per_sample = 4 * sum(1 for f in _TRUN_FIELDS if flags & f)
    count = len(trun.sizes)
    drop_box = count == 1  # the trun goes (its traf keeps others, or goes too)
    if drop_box and len(traf.truns) == 1:
        cut = (traf.box.offset, traf.box.end)  # the whole traf
    elif drop_box:
        cut = (trun.box.offset, trun.box.end)
    else:
        cut = (trun.box.end - per_sample, trun.box.end)  # the last entry
    shrink = cut[1] - cut[0]
    # Every data offset (from the moof's start) moves with the moof's shrinkage, and
    # those past the removed frame by its size too.
    for other in trafs:
        for run in other.truns:
            if run.data_offset is None or (drop_box and run is trun):
                continue
            value = run.data_offset - shrink
            if run.data_offset > trun.data_offset:  # type: ignore[operator]
                value -= removed
            struct.pack_into(">i", moof, run.box.offset + run.box.header + 8, value)
    if not drop_box:
        struct.pack_into(">I", moof, trun.box.body + 4, count - 1)
        _grow_box(moof, trun.box, -shrink)
    if not (drop_box and len(traf.truns) == 1):
        _grow_box(moof, traf.box, -shrink)
    _grow_box(moof, Box(b"moof", 0, len(moof), _HEADER), -shrink)
    new_moof = moof[: cut[0]] + moof[cut[1] :]
    body_start = 16 if struct.unpack_from(">I", mdat, 0)[0] == 1 else _HEADER
    start = body_start + data_at
    new_mdat = mdat[:start] + mdat[start + removed :]
    if body_start == _LARGE_HEADER:
        struct.pack_into(">Q", new_mdat, 8, len(new_mdat))
    else:
        struct.pack_into(">I", new_mdat, 0, len(new_mdat))
    return bytes(new_moof + new_mdat)


def _grow_box(data: bytearray, box: Box, delta: int) -> None:
    """Add ``delta`` to the size field of ``box`` inside ``data``."""
    if box.header == _LARGE_HEADER:
        struct.pack_into(">Q", data, box.offset + 8, box.size + delta)
    else:
        struct.pack_into(">I", data, box.offset, box.size + delta)


# Sample tables of fragments (used by the export, which stitches fragments into one MP4).

_READ_AHEAD: Final = 16 * 1024  # bytes read at a fragment: its moof and the mdat header after it


@dataclass(frozen=True, slots=True)
class TrackDefaults:
    """What a fragment needs from the moov to describe its samples: one track."""

    track_id: int
    timescale: int
    handler: bytes  # b"vide", b"soun", ...
    has_edits: bool  # the trak holds an edit list (edts)
    # trex defaults
    sample_description: int = 1
    duration: int = 0
    size: int = 0
    flags: int = 0


@dataclass(frozen=True, slots=True)
class SampleRun:
    """The samples of one ``trun``: stored back to back from ``offset`` in the file."""

    track_id: int
    decode_time: int  # decode time of the first sample, track ticks
    offset: int  # file position of the first sample's data
    durations: list[int]
    sizes: list[int]
    flags: list[int]  # sample flags (SAMPLE_NON_SYNC marks a non-keyframe)
    composition: list[int]  # composition time offsets (all 0 without B-frames)


def moov_bytes(path: Path, file_layout: Mp4Layout) -> bytes:
    """Return the whole moov box of a fragmented MP4 file (it lies in the init part)."""
    init = read_init(path, file_layout)
    moov = next((box for box in iter_boxes(init) if box.kind == b"moov"), None)
    if moov is None:
        raise Mp4Error(f"{path.name}: no moov box in the init part")
    return init[moov.offset : moov.end]


def track_defaults(moov: bytes) -> dict[int, TrackDefaults]:
    """Return every track of a moov box with its timescale, handler and trex defaults."""
    boxes = iter_boxes(moov)
    if not boxes or boxes[0].kind != b"moov":
        raise Mp4Error("not a moov box")
    root = boxes[0]
    tracks: dict[int, TrackDefaults] = {}
    trex: dict[int, tuple[int, int, int, int]] = {}
    for child in iter_boxes(moov, root.body, root.end):
        if child.kind == b"trak":
            found = _track_timescale(moov, child)
            mdia = _find(moov, child.body, child.end, b"mdia")
            hdlr = _find(moov, mdia.body, mdia.end, b"hdlr") if mdia else None
            if found is None or hdlr is None:
                raise Mp4Error("trak without tkhd, mdhd or hdlr")
            edits = _find(moov, child.body, child.end, b"edts") is not None
            handler = moov[hdlr.body + 8 : hdlr.body + 12]
            tracks[found[0]] = TrackDefaults(found[0], found[1], handler, edits)
        elif child.kind == b"mvex":
            for box in iter_boxes(moov, child.body, child.end):
                if box.kind == b"trex":
                    # version/flags(4) track_id description duration size flags
                    track_id, *values = struct.unpack_from(">5I", moov, box.body + 4)
                    trex[track_id] = (values[0], values[1], values[2], values[3])
    for track_id, (description, duration, size, flags) in trex.items():
        if track_id in tracks:
            tracks[track_id] = replace(
                tracks[track_id],
                sample_description=description,
                duration=duration,
                size=size,
                flags=flags,
            )
    return tracks


def sample_runs(
    path: Path, file_layout: Mp4Layout, tracks: dict[int, TrackDefaults]
) -> list[SampleRun]:
    """Return the sample runs of every complete fragment of a file, in file order.

    Reads the moof boxes only, never the media data: one read per fragment (its
    moof and the header of the mdat after it). Every sample's data must lie inside
    the file's complete fragments; anything this module cannot follow (an unknown
    track, a second sample description) raises :class:`Mp4Error`.
    """
    runs: list[SampleRun] = []
    next_decode: dict[int, int] = {}  # track id -> decode time after its last sample
    end = file_layout.media_end
    with path.open("rb", buffering=0) as handle:
        fd = handle.fileno()
        offset = file_layout.init_end
        while offset < end:
            data = os.pread(fd, min(_READ_AHEAD, end - offset), offset)
            box = _header_in(data, 0, offset, end)
            if box is None:
                raise Mp4Error(f"{path.name}: broken box in the media part")
            if box.kind == b"moof":
                moof = data[: box.size] if box.size <= len(data) else os.pread(fd, box.size, offset)
                for run in _moof_runs(moof, offset, tracks, next_decode):
                    if run.offset < box.end or run.offset + sum(run.sizes) > end:
                        raise Mp4Error(f"{path.name}: sample data outside the fragments")
                    runs.append(run)
                after = _header_in(data, box.size, box.end, end)  # the mdat, already read
                if after is not None:
                    box = after
            offset = box.end
    return runs


def _header_in(data: bytes, pos: int, offset: int, end: int) -> Box | None:
    """Return the box whose header is at ``data[pos:]`` and at ``offset`` in its file.

    The box itself may run past ``data``, not past ``end``; None when the header
    is not all in ``data`` or is broken.
    """
    if pos + _HEADER > len(data):
        return None
    size, kind = struct.unpack_from(">I4s", data, pos)
    header = _HEADER
    if size == 1:
        if pos + _LARGE_HEADER > len(data):
            return None
        size = struct.unpack_from(">Q", data, pos + _HEADER)[0]
        header = _LARGE_HEADER
    elif size == 0:
        size = end - offset
    if size < header or offset + size > end:
        return None
    return Box(kind, offset, size, header)


def _moof_runs(
    moof: bytes,
    position: int,
    tracks: dict[int, TrackDefaults],
    next_decode: dict[int, int],
) -> list[SampleRun]:
    """Return the sample runs of one moof box that starts at ``position`` in its file."""
    root = iter_boxes(moof)[0]
    runs: list[SampleRun] = []
    data_end = position  # where the previous traf's data ended (for implicit bases)
    first = True
    for traf in iter_boxes(moof, root.body, root.end):
        if traf.kind != b"traf":
            continue
        children = iter_boxes(moof, traf.body, traf.end)
        tfhd = next((box for box in children if box.kind == b"tfhd"), None)
        if tfhd is None:
            raise Mp4Error("traf without tfhd")
        header = _parse_tfhd(moof, tfhd, tracks)
        if header.explicit_base is not None:
            base = header.explicit_base
        elif first or header.base_is_moof:
            base = position
        else:
            base = data_end
        first = False
        tfdt = next((box for box in children if box.kind == b"tfdt"), None)
        decode = next_decode.get(header.track.track_id, 0)
        if tfdt is not None:
            fmt = ">Q" if _full_box_version(moof, tfdt) == 1 else ">I"
            decode = struct.unpack_from(fmt, moof, tfdt.body + 4)[0]
        cursor = base
        for trun in children:
            if trun.kind != b"trun":
                continue
            run = _parse_sample_run(moof, trun, header, decode, base, cursor)
            runs.append(run)
            cursor = run.offset + sum(run.sizes)
            decode += sum(run.durations)
        next_decode[header.track.track_id] = decode
        data_end = cursor
    return runs


@dataclass(frozen=True, slots=True)
class _TrackFragmentHeader:
    track: TrackDefaults
    explicit_base: int | None
    base_is_moof: bool
    duration: int
    size: int
    flags: int


def _parse_tfhd(moof: bytes, tfhd: Box, tracks: dict[int, TrackDefaults]) -> _TrackFragmentHeader:
    flags = int.from_bytes(moof[tfhd.body + 1 : tfhd.body + 4], "big")
    track_id = struct.unpack_from(">I", moof, tfhd.body + 4)[0]
    track = tracks.get(track_id)
    if track is None:
        raise Mp4Error(f"fragment of unknown track {track_id}")
    pos = tfhd.body + 8
    explicit_base = None
    if flags & _TFHD_BASE_DATA_OFFSET:
        explicit_base = struct.unpack_from(">Q", moof, pos)[0]
        pos += 8
    values = {
        "description": track.sample_description,
        "duration": track.duration,
        "size": track.size,
        "flags": track.flags,
    }
    for flag, name in (
        (_TFHD_SAMPLE_DESCRIPTION, "description"),
        (_TFHD_DEFAULT_DURATION, "duration"),
        (_TFHD_DEFAULT_SIZE, "size"),
        (_TFHD_DEFAULT_FLAGS, "flags"),
    ):
        if flags & flag:
            values[name] = struct.unpack_from(">I", moof, pos)[0]
            pos += 4
    if pos > tfhd.end:
        raise Mp4Error("tfhd box too short")
    if values["description"] != 1:
        raise Mp4Error("a fragment uses another sample description than the first")
    return _TrackFragmentHeader(
        track,
        explicit_base,
        bool(flags & _TFHD_DEFAULT_BASE_IS_MOOF),
        values["duration"],
        values["size"],
        values["flags"],
    )


def _parse_sample_run(
    moof: bytes,
    trun: Box,
    header: _TrackFragmentHeader,
    decode: int,
    base: int,
    cursor: int,
) -> SampleRun:
    """Return one trun's samples; ``cursor`` is where the previous run's data ended."""
    version = _full_box_version(moof, trun)
    flags = int.from_bytes(moof[trun.body + 1 : trun.body + 4], "big")
    count = struct.unpack_from(">I", moof, trun.body + 4)[0]
    pos = trun.body + 8
    offset = cursor
    if flags & _TRUN_DATA_OFFSET:
        offset = base + struct.unpack_from(">i", moof, pos)[0]
        pos += 4
    first_flags = None
    if flags & _TRUN_FIRST_SAMPLE_FLAGS:
        first_flags = struct.unpack_from(">I", moof, pos)[0]
        pos += 4
    present = [bool(flags & field) for field in _TRUN_FIELDS]
    width = 4 * sum(present)
    if pos + width * count > trun.end:
        raise Mp4Error("trun box too short for its samples")
    columns: list[list[int]] = [[] for _ in _TRUN_FIELDS]
    if width:
        fmt = ">" + "".join(
            ("i" if number == 3 and version else "I")  # noqa: PLR2004 (the cts column)
            for number, here in enumerate(present)
            if here
        )
        rows = struct.iter_unpack(fmt, moof[pos : pos + width * count])
        values = list(zip(*rows, strict=True)) if count else []
        filled = iter(values)
        for number, here in enumerate(present):
            if here:
                columns[number] = list(next(filled))
    durations = columns[0] or [header.duration] * count
    sizes = columns[1] or [header.size] * count
    sample_flags = columns[2] or [header.flags] * count
    if first_flags is not None and count and not present[2]:
        sample_flags[0] = first_flags
    composition = columns[3] or [0] * count
    return SampleRun(
        header.track.track_id,
        decode,
        offset,
        durations,
        sizes,
        sample_flags,
        composition,
    )
