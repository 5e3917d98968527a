"""Push cameras: the RTMP ingest server and PushRecorder, with ffmpeg as the publisher.

Real parts only: ffmpeg publishes (`-re … -c copy -f flv rtmp://…`), the recorder's
ffmpeg writes segments, PyAV reads them back. Hostile clients are raw sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import random
import signal
import socket
import struct
import time

import pytest

from custom_components.cctv_nvr.engine import rtmp
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.ingest import (
    IngestLimits,
    IngestServer,
    PortInUseError,
    PushRecorder,
    PushStatus,
    new_stream_key,
    publish_url,
    valid_stream_key,
)
from custom_components.cctv_nvr.engine.recorder import RecorderConfig, RecorderState
from tests.engine.helpers import inspect_file, run_ffmpeg, wait_for

FPS = 15
LOGGER = "custom_components.cctv_nvr.engine.ingest"
LIMITS = IngestLimits(
    login_timeout=1.5,
    idle_timeout=2.0,
    refused_per_window=3,
    refused_window=30,
    block_seconds=30,
)


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Short H.264+AAC and H.265+AAC clips with a keyframe every second."""
    folder = tmp_path_factory.mktemp("push_clips")
    clips = {"h264": folder / "h264.mp4", "hevc": folder / "hevc.mp4"}
    source = [
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "8", "-g", str(FPS), "-c:a", "aac", "-shortest",
    ]  # fmt: skip
    run_ffmpeg(*source, "-c:v", "libx264", "-preset", "veryfast", str(clips["h264"]))
    run_ffmpeg(
        *source, "-c:v", "libx265", "-preset", "ultrafast",
        "-x265-params", "log-level=error:open-gop=0", str(clips["hevc"]),
    )  # fmt: skip
    return clips


@dataclass
class Push:
    """One test's ingest server, recorders and publishers."""

    server: IngestServer
    index: SegmentIndex
    root: Path
    clips: dict[str, Path]
    recorders: dict[str, PushRecorder] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, list[PushStatus]] = field(default_factory=dict)
    publishers: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def camera(self, name: str = "door", segment_seconds: float = 2) -> PushRecorder:
        statuses: list[PushStatus] = []
        recorder = PushRecorder(
            RecorderConfig(camera=name, root=self.root, url="", segment_seconds=segment_seconds),
            self.index,
            on_push_status=statuses.append,
        )
        self.keys[name] = new_stream_key()
        self.statuses[name] = statuses
        self.server.add_camera(recorder, self.keys[name])
        self.recorders[name] = recorder
        await recorder.start()
        return recorder

    def url(self, key: str) -> str:
        return publish_url("127.0.0.1", self.server.port, key)

    async def publish(
        self, key: str, clip: str = "h264", *, loop: bool = True
    ) -> asyncio.subprocess.Process:
        """An ffmpeg publisher of a clip in real time."""
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            *(["-stream_loop", "-1"] if loop else []), "-i", str(self.clips[clip]),
            "-c", "copy", "-f", "flv", self.url(key),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.publishers.append(proc)
        return proc

    def segments(self, name: str = "door") -> list[Segment]:
        return self.index.segments(name, 0, 1e12)

    def recording(self, name: str = "door") -> bool:
        return self.recorders[name].status.state == RecorderState.RECORDING


@pytest.fixture
async def push(
    request: pytest.FixtureRequest, tmp_path: Path, index: SegmentIndex, clips: dict[str, Path]
) -> AsyncIterator[Push]:
    """A started ingest server on a free port; everything stopped afterwards.

    Short timeouts (LIMITS) unless the test is marked `@pytest.mark.limits(IngestLimits(...))`.
    """
    marker = request.node.get_closest_marker("limits")
    limits = marker.args[0] if marker else LIMITS
    server = IngestServer(port=0, host="127.0.0.1", limits=limits)
    await server.start()
    ctx = Push(server, index, tmp_path / "rec", clips)
    try:
        yield ctx
    finally:
        for proc in ctx.publishers:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        for recorder in ctx.recorders.values():
            await recorder.stop()
        await server.stop()


async def ended(proc: asyncio.subprocess.Process, timeout: float) -> str:
    """Wait for a publisher to exit; return what it printed."""
    async with asyncio.timeout(timeout):
        await proc.wait()
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode(errors="replace")


def check_segments(segments: list[Segment], root: Path, codec: str = "h264") -> None:
    """Every segment decodes from a keyframe and holds the frames of its duration.

    The last segment of a run (the publisher stopped) may end with audio alone: the
    publisher interleaves audio ahead of video, so only "no more video than time" holds.
    """
    assert segments
    for segment, following in zip(segments, [*segments[1:], None], strict=True):
        facts = inspect_file(root / segment.path)
        assert facts.first_is_keyframe, segment.path
        assert facts.codec == codec
        assert facts.audio_codec == "aac"
        assert facts.decoded_frames == facts.video_packets > 0
        video = facts.video_packets / FPS
        if following is not None and following.run_id == segment.run_id:
            assert abs(video - segment.duration) <= 1.5 / FPS, segment
        else:
            assert video <= segment.duration + 1.5 / FPS, segment


# -- a raw RTMP client for what ffmpeg will not do ------------------------------------


class RawClient:
    """A socket speaking as much RTMP as a test wants."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def handshake(self) -> None:
        self.writer.write(b"\x03" + bytes(rtmp.HANDSHAKE_SIZE))
        await self.reader.readexactly(1 + 2 * rtmp.HANDSHAKE_SIZE)
        self.writer.write(bytes(rtmp.HANDSHAKE_SIZE))

    async def login(self, key: str) -> bytes:
        """Handshake, connect, createStream, publish; return what the server answered."""
        try:
            await self.handshake()
        except asyncio.IncompleteReadError, ConnectionError:
            return b""  # closed unread
        self.writer.write(rtmp.command("connect", 1.0, {"app": "live"}))
        self.writer.write(rtmp.command("createStream", 2.0, None))
        self.writer.write(rtmp.command("publish", 0.0, None, key, "live", stream_id=1))
        answer = b""
        while b"NetStream.Publish" not in answer:
            data = await asyncio.wait_for(self.reader.read(4096), 5)
            if not data:
                break
            answer += data
        return answer

    async def closed_by_server(self, timeout: float) -> float:
        """Read (and drop) until the server closes; return the seconds it took."""
        start = time.monotonic()
        async with asyncio.timeout(timeout):
            while True:
                try:
                    if not await self.reader.read(65536):
                        break
                except ConnectionError:
                    break
        return time.monotonic() - start

    def close(self) -> None:
        self.writer.transport.abort()


# -- keys -----------------------------------------------------------------------------


def test_stream_keys_have_at_least_128_bits() -> None:
    keys = {new_stream_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(valid_stream_key(k) and len(k) >= 32 for k in keys)  # 192 bits
    assert not valid_stream_key("short")
    assert not valid_stream_key("x" * 21)
    assert not valid_stream_key("a/b" * 10)  # not URL-safe
    assert publish_url("::1", 1935, "K" * 32) == f"rtmp://[::1]:1935/live/{'K' * 32}"


async def test_weak_key_is_rejected(push: Push) -> None:
    recorder = await push.camera()
    with pytest.raises(ValueError, match="128 bits"):
        push.server.add_camera(recorder, "password")
    with pytest.raises(ValueError, match="128 bits"):
        push.server.set_key("door", "1234")


# -- publishing -----------------------------------------------------------------------


async def test_h264_aac_publish_is_recorded(push: Push) -> None:
    recorder = await push.camera()
    await wait_for(lambda: recorder.status.state == RecorderState.OFFLINE, 5)
    assert recorder.status.reason == "not_publishing"
    started = time.monotonic()
    await push.publish(push.keys["door"])
    await wait_for(push.recording, 10)
    took = time.monotonic() - started
    assert took < 5, took
    status = recorder.push_status
    assert status.connected
    assert status.address == "127.0.0.1"
    assert (status.video_codec, status.audio_codec) == ("h264", "aac")
    await wait_for(lambda: len(push.segments()) >= 2, 15)
    await asyncio.sleep(1.2)
    assert recorder.push_status.bytes_per_second > 10_000
    assert recorder.push_status.last_segment_end is not None
    assert push.statuses["door"][0].connected
    segments = push.segments()
    check_segments(segments, push.root)
    for before, after in zip(segments, segments[1:], strict=False):
        assert abs(after.start - before.end) <= 1 / FPS  # contiguous within a publish
    assert segments[0].width == 320
    assert segments[0].fps == pytest.approx(FPS, abs=0.5)


async def test_h265_publish_over_enhanced_rtmp(push: Push) -> None:
    """ffmpeg publishes H.265 with the Enhanced RTMP FourCC hvc1; segments are tagged hvc1."""
    recorder = await push.camera()
    await push.publish(push.keys["door"], "hevc")
    await wait_for(lambda: len(push.segments()) >= 1, 15)
    assert recorder.push_status.video_codec == "hevc"
    segment = push.segments()[0]
    assert segment.video_codec == "hevc"
    check_segments([segment], push.root, codec="hevc")
    assert inspect_file(push.root / segment.path, decode=False).codec_tag == "hvc1"


async def test_publisher_ending_finishes_the_last_segment(push: Push) -> None:
    """A publisher that stops (deleteStream) ends the run cleanly: nothing lost."""
    recorder = await push.camera(segment_seconds=3)
    proc = await push.publish(push.keys["door"], loop=False)
    assert "error" not in (await ended(proc, 20)).lower()
    await wait_for(lambda: not recorder.push_status.connected, 5)
    await wait_for(lambda: recorder.status.reason == "not_publishing", 10)
    segments = push.segments()
    check_segments(segments, push.root)
    # The whole 8 s clip, from its first frame: the run started at the first keyframe.
    total = sum(s.duration for s in segments)
    assert total == pytest.approx(8, abs=2 / FPS), total


# -- refusals ---------------------------------------------------------------------------


async def test_wrong_key_is_refused_logged_and_rate_limited(
    push: Push, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    recorder = await push.camera()
    wrong = new_stream_key()
    output = await ended(await push.publish(wrong), 10)
    assert "unknown stream key" in output
    assert not recorder.push_status.connected
    assert push.segments() == []
    refusals = [
        r.getMessage() for r in caplog.records if r.name == LOGGER and "refused" in r.getMessage()
    ]
    assert refusals
    assert "127.0.0.1" in refusals[0]
    assert "unknown stream key" in refusals[0]
    # Two more refusals reach the limit (3 in the window): the address is blocked.
    for _ in range(2):
        client = await RawClient.connect(push.server.port)
        assert b"NetStream.Publish.BadName" in await client.login(new_stream_key())
        client.close()
    assert any("closed unread" in r.getMessage() for r in caplog.records)
    # Blocked: closed before the handshake, even with the right key (same address).
    client = await RawClient.connect(push.server.port)
    assert await client.login(push.keys["door"]) == b""
    client.close()
    lines = " ".join(r.getMessage() for r in caplog.records)
    assert wrong not in lines
    assert push.keys["door"] not in lines


async def test_blocked_address_is_let_in_again_after_the_block(
    tmp_path: Path, index: SegmentIndex
) -> None:
    """A block ends; a publish is accepted even while the camera's recorder is stopped."""
    server = IngestServer(
        port=0, host="127.0.0.1", limits=IngestLimits(refused_per_window=1, block_seconds=0.5)
    )
    await server.start()
    try:
        recorder = PushRecorder(RecorderConfig(camera="door", root=tmp_path, url=""), index)
        key = new_stream_key()
        server.add_camera(recorder, key)
        client = await RawClient.connect(server.port)
        assert b"NetStream.Publish.BadName" in await client.login(new_stream_key())
        client.close()
        client = await RawClient.connect(server.port)
        assert await client.login(key) == b""  # blocked: closed unread
        client.close()
        await asyncio.sleep(0.6)
        client = await RawClient.connect(server.port)
        assert b"NetStream.Publish.Start" in await client.login(key)
        await wait_for(lambda: recorder.push_status.connected, 2)
        client.close()
        await wait_for(lambda: not recorder.push_status.connected, 2)
    finally:
        await server.stop()


async def test_new_key_disconnects_the_publisher_at_once(push: Push) -> None:
    recorder = await push.camera()
    old = push.keys["door"]
    proc = await push.publish(old)
    await wait_for(lambda: len(push.segments()) >= 1, 15)
    new = new_stream_key()
    changed = time.monotonic()
    push.server.set_key("door", new)
    await ended(proc, 5)
    assert time.monotonic() - changed < 2
    await wait_for(lambda: not recorder.push_status.connected, 5)
    assert recorder.push_status.reason == "key_changed"
    # The old key is refused from now on; the new one records.
    assert "unknown stream key" in await ended(await push.publish(old), 10)
    before = len(push.segments())
    await push.publish(new)
    await wait_for(lambda: len(push.segments()) >= before + 1, 15)
    assert recorder.push_status.connected
    assert recorder.push_status.publishes == 2
    check_segments(push.segments(), push.root)


async def test_second_publisher_on_a_key_replaces_the_first(
    push: Push, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    recorder = await push.camera()
    first = await push.publish(push.keys["door"])
    await wait_for(push.recording, 10)
    second = await push.publish(push.keys["door"])
    await ended(first, 10)
    await wait_for(lambda: recorder.push_status.publishes == 2, 5)
    assert recorder.push_status.connected
    assert recorder.push_status.replaced == 1
    assert second.returncode is None
    assert any("replaces" in r.getMessage() for r in caplog.records)
    before = len(push.segments())
    await wait_for(lambda: len(push.segments()) >= before + 2, 15)
    check_segments(push.segments(), push.root)


# -- outages ------------------------------------------------------------------------------


async def test_publisher_killed_and_back_resumes_within_5_s_with_a_gap(push: Push) -> None:
    recorder = await push.camera()
    proc = await push.publish(push.keys["door"])
    await wait_for(lambda: len(push.segments()) >= 1, 15)
    proc.send_signal(signal.SIGKILL)
    killed = time.time()
    await proc.wait()
    await wait_for(lambda: not recorder.push_status.connected, 5)
    assert recorder.push_status.reason == "disconnected"
    await wait_for(lambda: recorder.status.state == RecorderState.OFFLINE, 10)
    first_run = {s.run_id for s in push.segments()}
    await asyncio.sleep(2.5)
    back = time.monotonic()
    await push.publish(push.keys["door"])
    await wait_for(push.recording, 10)
    resumed = time.monotonic() - back
    assert resumed < 5, resumed
    await wait_for(lambda: {s.run_id for s in push.segments()} - first_run, 15)
    segments = push.segments()
    before = [s for s in segments if s.run_id in first_run]
    after = [s for s in segments if s.run_id not in first_run]
    gap = after[0].start - before[-1].end
    assert gap >= 1.5, gap  # the outage is a gap in the index
    assert before[-1].end <= killed + 0.5
    check_segments(segments, push.root)


async def test_recorder_ffmpeg_killed_restarts_from_the_last_keyframe(push: Push) -> None:
    """ffmpeg dying while the publisher stays: a new run, the publisher is kept."""
    recorder = await push.camera()
    await push.publish(push.keys["door"])
    await wait_for(lambda: len(push.segments()) >= 1, 15)
    proc = recorder._proc
    assert proc is not None
    runs = {s.run_id for s in push.segments()}
    proc.send_signal(signal.SIGKILL)
    await wait_for(lambda: recorder.status.restarts == 1 and push.recording(), 10)
    try:
        await wait_for(lambda: {s.run_id for s in push.segments()} - runs, 15)
    except AssertionError:
        # Seen once in CI (not reproduced since): say whether the new run wrote files that were
        # not indexed, or wrote none.
        print(recorder.status, recorder.push_status, sorted(push.root.rglob("*.mp4")))
        raise
    assert recorder.push_status.connected
    assert recorder.push_status.publishes == 1
    check_segments(push.segments(), push.root)


@pytest.mark.limits(IngestLimits())  # 16 logins at once on a busy machine: the real timeouts
async def test_sixteen_publishers_at_once(push: Push) -> None:
    names = [f"cam{i:02d}" for i in range(16)]
    for name in names:
        await push.camera(name)
    for name in names:
        await push.publish(push.keys[name])
    # 16 publishers and 16 recording ffmpegs start on 2 cores beside other work.
    try:
        await wait_for(lambda: all(push.recording(n) for n in names), 60)
    except AssertionError:
        for name in names:
            recorder = push.recorders[name]
            print(name, recorder.status, recorder.push_status)
        raise
    await wait_for(lambda: all(len(push.segments(n)) >= 2 for n in names), 30)
    for name in names:
        assert push.recorders[name].push_status.connected
        assert push.recorders[name].status.restarts == 0
        check_segments(push.segments(name)[:1], push.root)


# -- hostile clients ------------------------------------------------------------------


@pytest.fixture
async def steady(push: Push) -> PushRecorder:
    """A camera recording a publisher while a test misbehaves beside it."""
    recorder = await push.camera("steady")
    await push.publish(push.keys["steady"])
    await wait_for(lambda: push.recording("steady"), 10)
    return recorder


async def still_recording(recorder: PushRecorder, since: float) -> None:
    """The steady camera kept its publisher and its ffmpeg, and records on."""
    await wait_for(lambda: (recorder.status.last_segment_end or 0) > since + 2, 15)
    assert recorder.push_status.connected
    assert recorder.push_status.publishes == 1
    assert recorder.status.state == RecorderState.RECORDING
    assert recorder.status.restarts == 0


async def test_garbage_bytes(
    push: Push, steady: PushRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    since = time.time()
    noise = random.Random(14)
    # Garbage instead of a handshake: refused at the first byte.
    client = await RawClient.connect(push.server.port)
    client.writer.write(b"GET / HTTP/1.1\r\n\r\n" + bytes(2000))
    assert await client.closed_by_server(3) < 2
    # Garbage after the handshake: refused by the chunk parser or the login limit.
    for _ in range(2):
        client = await RawClient.connect(push.server.port)
        await client.handshake()
        client.writer.write(noise.randbytes(300_000))
        assert await client.closed_by_server(LIMITS.login_timeout + 2) <= LIMITS.login_timeout + 1
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "unsupported RTMP version" in text
    await still_recording(steady, since)


async def test_garbage_from_a_logged_in_publisher(
    push: Push, steady: PushRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A publisher that turns to garbage is cut off; what it sent before stays."""
    caplog.set_level(logging.WARNING, LOGGER)
    since = time.time()
    recorder = await push.camera()
    client = await RawClient.connect(push.server.port)
    assert b"NetStream.Publish.Start" in await client.login(push.keys["door"])
    assert recorder.push_status.connected
    # A message header claiming 9 MiB: over the limit before a byte of it arrives.
    client.writer.write(bytes([0x06]) + struct.pack(">I", 9 * 2**20)[1:] * 2 + b"\x09\x01\0\0\0")
    await client.closed_by_server(3)
    await wait_for(lambda: not recorder.push_status.connected, 3)
    assert any("broke the protocol" in r.getMessage() for r in caplog.records)
    await still_recording(steady, since)


async def test_handshake_that_never_finishes(
    push: Push, steady: PushRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    since = time.time()

    async def half_a_handshake() -> float:
        connected = time.monotonic()
        client = await RawClient.connect(push.server.port)
        client.writer.write(b"\x03" + bytes(700))  # half a C1, then nothing
        await client.closed_by_server(LIMITS.login_timeout + 3)
        return time.monotonic() - connected

    took = await asyncio.gather(*(half_a_handshake() for _ in range(3)))
    assert all(LIMITS.login_timeout - 0.2 <= t <= LIMITS.login_timeout + 1 for t in took), took
    assert any("login not finished in time" in r.getMessage() for r in caplog.records)
    await still_recording(steady, since)


async def test_slow_sender(push: Push, steady: PushRecorder) -> None:
    """A login dribbled a byte at a time is cut at the login timeout; a publisher that
    stops sending media (a stalled phone) is cut at the idle timeout, its footage kept."""
    since = time.time()
    client = await RawClient.connect(push.server.port)

    async def dribble() -> None:
        with contextlib.suppress(ConnectionError):
            for byte in b"\x03" + bytes(rtmp.HANDSHAKE_SIZE):
                client.writer.write(bytes([byte]))
                await client.writer.drain()
                await asyncio.sleep(0.01)

    task = asyncio.create_task(dribble())
    took = await client.closed_by_server(LIMITS.login_timeout + 2)
    task.cancel()
    assert took <= LIMITS.login_timeout + 1
    recorder = await push.camera()
    proc = await push.publish(push.keys["door"])
    await wait_for(lambda: len(push.segments()) >= 1, 15)
    proc.send_signal(signal.SIGSTOP)
    try:
        stalled = time.monotonic()
        await wait_for(lambda: not recorder.push_status.connected, LIMITS.idle_timeout + 6)
        assert time.monotonic() - stalled <= LIMITS.idle_timeout + 5
        assert recorder.push_status.reason == "no_media"
    finally:
        proc.send_signal(signal.SIGCONT)
    await wait_for(lambda: recorder.status.reason == "not_publishing", 10)
    check_segments(push.segments(), push.root)
    await still_recording(steady, since)


# -- the listener ---------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_port_in_use(taken_port: int) -> None:
    server = IngestServer(port=taken_port, host="127.0.0.1")
    with pytest.raises(PortInUseError) as err:
        await server.start()
    assert err.value.port == taken_port
    assert not server.listening


async def test_port_change_keeps_the_old_port_when_the_new_is_taken(
    push: Push, taken_port: int
) -> None:
    old = push.server.port
    with pytest.raises(PortInUseError):
        await push.server.set_port(taken_port)
    assert push.server.port == old
    (await RawClient.connect(old)).close()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    new = free.getsockname()[1]
    free.close()
    await push.server.set_port(new)
    assert push.server.port == new
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", old)
    await push.camera()
    await push.publish(push.keys["door"])
    await wait_for(push.recording, 10)


# -- the chunk parser: bounded whatever it is fed ---------------------------------------


def _message(csid: int, kind: int, payload: bytes, chunk_size: int, ts: int = 0) -> bytes:
    """A message as a publisher chunks it (type 0, then type 3; extended timestamps)."""
    field_ts = min(ts, 0xFFFFFF)
    head = bytes([csid]) + struct.pack(">I", field_ts)[1:] + struct.pack(">I", len(payload))[1:]
    head += bytes([kind]) + struct.pack("<I", 1)
    ext = struct.pack(">I", ts) if ts >= 0xFFFFFF else b""
    out = head + ext + payload[:chunk_size]
    for offset in range(chunk_size, len(payload), chunk_size):
        out += bytes([0xC0 | csid]) + ext + payload[offset : offset + chunk_size]
    return out


def test_parser_reassembles_interleaved_messages_with_extended_timestamps() -> None:
    parser = rtmp.ChunkParser(max_message=2**20)
    video = os.urandom(1000)
    audio = os.urandom(300)
    stream = _message(6, rtmp.MSG_VIDEO, video, 128, ts=0x1234567)
    stream += _message(4, rtmp.MSG_AUDIO, audio, 128, ts=5)
    # A type-1 header (delta) then a type-3 new message repeating the delta.
    stream += bytes([0x44]) + struct.pack(">I", 40)[1:] + struct.pack(">I", 3)[1:] + b"\x08abc"
    stream += bytes([0xC4]) + b"def"
    messages: list[rtmp.Message] = []
    for offset in range(0, len(stream), 7):  # fed in small pieces
        messages += parser.feed(stream[offset : offset + 7])
    assert [(m.type, m.timestamp, m.payload) for m in messages] == [
        (rtmp.MSG_VIDEO, 0x1234567, video),
        (rtmp.MSG_AUDIO, 5, audio),
        (rtmp.MSG_AUDIO, 45, b"abc"),
        (rtmp.MSG_AUDIO, 85, b"def"),
    ]


def test_parser_applies_chunk_size_and_abort() -> None:
    parser = rtmp.ChunkParser(max_message=2**20)
    big = os.urandom(10_000)
    assert parser.feed(_message(2, rtmp.MSG_SET_CHUNK_SIZE, struct.pack(">I", 4096), 128)) == []
    assert parser.chunk_size == 4096
    half = _message(6, rtmp.MSG_VIDEO, big, 4096)[: 12 + 4096]  # its first chunk
    assert parser.feed(half) == []
    assert parser._pending == len(big)
    assert parser.feed(_message(2, rtmp.MSG_ABORT, struct.pack(">I", 6), 4096)) == []
    assert parser._pending == 0
    assert [m.payload for m in parser.feed(_message(6, rtmp.MSG_VIDEO, big, 4096))] == [big]


def test_parser_limits() -> None:
    parser = rtmp.ChunkParser(max_message=1000)
    with pytest.raises(rtmp.ProtocolError, match="over the limit"):
        parser.feed(_message(6, rtmp.MSG_VIDEO, bytes(1001), 128)[:12])
    parser = rtmp.ChunkParser(max_message=1000)
    for csid in range(3, 4):  # one unfinished message of 900 bytes is allowed
        parser.feed(_message(csid, rtmp.MSG_VIDEO, bytes(900), 128)[: 12 + 128])
    with pytest.raises(rtmp.ProtocolError, match="unfinished"):  # a second is not
        parser.feed(_message(4, rtmp.MSG_VIDEO, bytes(900), 128)[: 12 + 128])
    with pytest.raises(rtmp.ProtocolError, match="without a full header"):
        rtmp.ChunkParser(max_message=1000).feed(b"\xc5" + bytes(200))


def test_parser_fed_garbage_stays_bounded() -> None:
    noise = random.Random(1)
    limit = 64 * 1024
    for _ in range(300):
        parser = rtmp.ChunkParser(max_message=limit)
        try:
            for _ in range(50):
                parser.feed(noise.randbytes(noise.choice((1, 100, 5000, 70_000))))
                held = len(parser._buffer) + parser._pending
                # Unparsed bytes: at most one chunk of an allowed message and one read.
                assert held <= 3 * limit + 70_000
        except rtmp.ProtocolError:
            pass


def test_amf0_round_trip_and_malformed() -> None:
    values = ["connect", 1.0, {"app": "live", "n": None, "ok": True, "x": {"y": 2.0}}, None]
    assert rtmp.amf0_decode(rtmp.amf0_encode(*values)) == values
    with pytest.raises(rtmp.ProtocolError):
        rtmp.amf0_decode(b"\x02\x00\x10abc")
    with pytest.raises(rtmp.ProtocolError, match="too deep"):
        rtmp.amf0_decode(b"\x03\x00\x01a" * 40)
    with pytest.raises(rtmp.ProtocolError, match="marker"):
        rtmp.amf0_decode(b"\x11")
