"""H.264 renditions of stored H.265 footage, for clients that cannot decode H.265.

Stored footage is never re-encoded: a client that decodes H.265 (Safari, the Apple
companion apps, browsers with hardware HEVC) gets the stored segments untouched
(:func:`wants_rendition`). For the others, :class:`Renditions` makes an H.264 copy of
a stored segment on demand, one playlist part at a time, and caches it.

A rendition is a drop-in for its source segment. It is fragmented MP4 on the *same
timeline*: ffmpeg keeps the source's time base (``-enc_time_base demux``) and every
frame's time (``-fps_mode passthrough``), so timestamps restart at 0 as in the source
(ffmpeg starts its output at 0; a rendition of anything that does not start at 0 is
moved back onto the source's times with ``mp4box.shift_fragments``), the duration is the
same, and keyframes sit where the source has them (``-force_key_frames source``; the
first frame is one). Fragments are cut like the recorder's (``frag_keyframe``, 1 s),
audio is copied, the track ids and time scales are the source's. So
``hls.build_playlist`` (with the index's segment times), ``hls.init_bytes``/
``hls.media_bytes`` and ``mp4box.shift_fragments`` work on renditions unchanged: serve
the rendition's bytes where the stored file's would be served. Renditions of one
recording run share their init part (same encoder settings, same size), so one
``EXT-X-MAP`` per run holds.

Pieces: a part must be made whole before a player shows its first frame, and a stored
segment may be 10 s or 300 s long. :func:`plan_cuts` cuts a segment into
:class:`TimePiece` s of a few seconds by time alone (no file read: a playlist of a day
lists thousands of segments) and :meth:`Renditions.segment` makes one piece: ffmpeg
reads the piece's fragments from the keyframe before its start, decodes the frames
before it without keeping them, and the piece's frames keep their times on the
segment's timeline (its first is a keyframe of the rendition's own). The pieces of a
plan hold every frame once, so they join without a jump. List a segment's pieces as
playlist parts of their own so the first part is ready soon. (:meth:`Renditions.pieces`
/ :func:`plan_pieces` cut at keyframe fragments instead; they read the file.)

Bounded: at most ``max_running`` ffmpeg processes at once for the whole installation
(more requests queue; a viewer waiting for a part goes before parts made ahead of the
playhead, and a part made ahead is stopped and re-queued when a viewer waits for a
slot it holds); concurrent requests of one segment share one ffmpeg; the cache holds
at most ``cache_bytes`` (least recently used whole files are evicted; a file used in
the last ``hold_seconds`` stays, so a path just returned is never pulled from under
its reader). A rendition appears atomically (written under a hidden temporary name in
the cache folder, checked, then renamed). Transcodes run at a lower CPU priority (nice
5, exports nice 10): recording and Home Assistant come first. An ffmpeg that makes no
progress for ``stall_timeout`` seconds is stopped (a part of any length may take as long
as it needs while it moves).

Live (not wired yet): :meth:`Renditions.segment` needs only a fragmented MP4 whose
first video frame is a keyframe, and its rendition keeps that file's timestamps whatever
they are. A live feed can therefore write its init part plus the fragments of a short
window (starting at a keyframe) into a small file and pass that as ``source`` with a
key of its own (``live/<camera>/<sequence>``); the rendition keeps the window's decode
times, so consecutive windows join on one timeline, and ``prune`` (with the live keys
left out of ``existing_keys``) or eviction drops them.

Hardware: :func:`detect` lists the H.264 encoders and hardware accelerations ffmpeg
has and tries each encoder with a tiny test encode (VAAPI, QSV, NVENC, V4L2 M2M, then
libx264); :meth:`Capabilities.best` is the first that works. Decoding stays in
software (1080p H.265 costs a small part of what encoding does).

Every public coroutine runs blocking work (file system, stat) in the executor.
"""

from __future__ import annotations

import asyncio
import base64
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
import contextlib
import dataclasses
from dataclasses import asdict, dataclass, field
import hashlib
import itertools
import logging
import os
from pathlib import Path
import re
import secrets
import struct
import time
from typing import Any, Final

from . import mp4box

_LOGGER = logging.getLogger(__name__)

type Executor = Callable[..., Awaitable[Any]]

# Bumped whenever the ffmpeg command changes what a rendition holds: old files are dropped.
RENDITION_FORMAT: Final = 1
FRAGMENT_MICROSECONDS: Final = 1_000_000  # as the recorder's fragments
TRANSCODE_NICE: Final = 5  # CPU priority of renditions: recorders and Home Assistant first
EXPORT_NICE: Final = 10  # exports for sharing: after playback too
_STDERR_TAIL: Final = 2000
_TEST_TIMEOUT: Final = 15.0
# <key, base64url>.<settings>.<part>.<source file version>.mp4; the part: all, fragments
# first-stop (a keyframe piece) or t<first ms>-<stop ms> (a piece cut by time)
_NAME_RE: Final = re.compile(
    r"^(?P<key>[A-Za-z0-9_-]+)\.(?P<profile>[0-9a-f]{8})\.(?P<part>all|\d+-\d+|t\d+-\d+)"
    r"\.(?P<version>[0-9a-f]{12})\.mp4$"
)
MAX_KEY_BYTES: Final = 150  # the key is in the cache file's name (255 bytes at most)
_EPSILON: Final = 1e-6  # seconds
_CUT_BEFORE: Final = 1e-4  # a time piece is cut this long before its first frame (seconds)
_TEMP_SUFFIX: Final = ".tmp"

# H.264 encoders, best first, and the device each needs.
HARDWARE_ENCODERS: Final = ("h264_vaapi", "h264_qsv", "h264_nvenc", "h264_v4l2m2m")
SOFTWARE_ENCODER: Final = "libx264"


class TranscodeError(Exception):
    """A rendition or export could not be made; ``reason`` is a short key.

    Reasons: ``source_missing``, ``not_fragmented``, ``ffmpeg_missing``, ``ffmpeg_failed``,
    ``stalled``, ``cancelled``, ``closed``.
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        """Store the reason key next to an optional detail message."""
        super().__init__(message or reason)
        self.reason = reason


def wants_rendition(video_codec: str | None, *, client_decodes_hevc: bool) -> bool:
    """Return True when a client needs the H.264 rendition of footage in ``video_codec``.

    Only H.265 footage is ever transcoded, and only for clients that say they cannot
    decode it; everything else gets the stored stream untouched.
    """
    return video_codec in ("hevc", "h265") and not client_decodes_hevc


# -- encoders and quality ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoder:
    """An H.264 encoder of ffmpeg and the device node it needs (hardware only)."""

    name: str = SOFTWARE_ENCODER
    device: str | None = None

    @property
    def hardware(self) -> bool:
        """Return True for a hardware encoder."""
        return self.name != SOFTWARE_ENCODER


LIBX264: Final = Encoder()


@dataclass(frozen=True, slots=True)
class Quality:
    """What a rendition looks like: size cap, rate control, libx264 preset and tune."""

    preset: str = "ultrafast"
    tune: str | None = "zerolatency"
    crf: int = 23
    max_width: int = 1920  # of a landscape picture (a portrait one is capped the other way)
    max_height: int = 1080
    maxrate_kbps: int | None = 4000  # a cap for viewing over a home connection


# Viewing: the fastest preset, zerolatency tune (sliced threads, no lookahead). Measured on
# 1080p15 H.265 -> H.264 (scripts/bench, section "transcode", and docs/bench.md): it makes a
# part soonest for the least CPU per watched minute; superfast/veryfast cost 1.4x/1.8x the
# CPU for files up to a third smaller, which a LAN and a bounded cache do not need.
VIEWING: Final = Quality(preset="ultrafast", tune="zerolatency")
# Sharing: exports run once and are downloaded and kept, so size matters more than time.
SHARING: Final = Quality(preset="veryfast", tune=None, crf=22, maxrate_kbps=8000)


def _scale_filter(quality: Quality) -> str:
    """Fit the picture into the size cap (either orientation), even sizes, 8-bit 4:2:0."""
    long_side, short_side = quality.max_width, quality.max_height
    width = f"min(iw\\,if(gte(iw\\,ih)\\,{long_side}\\,{short_side}))"
    height = f"min(ih\\,if(gte(iw\\,ih)\\,{short_side}\\,{long_side}))"
    return (
        f"scale=w={width}:h={height}:force_original_aspect_ratio=decrease"
        ":force_divisible_by=2,format=yuv420p"
    )


def encoder_args(encoder: Encoder, quality: Quality) -> tuple[list[str], list[str]]:
    """Return (arguments before ``-i``, video arguments after it) for an encoder."""
    filters = _scale_filter(quality)
    rate: list[str] = []
    if quality.maxrate_kbps:
        # A one-second buffer: a part of a few seconds cannot burst far past the cap.
        rate = ["-maxrate", f"{quality.maxrate_kbps}k", "-bufsize", f"{quality.maxrate_kbps}k"]
    # Hardware encoders have no CRF: an average bitrate under the same cap.
    hardware_rate = ["-b:v", f"{(quality.maxrate_kbps or 8000) * 3 // 4}k", *rate, "-bf", "0"]
    before: list[str] = []
    match encoder.name:
        case "h264_vaapi":
            before = ["-init_hw_device", f"vaapi=hw:{encoder.device}", "-filter_hw_device", "hw"]
            video = ["-vf", f"{filters},format=nv12,hwupload", "-c:v", "h264_vaapi", *hardware_rate]
        case "h264_qsv":
            before = ["-init_hw_device", f"qsv=hw:{encoder.device}", "-filter_hw_device", "hw"]
            upload = "format=nv12,hwupload=extra_hw_frames=16"
            video = ["-vf", f"{filters},{upload}", "-c:v", "h264_qsv", "-preset", "veryfast"]
            video += hardware_rate
        case "h264_nvenc":
            video = ["-vf", filters, "-c:v", "h264_nvenc", "-preset", "p3", *hardware_rate]
        case "h264_v4l2m2m":
            video = ["-vf", filters, "-c:v", "h264_v4l2m2m", *hardware_rate[:2]]
        case _:
            video = ["-vf", filters, "-c:v", "libx264", "-preset", quality.preset]
            if quality.tune:
                video += ["-tune", quality.tune]
            video += ["-crf", str(quality.crf), *rate, "-bf", "0"]
    return before, video


def rendition_args(
    ffmpeg: str,
    encoder: Encoder,
    quality: Quality,
    source: Path,
    out: Path,
    keep: tuple[float | None, float | None] = (None, None),
) -> list[str]:
    """Return the ffmpeg command that makes the rendition of ``source`` at ``out``.

    ``keep``: the frames to keep, from and to (seconds on the source's timeline; None:
    from its start, to its end). The frames before are decoded, not kept.
    """
    before, video = encoder_args(encoder, quality)
    if keep != (None, None):
        before = [*before, "-copyts"]  # the times to keep are the source's
    cut = [
        *(["-ss", f"{keep[0]:.6f}"] if keep[0] is not None else []),
        *(["-to", f"{keep[1]:.6f}"] if keep[1] is not None else []),
    ]
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        *before,
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        *cut,
        *video,
        "-force_key_frames",
        "source",
        "-enc_time_base:v",
        "demux",
        "-fps_mode",
        "passthrough",
        "-c:a",
        "copy",
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof",
        "-frag_duration",
        str(FRAGMENT_MICROSECONDS),
        "-progress",
        "pipe:1",
        "-f",
        "mp4",
        "-y",
        str(out),
    ]


# -- hardware detection -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What this machine's ffmpeg can use to make H.264, for the choice and diagnostics."""

    ffmpeg: str
    version: str | None = None  # ffmpeg's version line; None when ffmpeg cannot run
    encoders: tuple[str, ...] = ()  # H.264 encoders ffmpeg was built with
    hwaccels: tuple[str, ...] = ()  # hardware acceleration methods ffmpeg lists
    devices: tuple[str, ...] = ()  # device nodes found (/dev/dri/renderD*, /dev/video*, ...)
    working: tuple[Encoder, ...] = ()  # passed a test encode, best first
    failed: dict[str, str] = field(default_factory=dict)  # encoder -> why it is not used

    @property
    def best(self) -> Encoder | None:
        """Return the encoder to use: the first working one (hardware first)."""
        return self.working[0] if self.working else None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly summary for diagnostics (no paths beyond /dev nodes)."""
        data = asdict(self)
        data["working"] = [e.name for e in self.working]
        best = self.best
        data["chosen"] = best.name if best else None
        data["hardware"] = bool(best and best.hardware)
        return data


def _devices_for(name: str) -> list[str]:
    dev = Path("/dev")
    if name in ("h264_vaapi", "h264_qsv"):
        return sorted(str(p) for p in dev.glob("dri/renderD*"))
    if name == "h264_nvenc":
        return [str(p) for p in (dev / "nvidiactl", dev / "nvidia0") if p.exists()][:1]
    if name == "h264_v4l2m2m":
        return sorted(str(p) for p in dev.glob("video*"))
    return []


async def _run(args: list[str], timeout: float) -> tuple[int, str]:
    """Run a short ffmpeg command; return (exit status, stdout + stderr text)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except BaseException:
        await _kill(proc)
        raise
    return proc.returncode or 0, out.decode(errors="replace")


async def _test_encode(ffmpeg: str, encoder: Encoder, timeout: float) -> str | None:
    """Encode a few frames with ``encoder`` exactly as renditions do; None when it works."""
    before, video = encoder_args(encoder, VIEWING)
    args = [
        *(ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *before),
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15", "-frames:v", "10", *video),
        *("-f", "null", "-"),
    ]
    try:
        status, out = await _run(args, timeout)
    except TimeoutError:
        return f"test encode took longer than {timeout:g} s"
    if status != 0:
        lines = [line for line in out.strip().splitlines() if line.strip()]
        return (lines[-1] if lines else f"exit status {status}")[:200]
    return None


async def detect(ffmpeg: str = "ffmpeg", timeout: float = _TEST_TIMEOUT) -> Capabilities:
    """Find which H.264 encoders this ffmpeg has and which really work here.

    Run once at start (it takes well under a second per encoder tried); the result goes
    to diagnostics and :meth:`Capabilities.best` to :class:`Renditions`. A hardware
    encoder is tried only when its device node exists.
    """
    try:
        status, version = await _run([ffmpeg, "-hide_banner", "-version"], timeout)
        _, listing = await _run([ffmpeg, "-hide_banner", "-encoders"], timeout)
        _, accels = await _run([ffmpeg, "-hide_banner", "-hwaccels"], timeout)
    except (OSError, TimeoutError) as err:
        return Capabilities(ffmpeg=ffmpeg, failed={"ffmpeg": f"cannot run ffmpeg: {err}"})
    if status != 0:
        return Capabilities(ffmpeg=ffmpeg, failed={"ffmpeg": version.strip()[-200:]})
    present = {
        parts[1]
        for line in listing.splitlines()
        if len(parts := line.split()) > 1 and parts[0].startswith("V")
    }
    candidates = [n for n in (*HARDWARE_ENCODERS, SOFTWARE_ENCODER) if n in present]
    hwaccels = tuple(
        line.strip()
        for line in accels.splitlines()[1:]
        if line.strip() and not line.startswith("Hardware")
    )
    devices: set[str] = set()
    working: list[Encoder] = []
    failed: dict[str, str] = {}
    for name in candidates:
        if name == SOFTWARE_ENCODER:
            encoder = LIBX264
        else:
            nodes = await asyncio.to_thread(_devices_for, name)
            devices.update(nodes)
            if not nodes:
                failed[name] = "no device"
                continue
            # The first node that works (a Pi has several /dev/video*; a PC one render node).
            encoder = Encoder(name, nodes[0])
        why = await _test_encode(ffmpeg, encoder, timeout)
        if why is None:
            working.append(encoder)
        else:
            failed[name] = why
    for name in (*HARDWARE_ENCODERS, SOFTWARE_ENCODER):
        if name not in present:
            failed[name] = "not in this ffmpeg"
    first = version.splitlines()[0] if version else None
    return Capabilities(
        ffmpeg=ffmpeg,
        version=first,
        encoders=tuple(candidates),
        hwaccels=hwaccels,
        devices=tuple(sorted(devices)),
        working=tuple(working),
        failed=failed,
    )


# -- running ffmpeg ------------------------------------------------------------


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await proc.wait()


async def _spawn(args: list[str], *, nice: int) -> asyncio.subprocess.Process:
    """Start ffmpeg (progress lines on stdout) at a lower CPU priority."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise TranscodeError("ffmpeg_missing", f"cannot run ffmpeg: {err}") from err
    with contextlib.suppress(OSError):  # raising a child's nice value needs no privilege
        os.setpriority(os.PRIO_PROCESS, proc.pid, nice)
    return proc


async def _run_to_end(
    proc: asyncio.subprocess.Process,
    stall_timeout: float,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Wait for ffmpeg, stopping it when its progress stalls; raise when it failed."""
    try:
        stderr = await _follow_progress(proc, stall_timeout, progress)
    except TimeoutError as err:
        await _kill(proc)
        raise TranscodeError("stalled", f"no progress for {stall_timeout:g} s") from err
    except BaseException:
        await _kill(proc)
        raise
    _check_exit(proc, stderr)


def _check_exit(proc: asyncio.subprocess.Process, stderr: bytes) -> None:
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace")[-_STDERR_TAIL:].strip()
        raise TranscodeError("ffmpeg_failed", tail or f"ffmpeg exited with {proc.returncode}")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# -- fragments and pieces --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of a stored segment that starts on a keyframe: its fragments [first, stop).

    ``start`` is the decode time of its first video frame on the segment's own timeline
    (0 for the first piece); ``end`` the next piece's start, None for the last piece
    (which runs to the end of the segment: the index's duration).
    """

    start: float
    end: float | None
    first: int
    stop: int

    @property
    def name(self) -> str:
        """Return how the cache and URLs name it: ``<first>-<stop>``."""
        return f"{self.first}-{self.stop}"


@dataclass(frozen=True, slots=True)
class TimePiece:
    """A stretch of a stored segment cut by time: its frames from ``first_ms`` to ``stop_ms``.

    Times are milliseconds on the segment's own timeline (its decode times). The piece
    holds every video frame whose decode time is at least ``first_ms`` (every frame from
    the start for the first piece) and below ``stop_ms`` (every frame to the end of the
    file for the ``last`` piece, whose ``stop_ms`` is the segment's duration). Consecutive
    pieces of a plan (see :func:`plan_cuts`) hold every frame once. Listing them needs no
    file read: the file is read when a piece is made (from the keyframe before its start,
    decoded but not kept; the rendition starts with a keyframe of its own). Frames are
    told apart by decode time, which is their presentation order in footage without
    B-frames (what cameras send); with B-frames a cut may move a frame to its neighbour.
    """

    first_ms: int
    stop_ms: int
    last: bool = False

    @property
    def start(self) -> float:
        """Return where it starts on the segment's timeline (seconds)."""
        return self.first_ms / 1000

    @property
    def end(self) -> float | None:
        """Return where the next piece starts (seconds); None for the last piece."""
        return None if self.last else self.stop_ms / 1000

    @property
    def name(self) -> str:
        """Return how the cache and URLs name it: ``t<first ms>-<stop ms>``."""
        return f"t{self.first_ms}-{self.stop_ms}"


type AnyPiece = Piece | TimePiece

# A part of a playlist: (stored segment, key) or (stored segment, key, piece).
type Part = tuple[Path, str] | tuple[Path, str, AnyPiece | None]


def plan_cuts(
    duration: float, first: float, seconds: float, min_last: float
) -> list[TimePiece] | None:
    """Cut a segment of ``duration`` seconds by time: a ``first`` piece, then ``seconds`` each.

    No file is read. A remainder shorter than ``min_last`` joins the piece before it;
    None when the segment is too short to cut (``duration < first + min_last``: list it
    whole). The pieces' durations add up to ``duration``.
    """
    total = round(duration * 1000)
    head, step, tail = round(first * 1000), round(seconds * 1000), round(min_last * 1000)
    if step <= 0 or head <= 0 or total < head + tail:
        return None
    bounds = [0, head]
    while bounds[-1] + step + tail <= total:
        bounds.append(bounds[-1] + step)
    bounds.append(total)
    return [
        TimePiece(begin, stop, last=stop == total) for begin, stop in itertools.pairwise(bounds)
    ]


@dataclass(frozen=True, slots=True)
class _Fragment:
    offset: int  # of its moof
    end: int  # past its mdat
    times: dict[int, int]  # track id -> decode time (tfdt) in the track's ticks
    keyframe: bool  # its first video sample is a sync sample
    samples: tuple[int, ...] = ()  # decode times of its video samples (ticks)


def _fragments(
    path: Path, samples: bool = False
) -> tuple[mp4box.Mp4Layout, int | None, list[_Fragment]]:
    """Return a fragmented MP4's layout, video track id and complete fragments. Blocks.

    ``samples``: also the decode time of every video sample (only a time piece's cut
    needs them; the other callers read the fragments' start times only).
    """
    file_layout = mp4box.layout(path)
    boxes = mp4box.top_level_boxes(path)
    fragments = []
    moofs: list[bytes] = []
    with path.open("rb") as handle:
        moov = next(box for box in boxes if box.kind == b"moov")
        handle.seek(moov.offset)
        moov_data = handle.read(moov.size)
        movie = mp4box.parse_movie(moov_data)
        video = movie.video_track
        for moof, mdat in itertools.pairwise(boxes):
            if moof.kind != b"moof" or mdat.kind != b"mdat" or mdat.end > file_layout.media_end:
                continue
            handle.seek(moof.offset)
            data = handle.read(moof.size)
            runs = mp4box.parse_moof(data, movie)
            times = {run.track_id: run.decode_time for run in runs}
            keyframe = any(run.track_id == video and run.starts_with_sync_sample for run in runs)
            fragments.append(_Fragment(moof.offset, mdat.end, times, keyframe))
            moofs.append(data)
    if samples and video is not None:
        sample_times = mp4box.track_sample_times(moov_data, moofs, video)
        fragments = [
            dataclasses.replace(fragment, samples=tuple(times))
            for fragment, times in zip(fragments, sample_times, strict=True)
        ]
    return file_layout, video, fragments


def plan_pieces(source: Path, seconds: float) -> list[Piece]:
    """Cut a stored segment into pieces of at least ``seconds``, each starting on a keyframe.

    Pieces are whole fragments (the recorder's are 1 s); a piece starts at a fragment
    whose first video frame is a keyframe, so a camera with a long keyframe interval
    gets longer pieces. With ``seconds`` <= 0 every keyframe fragment starts a piece.
    The pieces cover the whole file. Blocks: reads the moov and moof boxes only.

    Why: a part must be made whole before a player can show its first frame. A short
    first piece (2 s) is ready in a fraction of the time of a 10 s (or 300 s)
    segment; list the segment's pieces in the playlist as parts of their own (their
    EXTINF: ``end - start``), and serve each piece's media moved by ``offset -
    piece.start`` (a piece's rendition keeps the segment's timeline).
    """
    file_layout, video, fragments = _fragments(source)
    if not fragments:
        raise mp4box.Mp4Error(f"{source.name} holds no complete fragment")

    def start_of(fragment: _Fragment) -> float:
        track = video if video in fragment.times else min(fragment.times, default=None)
        if track is None or not file_layout.timescales.get(track):
            return 0.0
        return fragment.times[track] / file_layout.timescales[track]

    bounds = [0]
    for number, fragment in enumerate(fragments[1:], start=1):
        if fragment.keyframe and start_of(fragment) - start_of(fragments[bounds[-1]]) >= (
            seconds - _EPSILON
        ):
            bounds.append(number)
    bounds.append(len(fragments))
    starts = [0.0] + [start_of(fragments[first]) for first in bounds[1:-1]]
    return [
        Piece(
            start=starts[index],
            end=starts[index + 1] if index + 1 < len(starts) else None,
            first=first,
            stop=stop,
        )
        for index, (first, stop) in enumerate(itertools.pairwise(bounds))
    ]


def _plan_pieces_checked(source: Path, seconds: float) -> list[Piece]:
    try:
        return plan_pieces(source, seconds)
    except FileNotFoundError as err:
        raise TranscodeError("source_missing", f"{source.name} is not stored") from err
    except mp4box.Mp4Error as err:
        raise TranscodeError("not_fragmented", str(err)) from err


def _write_piece(source: Path, piece: Piece, out: Path) -> None:
    """Write the init part and a piece's fragments of ``source`` as a file of its own."""
    file_layout, _, fragments = _fragments(source)
    chosen = fragments[piece.first : piece.stop]
    if not chosen or len(chosen) != piece.stop - piece.first:
        raise TranscodeError("source_missing", f"{source.name} no longer holds that piece")
    _write_fragments(source, file_layout, chosen, out)


def _write_fragments(
    source: Path, file_layout: mp4box.Mp4Layout, chosen: Sequence[_Fragment], out: Path
) -> None:
    """Write the init part of ``source`` and the consecutive ``chosen`` fragments as ``out``."""
    with source.open("rb") as handle:
        init = handle.read(file_layout.init_end)
        handle.seek(chosen[0].offset)
        media = handle.read(chosen[-1].end - chosen[0].offset)
    # (re-based only where a fragment points at absolute file positions)
    media = mp4box.shift_fragments(media, file_layout.timescales, 0.0, chosen[0].offset)
    out.write_bytes(init + media)


@dataclass(frozen=True, slots=True)
class _Cut:
    """How ffmpeg makes a time piece of the file written for it."""

    start: float  # decode time of the piece's first frame (seconds, the segment's timeline)
    keep_from: float | None  # drop the packets before (just before its first frame)
    keep_to: float | None  # drop the packets from (just before the next piece's first frame)


def _write_cut(source: Path, piece: TimePiece, out: Path) -> _Cut:
    """Write what ffmpeg needs to make a time piece: the init part and its fragments.

    The fragments run from the keyframe before the piece's first frame to one fragment
    past its last (the audio of its last moments). Returns the times to keep, on the
    file's (the segment's) timeline: ffmpeg decodes from the keyframe and keeps the
    packets in between. Each cut lies ``_CUT_BEFORE`` before a frame (no rounding moves
    a frame across it), so the piece's video comes first and ffmpeg's muxer, which
    starts every track at 0, moves no video frame (audio of a piece starts with it, as
    the recorder's segments do); consecutive pieces share their cut: every audio packet
    is in one.
    """
    file_layout, video, fragments = _fragments(source, samples=True)
    scale = file_layout.timescales.get(video) if video is not None else None
    frames = [(number, t) for number, f in enumerate(fragments) for t in f.samples]
    if not scale or not frames:
        raise TranscodeError("not_fragmented", f"{source.name} holds no video fragment")
    # Integer comparisons: frame t is in when t / scale >= first_ms / 1000.
    first = 0 if piece.first_ms == 0 else _first_at(frames, piece.first_ms, scale)
    stop = len(frames) if piece.last else _first_at(frames, piece.stop_ms, scale)
    if first >= stop:
        raise TranscodeError("source_missing", f"{source.name} has no frame in {piece.name}")
    begin = frames[first][0]
    while begin > 0 and not fragments[begin].keyframe:
        begin -= 1
    after = min(len(fragments), frames[stop - 1][0] + 2)  # one more: the audio of the end
    _write_fragments(source, file_layout, fragments[begin:after], out)

    def before(number: int) -> float:
        return frames[number][1] / scale - _CUT_BEFORE

    return _Cut(
        start=frames[first][1] / scale,
        keep_from=before(first) if first > 0 else None,
        keep_to=before(stop) if stop < len(frames) else None,
    )


def _write_cut_checked(source: Path, piece: TimePiece, out: Path) -> _Cut:
    try:
        return _write_cut(source, piece, out)
    except FileNotFoundError as err:
        raise TranscodeError("source_missing", f"{source.name} is not stored") from err
    except (mp4box.Mp4Error, StopIteration, struct.error) as err:
        raise TranscodeError("not_fragmented", f"{source.name}: {err!r}") from err


def _first_at(frames: list[tuple[int, int]], ms: int, scale: int) -> int:
    """Return the index of the first frame whose decode time is ``ms`` or later."""
    return next((i for i, (_, t) in enumerate(frames) if t * 1000 >= ms * scale), len(frames))


def _place_cut(rendition: Path, start: float) -> None:
    """Move a time piece's rendition so its first video frame is at ``start``."""
    file_layout, video, fragments = _fragments(rendition)
    times = next((f.times[video] for f in fragments if video in f.times), None)
    scale = file_layout.timescales.get(video) if video is not None else None
    if times is None or not scale:
        raise mp4box.Mp4Error(f"{rendition.name} holds no video fragment")
    _shift_file(rendition, file_layout, start - times / scale)


def _shift_file(path: Path, file_layout: mp4box.Mp4Layout, shift: float) -> None:
    """Move every fragment of a file ``shift`` seconds on its timeline (in place)."""
    if abs(shift) < _EPSILON:
        return
    with path.open("rb") as handle:
        init = handle.read(file_layout.init_end)
        media = handle.read(file_layout.media_end - file_layout.init_end)
    path.write_bytes(init + mp4box.shift_fragments(media, file_layout.timescales, shift))


def _start_seconds(path: Path) -> tuple[mp4box.Mp4Layout, float]:
    """Return a fragmented MP4's layout and its first decode time (earliest track)."""
    file_layout, _, fragments = _fragments(path)
    first = fragments[0].times if fragments else {}
    times = [
        ticks / file_layout.timescales[track]
        for track, ticks in first.items()
        if file_layout.timescales.get(track)
    ]
    return file_layout, min(times, default=0.0)


def _restore_timeline(rendition: Path, source: Path) -> None:
    """Move a rendition's fragments back to its source's start (ffmpeg starts at 0).

    ffmpeg's MP4 muxer starts every output at 0 (even with -copyts); a whole stored
    segment starts at 0 anyway (nothing to do), a piece or a live window does not.
    """
    file_layout, start = _start_seconds(rendition)
    _, wanted = _start_seconds(source)
    _shift_file(rendition, file_layout, wanted - start)


# -- renditions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RenditionStatus:
    """A snapshot for diagnostics and sensors."""

    encoder: str
    hardware: bool
    max_running: int
    running: int  # ffmpeg processes now
    running_ahead: int  # of which make parts ahead of the playhead
    queued: int  # parts a viewer waits for, not started
    queued_ahead: int  # parts to make ahead, not started
    cache_files: int
    cache_bytes: int
    cache_limit: int
    hits: int  # requests answered from the cache
    misses: int  # requests that waited for a transcode (started or joined)
    transcodes: int  # renditions made
    failures: int
    preempted: int  # parts made ahead that were stopped for a viewer and queued again
    evicted: int  # files removed for the size bound


@dataclass(slots=True)
class _Entry:
    size: int
    used: float  # time.monotonic() of the last use


class _Job:
    """One rendition being made (or waiting for a slot)."""

    def __init__(self, name: str, source: Path, piece: AnyPiece | None, seq: int) -> None:
        self.name = name
        self.source = source
        self.piece = piece
        self.seq = seq
        self.waiters = 0  # segment() calls waiting for it
        self.groups: set[str] = set()  # prefetch groups that want it
        self.task: asyncio.Task[Path] | None = None
        self.slot: asyncio.Future[None] | None = None
        self.attempt: asyncio.Task[tuple[int, list[str]]] | None = None
        self.preempted = False

    @property
    def demanded(self) -> bool:
        return self.waiters > 0


class Renditions:
    """H.264 renditions of stored segments, made on demand and cached (one per installation).

    Call :meth:`segment` from the view that serves a playlist part (init or media) of
    a client that needs H.264, then :meth:`prefetch` with the parts that follow; call
    :meth:`prune` after retention, read :attr:`status` for diagnostics and call
    :meth:`close` at shutdown.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        encoder: Encoder = LIBX264,
        quality: Quality = VIEWING,
        ffmpeg: str = "ffmpeg",
        max_running: int = 2,
        cache_bytes: int = 2 * 2**30,
        prefetch_ahead: int = 2,
        hold_seconds: float = 60.0,
        stall_timeout: float = 30.0,
        executor: Executor | None = None,
    ) -> None:
        """Prepare the cache in ``cache_dir`` (created when first used); nothing runs yet."""
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.cache_dir = cache_dir
        self.encoder = encoder
        self.quality = quality
        self.ffmpeg = ffmpeg
        self.max_running = max_running
        self.cache_bytes = cache_bytes
        self.prefetch_ahead = max(0, prefetch_ahead)
        self.hold_seconds = hold_seconds
        self.stall_timeout = stall_timeout
        self._executor = executor
        profile = repr((RENDITION_FORMAT, encoder.name, quality))
        self._profile = hashlib.sha256(profile.encode()).hexdigest()[:8]
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # LRU first
        self._jobs: dict[str, _Job] = {}  # by cache file name: the job a request joins
        self._tasks: set[asyncio.Task[Path]] = set()  # every job's, dropped ones included
        self._waiting: list[_Job] = []
        self._running: set[_Job] = set()
        self._groups: dict[str, set[str]] = {}
        self._prefetching: dict[str, asyncio.Task[None]] = {}
        self._seq = 0
        self._started = False
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._counts = dict.fromkeys(
            ("hits", "misses", "transcodes", "failures", "preempted", "evicted"), 0
        )

    # -- public API ---------------------------------------------------------

    async def start(self) -> None:
        """Adopt the renditions already in the cache folder (idempotent).

        Leftover temporary files and renditions made with other settings are deleted.
        Called by the first request when not called before.
        """
        async with self._start_lock:
            if self._started:
                return
            found = await self._blocking(self._scan)
            for name, size, _mtime in found:
                self._entries[name] = _Entry(size, 0.0)
            self._started = True
            await self._evict()

    async def segment(self, source: Path, key: str, piece: AnyPiece | None = None) -> Path:
        """Return the path of the H.264 rendition of the stored segment ``source``.

        ``key`` names the segment for the cache and :meth:`prune` (its path relative to
        the recordings root; at most ``MAX_KEY_BYTES``). With ``piece`` (from
        :meth:`pieces` or :func:`plan_cuts`) only that stretch of the segment is made, on
        the segment's own timeline. Made now unless cached; a request for a part being made
        waits for that same ffmpeg. Cancelling the call stops the transcode when no one else
        waits for it. Raises :class:`TranscodeError`.
        """
        self._check_open()
        await self.start()
        name: str
        name, exists = await self._blocking(self._lookup, source, key, piece)
        cached = self.cache_dir / name
        if name in self._entries and not exists:  # made while we looked?
            exists = await self._blocking(cached.is_file)
        entry = self._entries.get(name)
        if entry is not None and exists:
            entry.used = time.monotonic()
            self._entries.move_to_end(name)
            self._counts["hits"] += 1
            return cached
        self._entries.pop(name, None)  # deleted behind our back
        self._check_open()
        self._counts["misses"] += 1
        job = self._jobs.get(name) or self._new_job(name, source, piece)
        job.waiters += 1
        task = job.task
        assert task is not None  # noqa: S101
        self._dispatch()
        try:
            path: Path = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not _cancelling():
                raise TranscodeError("closed" if self._closed else "cancelled") from None
            raise
        finally:
            job.waiters -= 1
            self._drop_if_unwanted(job)
        return path

    async def pieces(self, source: Path, seconds: float) -> list[Piece]:
        """Return how to cut a stored segment into parts of at least ``seconds``.

        See :func:`plan_pieces`. Raises :class:`TranscodeError` (``source_missing``,
        ``not_fragmented``).
        """
        pieces: list[Piece] = await self._blocking(_plan_pieces_checked, source, seconds)
        return pieces

    def prefetch(self, sources: Sequence[Part], group: str = "") -> None:
        """Make the renditions of the next parts ahead of the playhead, in order.

        ``sources`` are (stored segment, key) or (stored segment, key, piece) of the
        parts after the one being served;
        the first ``prefetch_ahead`` are made (at a lower priority than any part a
        viewer waits for). ``group`` names the playback (a playlist token, or user and
        camera): a new call for the same group replaces the previous one, and parts
        it no longer lists are dropped (their ffmpeg stopped) unless a viewer waits for
        them. Returns at once.
        """
        if self._closed:
            return
        wanted = list(sources)[: self.prefetch_ahead]
        previous = self._prefetching.pop(group, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(
            self._prefetch(wanted, group), name=f"cctv_nvr prefetch {group}"
        )
        self._prefetching[group] = task
        task.add_done_callback(
            lambda done: (
                self._prefetching.pop(group, None) if self._prefetching.get(group) is done else None
            )
        )

    def cancel_prefetch(self, group: str) -> None:
        """Drop a playback's parts made ahead (the player was closed)."""
        previous = self._prefetching.pop(group, None)
        if previous is not None:
            previous.cancel()
        self._set_group(group, set())

    async def prune(
        self, existing_keys: Iterable[str] | Callable[[list[str]], Collection[str]]
    ) -> int:
        """Delete the renditions of segments no longer stored; return how many.

        Call after retention or a deletion. ``existing_keys``: the keys of every segment
        still stored, or a function that is given the keys in the cache and returns those
        still stored (``index.known_paths`` when the keys are relative paths; called in
        the executor). Renditions being made are left alone.
        """
        self._check_open()
        await self.start()
        cached = {name: _decode_key(name.split(".", 1)[0]) for name in self._entries}
        if callable(existing_keys):
            keep = set(await self._blocking(existing_keys, sorted(set(cached.values()))))
        else:
            keep = set(existing_keys)
        doomed = [
            name for name, key in cached.items() if key not in keep and name not in self._jobs
        ]
        for name in doomed:
            self._entries.pop(name, None)
        await self._blocking(self._delete, doomed)
        return len(doomed)

    @property
    def status(self) -> RenditionStatus:
        """Return a snapshot of the running transcodes, queue and cache."""
        waiting_demanded = sum(job.demanded for job in self._waiting)
        running_ahead = sum(not job.demanded for job in self._running)
        return RenditionStatus(
            encoder=self.encoder.name,
            hardware=self.encoder.hardware,
            max_running=self.max_running,
            running=len(self._running),
            running_ahead=running_ahead,
            queued=waiting_demanded,
            queued_ahead=len(self._waiting) - waiting_demanded,
            cache_files=len(self._entries),
            cache_bytes=self._cache_size(),
            cache_limit=self.cache_bytes,
            **self._counts,
        )

    async def close(self) -> None:
        """Stop every transcode (ffmpeg killed) and refuse new requests."""
        self._closed = True
        tasks: list[asyncio.Task[Any]] = [*self._prefetching.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- scheduling ---------------------------------------------------------

    def _new_job(self, name: str, source: Path, piece: AnyPiece | None) -> _Job:
        self._seq += 1
        job = _Job(name, source, piece, self._seq)
        self._jobs[name] = job
        job.task = asyncio.get_running_loop().create_task(
            self._job_main(job), name=f"cctv_nvr rendition {name}"
        )
        self._tasks.add(job.task)
        job.task.add_done_callback(self._job_done)
        return job

    def _job_done(self, task: asyncio.Task[Path]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a part made ahead that failed is not "never retrieved"

    def _drop_if_unwanted(self, job: _Job) -> None:
        if not job.waiters and not job.groups and job.task is not None and not job.task.done():
            # Gone at once: a request that comes while its ffmpeg is being stopped starts
            # a job of its own (which waits for the slot the dying one still holds).
            if self._jobs.get(job.name) is job:
                del self._jobs[job.name]
            job.task.cancel()

    def _ready(self) -> list[_Job]:
        """Return the waiting jobs (not those cancelled that have yet to leave the queue)."""
        return [job for job in self._waiting if job.slot is not None and not job.slot.done()]

    def _pick(self) -> _Job | None:
        ready = self._ready()
        demanded = [job for job in ready if job.demanded]
        if demanded:
            return min(demanded, key=lambda job: job.seq)
        ahead_slots = max(1, self.max_running - 1)  # one slot stays free for a viewer
        if ready and sum(not job.demanded for job in self._running) < ahead_slots:
            return min(ready, key=lambda job: job.seq)
        return None

    def _dispatch(self) -> None:
        """Start waiting jobs while slots are free; stop a part made ahead for a viewer."""
        while len(self._running) < self.max_running and (job := self._pick()) is not None:
            self._waiting.remove(job)
            self._running.add(job)
            assert job.slot is not None  # noqa: S101
            job.slot.set_result(None)
        demanded = sum(job.demanded for job in self._ready())
        stopping = sum(job.preempted for job in self._running)
        if demanded > stopping and len(self._running) >= self.max_running:
            ahead = [
                job
                for job in self._running
                if not job.demanded and not job.preempted and job.attempt is not None
            ]
            if ahead:
                victim = max(ahead, key=lambda job: job.seq)
                victim.preempted = True
                assert victim.attempt is not None  # noqa: S101
                victim.attempt.cancel()

    async def _job_main(self, job: _Job) -> Path:
        try:
            while True:
                await self._wait_for_slot(job)
                made = await self._attempt(job)
                if made is not None:
                    # Counted once its slot is free: a snapshot never shows it made and running.
                    self._remember(job, *made)
                    await self._evict()
                    return self.cache_dir / job.name
                self._counts["preempted"] += 1  # stopped for a viewer: queued again
        except TranscodeError:
            self._counts["failures"] += 1
            raise
        finally:
            if self._jobs.get(job.name) is job:
                del self._jobs[job.name]
            for group in list(job.groups):
                names = self._groups.get(group)
                if names is not None:
                    names.discard(job.name)
                    if not names:
                        self._groups.pop(group, None)
            job.groups.clear()

    async def _wait_for_slot(self, job: _Job) -> None:
        job.slot = asyncio.get_running_loop().create_future()
        self._waiting.append(job)
        self._dispatch()
        try:
            await job.slot
        except BaseException:
            if job in self._waiting:
                self._waiting.remove(job)
            if job in self._running:  # granted a slot as it was cancelled
                self._running.discard(job)
                self._dispatch()
            raise

    async def _attempt(self, job: _Job) -> tuple[int, list[str]] | None:
        """Run one transcode in the job's slot; None when it was preempted."""
        job.preempted = False
        attempt = job.attempt = asyncio.get_running_loop().create_task(self._transcode(job))
        try:
            return await attempt
        except asyncio.CancelledError:
            made = _made(attempt)  # it may have finished as it was stopped
            if made is None and job.preempted and not _cancelling():
                return None
            if made is not None:
                self._remember(job, *made)
            raise
        finally:
            job.attempt = None
            self._running.discard(job)
            self._dispatch()

    def _remember(self, job: _Job, size: int, replaced: list[str]) -> None:
        for name in replaced:
            self._entries.pop(name, None)
        self._entries[job.name] = _Entry(size, time.monotonic())
        self._counts["transcodes"] += 1

    async def _transcode(self, job: _Job) -> tuple[int, list[str]]:
        """Make a job's rendition; return its size and the names of the files it replaced."""
        dest = self.cache_dir / job.name
        token = secrets.token_hex(4)
        tmp = self.cache_dir / f".{job.name}.{token}{_TEMP_SUFFIX}"
        source = job.source
        if job.piece is not None:  # ffmpeg reads the piece's fragments only
            source = self.cache_dir / f".{job.name}.{token}.src{_TEMP_SUFFIX}"
        try:
            cut: _Cut | None = None
            if isinstance(job.piece, TimePiece):
                cut = await self._blocking(_write_cut_checked, job.source, job.piece, source)
            elif job.piece is not None:
                await self._blocking(_write_piece, job.source, job.piece, source)
            keep = (None, None) if cut is None else (cut.keep_from, cut.keep_to)
            args = rendition_args(self.ffmpeg, self.encoder, self.quality, source, tmp, keep)
            proc = await _spawn(args, nice=TRANSCODE_NICE)
            await _run_to_end(proc, self.stall_timeout)
            start = None if cut is None else cut.start
            size, replaced = await self._blocking(self._publish, tmp, dest, source, start)
        except BaseException:
            await self._blocking(_remove, tmp)
            raise
        finally:
            if source != job.source:
                await self._blocking(_remove, source)
        return size, replaced

    async def _prefetch(self, wanted: list[Part], group: str) -> None:
        await self.start()
        looked: list[tuple[Path, AnyPiece | None, str]] = []
        for part in wanted:
            source, key = part[0], part[1]
            piece = part[2] if len(part) > 2 else None  # noqa: PLR2004
            try:
                name, exists = await self._blocking(self._lookup, source, key, piece)
            except TranscodeError:
                continue  # deleted meanwhile: nothing to make
            if name in self._entries and (
                exists or await self._blocking((self.cache_dir / name).is_file)
            ):
                continue  # cached
            looked.append((source, piece, name))
        if self._closed:
            return
        # No await from here on: the group's jobs and its record change together.
        names: set[str] = set()
        for source, piece, name in looked:
            if name in self._entries:
                continue  # made while we looked at the others
            job = self._jobs.get(name) or self._new_job(name, source, piece)
            job.groups.add(group)
            names.add(name)
        self._set_group(group, names)
        self._dispatch()

    def _set_group(self, group: str, names: set[str]) -> None:
        old = self._groups.pop(group, set())
        if names:
            self._groups[group] = names
        for name in old - names:
            job = self._jobs.get(name)
            if job is not None:
                job.groups.discard(group)
                self._drop_if_unwanted(job)

    # -- the cache ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TranscodeError("closed", "renditions are shut down")

    async def _blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        if self._executor is not None:
            return await self._executor(func, *args)
        return await asyncio.to_thread(func, *args)

    def _cache_size(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def _lookup(self, source: Path, key: str, piece: AnyPiece | None) -> tuple[str, bool]:
        """Return (cache file name, whether it exists). Blocks: stats the source."""
        try:
            stat = source.stat()
        except FileNotFoundError as err:
            raise TranscodeError("source_missing", f"{source.name} is not stored") from err
        version = hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        part = "all" if piece is None else piece.name
        name = f"{_encode_key(key)}.{self._profile}.{part}.{version[:12]}.mp4"
        return name, (self.cache_dir / name).is_file()

    def _scan(self) -> list[tuple[str, int, float]]:
        """Return the cache's renditions (oldest first); delete temporaries and strays."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        found: list[tuple[str, int, float]] = []
        for path in self.cache_dir.iterdir():
            match = _NAME_RE.match(path.name)
            if match is None or match["profile"] != self._profile:
                if path.is_file() and (match is not None or path.name.endswith(_TEMP_SUFFIX)):
                    _remove(path)
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                found.append((path.name, stat.st_size, stat.st_mtime))
        found.sort(key=lambda item: item[2])
        return found

    def _publish(
        self, tmp: Path, dest: Path, source: Path, start: float | None = None
    ) -> tuple[int, list[str]]:
        """Check ffmpeg's output, put it on the source's timeline and move it into place.

        ``start``: where its first video frame goes (a time piece's); None: where the
        source starts. Returns its size and the names of renditions of older versions of
        the segment file (deleted).
        """
        try:
            if start is None:
                _restore_timeline(tmp, source)
            else:
                _place_cut(tmp, start)
        except (OSError, mp4box.Mp4Error) as err:
            raise TranscodeError("ffmpeg_failed", f"no playable rendition: {err}") from err
        size = tmp.stat().st_size
        tmp.replace(dest)
        replaced = []
        key, _, _, version, _ = dest.name.split(".")
        for old in self.cache_dir.glob(f"{key}.*.mp4"):
            if not old.name.endswith(f".{version}.mp4"):
                _remove(old)  # made from an older version of the segment file
                replaced.append(old.name)
        return size, replaced

    def _delete(self, names: list[str]) -> None:
        _remove(*(self.cache_dir / name for name in names))

    async def _evict(self) -> None:
        """Delete least recently used renditions until the cache fits its bound."""
        total = self._cache_size()
        if total <= self.cache_bytes:
            return
        now = time.monotonic()
        doomed = []
        for name, entry in self._entries.items():
            if total <= self.cache_bytes:
                break
            if entry.used and now - entry.used < self.hold_seconds:
                continue  # just handed out: its reader may not have opened it yet
            doomed.append(name)
            total -= entry.size
        for name in doomed:
            self._entries.pop(name)
        self._counts["evicted"] += len(doomed)
        await self._blocking(self._delete, doomed)


def _encode_key(key: str) -> str:
    raw = key.encode()
    if not raw or len(raw) > MAX_KEY_BYTES:
        raise ValueError(f"a rendition key is 1 to {MAX_KEY_BYTES} bytes")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_key(encoded: str) -> str:
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode(errors="replace")


def _made(attempt: asyncio.Task[tuple[int, list[str]]]) -> tuple[int, list[str]] | None:
    """Return what a finished attempt made, or None."""
    if attempt.done() and not attempt.cancelled() and attempt.exception() is None:
        return attempt.result()
    return None


def _cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


# -- exports ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShareResult:
    """A finished "H.264 for sharing" export."""

    path: Path
    duration: float | None  # seconds of video
    bytes: int


async def export_h264(
    source: Path,
    out_path: Path,
    *,
    encoder: Encoder = LIBX264,
    quality: Quality = SHARING,
    ffmpeg: str = "ffmpeg",
    stall_timeout: float = 60.0,
    progress: Callable[[float], None] | None = None,
) -> ShareResult:
    """Re-encode an "as recorded" export into an H.264 faststart MP4 for sharing.

    ``source`` is the MP4 that ``export.export_range`` wrote (remuxed, any codec);
    make it first, then call this and delete it. Audio is copied. ``progress`` gets the
    seconds encoded so far when they grow (about twice a second). The file appears
    atomically; on a failure nothing is left at ``out_path``. Runs at a lower CPU
    priority than playback; bound how many run at once with the export queue. ffmpeg is
    stopped when no progress comes for ``stall_timeout`` seconds. Raises
    :class:`TranscodeError`.
    """
    before, video = encoder_args(encoder, quality)
    tmp = out_path.with_name(f".{out_path.name}.{secrets.token_hex(4)}.part")
    args = [
        *(ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", *before),
        *("-i", str(source), "-map", "0:v:0", "-map", "0:a:0?", *video, "-c:a", "copy"),
        # Every frame at its recorded time (no frames duplicated or dropped to a fixed rate).
        *("-enc_time_base:v", "demux", "-fps_mode", "passthrough"),
        *("-movflags", "+faststart", "-progress", "pipe:1", "-f", "mp4", "-y", str(tmp)),
    ]
    await asyncio.to_thread(out_path.parent.mkdir, parents=True, exist_ok=True)
    try:
        proc = await _spawn(args, nice=EXPORT_NICE)
        await _run_to_end(proc, stall_timeout, progress)
        duration, size = await asyncio.to_thread(_publish_export, tmp, out_path)
    except BaseException:
        await asyncio.to_thread(_remove, tmp)
        raise
    return ShareResult(out_path, duration, size)


async def _follow_progress(
    proc: asyncio.subprocess.Process,
    stall_timeout: float,
    progress: Callable[[float], None] | None,
) -> bytes:
    """Read ffmpeg's -progress lines until it exits; return its stderr."""
    assert proc.stdout is not None  # noqa: S101
    assert proc.stderr is not None  # noqa: S101
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    done = 0  # microseconds; ffmpeg's out_time can step back a little (streams interleave)
    try:
        while True:
            async with asyncio.timeout(stall_timeout):
                line = await proc.stdout.readline()
            if not line:
                break
            key, _, value = line.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.isdigit() and int(value) > done:
                done = int(value)
                if progress is not None:
                    progress(done / 1_000_000)
        async with asyncio.timeout(stall_timeout):
            await proc.wait()
        return await stderr_task
    finally:
        if not stderr_task.done():
            stderr_task.cancel()


def _publish_export(tmp: Path, out_path: Path) -> tuple[float | None, int]:
    if not tmp.is_file() or (size := tmp.stat().st_size) == 0:
        raise TranscodeError("ffmpeg_failed", "ffmpeg wrote no file")
    duration = mp4box.video_duration(tmp)
    tmp.replace(out_path)
    return duration, size
