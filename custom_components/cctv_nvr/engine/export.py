"""Export any time range of a camera's footage as one MP4, without re-encoding.

The stored segments are fragmented MP4 files (``ftyp`` + empty ``moov`` +
``moof``/``mdat`` fragments) whose timestamps restart at 0. Their fragment
headers already describe every sample (size, duration, keyframe flag), so an
export is *stitched*: one pass plans the sample tables of the whole range from
the fragment headers alone, writes ``ftyp`` + a complete ``moov`` (sample
tables, durations, edit lists) and then one ``mdat`` into which the sample
bytes of the stored fragments are copied unchanged, in 1 MiB reads and writes
into a file whose blocks are reserved up front. The result is an ordinary, non-fragmented MP4
with its moov first ("faststart"), written at close to the speed of copying
the bytes, with no ffmpeg and no second pass.

Where stitching does not apply (no video track, tracks besides one video and
one audio track, track layouts that differ between files, edit lists, fragments
this module cannot follow), the export falls back to a *remux*: ffmpeg's concat
demuxer with ``-c copy`` and ``+faststart`` (it keeps the first video and audio
track). :attr:`ExportResult.method` says which of the two ran.

Without re-encoding a video can only begin on a keyframe: the export starts at
the last keyframe at or before ``start`` (at most one GOP early) and ends with
the last frame before ``end``. Gaps in the recordings inside the range are
skipped: the export is the footage that exists, back to back. A range whose
segments do not share one codec configuration (codec, parameter sets,
resolution, audio) cannot be copied into a single MP4 and is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
import ctypes
from dataclasses import dataclass, field
import errno
import functools
from itertools import accumulate, groupby
import logging
import os
from pathlib import Path
import struct
import sys
import threading
from typing import Literal, cast
import uuid

import av

from . import mp4box
from .index import Segment

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
_EPSILON = 1e-3  # seconds: cuts closer than this to a file's edge are no cuts
_STDERR_TAIL = 2000
_COPY_CHUNK = 1024 * 1024  # bytes per read and write of a copy
_STOP_CHUNK = 16 * 1024 * 1024  # bytes copied between two looks at cancellation
_FALLOC_FL_KEEP_SIZE = 1
_JOIN_GAP = 64 * 1024  # bytes: ranges of one file closer than this are copied as one
_MAX_U32 = 0xFFFFFFFF
_MAX_I32 = 0x7FFFFFFF

type Method = Literal["stitched", "remux"]


class ExportError(Exception):
    """An export failed; ``reason`` is a short key (no_footage, mixed_formats, ...)."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        """Store the reason key next to an optional detail message."""
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A finished export."""

    path: Path
    duration: float  # seconds of video in the file
    bytes: int
    video_codec: str | None
    method: Method  # "stitched" (fragments copied into one MP4) or "remux" (ffmpeg)


@dataclass(frozen=True, slots=True)
class _Part:
    path: Path
    inpoint: float | None
    outpoint: float | None
    duration: float  # seconds this part contributes to the export


def _keyframe_at_or_before(path: Path, moment: float) -> float:
    """Return the time (file timestamps) of the last video keyframe at or before moment."""
    best = 0.0
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        for packet in container.demux(video):
            if packet.pts is None or packet.time_base is None:
                continue
            when = float(packet.pts * packet.time_base)
            if when > moment + _EPSILON:
                break
            if packet.is_keyframe:
                best = when
    return best


def _readable(
    segments: Iterable[Segment], root: Path, start: float, end: float
) -> list[tuple[Segment, mp4box.Mp4Layout]]:
    """Return the readable segments of [start, end) in order, with their layouts.

    Unreadable files are skipped; raises ``no_footage`` when none is left and
    ``mixed_formats`` when their codec configurations differ. Blocks (reads files).
    """
    chosen = sorted(
        (s for s in segments if s.start < end and s.end > start and s.end > s.start),
        key=lambda s: s.start,
    )
    digests: set[str] = set()
    readable = []
    for segment in chosen:
        try:
            file_layout = mp4box.layout(segment.file(root))
        except (OSError, mp4box.Mp4Error) as err:
            _LOGGER.warning("export skips unreadable segment %s: %s", segment.path, err)
            continue
        digests.add(file_layout.codec_digest)
        readable.append((segment, file_layout))
    if not readable:
        raise ExportError("no_footage", "no recording in the range")
    if len(digests) > 1:
        raise ExportError("mixed_formats", "the codec configuration changes inside the range")
    return readable


def plan_parts(segments: Iterable[Segment], root: Path, start: float, end: float) -> list[_Part]:
    """Return the concat parts of a remux of [start, end). Blocks (reads files)."""
    chosen = [segment for segment, _ in _readable(segments, root, start, end)]
    parts = []
    last = len(chosen) - 1
    for number, segment in enumerate(chosen):
        path = segment.file(root)
        inpoint: float | None = None
        outpoint: float | None = None
        if number == 0 and start - segment.start > _EPSILON:
            try:
                inpoint = _keyframe_at_or_before(path, start - segment.start)
            except (av.error.FFmpegError, IndexError) as err:
                _LOGGER.warning("cannot find keyframes of %s: %s", segment.path, err)
                inpoint = None
            if inpoint is not None and inpoint <= _EPSILON:
                inpoint = None
        if number == last and segment.end - end > _EPSILON:
            outpoint = end - segment.start
        duration = (outpoint if outpoint is not None else segment.duration) - (inpoint or 0.0)
        parts.append(_Part(path, inpoint, outpoint, duration))
    return parts


def _quote(path: Path) -> str:
    text = str(path.resolve())
    if "\n" in text or "\r" in text:
        raise ExportError("ffmpeg_failed", "a segment path holds a line break")
    return "'" + text.replace("'", "'\\''") + "'"


def concat_list(parts: list[_Part]) -> str:
    """Return the ffconcat script of the parts.

    Every file gets an explicit ``duration`` (its video duration): otherwise the
    concat demuxer places the next file after the longest stream, and a segment's
    audio running a few ms past its video would open holes in the video timeline.
    """
    lines = ["ffconcat version 1.0"]
    for part in parts:
        lines.append(f"file {_quote(part.path)}")
        if part.inpoint is not None:
            lines.append(f"inpoint {part.inpoint:.6f}")
        if part.outpoint is not None:
            lines.append(f"outpoint {part.outpoint:.6f}")
        lines.append(f"duration {part.duration:.6f}")
    return "\n".join(lines) + "\n"


def _ffmpeg_args(ffmpeg: str, list_path: Path, out: Path, video_codec: str | None) -> list[str]:
    args = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(list_path),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
    ]
    if video_codec == "hevc":
        args += ["-tag:v", "hvc1"]
    args += ["-movflags", "+faststart", "-f", "mp4", "-y", str(out)]
    return args


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def export_range(
    segments: Iterable[Segment],
    root: Path,
    start: float,
    end: float,
    out_path: Path,
    ffmpeg: str = "ffmpeg",
    timeout: float = DEFAULT_TIMEOUT,
    *,
    method: Literal["auto", "remux"] = "auto",
) -> ExportResult:
    """Write the footage of [start, end) into one faststart MP4 at ``out_path``.

    Stitches the stored fragments when it can, else remuxes with ffmpeg
    (``method="remux"`` asks for the remux; :attr:`ExportResult.method` says which
    ran). The file appears atomically (written under a temporary name, then
    renamed); on any failure, on cancellation and on timeout nothing is left
    behind and :class:`ExportError` is raised with reason ``no_footage``,
    ``mixed_formats``, ``ffmpeg_failed``, ``write_failed`` or ``timeout``.
    """
    segment_list = list(segments)
    if end <= start:
        raise ExportError("no_footage", "empty range")
    chosen = await asyncio.to_thread(_readable, segment_list, root, start, end)
    codecs = [segment.video_codec for segment, _ in chosen]
    video_codec = codecs[0] if codecs else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    list_path = out_path.with_name(f".{out_path.name}.{token}.ffconcat")
    tmp_path = out_path.with_name(f".{out_path.name}.{token}.part")
    try:
        stitched = None
        if method == "auto":
            stitched = await _run_stitch(chosen, root, start, end, tmp_path, timeout)
        if stitched is not None:
            duration, size = stitched
            await asyncio.to_thread(tmp_path.replace, out_path)
            return ExportResult(out_path, duration, size, video_codec, "stitched")
        parts = await asyncio.to_thread(plan_parts, segment_list, root, start, end)
        await asyncio.to_thread(list_path.write_text, concat_list(parts), "utf-8")
        await _run_ffmpeg(_ffmpeg_args(ffmpeg, list_path, tmp_path, video_codec), timeout)
        remuxed, size = await asyncio.to_thread(_publish, tmp_path, out_path)
    except BaseException:
        _remove(tmp_path)
        raise
    finally:
        _remove(list_path)
    return ExportResult(
        path=out_path,
        duration=remuxed if remuxed is not None else sum(p.duration for p in parts),
        bytes=size,
        video_codec=video_codec,
        method="remux",
    )


def _publish(tmp_path: Path, out_path: Path) -> tuple[float | None, int]:
    """Check ffmpeg's output, then move it into place; return (video seconds, bytes)."""
    if not tmp_path.is_file() or (size := tmp_path.stat().st_size) == 0:
        raise ExportError("ffmpeg_failed", "ffmpeg wrote no file")
    duration = mp4box.video_duration(tmp_path)
    tmp_path.replace(out_path)
    return duration, size


async def _run_ffmpeg(args: list[str], timeout: float) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise ExportError("ffmpeg_failed", f"cannot run ffmpeg: {err}") from err
    try:
        async with asyncio.timeout(timeout):
            _, stderr = await proc.communicate()
    except TimeoutError as err:
        await _kill(proc)
        raise ExportError("timeout", f"ffmpeg took longer than {timeout:g} s") from err
    except BaseException:
        await _kill(proc)
        raise
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace")[-_STDERR_TAIL:].strip()
        _LOGGER.debug("export ffmpeg failed (%s): %s", proc.returncode, tail)
        raise ExportError("ffmpeg_failed", tail or f"ffmpeg exited with {proc.returncode}")


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await proc.wait()


# Stitching: one MP4 out of the stored fragments (see the module docstring).


class _CannotStitchError(Exception):
    """Stitching does not apply to this range: the remux makes the export."""


class _StoppedError(Exception):
    """The export was cancelled or timed out while its worker thread ran."""


def _check_stop(stop: threading.Event) -> None:
    if stop.is_set():
        raise _StoppedError


@dataclass(slots=True)
class _FileTrack:
    """One track's samples in one file, in decode order, over all its runs."""

    dts: list[int] = field(default_factory=list)  # decode times, file ticks
    durations: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)
    composition: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # where each sample's data is

    def pts(self, index: int) -> int:
        """Return the presentation time of a sample, file ticks."""
        return self.dts[index] + self.composition[index]

    def rescale(self, source: int, target: int) -> None:
        """Move the samples from a ``source`` to a ``target`` ticks-per-second timescale."""
        end = self.dts[-1] + self.durations[-1]
        moved = [round(value * target / source) for value in [*self.dts, end]]
        self.dts = moved[:-1]
        self.durations = [b - a for a, b in zip(moved, moved[1:], strict=False)]
        self.composition = [round(value * target / source) for value in self.composition]


def _file_tracks(runs: list[mp4box.SampleRun]) -> dict[int, _FileTrack]:
    tracks: dict[int, _FileTrack] = {}
    for run in runs:
        track = tracks.setdefault(run.track_id, _FileTrack())
        if not run.sizes:
            continue
        track.dts += accumulate(run.durations[:-1], initial=run.decode_time)
        track.positions += accumulate(run.sizes[:-1], initial=run.offset)
        track.durations += run.durations
        track.sizes += run.sizes
        track.flags += run.flags
        track.composition += run.composition
    return tracks


@dataclass(slots=True)
class _OutTrack:
    """One track of the export: its sample table and chunks, built file after file."""

    source: mp4box.TrackDefaults
    dts: list[int] = field(default_factory=list)  # decode times on the export, track ticks
    sizes: list[int] = field(default_factory=list)
    composition: list[int] = field(default_factory=list)
    sync: list[int] = field(default_factory=list)  # 1-based numbers of the keyframes
    chunk_offsets: list[int] = field(default_factory=list)  # from the start of the mdat data
    chunk_counts: list[int] = field(default_factory=list)
    last_duration: int = 0

    @property
    def end(self) -> int:
        """Return the decode time just after the last sample."""
        return self.dts[-1] + self.last_duration if self.dts else 0

    def add(self, samples: _FileTrack, lo: int, hi: int, shift: int) -> None:
        """Append samples[lo:hi], moved ``shift`` ticks on the export's timeline."""
        first = len(self.dts) + 1
        self.dts += [decode + shift for decode in samples.dts[lo:hi]]
        self.sizes += samples.sizes[lo:hi]
        self.composition += samples.composition[lo:hi]
        self.sync += [
            first + number
            for number, flags in enumerate(samples.flags[lo:hi])
            if not flags & mp4box.SAMPLE_NON_SYNC
        ]
        self.last_duration = samples.durations[hi - 1]

    def durations(self) -> list[int]:
        """Return every sample's duration: up to the next sample, the last one its own."""
        durations = [b - a for a, b in zip(self.dts, self.dts[1:], strict=False)]
        if self.dts:
            durations.append(self.last_duration)
        return durations


def _signature(tracks: dict[int, mp4box.TrackDefaults]) -> dict[int, tuple[bytes, bool]]:
    return {key: (t.handler, t.has_edits) for key, t in tracks.items()}


def _keyframe_index(video: _FileTrack, moment: float, timescale: int) -> int:
    """Return the index of the last keyframe at or before ``moment`` (file seconds)."""
    limit = (moment + _EPSILON) * timescale
    best = 0
    for index, flags in enumerate(video.flags):
        if not flags & mp4box.SAMPLE_NON_SYNC and video.pts(index) <= limit:
            best = index
    return best


class _Stitcher:
    """Plans one MP4 of consecutive fragmented files: sample tables and byte copies.

    Every file's time 0 goes on the export's timeline where the index says the
    previous file ended (gaps are skipped), never before the previous file's video
    ended, and every track of the file keeps its own times around that point: no
    drift between audio and video however many files are stitched. Audio that
    the previous file's audio already covers is left out.
    """

    def __init__(self, moov: bytes, tracks: dict[int, mp4box.TrackDefaults]) -> None:
        """Start a plan with the first file's moov and tracks."""
        videos = [t.track_id for t in tracks.values() if t.handler == b"vide"]
        others = [t for t in tracks.values() if t.handler != b"vide"]
        if len(videos) != 1:
            raise _CannotStitchError("stitching needs exactly one video track")
        if len(others) > 1 or any(t.handler != b"soun" for t in others):
            raise _CannotStitchError("a track other than one video and one audio track")
        if any(t.has_edits for t in tracks.values()):
            raise _CannotStitchError("a track has an edit list")
        self.moov = moov
        self.signature = _signature(tracks)
        self.video = videos[0]
        self.tracks = {key: _OutTrack(track) for key, track in tracks.items()}
        self.copies: list[tuple[Path, int, int]] = []  # (file, offset, length)
        self.payload = 0  # bytes of the mdat's data (samples, and headers copied along)
        self.media_time = 0  # composition offset of the first video sample (its edit)
        self.presented = 0  # where the video ends as it is shown, video ticks
        self.offset = 0.0  # export seconds of the current file's time 0
        self._next_offset = 0.0

    def add_file(
        self,
        segment: Segment,
        path: Path,
        file_layout: mp4box.Mp4Layout,
        tracks: dict[int, mp4box.TrackDefaults],
        cut: float | None,
        until: float | None,
    ) -> None:
        """Add a file: from the keyframe at or before ``cut`` to ``until`` (file seconds)."""
        if _signature(tracks) != self.signature:
            raise _CannotStitchError(f"{path.name}: the tracks differ from the first file's")
        samples = _file_tracks(mp4box.sample_runs(path, file_layout, tracks))
        for track_id, track in samples.items():
            source, target = tracks[track_id].timescale, self.tracks[track_id].source.timescale
            if source != target and track.dts:  # another run may count time otherwise
                track.rescale(source, target)
        video = samples.get(self.video)
        if video is None or not video.dts:
            raise _CannotStitchError(f"{path.name} holds no video sample")
        kept = {self.video: self._place_video(video, cut, until)}
        for track_id, track in samples.items():
            if track_id != self.video and track.dts:
                kept[track_id] = self._place_audio(track_id, track, until)
        self._copy(path, samples, kept)
        self._next_offset = self.offset + segment.duration

    def _place_video(
        self, video: _FileTrack, cut: float | None, until: float | None
    ) -> tuple[int, int]:
        table = self.tracks[self.video]
        scale = table.source.timescale
        lo = 0
        if not table.dts:  # the export's first file: its cut keyframe is time 0
            if cut is not None:
                lo = _keyframe_index(video, cut, scale)
            self.media_time = video.composition[lo]
            if self.media_time < 0:
                raise _CannotStitchError("negative composition offset")
            shift = -video.dts[lo]
        else:
            shift = round(self._next_offset * scale) + self.media_time
            # A file holding more video than the index says is not overlapped.
            shift = max(shift, table.end - video.dts[0])
        self.offset = (shift - self.media_time) / scale
        hi = len(video.dts)
        if until is not None:
            limit = until * scale
            hi = max(
                (index + 1 for index in range(lo, hi) if video.pts(index) < limit), default=lo + 1
            )
        table.add(video, lo, hi, shift)
        # Where the video is seen to end: the end of its latest frame (B-frames are
        # decoded before they are shown), or ``until``.
        ends = zip(video.dts[lo:hi], video.composition[lo:hi], video.durations[lo:hi], strict=True)
        self.presented = shift - self.media_time + max(map(sum, ends))
        if until is not None:
            limit = round((self.offset + until) * scale)
            self.presented = min(self.presented, limit)
            room = limit - table.dts[-1]
            if 0 < room < table.last_duration:  # without B-frames: ends right at ``until``
                table.last_duration = room
        return lo, hi

    def _place_audio(
        self, track_id: int, samples: _FileTrack, until: float | None
    ) -> tuple[int, int]:
        table = self.tracks[track_id]
        scale = table.source.timescale
        shift = round(self.offset * scale)
        dts, durations = samples.dts, samples.durations
        if len(dts) > 1 and durations[0] > durations[1]:
            # ffmpeg starts every track of a file at 0 by lengthening its first
            # sample: that audio frame really starts one frame before the second.
            dts[0] = dts[1] - durations[1]
            durations[0] = durations[1]
        lo, hi = 0, len(dts)
        floor = table.end
        if table.dts:  # after another file: leave out what its audio already covers
            while lo < hi and dts[lo] + durations[lo] + shift <= floor:
                lo += 1
            off = floor - (dts[lo] + shift) if lo < hi else 0
            if off and abs(off) < durations[lo]:
                # The recorder keeps a packet older than a file's start from shifting the
                # file's timeline (avoid_negative_ts=disabled), so ffmpeg starts this
                # file's audio at 0, less than a frame off where it really begins: it
                # continues the previous file's audio, which is where it goes.
                shift += off
        else:  # the export's first file: no audio before its first keyframe
            while lo < hi and dts[lo] + shift < 0:
                lo += 1
        if until is not None:  # no audio after the last video frame
            video_end = self.presented / self.tracks[self.video].source.timescale
            while hi > lo and dts[hi - 1] + shift >= video_end * scale:
                hi -= 1
        if hi > lo:
            first = len(table.dts)
            table.add(samples, lo, hi, shift)
            table.dts[first] = max(table.dts[first], floor)  # never before the previous end
        return lo, hi

    def _copy(
        self, path: Path, samples: dict[int, _FileTrack], kept: dict[int, tuple[int, int]]
    ) -> None:
        """Plan the copy of the kept samples' bytes, in file order, as chunks."""
        # (first byte, end byte, first sample, sample count, track id) of every chunk:
        # samples of one track stored back to back
        chunks: list[tuple[int, int, int, int, int]] = []
        for track_id, (lo, hi) in kept.items():
            track = samples[track_id]
            index = lo
            while index < hi:
                stop = index + 1
                end = track.positions[index] + track.sizes[index]
                while stop < hi and track.positions[stop] == end:
                    end += track.sizes[stop]
                    stop += 1
                chunks.append((track.positions[index], end, index, stop - index, track_id))
                index = stop
        chunks.sort()
        last: dict[int, int] = {}
        for first, end, index, count, track_id in chunks:
            if last.get(track_id, -1) >= index:
                raise _CannotStitchError(f"{path.name}: samples stored out of decode order")
            last[track_id] = index
            table = self.tracks[track_id]
            table.chunk_offsets.append(self._add_copy(path, first, end - first))
            table.chunk_counts.append(count)

    def _add_copy(self, path: Path, offset: int, length: int) -> int:
        """Plan copying ``length`` bytes of ``path`` from ``offset``; return where they land.

        A range that starts shortly after the previous one in the same file joins it:
        the bytes between (the next fragment's moof and mdat headers) are copied along,
        unused, so a file is copied in one call rather than one per fragment.
        """
        if self.copies:
            last_path, last_offset, last_length = self.copies[-1]
            gap = offset - (last_offset + last_length)
            if last_path is path and 0 <= gap <= _JOIN_GAP:  # the same file
                self.copies[-1] = (path, last_offset, last_length + gap + length)
                self.payload += gap + length
                return self.payload - length
        self.copies.append((path, offset, length))
        self.payload += length
        return self.payload - length

    def finish(self) -> None:
        """Check the plan: every sample lasts at least one tick."""
        for table in self.tracks.values():
            if any(duration <= 0 for duration in table.durations()):
                raise _CannotStitchError("decode times do not increase")
            if sum(table.chunk_counts) != len(table.dts):
                raise _CannotStitchError("chunks and samples disagree")

    def video_seconds(self) -> float:
        """Return the duration of the export's video as it is shown."""
        return self.presented / self.tracks[self.video].source.timescale


def _plan_stitch(
    chosen: list[tuple[Segment, mp4box.Mp4Layout]],
    root: Path,
    start: float,
    end: float,
    stop: threading.Event,
) -> _Stitcher:
    """Plan the stitched export of [start, end). Blocks (reads the fragment headers)."""
    stitcher: _Stitcher | None = None
    last = len(chosen) - 1
    for number, (segment, file_layout) in enumerate(chosen):
        _check_stop(stop)
        path = segment.file(root)
        moov = mp4box.moov_bytes(path, file_layout)
        tracks = mp4box.track_defaults(moov)
        if stitcher is None:
            stitcher = _Stitcher(moov, tracks)
        cut = start - segment.start if number == 0 and start - segment.start > _EPSILON else None
        until = end - segment.start if number == last and segment.end - end > _EPSILON else None
        stitcher.add_file(segment, path, file_layout, tracks, cut, until)
    if stitcher is None:
        raise _CannotStitchError("no file")
    stitcher.finish()
    return stitcher


# Boxes of the export's moov.


def _box(kind: bytes, *parts: bytes) -> bytes:
    return struct.pack(">I4s", 8 + sum(len(part) for part in parts), kind) + b"".join(parts)


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _pack(fmt: str, values: list[int]) -> bytes:
    """Return ``values`` as big-endian integers of one struct format letter."""
    return struct.pack(f">{len(values)}{fmt}", *values)


def _run_lengths(values: list[int]) -> list[tuple[int, int]]:
    return [(len(list(group)), value) for value, group in groupby(values)]


def _with_duration(data: bytes, box: mp4box.Box, middle: int, duration: int) -> bytes:
    """Return an mvhd, tkhd or mdhd box with a new duration.

    After version and flags these boxes hold creation and modification times (4 or
    8 bytes each), ``middle`` other bytes, the duration (4 or 8 bytes) and the rest.
    Version 0 is written whenever the values fit 32 bits.
    """
    version = data[box.body]
    wide = version == 1
    pos = box.body + 4
    created, modified = struct.unpack_from(">QQ" if wide else ">II", data, pos)
    pos += 16 if wide else 8
    between = data[pos : pos + middle]
    rest = data[pos + middle + (8 if wide else 4) : box.end]
    flags = int.from_bytes(data[box.body + 1 : box.body + 4], "big")
    if max(created, modified, duration) <= _MAX_U32:
        return _full_box(
            box.kind, 0, flags, struct.pack(">II", created, modified), between,
            struct.pack(">I", duration), rest,
        )  # fmt: skip
    return _full_box(
        box.kind, 1, flags, struct.pack(">QQ", created, modified), between,
        struct.pack(">Q", duration), rest,
    )  # fmt: skip


def _edit_list(edits: list[tuple[int, int]]) -> bytes:
    """Return an edts box of (segment duration, media time) edits; media time -1 is empty."""
    wide = any(d > _MAX_U32 or not -_MAX_I32 <= t <= _MAX_I32 for d, t in edits)
    fmt = ">Qq" if wide else ">Ii"
    entries = b"".join(struct.pack(fmt, d, t) + struct.pack(">hh", 1, 0) for d, t in edits)
    elst = _full_box(b"elst", 1 if wide else 0, 0, struct.pack(">I", len(edits)), entries)
    return _box(b"edts", elst)


def _sample_tables(table: _OutTrack, chunk_base: int, co64: bool) -> list[bytes]:
    """Return the stts, ctts, stss, stsc, stsz and stco/co64 boxes of a track."""
    count = len(table.dts)
    stts = _run_lengths(table.durations())
    boxes = [
        _full_box(
            b"stts", 0, 0, struct.pack(">I", len(stts)), _pack("I", [v for e in stts for v in e])
        )
    ]
    if any(table.composition):
        ctts = _run_lengths(table.composition)
        signed = any(value < 0 for value in table.composition)
        values = [v for e in ctts for v in e]
        boxes.append(
            _full_box(
                b"ctts",
                1 if signed else 0,
                0,
                struct.pack(">I", len(ctts)),
                b"".join(
                    struct.pack(">Ii" if signed else ">II", n, v)
                    for n, v in zip(values[::2], values[1::2], strict=True)
                ),
            )
        )
    if len(table.sync) != count:
        boxes.append(
            _full_box(b"stss", 0, 0, struct.pack(">I", len(table.sync)), _pack("I", table.sync))
        )
    stsc: list[int] = []
    first = 1
    for value, group in groupby(table.chunk_counts):
        stsc += [first, value, 1]
        first += len(list(group))
    boxes.append(_full_box(b"stsc", 0, 0, struct.pack(">I", len(stsc) // 3), _pack("I", stsc)))
    if count and len(set(table.sizes)) == 1:
        boxes.append(_full_box(b"stsz", 0, 0, struct.pack(">II", table.sizes[0], count)))
    else:
        boxes.append(
            _full_box(b"stsz", 0, 0, struct.pack(">II", 0, count), _pack("I", table.sizes))
        )
    offsets = [chunk_base + offset for offset in table.chunk_offsets]
    kind, fmt = (b"co64", "Q") if co64 else (b"stco", "I")
    boxes.append(_full_box(kind, 0, 0, struct.pack(">I", len(offsets)), _pack(fmt, offsets)))
    return boxes


def _child(data: bytes, box: mp4box.Box, kind: bytes) -> mp4box.Box:
    found = next((b for b in mp4box.iter_boxes(data, box.body, box.end) if b.kind == kind), None)
    if found is None:
        raise _CannotStitchError(f"no {kind.decode(errors='replace')} box")
    return found


def _build_moov(plan: _Stitcher, chunk_base: int, co64: bool) -> bytes:
    """Return the export's moov: the first file's, with sample tables and durations."""
    moov = plan.moov
    root = mp4box.iter_boxes(moov)[0]
    mvhd = _child(moov, root, b"mvhd")
    movie_scale = struct.unpack_from(">I", moov, mvhd.body + (20 if moov[mvhd.body] else 12))[0]
    parts: list[bytes] = []
    longest = 0
    for child in mp4box.iter_boxes(moov, root.body, root.end):
        if child.kind == b"trak":
            trak, presented = _build_trak(moov, child, plan, movie_scale, chunk_base, co64)
            parts.append(trak)
            longest = max(longest, presented)
        elif child.kind not in {b"mvhd", b"mvex"}:  # no fragments any more: no mvex
            parts.append(moov[child.offset : child.end])
    return _box(b"moov", _with_duration(moov, mvhd, 4, longest), *parts)


def _build_trak(
    moov: bytes, trak: mp4box.Box, plan: _Stitcher, movie_scale: int, chunk_base: int, co64: bool
) -> tuple[bytes, int]:
    """Return a trak box and its duration on the movie timescale (edits included)."""
    tkhd = _child(moov, trak, b"tkhd")
    track_id = struct.unpack_from(">I", moov, tkhd.body + (20 if moov[tkhd.body] else 12))[0]
    table = plan.tracks[track_id]
    media = sum(table.durations())
    scale = table.source.timescale
    presented = round(media * movie_scale / scale)
    edits: list[tuple[int, int]] = []
    if track_id == plan.video:
        presented = round(plan.presented * movie_scale / scale)
        if plan.media_time or plan.presented != media:  # B-frames: shown from the first
            edits = [(presented, plan.media_time)]
    elif table.dts and table.dts[0] > 0:  # starts after the first frame: an empty edit first
        delay = round(table.dts[0] * movie_scale / scale)
        edits = [(delay, -1), (presented, 0)]
        presented += delay
    parts: list[bytes] = []
    for child in mp4box.iter_boxes(moov, trak.body, trak.end):
        if child.kind == b"tkhd":
            parts.append(_with_duration(moov, child, 8, presented))
            if edits:
                parts.append(_edit_list(edits))
        elif child.kind == b"mdia":
            parts.append(_build_mdia(moov, child, table, media, chunk_base, co64))
        else:  # no edts: a file with edit lists is not stitched
            parts.append(moov[child.offset : child.end])
    return _box(b"trak", *parts), presented


def _build_mdia(
    moov: bytes, mdia: mp4box.Box, table: _OutTrack, media: int, chunk_base: int, co64: bool
) -> bytes:
    parts: list[bytes] = []
    for child in mp4box.iter_boxes(moov, mdia.body, mdia.end):
        if child.kind == b"mdhd":
            parts.append(_with_duration(moov, child, 4, media))
        elif child.kind == b"minf":
            inner: list[bytes] = []
            for box in mp4box.iter_boxes(moov, child.body, child.end):
                if box.kind == b"stbl":  # the sample description, then the new tables
                    stsd = _child(moov, box, b"stsd")
                    tables = _sample_tables(table, chunk_base, co64)
                    inner.append(_box(b"stbl", moov[stsd.offset : stsd.end], *tables))
                else:
                    inner.append(moov[box.offset : box.end])
            parts.append(_box(b"minf", *inner))
        else:
            parts.append(moov[child.offset : child.end])
    return _box(b"mdia", *parts)


def _ftyp(plan: _Stitcher) -> bytes:
    """Return the ftyp box ffmpeg writes for an ordinary MP4 (isom, iso2, avc1, mp41)."""
    moov = plan.moov
    root = mp4box.iter_boxes(moov)[0]
    entry = b""
    for trak in mp4box.iter_boxes(moov, root.body, root.end):
        if trak.kind != b"trak":
            continue
        tkhd = _child(moov, trak, b"tkhd")
        if (
            struct.unpack_from(">I", moov, tkhd.body + (20 if moov[tkhd.body] else 12))[0]
            == plan.video
        ):
            stbl = _child(moov, _child(moov, _child(moov, trak, b"mdia"), b"minf"), b"stbl")
            stsd = _child(moov, stbl, b"stsd")
            entry = moov[stsd.body + 12 : stsd.body + 16]
    brands = [b"isom", b"iso2"] + ([b"avc1"] if entry in {b"avc1", b"avc3"} else []) + [b"mp41"]
    return _box(b"ftyp", b"isom", struct.pack(">I", 0x200), *brands)


# Writing the stitched file.


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _preallocate(fd: int, size: int) -> None:
    """Reserve ``size`` bytes of disk for ``fd`` without changing its length.

    Linux ``fallocate(FALLOC_FL_KEEP_SIZE)``: the filesystem allocates the file's
    blocks at once instead of extending it write after write (on ext4 this makes
    the copy about 25 % faster), and a disk too small for the export fails here,
    before anything is copied. Where the call does not exist or the filesystem
    cannot do it, nothing happens: glibc's ``posix_fallocate`` would instead
    write every block once, which is why it is not used.
    """
    call = _fallocate()
    if call is None or size <= 0:
        return
    if call(fd, _FALLOC_FL_KEEP_SIZE, 0, size) != 0:
        code = ctypes.get_errno()
        if code in {errno.ENOSPC, errno.EFBIG}:
            raise OSError(code, os.strerror(code))


@functools.cache
def _fallocate() -> Callable[[int, int, int, int], int] | None:
    """Return libc's ``fallocate`` (64-bit offsets), or None where there is none."""
    if not sys.platform.startswith("linux") or ctypes.sizeof(ctypes.c_void_p) != 8:  # noqa: PLR2004
        return None  # 32-bit: off_t may be 32 bits wide; not worth the risk
    try:
        call = ctypes.CDLL(None, use_errno=True).fallocate
    except OSError, AttributeError:
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    call.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", call)


def _copy(source: int, target: int, offset: int, length: int, buffer: memoryview) -> None:
    """Append ``length`` bytes of ``source`` from ``offset`` to ``target``.

    Copies through ``buffer`` (read into it, written from it): on ext4 with warm
    caches, 1 MiB reads and writes are faster than ``copy_file_range`` (which
    splices page by page) and as fast as ``cp``.
    """
    while length > 0:
        chunk = buffer[: min(length, len(buffer))]
        done = os.preadv(source, [chunk], offset)
        if done <= 0:
            raise ExportError("write_failed", "a segment file is shorter than its fragments say")
        _write_all(target, chunk[:done])
        offset += done
        length -= done


def _write(plan: _Stitcher, tmp_path: Path, stop: threading.Event) -> int:
    """Write the stitched MP4 (ftyp, moov, one mdat) to ``tmp_path``; return its size.

    Checks ``stop`` between copy chunks.
    """
    ftyp = _ftyp(plan)
    large = plan.payload + 8 > _MAX_U32  # the mdat needs a 64-bit size
    header = 16 if large else 8
    # The moov's size does not depend on the chunk offsets, only on their width:
    # 32 bits unless the file passes 4 GiB.
    co64 = False
    moov = _build_moov(plan, 0, co64)
    if len(ftyp) + len(moov) + header + plan.payload > _MAX_U32:
        co64 = True
        moov = _build_moov(plan, 0, co64)
    base = len(ftyp) + len(moov) + header
    moov = _build_moov(plan, base, co64)
    if large:
        mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + plan.payload)
    else:
        mdat = struct.pack(">I4s", 8 + plan.payload, b"mdat")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    fd = os.open(tmp_path, flags, 0o666)
    try:
        _preallocate(fd, base + plan.payload)
        _write_all(fd, ftyp + moov + mdat)
        buffer = memoryview(bytearray(_COPY_CHUNK))
        for path, copies in groupby(plan.copies, key=lambda copy: copy[0]):
            _check_stop(stop)
            source = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                for _, offset, length in copies:
                    # In chunks: ``stop`` is noticed between them.
                    for at in range(offset, offset + length, _STOP_CHUNK):
                        _check_stop(stop)
                        _copy(source, fd, at, min(_STOP_CHUNK, offset + length - at), buffer)
            finally:
                os.close(source)
        written = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if written != base + plan.payload:
        raise ExportError("write_failed", f"wrote {written} bytes, not {base + plan.payload}")
    return written


def _stitch(
    chosen: list[tuple[Segment, mp4box.Mp4Layout]],
    root: Path,
    start: float,
    end: float,
    tmp_path: Path,
    stop: threading.Event,
) -> tuple[float, int] | None:
    """Write the stitched export to ``tmp_path``; return (video seconds, bytes).

    Returns None when stitching does not apply (the remux then makes the export).
    Blocks: runs in a worker thread. On any failure, and when ``stop`` is set,
    ``tmp_path`` is removed before this returns.
    """
    try:
        plan = _plan_stitch(chosen, root, start, end, stop)
    except (_CannotStitchError, mp4box.Mp4Error, OSError) as err:
        _LOGGER.debug("export of %d segments cannot be stitched (%s): remuxing", len(chosen), err)
        return None
    try:
        size = _write(plan, tmp_path, stop)
        _check_stop(stop)  # stopped after the last copy: the caller no longer waits
    except OSError as err:
        _remove(tmp_path)
        raise ExportError("write_failed", str(err)) from err
    except BaseException:
        _remove(tmp_path)
        raise
    _LOGGER.debug(
        "export of %d segments stitched: %d bytes copied in %d ranges",
        len(chosen), plan.payload, len(plan.copies),
    )  # fmt: skip
    return plan.video_seconds(), size


async def _run_stitch(
    chosen: list[tuple[Segment, mp4box.Mp4Layout]],
    root: Path,
    start: float,
    end: float,
    tmp_path: Path,
    timeout: float,
) -> tuple[float, int] | None:
    """Run :func:`_stitch` in a thread; stop it promptly on cancellation or timeout."""
    stop = threading.Event()
    worker = asyncio.ensure_future(
        asyncio.to_thread(_stitch, chosen, root, start, end, tmp_path, stop)
    )
    try:
        done, _ = await asyncio.wait([worker], timeout=timeout)  # never cancels the worker
    except BaseException:
        stop.set()
        await _settle(worker)
        raise
    if not done:
        stop.set()
        await _settle(worker)
        raise ExportError("timeout", f"the export took longer than {timeout:g} s")
    return worker.result()


async def _settle(worker: asyncio.Future[tuple[float, int] | None]) -> None:
    """Wait until a stopped worker thread has ended (it removes its own output)."""
    if not worker.done():
        await asyncio.wait([worker])
    if not worker.cancelled():
        worker.exception()  # retrieved: _StoppedError or the failure that ended it
