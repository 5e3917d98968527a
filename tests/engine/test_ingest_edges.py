"""Push ingest edges: the RTMP codec's error paths, a publisher's sinks, refusals, listener.

Fast tests: real bytes into the parser and the AMF0/FLV readers, real sockets against a
real IngestServer (raw clients, no ffmpeg publisher), recorders that never start ffmpeg.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
import errno
import logging
from pathlib import Path
import socket
import struct
import time

import pytest

from custom_components.cctv_nvr.engine import rtmp
from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.ingest import (
    IngestLimits,
    IngestServer,
    PortInUseError,
    Publisher,
    PushRecorder,
    _Addresses,
    _command,
    _Rate,
    new_stream_key,
)
from custom_components.cctv_nvr.engine.recorder import RecorderConfig, RecorderState
from tests.engine.helpers import wait_for
from tests.engine.test_ingest import LOGGER, RawClient, _message

# Media bodies as a publisher sends them (FLV tag bodies).
H264_HEADER = b"\x17\x00\x00\x00\x00" + b"\x01\x64\x00\x1f\xff\xe1"  # AVC sequence header
H264_KEY = b"\x17\x01\x00\x00\x00" + bytes(40)
H264_INTER = b"\x27\x01\x00\x00\x00" + bytes(30)
AAC_HEADER = b"\xaf\x00\x12\x10"
AAC_FRAME = b"\xaf\x01" + bytes(20)
METADATA = rtmp.amf0_encode("onMetaData", {"framerate": 25.0, "audiocodecid": 10.0})


def tags(sink_parts: list[tuple[int, bytes]]) -> list[tuple[int, int, bytes]]:
    """(FLV tag type, timestamp, body) of a sink's parts (the file header skipped)."""
    out = []
    for _, part in sink_parts:
        if part.startswith(b"FLV"):
            continue
        size = int.from_bytes(part[1:4])
        ts = int.from_bytes(part[4:7]) | (part[7] << 24)
        assert len(part) == 11 + size + 4
        out.append((part[0], ts, part[11 : 11 + size]))
    return out


# -- rtmp: handshake and chunk parser ---------------------------------------------------


def test_handshake_reply_echoes_c1_and_refuses_a_short_one() -> None:
    c1 = bytes(range(256)) * 6
    reply = rtmp.handshake_reply(b"\x03" + c1)
    assert len(reply) == 1 + 2 * rtmp.HANDSHAKE_SIZE
    assert reply[0] == rtmp.RTMP_VERSION
    s1, s2 = reply[1 : 1 + rtmp.HANDSHAKE_SIZE], reply[1 + rtmp.HANDSHAKE_SIZE :]
    assert s1[4:8] == bytes(4)  # no version: the simple handshake
    assert s2[:4] == c1[:4] and s2[8:] == c1[8:]
    with pytest.raises(rtmp.ProtocolError, match="short handshake"):
        rtmp.handshake_reply(b"\x03" + bytes(100))


def test_parser_refuses_a_65th_chunk_stream() -> None:
    parser = rtmp.ChunkParser(max_message=1000)
    for n, csid in enumerate(range(2, 2 + 65)):
        basic = bytes([csid]) if csid < 64 else bytes([0, csid - 64])  # 2-byte form past 63
        empty = basic + bytes(3) + bytes(3) + bytes([rtmp.MSG_AUDIO]) + struct.pack("<I", 1)
        if n < 64:
            assert [(m.type, m.payload) for m in parser.feed(empty)] == [(rtmp.MSG_AUDIO, b"")]
        else:
            with pytest.raises(rtmp.ProtocolError, match="too many chunk streams"):
                parser.feed(empty)


def test_parser_waits_for_a_two_byte_basic_header() -> None:
    parser = rtmp.ChunkParser(max_message=1000)
    message = b"\x00\x05" + bytes(3) + b"\x00\x00\x01\x08" + struct.pack("<I", 1) + b"y"
    assert parser.feed(message[:1]) == []  # csid form 0 needs its second byte
    assert len(parser._buffer) == 1
    [whole] = parser.feed(message[1:])
    assert (whole.type, whole.payload) == (rtmp.MSG_AUDIO, b"y")
    assert len(parser._buffer) == 0


def test_parser_refuses_a_new_header_inside_a_message_and_chunk_size_zero() -> None:
    parser = rtmp.ChunkParser(max_message=1000)
    first = _message(6, rtmp.MSG_VIDEO, bytes(300), 128)[: 12 + 128]
    assert parser.feed(first) == []
    with pytest.raises(rtmp.ProtocolError, match="new header inside a message"):
        parser.feed(_message(6, rtmp.MSG_VIDEO, bytes(10), 128))
    with pytest.raises(rtmp.ProtocolError, match="chunk size 0"):
        rtmp.ChunkParser(max_message=1000).feed(
            _message(2, rtmp.MSG_SET_CHUNK_SIZE, struct.pack(">I", 0), 128)
        )


def test_written_chunks_parse_back() -> None:
    """A server message longer than OUT_CHUNK_SIZE is cut in type-3 chunks."""
    payload = bytes(range(256)) * 40  # 10240 bytes: three chunks
    data = rtmp.chunk(6, rtmp.MSG_VIDEO, payload, stream_id=1, timestamp=7)
    assert len(data) == 12 + len(payload) + 2  # two 1-byte type-3 headers
    parser = rtmp.ChunkParser(max_message=2**20, chunk_size=rtmp.OUT_CHUNK_SIZE)
    [message] = parser.feed(data)
    assert (message.type, message.stream_id, message.timestamp) == (rtmp.MSG_VIDEO, 1, 7)
    assert message.payload == payload
    [ack] = parser.feed(rtmp.acknowledgement(2**32 + 5))
    assert (ack.type, ack.payload) == (rtmp.MSG_ACK, struct.pack(">I", 5))


# -- rtmp: AMF0, FLV, codecs -------------------------------------------------------------


def test_amf0_long_strings_arrays_dates_typed_objects() -> None:
    long = "x" * 70_000
    encoded = rtmp.amf0_encode(long)
    assert encoded[0] == 12  # long string marker
    assert rtmp.amf0_decode(encoded) == [long]
    with pytest.raises(TypeError, match="cannot encode list"):
        rtmp.amf0_encode([1])
    strict = b"\x0a\x00\x00\x00\x02" + rtmp.amf0_encode(1.0, "a")
    assert rtmp.amf0_decode(strict) == [[1.0, "a"]]
    with pytest.raises(rtmp.ProtocolError, match="array longer"):
        rtmp.amf0_decode(b"\x0a\x00\x00\x00\x09\x05")
    date = b"\x0b" + struct.pack(">d", 1.5e12) + b"\x00\x00"
    assert rtmp.amf0_decode(date + rtmp.amf0_encode(None)) == [1.5e12, None]
    typed = b"\x10\x00\x03Cls" + b"\x00\x01a" + rtmp.amf0_encode(2.0) + b"\x00\x00\x09"
    assert rtmp.amf0_decode(typed) == [{"a": 2.0}]
    with pytest.raises(rtmp.ProtocolError, match="string past the end"):
        rtmp.amf0_decode(b"\x03\x00\x0aab")  # an object key longer than the message


def test_aggregate_tags_rebase_timestamps_and_refuse_a_cut() -> None:
    def tag(kind: int, ts: int, body: bytes) -> bytes:
        head = bytes([kind]) + len(body).to_bytes(3) + (ts & 0xFFFFFF).to_bytes(3)
        return head + bytes([ts >> 24]) + bytes(3) + body + struct.pack(">I", 11 + len(body))

    payload = tag(9, 500, b"video") + tag(8, 540, b"audio")
    message = rtmp.Message(rtmp.MSG_AGGREGATE, 1, 1000, payload)
    assert list(rtmp.aggregate_tags(message)) == [(9, 1000, b"video"), (8, 1040, b"audio")]
    cut = rtmp.Message(rtmp.MSG_AGGREGATE, 1, 1000, payload[:33])  # the second tag body cut
    with pytest.raises(rtmp.ProtocolError, match="cut short"):
        list(rtmp.aggregate_tags(cut))


def test_metadata_body() -> None:
    assert rtmp.metadata_body(b"\x11") is None  # malformed
    assert rtmp.metadata_body(rtmp.amf0_encode("onCuePoint", {"a": 1.0})) is None
    framed = rtmp.amf0_encode("@setDataFrame", "onMetaData", {"width": 320.0})
    assert rtmp.amf0_decode(rtmp.metadata_body(framed) or b"") == ["onMetaData", {"width": 320.0}]


def test_codec_readers() -> None:
    assert rtmp.VideoInfo.of(b"") == rtmp.VideoInfo(None, keyframe=False, sequence_header=False)
    assert rtmp.audio_codec(b"") is None
    assert rtmp.audio_codec(AAC_FRAME) == "aac"
    assert rtmp.audio_codec(b"\x90Opus") == "opus"
    assert rtmp.audio_codec(b"\x90zzzz") == "unsupported"
    assert rtmp.audio_codec(b"\x30\x00") == "unsupported"  # PCM: not a recorded codec
    assert not rtmp.audio_sequence_header(b"\xaf")
    assert rtmp.audio_sequence_header(AAC_HEADER)
    assert not rtmp.audio_sequence_header(AAC_FRAME)
    assert rtmp.audio_sequence_header(b"\x90Opus")  # enhanced SequenceStart
    assert not rtmp.audio_sequence_header(b"\x91Opus")
    assert not rtmp.audio_sequence_header(b"\x20\x00")  # MP3 has none


def test_command_values_of_amf0_and_amf3_messages() -> None:
    values = rtmp.amf0_encode("deleteStream", 0.0, None, 1.0)
    amf3 = rtmp.Message(rtmp.MSG_COMMAND_AMF3, 1, 0, b"\x00" + values)
    assert _command(amf3) == ["deleteStream", 0.0, None, 1.0]
    assert _command(rtmp.Message(rtmp.MSG_COMMAND_AMF3, 1, 0, b"\x11" + values)) == []
    assert _command(rtmp.Message(rtmp.MSG_VIDEO, 1, 0, values)) == []
    assert _command(rtmp.Message(rtmp.MSG_COMMAND_AMF0, 1, 0, rtmp.amf0_encode(1.0))) == []


# -- a publisher's sinks (no socket, no ffmpeg) -------------------------------------------


@dataclass
class Closed:
    count: int = 0

    def __call__(self) -> None:
        self.count += 1


def publisher(**limits: int) -> tuple[Publisher, Closed]:
    closed = Closed()
    return Publisher("door", new_stream_key(), "192.0.2.7", IngestLimits(**limits), closed), closed


def test_run_subscribed_before_the_first_keyframe_starts_at_it() -> None:
    pub, _ = publisher()
    pub.media(rtmp.TAG_AUDIO, 0, AAC_HEADER)
    assert pub.audio_codec == "aac"  # from the tag (no onMetaData)
    sink = pub.subscribe()
    assert sink.base is None
    assert not pub.ready
    pub.metadata(METADATA)
    pub.media(rtmp.TAG_VIDEO, 10, H264_HEADER)  # the run has not started: kept for it
    pub.media(rtmp.TAG_AUDIO, 20, AAC_FRAME)  # before any keyframe: not in the run
    assert pub.video_codec == "h264" and not pub.ready
    pub.media(rtmp.TAG_VIDEO, 100, H264_KEY)
    assert pub.ready
    assert sink.base == 100
    pub.media(rtmp.TAG_AUDIO, 90, AAC_FRAME)  # led the keyframe: dropped
    pub.media(rtmp.TAG_AUDIO, 120, AAC_HEADER)  # new parameters mid-stream, in order
    pub.media(rtmp.TAG_VIDEO, 130, H264_HEADER)
    pub.media(rtmp.TAG_VIDEO, 140, H264_INTER)
    assert sink.parts[0][1].startswith(b"FLV\x01\x05")  # audio and video
    assert tags(list(sink.parts)) == [
        (rtmp.TAG_SCRIPT, 0, METADATA),
        (rtmp.TAG_VIDEO, 0, H264_HEADER),
        (rtmp.TAG_AUDIO, 0, AAC_HEADER),
        (rtmp.TAG_VIDEO, 0, H264_KEY),
        (rtmp.TAG_AUDIO, 20, AAC_HEADER),
        (rtmp.TAG_VIDEO, 30, H264_HEADER),
        (rtmp.TAG_VIDEO, 40, H264_INTER),
    ]
    assert pub.fps == 25.0
    assert pub.described().media[1].codec == "aac"


def test_header_before_a_wrapped_base_goes_to_offset_zero() -> None:
    pub, _ = publisher()
    pub.media(rtmp.TAG_VIDEO, 0, H264_HEADER)
    pub.media(rtmp.TAG_VIDEO, 1000, H264_KEY)
    sink = pub.subscribe()
    assert sink.base == 1000
    pub.media(rtmp.TAG_AUDIO, 900, AAC_HEADER)  # stamped before the run's keyframe
    assert tags(list(sink.parts))[-1] == (rtmp.TAG_AUDIO, 0, AAC_HEADER)


def test_group_of_pictures_over_the_cache_is_dropped() -> None:
    pub, _ = publisher(gop_cache=100)
    pub.media(rtmp.TAG_VIDEO, 0, H264_HEADER)
    pub.media(rtmp.TAG_VIDEO, 0, H264_KEY)
    assert pub.ready
    pub.media(rtmp.TAG_VIDEO, 40, H264_INTER + bytes(100))  # over 100 bytes kept
    assert not pub.ready  # a run waits for the next keyframe
    sink = pub.subscribe()
    assert sink.base is None
    pub.media(rtmp.TAG_VIDEO, 1000, H264_KEY)
    assert pub.ready and sink.base == 1000


def test_malformed_metadata_is_kept_but_not_read() -> None:
    pub, _ = publisher()
    pub.metadata(b"\x02\x00\x10ab")
    assert pub.fps is None and pub.audio_codec is None
    pub.media(rtmp.TAG_VIDEO, 0, H264_HEADER)
    pub.media(rtmp.TAG_VIDEO, 0, H264_KEY)
    sink = pub.subscribe()
    assert (rtmp.TAG_SCRIPT, 0, b"\x02\x00\x10ab") in tags(list(sink.parts))


async def test_closed_publisher_gives_an_ended_run() -> None:
    pub, closed = publisher()
    pub.close("disconnected")
    pub.close("again")
    assert closed.count == 1 and pub.reason == "disconnected"
    sink = pub.subscribe()
    assert sink.ended
    assert await asyncio.wait_for(sink.take(lambda: True), 5) == b""


async def test_full_sink_holds_the_reader_until_taken() -> None:
    pub, _ = publisher(sink_bytes=50)
    pub.media(rtmp.TAG_VIDEO, 0, H264_HEADER)
    pub.media(rtmp.TAG_VIDEO, 0, H264_KEY)
    sink = pub.subscribe()
    assert pub.full
    waiting = asyncio.create_task(pub.room())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    data = await asyncio.wait_for(sink.take(lambda: True), 5)
    assert data.startswith(b"FLV") and H264_KEY in data
    await asyncio.wait_for(waiting, 5)
    assert not pub.full


def test_rate_without_samples_is_zero() -> None:
    assert _Rate().per_second() == 0.0


# -- refusals per address -----------------------------------------------------------------


def test_refusals_block_and_block_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    addresses = _Addresses(IngestLimits(refused_per_window=2, refused_window=10, block_seconds=5))
    addresses.refused("192.0.2.1", "unknown stream key", 0)
    assert not addresses.blocked("192.0.2.1", 0.5)
    addresses.refused("192.0.2.1", "unknown stream key", 1)
    assert addresses.blocked("192.0.2.1", 2)
    assert addresses.blocked("192.0.2.1", 3)
    assert not addresses.blocked("192.0.2.1", 6.5)
    addresses.refused("192.0.2.1", "unknown stream key", 7)  # right after the block
    assert addresses.blocked("192.0.2.1", 11.9)
    messages = [r.getMessage() for r in caplog.records]
    assert "blocked again for 5 s (2 closed unread meanwhile)" in messages[-1]
    assert addresses.get("192.0.2.1").dropped == 1  # counted from the new block
    addresses.refused("192.0.2.1", "unknown stream key", 100)  # the old ones expired
    assert not addresses.blocked("192.0.2.1", 100)
    assert len(addresses.get("192.0.2.1").refusals) == 1


def test_addresses_remembered_are_bounded() -> None:
    addresses = _Addresses(IngestLimits(max_addresses=2, refused_per_window=5))
    addresses.get("a")
    addresses.get("b")
    addresses.get("c")  # a and b hold nothing: forgotten
    assert set(addresses._entries) == {"c"}
    addresses.get("c").pending = 1
    addresses.refused("d", "garbage", time.monotonic())
    addresses.get("e")  # c is logging in, d was refused just now: the oldest idle goes
    assert set(addresses._entries) == {"c", "e"}


# -- the listener -------------------------------------------------------------------------


async def test_port_before_start_and_set_port_to_the_same() -> None:
    server = IngestServer(port=12345, host="127.0.0.1")
    assert server.port == 12345 and not server.listening
    await server.set_port(0)
    assert server.port == 0 and not server.listening
    await server.start()
    try:
        port = server.port
        assert port != 0
        await server.set_port(port)
        assert server.port == port and server.listening
        (await RawClient.connect(port)).close()
    finally:
        await server.stop()
    assert not server.listening


async def test_other_listen_errors_are_not_port_in_use() -> None:
    server = IngestServer(port=0, host="192.0.2.1")  # TEST-NET: no interface has it
    with pytest.raises(OSError) as err:
        await server.start()
    assert not isinstance(err.value, PortInUseError)
    assert err.value.errno != errno.EADDRINUSE
    assert "192.0.2.1" in str(err.value)  # asyncio: could not bind on any address
    assert not server.listening


# -- a real server with raw clients -------------------------------------------------------


@dataclass
class Ingest:
    server: IngestServer
    recorder: PushRecorder
    key: str


@pytest.fixture
async def ingest(
    request: pytest.FixtureRequest, tmp_path: Path, index: SegmentIndex
) -> AsyncIterator[Ingest]:
    """A server with one camera whose recorder is not started (no ffmpeg runs)."""
    marker = request.node.get_closest_marker("limits")
    server = IngestServer(port=0, host="127.0.0.1", limits=marker.args[0] if marker else None)
    await server.start()
    recorder = PushRecorder(RecorderConfig(camera="door", root=tmp_path, url=""), index)
    key = new_stream_key()
    server.add_camera(recorder, key)
    try:
        yield Ingest(server, recorder, key)
    finally:
        await server.stop()


class Replies:
    """The server's messages to a raw client, parsed."""

    def __init__(self, client: RawClient, already: bytes = b"") -> None:
        self.client = client
        self.parser = rtmp.ChunkParser(max_message=2**20)
        self.messages = self.parser.feed(already)

    async def until(
        self, wanted: int, name: str | None = None, timeout: float = 10
    ) -> rtmp.Message:
        """The first message of this type (a command: of this name) the server sent."""
        async with asyncio.timeout(timeout):
            while True:
                for message in self.messages:
                    if message.type == wanted and (
                        name is None or rtmp.amf0_decode(message.payload)[0] == name
                    ):
                        return message
                data = await self.client.reader.read(65536)
                assert data, "closed by the server"
                self.messages += self.parser.feed(data)


async def published(port: int, key: str) -> tuple[RawClient, bytes]:
    client = await RawClient.connect(port)
    answer = await client.login(key)
    assert b"NetStream.Publish.Start" in answer
    client.writer.write(rtmp.set_chunk_size())
    return client, answer


def media(kind: int, body: bytes, timestamp: int) -> bytes:
    return rtmp.chunk(
        6 if kind == rtmp.MSG_VIDEO else 4, kind, body, stream_id=1, timestamp=timestamp
    )


async def test_publish_with_aggregate_metadata_acks_and_amf3_unpublish(ingest: Ingest) -> None:
    """What OBS-like publishers send: window size, aggregates, AMF3 commands."""
    client = await RawClient.connect(ingest.server.port)
    await client.handshake()
    client.writer.write(rtmp.window_ack_size(1000))  # during login: not a command
    client.writer.write(rtmp.command("connect", 1.0, {"app": "live"}))
    client.writer.write(rtmp.command("createStream", 2.0, None))
    client.writer.write(rtmp.command("publish", 0.0, None, ingest.key, "live", stream_id=1))
    replies = Replies(client)
    start = await replies.until(rtmp.MSG_COMMAND_AMF0, "onStatus")
    assert rtmp.amf0_decode(start.payload)[3]["code"] == "NetStream.Publish.Start"
    await wait_for(lambda: ingest.recorder.push_status.connected, 10)
    client.writer.write(rtmp.set_chunk_size())
    client.writer.write(
        rtmp.chunk(4, rtmp.MSG_DATA_AMF0, rtmp.amf0_encode("@setDataFrame", "onMetaData", {}))
    )

    def tag(kind: int, ts: int, body: bytes) -> bytes:
        head = bytes([kind]) + len(body).to_bytes(3) + ts.to_bytes(3) + b"\x00" + bytes(3)
        return head + body + struct.pack(">I", 11 + len(body))

    aggregate = tag(9, 0, H264_HEADER) + tag(9, 0, H264_KEY) + tag(8, 10, AAC_HEADER)
    aggregate += tag(8, 20, b"")  # empty: skipped
    client.writer.write(rtmp.chunk(6, rtmp.MSG_AGGREGATE, aggregate, stream_id=1))
    client.writer.write(media(rtmp.MSG_VIDEO, b"", 40))  # empty media message: skipped
    client.writer.write(media(rtmp.MSG_VIDEO, H264_INTER + bytes(1500), 66))
    ack = await replies.until(rtmp.MSG_ACK)
    acked = struct.unpack(">I", ack.payload)[0]
    assert 1000 <= acked <= 4000
    await wait_for(lambda: ingest.recorder.push_status.video_codec == "h264", 10)
    assert ingest.recorder.push_status.audio_codec == "aac"
    unpublish = b"\x00" + rtmp.amf0_encode("deleteStream", 3.0, None, 1.0)
    client.writer.write(rtmp.chunk(3, rtmp.MSG_COMMAND_AMF3, unpublish))
    await client.closed_by_server(10)
    await wait_for(lambda: not ingest.recorder.push_status.connected, 10)
    assert ingest.recorder.push_status.reason == "unpublished"


async def test_play_is_refused(ingest: Ingest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    client = await RawClient.connect(ingest.server.port)
    await client.handshake()
    client.writer.write(rtmp.command("connect", 1.0, {"app": "live"}))
    client.writer.write(rtmp.command("play", 0.0, None, ingest.key, stream_id=1))
    status = await Replies(client).until(rtmp.MSG_COMMAND_AMF0, "onStatus")
    assert status.stream_id == 1
    assert rtmp.amf0_decode(status.payload)[3]["code"] == "NetStream.Play.Failed"
    await client.closed_by_server(10)
    assert any("play requested" in r.getMessage() for r in caplog.records)
    assert not ingest.recorder.push_status.connected


async def test_closed_during_login_is_a_refusal(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    client = await RawClient.connect(ingest.server.port)
    await client.handshake()
    client.writer.write(rtmp.command("connect", 1.0, {"app": "live"}))
    client.writer.write_eof()
    await client.closed_by_server(10)
    await wait_for(
        lambda: any("connection closed during login" in r.getMessage() for r in caplog.records), 10
    )
    client.close()


@pytest.mark.limits(IngestLimits(max_publishers=0))
async def test_server_full_refuses_a_publish(ingest: Ingest) -> None:
    client = await RawClient.connect(ingest.server.port)
    answer = await client.login(ingest.key)
    assert b"NetStream.Publish.Denied" in answer
    assert b"NetStream.Publish.Start" not in answer
    await client.closed_by_server(10)
    assert ingest.recorder.push_status.publishes == 0


@pytest.mark.limits(IngestLimits(max_pending=0))
async def test_too_many_logins_closes_unread_without_a_refusal(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    for _ in range(3):
        client = await RawClient.connect(ingest.server.port)
        assert await client.login(ingest.key) == b""
        client.close()
    assert not [r for r in caplog.records if "refused" in r.getMessage()]
    assert not ingest.server._addresses.blocked("127.0.0.1", time.monotonic())


@pytest.mark.limits(IngestLimits(idle_timeout=1.0))
async def test_publisher_sending_no_media_is_cut(ingest: Ingest) -> None:
    """Pings keep the socket busy but are not media: cut after the idle timeout."""
    client, _ = await published(ingest.server.port, ingest.key)
    started = time.monotonic()

    async def ping() -> None:
        while True:
            client.writer.write(rtmp.window_ack_size(2_500_000))
            await asyncio.sleep(0.2)

    pinger = asyncio.create_task(ping())
    try:
        await wait_for(lambda: not ingest.recorder.push_status.connected, 15)
    finally:
        pinger.cancel()
    assert time.monotonic() - started >= 0.9
    assert ingest.recorder.push_status.reason == "no_media"
    client.close()


async def test_reset_connection_is_a_disconnect(ingest: Ingest) -> None:
    client, _ = await published(ingest.server.port, ingest.key)
    client.writer.write(media(rtmp.MSG_VIDEO, H264_HEADER, 0))
    await wait_for(lambda: ingest.recorder.push_status.video_codec == "h264", 10)
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
    client.close()
    await wait_for(lambda: not ingest.recorder.push_status.connected, 10)
    assert ingest.recorder.push_status.reason == "disconnected"


@pytest.mark.limits(IngestLimits(sink_bytes=100))
async def test_full_run_pipe_stops_reading_the_publisher(ingest: Ingest) -> None:
    client, _ = await published(ingest.server.port, ingest.key)
    big_key = H264_KEY + bytes(100)  # with the header, over the pipe's 100 bytes
    client.writer.write(media(rtmp.MSG_VIDEO, H264_HEADER, 0) + media(rtmp.MSG_VIDEO, big_key, 0))
    await wait_for(lambda: ingest.recorder._publisher and ingest.recorder._publisher.ready, 10)
    pub = ingest.recorder._publisher
    assert pub is not None
    sink = pub.subscribe()  # what a run would do; nobody takes from it
    assert pub.full
    before = pub.last_media
    client.writer.write(media(rtmp.MSG_VIDEO, H264_INTER, 66))
    await wait_for(lambda: pub.last_media > before, 10)
    unpublish = rtmp.command("deleteStream", 3.0, None, 1.0)
    client.writer.write(unpublish)
    await asyncio.sleep(0.5)
    assert ingest.recorder.push_status.connected  # not read: the server waits for room
    pub.unsubscribe(sink)  # the run went: room again
    await wait_for(lambda: not ingest.recorder.push_status.connected, 10)
    assert ingest.recorder.push_status.reason == "unpublished"


async def test_remove_camera_and_stop_disconnect(ingest: Ingest) -> None:
    client, _ = await published(ingest.server.port, ingest.key)
    ingest.server.remove_camera("door")
    ingest.server.remove_camera("door")  # already gone: nothing happens
    await client.closed_by_server(10)
    await wait_for(lambda: not ingest.recorder.push_status.connected, 10)
    assert ingest.recorder.push_status.reason == "camera_removed"
    refused = await RawClient.connect(ingest.server.port)
    assert b"BadName" in await refused.login(ingest.key)
    refused.close()
    # A login in progress when the server stops: its connection is closed.
    before = set(ingest.server._connections)
    waiting = await RawClient.connect(ingest.server.port)
    waiting.writer.write(b"\x03" + bytes(100))
    await wait_for(lambda: set(ingest.server._connections) - before, 10)
    await ingest.server.stop()
    assert await waiting.closed_by_server(10) < 10
    assert not ingest.server._connections


# -- supervision without ffmpeg -----------------------------------------------------------


@pytest.mark.parametrize("case", ["unsupported_codec", "disk_full"])
async def test_supervisor_refuses_what_it_cannot_record(
    case: str, tmp_path: Path, index: SegmentIndex, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    server = IngestServer(port=0, host="127.0.0.1")
    await server.start()
    config = RecorderConfig(
        camera="door",
        root=tmp_path,
        url="",
        disk_full_retry=30,
        min_free_bytes=2**62 if case == "disk_full" else 0,
    )
    recorder = PushRecorder(config, index)
    key = new_stream_key()
    server.add_camera(recorder, key)
    await recorder.start()
    try:
        client, _ = await published(server.port, key)
        if case == "unsupported_codec":  # Enhanced RTMP with an unknown FourCC
            header, key_frame = b"\x90zzzz" + bytes(8), b"\x91zzzz" + bytes(40)
        else:
            header, key_frame = H264_HEADER, H264_KEY
        client.writer.write(media(rtmp.MSG_VIDEO, header, 0) + media(rtmp.MSG_VIDEO, key_frame, 0))
        if case == "unsupported_codec":
            await client.closed_by_server(15)
            await wait_for(lambda: not recorder.push_status.connected, 10)
            assert recorder.push_status.reason == "unsupported_codec"
            assert any("not supported" in r.getMessage() for r in caplog.records)
        else:
            await wait_for(lambda: recorder.status.state == RecorderState.ERROR, 15)
            assert recorder.status.reason == "disk_full"
            assert recorder.push_status.connected  # the publisher stays; nothing is written
            client.close()
    finally:
        await server.stop()
        await recorder.stop()
