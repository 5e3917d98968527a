"""Export any time range of a camera's footage as one faststart MP4, by remuxing.

ffmpeg's concat demuxer stitches the stored segment files together with
``-c copy``: nothing is re-encoded, so an export of an hour takes seconds and
keeps the camera's exact quality.

Without re-encoding a video can only begin on a keyframe: the export starts at
the last keyframe at or before ``start`` (at most one GOP early) and ends with
the last frame before ``end``. Gaps in the recordings inside the range are
skipped: the export is the footage that exists, back to back. A range whose
segments do not share one codec configuration (codec, parameter sets,
resolution, audio) cannot be copied into a single MP4 and is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass
import logging
from pathlib import Path
import uuid

import av

from . import mp4box
from .index import Segment

_LOGGER = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0
_EPSILON = 1e-3  # seconds: cuts closer than this to a file's edge are no cuts
_STDERR_TAIL = 2000


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


def plan_parts(segments: Iterable[Segment], root: Path, start: float, end: float) -> list[_Part]:
    """Return the concat parts of an export of [start, end). Blocks (reads files)."""
    chosen = sorted(
        (s for s in segments if s.start < end and s.end > start and s.end > s.start),
        key=lambda s: s.start,
    )
    digests: set[str] = set()
    readable = []
    for segment in chosen:
        try:
            digests.add(mp4box.layout(root / segment.path).codec_digest)
        except (OSError, mp4box.Mp4Error) as err:
            _LOGGER.warning("export skips unreadable segment %s: %s", segment.path, err)
            continue
        readable.append(segment)
    chosen = readable
    if not chosen:
        raise ExportError("no_footage", "no recording in the range")
    if len(digests) > 1:
        raise ExportError("mixed_formats", "the codec configuration changes inside the range")
    parts = []
    last = len(chosen) - 1
    for number, segment in enumerate(chosen):
        path = root / segment.path
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
) -> ExportResult:
    """Remux the footage of [start, end) into one faststart MP4 at ``out_path``.

    The file appears atomically (written under a temporary name, then renamed);
    on any failure nothing is left behind and :class:`ExportError` is raised with
    reason ``no_footage``, ``mixed_formats``, ``ffmpeg_failed`` or ``timeout``.
    """
    segment_list = list(segments)
    if end <= start:
        raise ExportError("no_footage", "empty range")
    parts = await asyncio.to_thread(plan_parts, segment_list, root, start, end)
    used = {part.path for part in parts}
    codecs = [s.video_codec for s in segment_list if root / s.path in used]
    video_codec = codecs[0] if codecs else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    list_path = out_path.with_name(f".{out_path.name}.{token}.ffconcat")
    tmp_path = out_path.with_name(f".{out_path.name}.{token}.part")
    try:
        await asyncio.to_thread(list_path.write_text, concat_list(parts), "utf-8")
        await _run_ffmpeg(_ffmpeg_args(ffmpeg, list_path, tmp_path, video_codec), timeout)
        duration, size = await asyncio.to_thread(_publish, tmp_path, out_path)
    except BaseException:
        _remove(tmp_path)
        raise
    finally:
        _remove(list_path)
    return ExportResult(
        path=out_path,
        duration=duration if duration is not None else sum(p.duration for p in parts),
        bytes=size,
        video_codec=video_codec,
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
