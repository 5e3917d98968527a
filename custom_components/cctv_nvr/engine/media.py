"""PyAV helpers: probe a live stream or a segment file, and make snapshots.

Every function here blocks (network or disk); call them off the event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from fractions import Fraction
import logging
from pathlib import Path
import threading
import time
from typing import Any

import av

from .rtsp import BUSY_RETRY_DELAY, RtspBusyError, redact_text

_LOGGER = logging.getLogger(__name__)

TRIM_INTERVAL = 30.0  # seconds between two heap trims, at most


class _HeapTrimmer:
    """Give the memory a probe freed back to the system (glibc's ``malloc_trim``).

    Opening a file with PyAV (``avformat_find_stream_info`` decodes a few frames) makes
    allocations of several MB in the calling thread's malloc arena; glibc keeps what is
    freed there, so the process's RSS steps up the first time each executor thread
    probes after a recorder restarts (the chaos soak saw +6 MB after a restart, Python's
    own heap flat). Trimming after a probe returns it. At most once per
    ``TRIM_INTERVAL`` (a rebuild probes thousands of files); a no-op where the C
    library has no ``malloc_trim`` (musl, other systems).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = -TRIM_INTERVAL
        self._trim: Any = None
        name = ctypes.util.find_library("c")
        try:
            self._trim = ctypes.CDLL(name).malloc_trim if name else None
        except OSError, AttributeError:
            self._trim = None

    def __call__(self) -> bool:
        """Trim if the last trim is old enough; return whether it trimmed."""
        if self._trim is None:
            return False
        now = time.monotonic()
        with self._lock:
            if now - self._last < TRIM_INTERVAL:
                return False
            self._last = now
        self._trim(0)
        return True


trim_heap = _HeapTrimmer()


class ProbeError(Exception):
    """A stream or file could not be probed; ``reason`` is a translation key."""

    def __init__(self, reason: str, message: str) -> None:
        """Store the reason key next to a (credential-free) message."""
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Codec parameters of a stream or a file."""

    video_codec: str
    width: int
    height: int
    fps: float | None
    audio_codec: str | None
    duration: float | None = None


def _rate(stream: Any) -> float | None:
    for attr in ("average_rate", "guessed_rate", "base_rate"):
        value = getattr(stream, attr, None)
        if value:
            rate = float(Fraction(value))
            if 0 < rate < 1000:  # noqa: PLR2004
                return round(rate, 3)
    return None


def _info(container: Any, duration: float | None = None) -> StreamInfo:
    if not container.streams.video:
        raise ProbeError("not_video", "no video track")
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    return StreamInfo(
        video_codec=video.codec_context.name,
        width=int(video.codec_context.width or 0),
        height=int(video.codec_context.height or 0),
        fps=_rate(video),
        audio_codec=audio.codec_context.name if audio is not None else None,
        duration=duration,
    )


def probe_url(url: str, transport: str = "tcp", timeout: float = 10.0) -> StreamInfo:
    """Open a live stream and return its codec parameters (hard timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _probe_once(url, transport, max(1.0, deadline - time.monotonic()))
        except RtspBusyError as err:
            # A busy camera (RTSP 5xx) is asked again while time is left.
            if time.monotonic() + BUSY_RETRY_DELAY >= deadline:
                raise ProbeError("cannot_connect", str(err)) from err
        time.sleep(BUSY_RETRY_DELAY)


def _probe_once(url: str, transport: str, timeout: float) -> StreamInfo:
    options = {"rtsp_transport": transport, "timeout": str(int(timeout * 1_000_000))}
    try:
        with av.open(url, options=options, timeout=(timeout, timeout)) as container:
            return _info(container)
    except ProbeError:
        raise
    except av.error.HTTPUnauthorizedError as err:
        raise ProbeError("invalid_auth", "the camera refused the credentials") from err
    except av.error.ExitError as err:
        raise ProbeError("timeout", "the camera did not answer in time") from err
    except av.error.HTTPServerError as err:
        raise RtspBusyError(redact_text(str(err))) from err
    except av.error.FFmpegError as err:
        raise ProbeError("cannot_connect", redact_text(str(err))) from err


def probe_file(path: Path, *, measure: bool = False) -> StreamInfo:
    """Return the codec parameters of a segment file.

    With ``measure`` the packets are read to find the real duration, which is
    what a segment cut short by a crash needs (its fragments end early).
    """
    try:
        with av.open(str(path)) as container:
            duration: float | None = None
            if measure:
                duration = _measure(container)
            elif container.duration:
                duration = container.duration / 1_000_000
            return _info(container, duration)
    except ProbeError:
        raise
    except (av.error.FFmpegError, OSError) as err:
        raise ProbeError("unreadable", f"cannot read {path.name}: {err}") from err
    finally:
        trim_heap()


def _measure(container: Any) -> float:
    video = container.streams.video[0]
    first: float | None = None
    last = 0.0
    try:
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            first = start if first is None else min(first, start)
            last = max(last, end)
    except av.error.FFmpegError:
        _LOGGER.debug("Truncated segment; measured up to the last complete fragment")
    return max(0.0, last - (first or 0.0))


def last_keyframe_jpeg(path: Path, width: int | None = None, height: int | None = None) -> bytes:
    """Decode the newest keyframe of a (possibly still growing) segment into a JPEG."""
    try:
        return _last_keyframe_jpeg(path, width, height)
    except av.error.FFmpegError as err:
        raise ProbeError("unreadable", f"cannot read {path.name}: {err}") from err


def _last_keyframe_jpeg(path: Path, width: int | None, height: int | None) -> bytes:
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ProbeError("not_video", "no video track")
        video = container.streams.video[0]
        keyframe = None
        try:
            for packet in container.demux(video):
                if packet.is_keyframe and packet.size:
                    keyframe = packet
        except av.error.FFmpegError:
            _LOGGER.debug("Segment still growing; using the keyframes read so far")
        if keyframe is None:
            raise ProbeError("no_keyframe", "no keyframe yet")
        decoder: Any = av.CodecContext.create(video.codec_context.name, "r")
        decoder.extradata = video.codec_context.extradata
        frames = list(decoder.decode(keyframe)) + list(decoder.decode(None))
        if not frames:
            raise ProbeError("no_keyframe", "keyframe did not decode")
        return encode_jpeg(frames[0], width, height)


def encode_jpeg(frame: Any, width: int | None = None, height: int | None = None) -> bytes:
    """Encode a decoded video frame as JPEG, scaled to fit width/height if given."""
    src_w, src_h = frame.width, frame.height
    out_w, out_h = src_w, src_h
    if width and height:
        out_w, out_h = width, height
    elif width:
        out_w, out_h = width, max(2, round(src_h * width / src_w))
    elif height:
        out_w, out_h = max(2, round(src_w * height / src_h)), height
    out_w -= out_w % 2
    out_h -= out_h % 2
    scaled = frame.reformat(width=out_w, height=out_h, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width = out_w
    encoder.height = out_h
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"qmin": "2", "qmax": "6"}
    packets = list(encoder.encode(scaled)) + list(encoder.encode(None))
    return b"".join(bytes(packet) for packet in packets)
