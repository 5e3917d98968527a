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

from dataclasses import dataclass, field
import hashlib
from pathlib import Path
import struct
from typing import BinaryIO, Final

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


def _read_header(handle: BinaryIO, offset: int, file_size: int) -> Box | None:
    handle.seek(offset)
    raw = handle.read(_LARGE_HEADER)
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
    with path.open("rb") as handle:
        file_size = handle.seek(0, 2)
        offset = 0
        while (box := _read_header(handle, offset, file_size)) is not None:
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
_NON_SYNC: Final = 0x00010000
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
        return self.first_flags is not None and not self.first_flags & _NON_SYNC


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
