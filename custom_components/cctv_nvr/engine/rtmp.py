"""The RTMP protocol as a publisher speaks it, without I/O: what engine/ingest.py needs.

A server's side of the simple handshake (C0-C2 / S0-S2), a chunk-stream parser that is
fed bytes and returns whole messages (bounded: a message larger than the limit, too
many bytes held in unfinished messages or a chunk stream that starts mid-message is a
`ProtocolError`), AMF0 values (commands), the few messages a server sends, and FLV tags:
the media messages of a publish are FLV tag bodies, so they go to ffmpeg's FLV demuxer
unchanged. Enhanced RTMP (video FourCC `hvc1`, `av01`, `vp09`; audio FourCC) passes
through the same way; `VideoInfo`/`AudioInfo` read the codec and keyframe flags of both
the legacy and the enhanced headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
import os
import struct
import time
from typing import Any

HANDSHAKE_SIZE = 1536
RTMP_VERSION = 3

# Message types
MSG_SET_CHUNK_SIZE = 1
MSG_ABORT = 2
MSG_ACK = 3
MSG_USER_CONTROL = 4
MSG_WINDOW_ACK_SIZE = 5
MSG_SET_PEER_BANDWIDTH = 6
MSG_AUDIO = 8
MSG_VIDEO = 9
MSG_DATA_AMF3 = 15
MSG_COMMAND_AMF3 = 17
MSG_DATA_AMF0 = 18
MSG_COMMAND_AMF0 = 20
MSG_AGGREGATE = 22

_EXTENDED = 0xFFFFFF
_HEADER_SIZES = (11, 7, 3, 0)
_MAX_DEPTH = 16


class ProtocolError(Exception):
    """The peer broke the protocol (or a limit); the connection is closed."""


@dataclass(slots=True)
class Message:
    """One whole RTMP message."""

    type: int
    stream_id: int
    timestamp: int
    payload: bytes


# -- handshake ----------------------------------------------------------------


def handshake_reply(c0c1: bytes) -> bytes:
    """S0+S1+S2 for a client's C0+C1 (the simple handshake; S1's version field is 0).

    A client checks a digest in S1 only when S1 announces a version (Flash's scheme);
    with zeros there, ffmpeg, OBS (librtmp) and Larix take the simple handshake.
    """
    if len(c0c1) != 1 + HANDSHAKE_SIZE:
        raise ProtocolError("short handshake")
    if c0c1[0] != RTMP_VERSION:
        raise ProtocolError(f"unsupported RTMP version {c0c1[0]}")
    c1 = c0c1[1:]
    now = int(time.monotonic() * 1000) & 0xFFFFFFFF
    s1 = struct.pack(">II", now, 0) + os.urandom(HANDSHAKE_SIZE - 8)
    s2 = c1[:4] + struct.pack(">I", now) + c1[8:]
    return bytes([RTMP_VERSION]) + s1 + s2


# -- chunk stream (reading) ---------------------------------------------------


@dataclass(slots=True)
class _ChunkStream:
    timestamp: int = 0
    ts_field: int = 0  # the last header's timestamp field (absolute for type 0, else delta)
    extended: bool = False  # that field was carried as an extended timestamp
    length: int = 0
    type: int = 0
    stream_id: int = 0
    partial: bytearray | None = None


@dataclass(slots=True)
class ChunkParser:
    """Turns received bytes into whole messages; holds at most its limits.

    `max_message` bounds one message and, together, every message still being
    assembled; the bytes held waiting for the rest of a chunk are at most one chunk
    of such a message. Set Chunk Size and Abort are applied here.
    """

    max_message: int
    chunk_size: int = 128
    received: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _streams: dict[int, _ChunkStream] = field(default_factory=dict)
    _pending: int = 0  # bytes in unfinished messages

    def feed(self, data: bytes) -> list[Message]:
        """Take received bytes; return the messages they complete."""
        self.received += len(data)
        buf = self._buffer
        buf += data
        out: list[Message] = []
        pos = 0
        while True:
            used = self._chunk(buf, pos, out)
            if not used:
                break
            pos += used
        del buf[:pos]
        return out

    # One function on purpose: it runs for every chunk received.
    def _chunk(  # noqa: C901, PLR0911, PLR0912, PLR0915
        self, buf: bytearray, pos: int, out: list[Message]
    ) -> int:
        """Parse one chunk at pos; return its size (0: not all there yet)."""
        avail = len(buf) - pos
        if avail < 1:
            return 0
        first = buf[pos]
        fmt, csid = first >> 6, first & 0x3F
        head = 1
        if csid == 0:
            if avail < 2:  # noqa: PLR2004
                return 0
            csid, head = buf[pos + 1] + 64, 2
        elif csid == 1:
            if avail < 3:  # noqa: PLR2004
                return 0
            csid, head = buf[pos + 1] + buf[pos + 2] * 256 + 64, 3
        size = _HEADER_SIZES[fmt]
        if avail < head + size:
            return 0
        stream = self._streams.get(csid)
        if stream is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts without a full header")
            if len(self._streams) >= 64:  # noqa: PLR2004
                raise ProtocolError("too many chunk streams")
            stream = self._streams[csid] = _ChunkStream()
        h = pos + head
        if fmt == 3:  # noqa: PLR2004
            ts_field, extended = stream.ts_field, stream.extended
        else:
            ts_field = (buf[h] << 16) | (buf[h + 1] << 8) | buf[h + 2]
            extended = ts_field == _EXTENDED
        ext = 4 if extended else 0
        if avail < head + size + ext:
            return 0
        if extended:
            (ts_field,) = struct.unpack_from(">I", buf, h + size)
        new_message = stream.partial is None
        if fmt <= 1:
            if not new_message:
                raise ProtocolError(f"chunk stream {csid}: new header inside a message")
            length = (buf[h + 3] << 16) | (buf[h + 4] << 8) | buf[h + 5]
            kind = buf[h + 6]
            if length > self.max_message:
                raise ProtocolError(f"message of {length} bytes is over the limit")
        else:
            length, kind = stream.length, stream.type
        have = 0 if new_message else len(stream.partial)  # type: ignore[arg-type]
        take = min(self.chunk_size, length - have)
        total = head + size + ext + take
        if avail < total:
            return 0
        # The whole chunk is there: commit its header.
        if new_message:
            if fmt == 0:
                stream.timestamp = ts_field
                (stream.stream_id,) = struct.unpack_from("<I", buf, h + 7)
            else:
                stream.timestamp = (stream.timestamp + ts_field) & 0xFFFFFFFF
            stream.length, stream.type = length, kind
            if fmt != 3:  # noqa: PLR2004
                stream.ts_field, stream.extended = ts_field, extended
        start = pos + head + size + ext
        if new_message and take == length:
            self._message(stream, bytes(buf[start : start + take]), out)
            return total
        if new_message:
            if self._pending + length > self.max_message:
                raise ProtocolError("too many bytes in unfinished messages")
            self._pending += length
            stream.partial = bytearray()
        partial = stream.partial
        assert partial is not None  # noqa: S101
        partial += buf[start : start + take]
        if len(partial) == length:
            stream.partial = None
            self._pending -= length
            self._message(stream, bytes(partial), out)
        return total

    def _message(self, stream: _ChunkStream, payload: bytes, out: list[Message]) -> None:
        if stream.type == MSG_SET_CHUNK_SIZE and len(payload) >= 4:  # noqa: PLR2004
            size = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            if size < 1:
                raise ProtocolError("chunk size 0")
            self.chunk_size = size
            return
        if stream.type == MSG_ABORT and len(payload) >= 4:  # noqa: PLR2004
            aborted = self._streams.get(struct.unpack_from(">I", payload)[0])
            if aborted is not None and aborted.partial is not None:
                self._pending -= aborted.length
                aborted.partial = None
            return
        out.append(Message(stream.type, stream.stream_id, stream.timestamp, payload))


# -- chunk stream (writing) ---------------------------------------------------

OUT_CHUNK_SIZE = 4096


def chunk(csid: int, kind: int, payload: bytes, *, stream_id: int = 0, timestamp: int = 0) -> bytes:
    """One message as chunks of OUT_CHUNK_SIZE (a type-0 header, then type-3 ones)."""
    header = (
        bytes([csid])
        + struct.pack(">II", timestamp & 0xFFFFFF, (len(payload) << 8) | kind)[1:]
        + struct.pack("<I", stream_id)
    )
    parts = [header, payload[:OUT_CHUNK_SIZE]]
    for offset in range(OUT_CHUNK_SIZE, len(payload), OUT_CHUNK_SIZE):
        parts += [bytes([0xC0 | csid]), payload[offset : offset + OUT_CHUNK_SIZE]]
    return b"".join(parts)


def set_chunk_size(size: int = OUT_CHUNK_SIZE) -> bytes:
    """Set Chunk Size (what this side sends from now on)."""
    return chunk(2, MSG_SET_CHUNK_SIZE, struct.pack(">I", size))


def window_ack_size(size: int) -> bytes:
    """Window Acknowledgement Size."""
    return chunk(2, MSG_WINDOW_ACK_SIZE, struct.pack(">I", size))


def set_peer_bandwidth(size: int) -> bytes:
    """Set Peer Bandwidth (dynamic limit)."""
    return chunk(2, MSG_SET_PEER_BANDWIDTH, struct.pack(">IB", size, 2))


def acknowledgement(received: int) -> bytes:
    """Acknowledgement of the bytes received so far."""
    return chunk(2, MSG_ACK, struct.pack(">I", received & 0xFFFFFFFF))


def stream_begin(stream_id: int) -> bytes:
    """User control: Stream Begin."""
    return chunk(2, MSG_USER_CONTROL, struct.pack(">HI", 0, stream_id))


def command(*values: Any, stream_id: int = 0) -> bytes:
    """Return an AMF0 command message (name, transaction id, objects...)."""
    return chunk(
        3 if stream_id == 0 else 5, MSG_COMMAND_AMF0, amf0_encode(*values), stream_id=stream_id
    )


# -- AMF0 ----------------------------------------------------------------------


class _Undefined:
    pass


UNDEFINED = _Undefined()


def amf0_encode(*values: Any) -> bytes:
    """Encode values as AMF0 (numbers, booleans, strings, None, dicts)."""
    out = bytearray()
    for value in values:
        _encode(value, out)
    return bytes(out)


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(5)
    elif isinstance(value, bool):
        out += bytes([1, int(value)])
    elif isinstance(value, int | float):
        out.append(0)
        out += struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = value.encode()
        if len(raw) > 0xFFFF:  # noqa: PLR2004
            out.append(12)
            out += struct.pack(">I", len(raw)) + raw
        else:
            out.append(2)
            out += struct.pack(">H", len(raw)) + raw
    elif isinstance(value, dict):
        out.append(3)
        for key, item in value.items():
            raw = str(key).encode()
            out += struct.pack(">H", len(raw)) + raw
            _encode(item, out)
        out += b"\x00\x00\x09"
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def amf0_decode(data: bytes) -> list[Any]:
    """Decode every AMF0 value in data; a malformed value is a ProtocolError."""
    values: list[Any] = []
    pos = 0
    try:
        while pos < len(data):
            value, pos = _decode(data, pos, 0)
            values.append(value)
    except (struct.error, IndexError, UnicodeDecodeError) as err:
        raise ProtocolError(f"malformed AMF0: {err}") from None
    return values


def _decode(data: bytes, pos: int, depth: int) -> tuple[Any, int]:  # noqa: C901, PLR0911, PLR0912
    if depth > _MAX_DEPTH:
        raise ProtocolError("AMF0 nested too deep")
    marker = data[pos]
    pos += 1
    if marker == 0:
        return struct.unpack_from(">d", data, pos)[0], pos + 8
    if marker == 1:
        return bool(data[pos]), pos + 1
    if marker in (2, 12):
        size_len = 2 if marker == 2 else 4  # noqa: PLR2004
        (size,) = struct.unpack_from(">H" if marker == 2 else ">I", data, pos)  # noqa: PLR2004
        pos += size_len
        if pos + size > len(data):
            raise IndexError("string past the end")
        return data[pos : pos + size].decode(), pos + size
    if marker in (5, 6):
        return (None if marker == 5 else UNDEFINED), pos  # noqa: PLR2004
    if marker in (3, 8, 16):  # object, ECMA array, typed object
        if marker == 8:  # noqa: PLR2004
            pos += 4  # the array's count is advisory
        elif marker == 16:  # noqa: PLR2004
            _, pos = _decode_string(data, pos)
        result: dict[str, Any] = {}
        while True:
            key, pos = _decode_string(data, pos)
            if not key and data[pos] == 9:  # noqa: PLR2004
                return result, pos + 1
            result[key], pos = _decode(data, pos, depth + 1)
    if marker == 10:  # strict array  # noqa: PLR2004
        (count,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if count > len(data) - pos:
            raise IndexError("array longer than the message")
        items = []
        for _ in range(count):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if marker == 11:  # date: ms + time zone  # noqa: PLR2004
        return struct.unpack_from(">d", data, pos)[0], pos + 10
    raise ProtocolError(f"unsupported AMF0 marker {marker}")


def _decode_string(data: bytes, pos: int) -> tuple[str, int]:
    (size,) = struct.unpack_from(">H", data, pos)
    pos += 2
    if pos + size > len(data):
        raise IndexError("string past the end")
    return data[pos : pos + size].decode(), pos + size


# -- FLV -----------------------------------------------------------------------

TAG_AUDIO = MSG_AUDIO
TAG_VIDEO = MSG_VIDEO
TAG_SCRIPT = MSG_DATA_AMF0


def flv_header(*, audio: bool, video: bool) -> bytes:
    """Return the FLV file header and the first PreviousTagSize."""
    flags = (4 if audio else 0) | (1 if video else 0)
    return b"FLV\x01" + bytes([flags]) + b"\x00\x00\x00\x09\x00\x00\x00\x00"


def flv_tag(kind: int, timestamp: int, data: bytes) -> bytes:
    """One FLV tag with its trailing PreviousTagSize."""
    size = len(data)
    ts = timestamp & 0xFFFFFFFF
    header = struct.pack(">II", (kind << 24) | size, ((ts & 0xFFFFFF) << 8) | (ts >> 24))
    return header + b"\x00\x00\x00" + data + struct.pack(">I", size + 11)


def aggregate_tags(message: Message) -> Iterator[tuple[int, int, bytes]]:
    """(type, timestamp, body) of the FLV tags inside an aggregate message."""
    data = message.payload
    pos = 0
    first: int | None = None
    while pos + 11 <= len(data):
        kind = data[pos]
        size = int.from_bytes(data[pos + 1 : pos + 4])
        ts = int.from_bytes(data[pos + 4 : pos + 7]) | (data[pos + 7] << 24)
        if pos + 11 + size > len(data):
            raise ProtocolError("aggregate message cut short")
        first = ts if first is None else first
        yield kind, (message.timestamp + ts - first) & 0xFFFFFFFF, data[pos + 11 : pos + 11 + size]
        pos += 11 + size + 4


def metadata_body(payload: bytes) -> bytes | None:
    """Return the onMetaData body of a data message (`@setDataFrame` removed), or None."""
    try:
        values = amf0_decode(payload)
    except ProtocolError:
        return None
    if values and values[0] == "@setDataFrame":
        values = values[1:]
    if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):  # noqa: PLR2004
        return amf0_encode("onMetaData", values[1])
    return None


_VIDEO_IDS = {7: "h264", 12: "hevc"}
_VIDEO_FOURCC = {b"avc1": "h264", b"hvc1": "hevc", b"av01": "av1", b"vp09": "vp9"}
_AUDIO_IDS = {2: "mp3", 7: "pcm_alaw", 8: "pcm_mulaw", 10: "aac", 11: "speex", 14: "mp3"}
_AUDIO_FOURCC = {
    b"mp4a": "aac",
    b"Opus": "opus",
    b".mp3": "mp3",
    b"ac-3": "ac3",
    b"ec-3": "eac3",
    b"fLaC": "flac",
}


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a video tag's first bytes say."""

    codec: str | None
    keyframe: bool
    sequence_header: bool

    @classmethod
    def of(cls, body: bytes) -> VideoInfo:
        """Read the legacy (codec id) or enhanced (FourCC) video tag header."""
        if not body:
            return cls(None, keyframe=False, sequence_header=False)
        first = body[0]
        frame_type = (first >> 4) & 0x07
        if first & 0x80:  # enhanced RTMP: packet type in the low nibble, then a FourCC
            codec = _VIDEO_FOURCC.get(bytes(body[1:5]), "unsupported")
            packet = first & 0x0F
            return cls(
                codec, keyframe=frame_type == 1 and packet in (1, 3), sequence_header=packet == 0
            )
        codec = _VIDEO_IDS.get(first & 0x0F, "unsupported")
        header = len(body) > 1 and body[1] == 0 and codec in ("h264", "hevc")
        return cls(codec, keyframe=frame_type == 1 and not header, sequence_header=header)


def audio_codec(body: bytes) -> str | None:
    """Return the codec of an audio tag (legacy sound format or enhanced FourCC)."""
    if not body:
        return None
    sound_format = body[0] >> 4
    if sound_format == 9:  # noqa: PLR2004  (enhanced: FourCC follows)
        return _AUDIO_FOURCC.get(bytes(body[1:5]), "unsupported")
    return _AUDIO_IDS.get(sound_format, "unsupported")


def audio_sequence_header(body: bytes) -> bool:
    """Return True for an AAC AudioSpecificConfig (legacy) or an enhanced SequenceStart."""
    if len(body) < 2:  # noqa: PLR2004
        return False
    if body[0] >> 4 == 10:  # noqa: PLR2004
        return body[1] == 0
    return body[0] >> 4 == 9 and body[0] & 0x0F == 0  # noqa: PLR2004
