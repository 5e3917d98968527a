"""Push cameras: devices that publish their stream (RTMP) instead of waiting to be pulled.

One `IngestServer` listens on one port for every push camera. A publisher connects,
does the RTMP handshake and publishes to `rtmp://host:port/live/<stream key>`; the key
(at least 128 bits, from `new_stream_key`) is compared in constant time against every
push camera's key and picks the camera. Refused attempts (unknown key, garbage, a login
that does not finish in time) are logged with the address and rate-limited per address:
after `refused_per_window` in `refused_window` seconds, connections from that address
are closed unread for `block_seconds`.

Each push camera is a `PushRecorder`: the pull `Recorder` (same ffmpeg segment muxer,
segment names, indexing, reconcile after a crash, status) whose ffmpeg reads FLV from a
pipe instead of RTSP. The publisher's media messages are FLV tag bodies, so the server
only reframes them as FLV tags: no decoding, no copy of a frame beyond the chunk
reassembly. A run starts at the last keyframe the publisher sent (the current group of
pictures is kept, bounded), so nothing is lost when ffmpeg starts or restarts.

Decisions:

- A second publisher on a key that is live **replaces** the first (the first is
  disconnected, a warning names both addresses). A device that lost its network
  (phone switching to mobile data, camera reboot) reconnects while the server still
  holds its half-open connection, which a "first one wins" rule would refuse until a
  read timeout; with "newest wins" it resumes at once. Someone with the key can take
  the stream over either way (or, under "first wins", lock the owner out); the
  remedy for a leaked key is regenerating it.
- A new key (`IngestServer.set_key`) disconnects a publisher on the old one at once.
- Memory is bounded per connection: before a publish is accepted a message may hold
  64 KiB; after it `max_message` (and `gop_cache`, `sink_bytes` for what waits for
  ffmpeg; a full pipe stops reading the socket, which slows the publisher down by TCP
  flow control). A login has `login_timeout` seconds; a publisher that sends no media
  for `idle_timeout` seconds is disconnected.

Everything runs on the event loop that calls `IngestServer.start()` (Home Assistant's):
a read parses whole chunks from a buffer, and the recorder's blocking work goes to its
executor as for pulled cameras.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import errno
import hmac
import logging
import secrets
import time
from typing import Any

from . import rtmp
from .index import Segment, SegmentIndex
from .recorder import Executor, Recorder, RecorderConfig, RecorderState, RecorderStatus, _Run
from .rtsp import DescribeResult, SdpMedia

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 1935
APP = "live"
KEY_BYTES = 24  # 192 bits
MIN_KEY_CHARS = 22  # 22 url-safe base64 characters hold 132 bits
_KEY_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_LOGIN_MESSAGE = 64 * 1024
_READ_SIZE = 64 * 1024
_WINDOW_ACK = 2_500_000
_FEED_INTERVAL = 0.1  # s between writes into ffmpeg's pipe
_PROBE_MS = 1000  # stream handed to a new ffmpeg before it reports frames (its probing)
_START_GRACE = 3.0  # s: the pace clock starts then even without a report
_READ_PACE = 0.1  # s a publisher's socket rests after a short read
_SUPPORTED_VIDEO = frozenset({"h264", "hevc", "av1", "vp9"})
# Reasons a run ends that say the publisher itself sends nothing usable.
_PUBLISHER_FAULTS = frozenset({"stalled", "no_media"})


def new_stream_key() -> str:
    """Return a new random stream key (192 bits, URL-safe)."""
    return secrets.token_urlsafe(KEY_BYTES)


def valid_stream_key(key: str) -> bool:
    """Return True for a key of at least 128 bits of URL-safe characters."""
    return len(key) >= MIN_KEY_CHARS and set(key) <= _KEY_ALPHABET


def publish_url(host: str, port: int, key: str) -> str:
    """Return the URL a device publishes to (the key is its last part)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"rtmp://{host}:{port}/{APP}/{key}"


class IngestError(Exception):
    """The ingest server cannot do what was asked."""


class PortInUseError(IngestError):
    """The ingest port is taken by another program (a repair issue on the HA side)."""

    def __init__(self, port: int) -> None:
        """Name the port."""
        super().__init__(f"port {port} is already in use")
        self.port = port


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Bounds of the ingest server (defaults fit cameras; tests shorten the times)."""

    login_timeout: float = 10.0  # handshake + connect + publish
    idle_timeout: float = 10.0  # no media message for this long: disconnected
    max_message: int = 8 * 2**20
    gop_cache: int = 8 * 2**20  # the current group of pictures, replayed when a run starts
    sink_bytes: int = 4 * 2**20  # FLV waiting for ffmpeg's pipe before reading stops
    max_pending: int = 128  # connections not (yet) publishing
    max_pending_per_address: int = 32  # cameras behind one NAT reconnect together
    max_publishers: int = 256
    refused_per_window: int = 5
    refused_window: float = 60.0
    block_seconds: float = 60.0
    max_addresses: int = 4096  # addresses the refusal limiter remembers


@dataclass(frozen=True, slots=True)
class PushStatus:
    """A push camera's ingest, for entities and diagnostics."""

    connected: bool = False
    address: str | None = None  # the publisher's IP address
    since: float | None = None  # connected (or disconnected) at, epoch seconds
    bytes_per_second: float = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    last_segment_end: float | None = None
    publishes: int = 0  # accepted publishes since start
    reason: str | None = None  # why the last publisher left (disconnected, replaced, ...)
    replaced: int = 0  # publishers pushed out by a newer one on the same key


class _RefusedError(Exception):
    """A login refused for a reason worth counting against the address."""


# -- what a publisher sends, fanned out to the runs that record it ------------------


class _Sink:
    """FLV for one ffmpeg run: bounded, starting at a keyframe, timestamps from 0.

    `take` hands out no more than real time allows: until ffmpeg reports its first
    frames, the replayed group of pictures or one second (what its probing reads),
    whichever is longer; from then on as much stream time as wall time has passed.
    ffmpeg names segment files by the wall-clock second it opens them in, so a burst
    (a backlog gathered while a slow ffmpeg started) could open two segments in one
    second and the second would overwrite the first. A burst of at most the first
    group of pictures or one second holds no second cut for segments of 2 s or more,
    and at real pace the keyframes that start consecutive segments (more than half a
    segment apart) are more than a second apart.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: deque[tuple[int, bytes]] = deque()  # (stream offset ms, FLV)
        self.size = 0
        self.base: int | None = None  # timestamp of the run's first keyframe
        self.lead = 0  # ms of stream handed out at once (the replayed pictures)
        self.rate = 1.0  # stream seconds per wall second at most (catching up)
        # Wall time of stream offset 0: the least (arrival - offset) of the tags so far,
        # so a publisher that sent ahead (an initial burst, a flushed buffer) is placed by
        # its content, not by when the server got it.
        self.base_wall: float | None = None
        self.first_take: float | None = None  # monotonic
        self.started: float | None = None  # ffmpeg's first frames (or 3 s after first_take)
        self.ended = False
        self.data = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()

    def put(self, part: bytes, offset: int = 0) -> None:
        self.parts.append((offset, part))
        self.size += len(part)
        self.data.set()
        if self.size >= self.limit:
            self.room.clear()

    def tag(self, kind: int, timestamp: int, body: bytes, arrival: float) -> None:
        if self.base is None:
            return
        offset = (timestamp - self.base) & 0xFFFFFFFF
        if offset > 0x7FFFFFFF:  # noqa: PLR2004  (before the keyframe: audio that led it)
            return
        wall = arrival - offset / 1000
        if self.base_wall is None or wall < self.base_wall:
            self.base_wall = wall
        self.put(rtmp.flv_tag(kind, offset, body), offset)

    def header(self, kind: int, timestamp: int, body: bytes) -> None:
        """Take new codec parameters mid-stream (a resolution change), in order."""
        if self.base is None:
            return  # a run that has not started gets the latest ones when it does
        offset = (timestamp - self.base) & 0xFFFFFFFF
        offset = 0 if offset > 0x7FFFFFFF else offset  # noqa: PLR2004
        self.put(rtmp.flv_tag(kind, offset, body), offset)

    def end(self) -> None:
        self.ended = True
        self.data.set()
        self.room.set()

    async def take(self, running: Callable[[], bool]) -> bytes:
        """Return what may be written now (b"" once the publisher has gone).

        running() tells whether ffmpeg has reported frames (its pace clock starts).
        """
        while True:
            while not self.parts and not self.ended:
                self.data.clear()
                await self.data.wait()
            if not self.parts:
                return b""
            now = time.monotonic()
            if self.first_take is None:
                self.first_take = now
            if self.started is None and (running() or now - self.first_take > _START_GRACE):
                self.started = now
            allowed = max(self.lead, _PROBE_MS)
            if self.started is not None:
                allowed += int((now - self.started) * 1000 * self.rate)
            out = []
            parts = self.parts
            while parts and parts[0][0] <= allowed:
                out.append(parts.popleft()[1])
            if out:
                self.size -= sum(len(part) for part in out)
                if self.size < self.limit:
                    self.room.set()
                return b"".join(out)
            await asyncio.sleep(min(0.1, (parts[0][0] - allowed) / 1000))


class _Rate:
    """Bytes per second over the last few seconds."""

    def __init__(self) -> None:
        self.total = 0
        self._marks: deque[tuple[float, int]] = deque(maxlen=6)

    def add(self, count: int) -> None:
        self.total += count
        now = time.monotonic()
        if not self._marks or now - self._marks[-1][0] >= 1:
            self._marks.append((now, self.total))

    def per_second(self) -> float:
        if not self._marks:
            return 0.0
        start, counted = self._marks[0]
        elapsed = time.monotonic() - start
        if elapsed < 1 or time.monotonic() - self._marks[-1][0] > 5:  # noqa: PLR2004
            return 0.0
        return (self.total - counted) / elapsed


class Publisher:
    """One accepted publish: codecs, headers and the current group of pictures."""

    def __init__(
        self, camera: str, key: str, address: str, limits: IngestLimits, close: Callable[[], None]
    ) -> None:
        """Hold what a run needs to start; nothing runs here."""
        self.camera = camera
        self.key = key
        self.address = address
        self.since = time.time()
        self.limits = limits
        self.rate = _Rate()
        self.closed = False
        self.reason: str | None = None
        self.video_codec: str | None = None
        self.audio_codec: str | None = None
        self.fps: float | None = None
        self.last_media = time.monotonic()
        self.on_change: Callable[[], None] | None = None
        self._close = close
        self._metadata: bytes | None = None
        self._video_header: bytes | None = None
        self._audio_header: bytes | None = None
        self._gop: list[tuple[int, int, bytes, float]] = []  # from the last keyframe on
        self._gop_size = 0
        self._gop_valid = False
        self._sinks: list[_Sink] = []

    @property
    def ready(self) -> bool:
        """Return True once a run can start: video codec known and a keyframe kept."""
        return not self.closed and self._gop_valid and self.video_codec is not None

    def described(self) -> DescribeResult:
        """Return the codecs as the recorder's ffmpeg arguments want them."""
        media = [SdpMedia("video", self.video_codec or "h264")]
        if self.audio_codec is not None:
            media.append(SdpMedia("audio", self.audio_codec))
        return DescribeResult(tuple(media))

    def close(self, reason: str) -> None:
        """Disconnect the publisher (idempotent); its runs see the end of the stream."""
        if self.closed:
            return
        self.closed = True
        self.reason = reason
        for sink in self._sinks:
            sink.end()
        self._sinks.clear()
        self._close()
        if self.on_change is not None:
            self.on_change()

    # -- fed by the connection ----------------------------------------------------

    def metadata(self, body: bytes) -> None:
        """Keep onMetaData for the next runs (frame rate, codec ids as hints)."""
        self._metadata = body
        try:
            values = rtmp.amf0_decode(body)
        except rtmp.ProtocolError:
            return
        info = values[1] if len(values) > 1 and isinstance(values[1], dict) else {}
        fps = info.get("framerate", info.get("fps"))
        if isinstance(fps, float) and 0 < fps <= 240:  # noqa: PLR2004
            self.fps = fps
        if self.audio_codec is None and info.get("audiocodecid") in (10.0, "mp4a"):
            self.audio_codec = "aac"

    def media(self, kind: int, timestamp: int, body: bytes) -> None:
        """Take one audio or video tag."""
        self.last_media = time.monotonic()
        if kind == rtmp.TAG_VIDEO:
            self._video(timestamp, body)
        else:
            self._audio(timestamp, body)

    @property
    def full(self) -> bool:
        """Return True while a run's pipe holds its limit (reading should wait)."""
        return any(not sink.room.is_set() for sink in self._sinks)

    async def room(self) -> None:
        """Wait until every run's pipe has room again (or the publisher closed)."""
        for sink in list(self._sinks):
            await sink.room.wait()

    def _video(self, timestamp: int, body: bytes) -> None:
        info = rtmp.VideoInfo.of(body)
        if info.sequence_header:
            self._video_header = body
            first = self.video_codec is None
            self.video_codec = info.codec
            if first and self.on_change is not None:
                self.on_change()
            for sink in self._sinks:
                sink.header(rtmp.TAG_VIDEO, timestamp, body)
            return
        if info.keyframe:
            was_ready = self.ready
            self._gop = []
            self._gop_size = 0
            self._gop_valid = self._video_header is not None
            for sink in self._sinks:
                if sink.base is None:
                    self._start_sink(sink, timestamp, replay=False)
            if not was_ready and self.ready and self.on_change is not None:
                self.on_change()
        arrival = time.time()
        self._keep(rtmp.TAG_VIDEO, timestamp, body, arrival)
        for sink in self._sinks:
            sink.tag(rtmp.TAG_VIDEO, timestamp, body, arrival)

    def _audio(self, timestamp: int, body: bytes) -> None:
        if self.audio_codec is None:
            self.audio_codec = rtmp.audio_codec(body)
        if rtmp.audio_sequence_header(body):
            self._audio_header = body
            for sink in self._sinks:
                sink.header(rtmp.TAG_AUDIO, timestamp, body)
            return
        arrival = time.time()
        self._keep(rtmp.TAG_AUDIO, timestamp, body, arrival)
        for sink in self._sinks:
            sink.tag(rtmp.TAG_AUDIO, timestamp, body, arrival)

    def _keep(self, kind: int, timestamp: int, body: bytes, arrival: float) -> None:
        if not self._gop_valid:
            return
        self._gop_size += len(body)
        if self._gop_size > self.limits.gop_cache:  # too long to keep: runs wait for the next
            self._gop, self._gop_size, self._gop_valid = [], 0, False
            return
        self._gop.append((kind, timestamp, body, arrival))

    # -- read by the runs ---------------------------------------------------------

    def subscribe(self, rate: float = 1.0) -> _Sink:
        """Return a new run's FLV: header, parameters, the current group of pictures."""
        sink = _Sink(self.limits.sink_bytes)
        sink.rate = rate
        if self.closed:
            sink.end()
            return sink
        sink.put(rtmp.flv_header(audio=self.audio_codec is not None, video=True))
        if self._gop_valid and self._gop:
            self._start_sink(sink, self._gop[0][1], replay=True)
        self._sinks.append(sink)
        return sink

    def unsubscribe(self, sink: _Sink) -> None:
        """Forget a run's FLV (its ffmpeg has gone)."""
        with contextlib.suppress(ValueError):
            self._sinks.remove(sink)
        sink.end()

    def _start_sink(self, sink: _Sink, base: int, *, replay: bool) -> None:
        sink.base = base
        if self._metadata is not None:
            sink.put(rtmp.flv_tag(rtmp.TAG_SCRIPT, 0, self._metadata))
        for header, kind in (
            (self._video_header, rtmp.TAG_VIDEO),
            (self._audio_header, rtmp.TAG_AUDIO),
        ):
            if header is not None:
                sink.put(rtmp.flv_tag(kind, 0, header))
        if replay:
            for kind, timestamp, body, arrival in self._gop:
                sink.tag(kind, timestamp, body, arrival)
            sink.lead = (self._gop[-1][1] - base) & 0x7FFFFFFF


# -- the recorder of a push camera ------------------------------------------------------


class PushRecorder(Recorder):
    """A Recorder whose ffmpeg reads what a publisher sends (FLV on its stdin).

    Segments, names, the index, reconcile after a crash, RecorderStatus: as for a
    pulled camera. Without a publisher the state is `offline` (reason
    `not_publishing`); a publisher that connects is recorded within about a second.
    If ffmpeg ends while the publisher stays, the next run starts from the publisher's
    last keyframe; a publisher that sends nothing usable is disconnected.
    """

    _stdin_mode = asyncio.subprocess.PIPE

    def __init__(
        self,
        config: RecorderConfig,
        index: SegmentIndex,
        *,
        executor: Executor | None = None,
        on_status: Callable[[RecorderStatus], None] | None = None,
        on_segment: Callable[[Segment], None] | None = None,
        on_push_status: Callable[[PushStatus], None] | None = None,
    ) -> None:
        """Take the Recorder's arguments (config.url is not used) and a status callback."""
        super().__init__(
            config, index, executor=executor, on_status=on_status, on_segment=on_segment
        )
        self._publisher: Publisher | None = None
        self._run_publisher: Publisher | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._run_sink: _Sink | None = None
        self._on_push_status = on_push_status
        self._publishes = 0
        self._replaced = 0
        self._disconnected_at: float | None = None
        self._last_address: str | None = None
        self._last_reason: str | None = None

    @property
    def push_status(self) -> PushStatus:
        """Return who publishes, since when, and how fast."""
        publisher = self._publisher
        if publisher is None:
            return PushStatus(
                address=self._last_address,
                since=self._disconnected_at,
                last_segment_end=self.status.last_segment_end,
                publishes=self._publishes,
                replaced=self._replaced,
                reason=self._last_reason,
            )
        return PushStatus(
            connected=True,
            address=publisher.address,
            since=publisher.since,
            bytes_per_second=publisher.rate.per_second(),
            video_codec=publisher.video_codec,
            audio_codec=publisher.audio_codec,
            last_segment_end=self.status.last_segment_end,
            publishes=self._publishes,
            replaced=self._replaced,
        )

    # -- called by the server ---------------------------------------------------

    def attach(self, publisher: Publisher) -> None:
        """Record this publisher from now on; one already there is disconnected."""
        previous = self._publisher
        if previous is not None and not previous.closed:
            _LOGGER.warning(
                "Camera %s: a new publisher from %s replaces the one from %s (same stream key)",
                self.config.camera,
                publisher.address,
                previous.address,
            )
            self._replaced += 1
            previous.close("replaced")
        self._publisher = publisher
        self._publishes += 1
        publisher.on_change = self._publisher_changed
        _LOGGER.info(
            "Camera %s: publisher connected from %s", self.config.camera, publisher.address
        )
        self._publisher_changed()

    def detach(self, publisher: Publisher) -> None:
        """Forget a publisher whose connection has ended."""
        publisher.close(publisher.reason or "disconnected")
        if self._publisher is publisher:
            self._publisher = None
            self._disconnected_at = time.time()
            self._last_address = publisher.address
            self._last_reason = publisher.reason
            _LOGGER.info(
                "Camera %s: publisher from %s disconnected (%s)",
                self.config.camera,
                publisher.address,
                publisher.reason,
            )
            self._publisher_changed()

    def disconnect(self, reason: str) -> None:
        """Disconnect the current publisher, if any (a new key, the camera removed)."""
        if self._publisher is not None:
            self._publisher.close(reason)

    def _publisher_changed(self) -> None:
        self._wake.set()
        if self._on_push_status is not None:
            self._on_push_status(self.push_status)

    # -- supervision ------------------------------------------------------------

    async def _pause(self, seconds: float | None) -> None:
        """Sleep until woken (a publisher came, went or became ready; stop)."""
        if not self._wanted:
            return
        self._wake.clear()
        if seconds is None:
            await self._wake.wait()
        else:
            await self._sleep(seconds)

    async def _supervise(self) -> None:
        backoff = 0.5
        while self._wanted:
            publisher = self._publisher
            if publisher is None or not publisher.ready:
                if self._status.state not in (RecorderState.OFFLINE, RecorderState.ERROR):
                    self._set_status(RecorderState.OFFLINE, "not_publishing")
                await self._pause(None)
                continue
            if publisher.video_codec not in _SUPPORTED_VIDEO:
                _LOGGER.warning(
                    "Camera %s: the publisher's video codec is not supported", self.config.camera
                )
                publisher.close("unsupported_codec")
                continue
            if await self._disk_full():
                self._failed(RecorderState.ERROR, "disk_full")
                await self._pause(self.config.disk_full_retry)
                continue
            if self._status.state != RecorderState.RECORDING:
                self._set_status(RecorderState.CONNECTING, None)
            if publisher.fps:
                self.config.fps_hint = publisher.fps
            self._run_publisher = publisher
            started = time.monotonic()
            reason = await self._run(publisher.described())
            if self._stopping():
                break
            if publisher is not self._publisher or publisher.closed:
                backoff = 0.5
                continue  # the publisher left (a gap) or was replaced: not a failure
            if reason in _PUBLISHER_FAULTS:
                publisher.close(reason)
                continue
            self._failed(
                RecorderState.ERROR
                if reason in ("ffmpeg_missing", "storage_unwritable", "disk_full")
                else RecorderState.OFFLINE,
                reason,
            )
            self._set_status(self._status.state, reason, restarts=self._status.restarts + 1)
            if time.monotonic() - started > 30:  # noqa: PLR2004
                backoff = 0.5
            await self._pause(backoff)
            backoff = min(backoff * 2, self.config.max_backoff)

    def _anchor(self, run: _Run, stream_time: float) -> None:
        """Place the run by when the publisher's tags reached the server.

        ffmpeg's progress says when ffmpeg got there; a run that started slowly, or
        behind a replayed group of pictures, lags the publisher.
        """
        sink = self._run_sink
        if sink is not None and sink.base_wall is not None:
            run.anchor = sink.base_wall
        else:
            super()._anchor(run, stream_time)

    def _first_segment_start(self, run: _Run, name: str, start: float, end: float) -> float:
        """Place a run's first segment by the publisher's clock when there is one.

        A replayed group of pictures reached the server before this ffmpeg started:
        neither the segment list nor the start of ffmpeg bounds it.
        """
        sink = self._run_sink
        if sink is not None and sink.base_wall is not None:
            run.anchor = sink.base_wall
            return run.anchor + start
        return super()._first_segment_start(run, name, start, end)

    def _input_args(self) -> list[str]:
        return [
            "-f",
            "flv",
            "-analyzeduration",
            "1000000",
            "-fflags",
            "+genpts+discardcorrupt",
            "-i",
            "pipe:0",
        ]

    async def _run(self, described: DescribeResult) -> str:
        try:
            return await super()._run(described)
        finally:
            self._run_sink = None
            feeder, self._feeder = self._feeder, None
            if feeder is not None:
                feeder.cancel()
                await asyncio.gather(feeder, return_exceptions=True)

    def _process_started(self, proc: asyncio.subprocess.Process, run: _Run) -> None:
        publisher = self._run_publisher
        if publisher is None or proc.stdin is None:
            return
        # Catching up after a slow start: consecutive cuts are more than half a segment
        # apart, so at this rate they still open in different wall-clock seconds.
        sink = publisher.subscribe(rate=max(1.0, 0.45 * self.config.segment_seconds))
        self._run_sink = sink
        self._feeder = asyncio.get_running_loop().create_task(
            self._feed(proc.stdin, publisher, sink, lambda: run.frames > 0),
            name=f"cctv_nvr push {self.config.camera}",
        )

    async def _feed(
        self,
        stdin: asyncio.StreamWriter,
        publisher: Publisher,
        sink: _Sink,
        running: Callable[[], bool],
    ) -> None:
        """Copy the publisher's FLV into ffmpeg; close its stdin when the publisher ends."""
        try:
            while data := await sink.take(running):
                stdin.write(data)
                await stdin.drain()
                # Fewer, larger pipe writes: each one costs a wake-up of ffmpeg.
                await asyncio.sleep(_FEED_INTERVAL)
        except BrokenPipeError, ConnectionResetError:
            pass  # ffmpeg has gone: the run's supervision sees why
        finally:
            publisher.unsubscribe(sink)
            with contextlib.suppress(OSError):
                stdin.close()


# -- refusals -------------------------------------------------------------------------


@dataclass(slots=True)
class _Address:
    refusals: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    dropped: int = 0  # connections closed unread while blocked
    pending: int = 0


class _Addresses:
    """Per-address refusals (rate limit) and pending logins, bounded in size."""

    def __init__(self, limits: IngestLimits) -> None:
        self._limits = limits
        self._entries: dict[str, _Address] = {}

    def get(self, host: str) -> _Address:
        entry = self._entries.get(host)
        if entry is None:
            if len(self._entries) >= self._limits.max_addresses:
                self._prune()
            entry = self._entries[host] = _Address()
        return entry

    def blocked(self, host: str, now: float) -> bool:
        entry = self._entries.get(host)
        if entry is None or entry.blocked_until <= now:
            return False
        entry.dropped += 1
        return True

    def refused(self, host: str, reason: str, now: float) -> None:
        limits = self._limits
        entry = self.get(host)
        while entry.refusals and entry.refusals[0] < now - limits.refused_window:
            entry.refusals.popleft()
        entry.refusals.append(now)
        count = len(entry.refusals)
        if count < limits.refused_per_window:
            _LOGGER.warning("Push ingest: refused %s (%s)", host, reason)
        elif count == limits.refused_per_window:
            entry.blocked_until = now + limits.block_seconds
            _LOGGER.warning(
                "Push ingest: refused %s (%s); %d refusals in %.0f s, connections from it are "
                "closed unread for %.0f s",
                host,
                reason,
                count,
                limits.refused_window,
                limits.block_seconds,
            )
        else:  # refused again right after a block ended
            entry.blocked_until = now + limits.block_seconds
            _LOGGER.warning(
                "Push ingest: refused %s (%s); blocked again for %.0f s (%d closed "
                "unread meanwhile)",
                host,
                reason,
                limits.block_seconds,
                entry.dropped,
            )
            entry.dropped = 0

    def _prune(self) -> None:
        now = time.monotonic()
        horizon = now - self._limits.refused_window
        for host in [
            h
            for h, e in self._entries.items()
            if not e.pending
            and e.blocked_until <= now
            and (not e.refusals or e.refusals[-1] < horizon)
        ]:
            del self._entries[host]
        while len(self._entries) >= self._limits.max_addresses:  # all busy: forget the oldest
            host = next(h for h, e in self._entries.items() if not e.pending)
            del self._entries[host]


# -- the server -----------------------------------------------------------------------


class IngestServer:
    """The RTMP listener shared by every push camera."""

    def __init__(
        self, port: int = DEFAULT_PORT, host: str | None = None, limits: IngestLimits | None = None
    ) -> None:
        """Prepare a listener on host (None: every interface) and port; start() binds."""
        self._host = host
        self._port = port
        self.limits = limits or IngestLimits()
        self._server: asyncio.Server | None = None
        self._cameras: dict[str, tuple[PushRecorder, bytes]] = {}
        self._addresses = _Addresses(self.limits)
        self._pending = 0
        self._publishing = 0
        self._connections: set[asyncio.Task[None]] = set()
        self.pace = _READ_PACE

    @property
    def port(self) -> int:
        """Return the port listened on (the real one when 0 was asked for).

        Port 0 is for tests: with host None every address family gets its own port.
        """
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def listening(self) -> bool:
        """Return True while the listener is open."""
        return self._server is not None

    async def start(self) -> None:
        """Listen; raise PortInUseError when the port is taken."""
        if self._server is None:
            self._server = await self._listen(self._port)

    async def set_port(self, port: int) -> None:
        """Move to another port; connected publishers stay. PortInUseError keeps the old."""
        if self._server is None:
            self._port = port
            return
        if port == self.port:
            return
        server = await self._listen(port)
        self._server.close()
        self._server, self._port = server, port

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for recorder, _ in self._cameras.values():
            recorder.disconnect("server_stopped")
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self, port: int) -> asyncio.Server:
        try:
            return await asyncio.start_server(
                self._connected, self._host, port, limit=_READ_SIZE, reuse_address=True
            )
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUseError(port) from None
            raise

    # -- cameras ------------------------------------------------------------------

    def add_camera(self, recorder: PushRecorder, key: str) -> None:
        """Accept publishes with key for this camera's recorder."""
        self._check_key(key)
        self._cameras[recorder.config.camera] = (recorder, key.encode())

    def set_key(self, camera: str, key: str) -> None:
        """Replace a camera's key; a publisher on the old key is disconnected at once."""
        self._check_key(key)
        recorder, old = self._cameras[camera]
        self._cameras[camera] = (recorder, key.encode())
        if not hmac.compare_digest(old, key.encode()):
            recorder.disconnect("key_changed")

    def remove_camera(self, camera: str) -> None:
        """Stop accepting publishes for a camera; its publisher is disconnected."""
        entry = self._cameras.pop(camera, None)
        if entry is not None:
            entry[0].disconnect("camera_removed")

    @staticmethod
    def _check_key(key: str) -> None:
        if not valid_stream_key(key):
            raise ValueError("a stream key needs at least 22 URL-safe characters (128 bits)")

    def _camera_for(self, key: str) -> tuple[PushRecorder, str] | None:
        """Return the camera whose key this is: every key compared, each in constant time."""
        offered = key.encode()
        found = None
        for recorder, expected in self._cameras.values():
            if hmac.compare_digest(offered, expected):
                found = (recorder, key)
        return found

    # -- connections --------------------------------------------------------------

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "?"
        try:
            await self._serve(host, reader, writer)
        finally:
            self._connections.discard(task)
            # What was said last (a refusal's onStatus) goes out if the peer reads it soon.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1):
                    await writer.drain()
            writer.transport.abort()

    async def _serve(
        self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = _Connection(writer, rtmp.ChunkParser(max_message=_LOGIN_MESSAGE))
        found = await self._admit(host, connection, reader)
        if found is None:
            return
        recorder, key = found
        publisher = Publisher(
            recorder.config.camera, key, host, self.limits, writer.transport.abort
        )
        publisher.rate.add(connection.parser.received)
        self._publishing += 1
        recorder.attach(publisher)
        try:
            await self._receive(connection, reader, publisher)
        finally:
            self._publishing -= 1
            recorder.detach(publisher)

    async def _admit(
        self, host: str, connection: _Connection, reader: asyncio.StreamReader
    ) -> tuple[PushRecorder, str] | None:
        """Log a connection in; None when it is refused (counted against its address)."""
        limits = self.limits
        if self._addresses.blocked(host, time.monotonic()):
            return None
        entry = self._addresses.get(host)
        if self._pending >= limits.max_pending or entry.pending >= limits.max_pending_per_address:
            _LOGGER.debug("Push ingest: too many logins in progress, closing %s", host)
            return None
        self._pending += 1
        entry.pending += 1
        try:
            async with asyncio.timeout(limits.login_timeout):
                return await self._login(connection, reader)
        except (
            _RefusedError,
            TimeoutError,
            rtmp.ProtocolError,
            asyncio.IncompleteReadError,
            ConnectionError,
        ) as err:
            self._addresses.refused(host, _refusal(err), time.monotonic())
            return None
        finally:
            self._pending -= 1
            entry.pending -= 1

    async def _login(
        self, conn: _Connection, reader: asyncio.StreamReader
    ) -> tuple[PushRecorder, str]:
        """Handshake, connect, createStream, publish with a known key."""
        conn.writer.write(rtmp.handshake_reply(await reader.readexactly(1 + rtmp.HANDSHAKE_SIZE)))
        await reader.readexactly(rtmp.HANDSHAKE_SIZE)  # C2: not checked (simple handshake)
        app = ""
        while True:
            data = await reader.read(_READ_SIZE)
            if not data:
                raise _RefusedError("connection closed during login")
            for message in conn.feed(data):
                values = _command(message)
                if not values:
                    continue
                name, transaction = values[0], values[1] if len(values) > 1 else 0.0
                if name == "connect":
                    info = values[2] if len(values) > 2 and isinstance(values[2], dict) else {}  # noqa: PLR2004
                    app = str(info.get("app", ""))
                    conn.writer.write(_connected_reply(transaction))
                elif name == "createStream":
                    conn.writer.write(rtmp.command("_result", transaction, None, 1.0))
                elif name == "publish":
                    return self._publish(conn, message, values, app)
                elif name in ("releaseStream", "FCPublish"):
                    conn.writer.write(rtmp.command("_result", transaction, None))
                elif name == "play":
                    _status(
                        conn,
                        message.stream_id,
                        "error",
                        "NetStream.Play.Failed",
                        "playing is not offered",
                    )
                    raise _RefusedError("play requested")
            await conn.writer.drain()

    def _publish(
        self, conn: _Connection, message: rtmp.Message, values: list[Any], app: str
    ) -> tuple[PushRecorder, str]:
        name = values[3] if len(values) > 3 and isinstance(values[3], str) else ""  # noqa: PLR2004
        key = name.split("?", 1)[0] or app.rstrip("/").rsplit("/", 1)[-1]
        found = self._camera_for(key)
        if found is None:
            _status(
                conn, message.stream_id, "error", "NetStream.Publish.BadName", "unknown stream key"
            )
            raise _RefusedError("unknown stream key")
        if self._publishing >= self.limits.max_publishers:
            _status(conn, message.stream_id, "error", "NetStream.Publish.Denied", "server full")
            raise _RefusedError(f"{self._publishing} publishers already")
        conn.writer.write(rtmp.stream_begin(message.stream_id))
        _status(conn, message.stream_id, "status", "NetStream.Publish.Start", "Publishing")
        conn.stream_id = message.stream_id
        return found

    async def _receive(
        self, conn: _Connection, reader: asyncio.StreamReader, publisher: Publisher
    ) -> None:
        """Media until the publisher stops, goes quiet, breaks the protocol or is closed."""
        conn.parser.max_message = self.limits.max_message
        idle = self.limits.idle_timeout
        try:
            while not publisher.closed:
                async with asyncio.timeout(idle):
                    data = await reader.read(_READ_SIZE)
                if not data:
                    publisher.reason = publisher.reason or "disconnected"
                    return
                publisher.rate.add(len(data))
                if not self._media(conn, publisher, conn.feed(data)):
                    return
                if time.monotonic() - publisher.last_media > idle:
                    publisher.close("no_media")
                elif publisher.full:
                    await publisher.room()
                elif len(data) < _READ_SIZE and self.pace:
                    # Let the kernel gather a few packets: a tenth of the wake-ups.
                    transport = conn.writer.transport
                    assert isinstance(transport, asyncio.Transport)  # noqa: S101
                    transport.pause_reading()
                    await asyncio.sleep(self.pace)
                    if not transport.is_closing():
                        transport.resume_reading()
        except TimeoutError:
            publisher.close("no_media")
        except rtmp.ProtocolError as err:
            _LOGGER.warning(
                "Camera %s: publisher %s broke the protocol (%s)",
                publisher.camera,
                publisher.address,
                err,
            )
            publisher.close("protocol_error")
        except ConnectionError:
            publisher.close("disconnected")

    @staticmethod
    def _media(conn: _Connection, publisher: Publisher, messages: list[rtmp.Message]) -> bool:
        """Hand media on; return False when the publisher ends the stream."""
        for message in messages:
            kind = message.type
            if kind in (rtmp.MSG_AUDIO, rtmp.MSG_VIDEO):
                if message.payload:
                    publisher.media(kind, message.timestamp, message.payload)
            elif kind == rtmp.MSG_DATA_AMF0:
                body = rtmp.metadata_body(message.payload)
                if body is not None:
                    publisher.metadata(body)
            elif kind == rtmp.MSG_AGGREGATE:
                for sub, timestamp, body in rtmp.aggregate_tags(message):
                    if sub in (rtmp.MSG_AUDIO, rtmp.MSG_VIDEO) and body:
                        publisher.media(sub, timestamp, body)
            elif kind in (rtmp.MSG_COMMAND_AMF0, rtmp.MSG_COMMAND_AMF3):
                values = _command(message)
                if values and values[0] in ("deleteStream", "FCUnpublish", "closeStream"):
                    publisher.reason = publisher.reason or "unpublished"
                    return False
        return True


class _Connection:
    """One socket's parser and what it owes the peer (acknowledgements)."""

    def __init__(self, writer: asyncio.StreamWriter, parser: rtmp.ChunkParser) -> None:
        self.writer = writer
        self.parser = parser
        self.window = 0
        self.acked = 0
        self.stream_id = 0

    def feed(self, data: bytes) -> list[rtmp.Message]:
        messages = self.parser.feed(data)
        for message in messages:
            if message.type == rtmp.MSG_WINDOW_ACK_SIZE and len(message.payload) >= 4:  # noqa: PLR2004
                self.window = int.from_bytes(message.payload[:4])
        received = self.parser.received
        if self.window and received - self.acked >= self.window:
            self.writer.write(rtmp.acknowledgement(received))
            self.acked = received
        return messages


def _refusal(err: Exception) -> str:
    """Return why a login was refused, for the log."""
    if isinstance(err, TimeoutError):
        return "login not finished in time"
    if isinstance(err, rtmp.ProtocolError):
        return f"protocol error: {err}"
    if isinstance(err, asyncio.IncompleteReadError | ConnectionError):
        return "connection closed during login"
    return str(err)


def _command(message: rtmp.Message) -> list[Any]:
    """Return the values of a command message ([] for other messages)."""
    if message.type == rtmp.MSG_COMMAND_AMF0:
        values = rtmp.amf0_decode(message.payload)
    elif message.type == rtmp.MSG_COMMAND_AMF3 and message.payload[:1] == b"\x00":
        values = rtmp.amf0_decode(message.payload[1:])
    else:
        return []
    return values if values and isinstance(values[0], str) else []


def _connected_reply(transaction: Any) -> bytes:
    return b"".join(
        (
            rtmp.window_ack_size(_WINDOW_ACK),
            rtmp.set_peer_bandwidth(_WINDOW_ACK),
            rtmp.set_chunk_size(),
            rtmp.command(
                "_result",
                transaction,
                {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                {
                    "level": "status",
                    "code": "NetConnection.Connect.Success",
                    "description": "Connection succeeded.",
                    "objectEncoding": 0.0,
                },
            ),
        )
    )


def _status(conn: _Connection, stream_id: int, level: str, code: str, description: str) -> None:
    conn.writer.write(
        rtmp.command(
            "onStatus",
            0.0,
            None,
            {"level": level, "code": code, "description": description},
            stream_id=stream_id,
        )
    )
