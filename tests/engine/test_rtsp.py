"""The RTSP check client against real sockets: URL rules, SDP, auth headers, odd answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import hashlib
import re
import time
import tracemalloc

import pytest

from custom_components.cctv_nvr.engine import rtsp


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtsp://cam:99999/x", "malformed"),
        ("http://cam/x", "not an rtsp"),
        ("rtsp:///x", "not an rtsp"),
        ("rtsps://cam/x", "rtsps"),
    ],
)
def test_invalid_urls(url: str, message: str) -> None:
    """Bad URLs are invalid_url with a reason a user can act on."""
    with pytest.raises(rtsp.RtspInvalidUrlError) as err:
        rtsp.parse_rtsp_url(url)
    assert err.value.reason == "invalid_url"
    assert message in str(err.value)


def test_url_parts_and_stripping() -> None:
    """Queries stay in the path; credentials never survive stripping; IPv6 keeps brackets."""
    parsed = rtsp.parse_rtsp_url("rtsp://u:p%40ss@cam.local/live?channel=1&subtype=0")
    assert (parsed.host, parsed.port, parsed.path) == (
        "cam.local",
        554,
        "/live?channel=1&subtype=0",
    )
    assert (parsed.username, parsed.password) == ("u", "p@ss")
    assert rtsp.strip_credentials("rtsp://u:pw@[fe80::1]:8554/s") == "rtsp://[fe80::1]:8554/s"
    assert rtsp.strip_credentials("rtsp://u:pw@cam:99999/s") == "<invalid url>"


def test_sdp_static_payloads_and_no_video() -> None:
    """A static payload type (0 = PCMU) without rtpmap is named; no video track → None."""
    sdp = "v=0\r\nm=audio 0 RTP/AVP 0\r\na=control:track1\r\n"
    result = rtsp.parse_sdp(sdp)
    assert result.video_codec is None
    assert result.audio_codec == "pcm_mulaw"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def test_digest_with_qop_and_basic_headers() -> None:
    """Digest with qop=auth follows RFC 2617; Basic is used when it is all that is offered."""
    header = rtsp._authorization(
        ['Digest realm="cam", nonce="abc", qop="auth,auth-int"'],
        "DESCRIBE",
        "rtsp://cam/s",
        "user",
        "pw",
    )
    assert header is not None
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header))
    ha1, ha2 = _md5("user:cam:pw"), _md5("DESCRIBE:rtsp://cam/s")
    expected = _md5(f"{ha1}:abc:{fields['nc']}:{fields['cnonce']}:auth:{ha2}")
    assert fields["response"] == expected
    assert fields["qop"] == "auth"
    basic = rtsp._authorization(['Basic realm="cam"'], "DESCRIBE", "rtsp://cam/s", "u", "p")
    assert basic == "Basic dTpw"
    assert rtsp._authorization(['Bearer realm="x"'], "DESCRIBE", "rtsp://cam/s", "u", "p") is None


Serve = Callable[[bytes | None], Awaitable[str]]


@pytest.fixture
async def server() -> AsyncIterator[Serve]:
    """A real TCP server that answers every request with canned bytes (None: close)."""
    servers: list[asyncio.Server] = []

    async def make(answer: bytes | None) -> str:
        srv = await asyncio.start_server(lambda r, w: _answer(r, w, answer), "127.0.0.1", 0)
        servers.append(srv)
        return f"rtsp://127.0.0.1:{srv.sockets[0].getsockname()[1]}/s"

    yield make
    for srv in servers:
        srv.close()
        await srv.wait_closed()


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer: bytes | None
) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        if answer is not None:
            writer.write(answer)
            await writer.drain()
    finally:
        writer.close()


_OK = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n"
AUDIO_ONLY = b"v=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000\r\n"


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        (None, rtsp.RtspProtocolError, "not_rtsp"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", rtsp.RtspProtocolError, "not_rtsp"),
        (b"RTSP/1.0 302 Found\r\nCSeq: 1\r\n\r\n", rtsp.RtspProtocolError, "not_rtsp"),
        (b"RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n", rtsp.RtspNotFoundError, "stream_not_found"),
        (
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n",
            rtsp.RtspProtocolError,
            "not_rtsp",
        ),
        (
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: %d\r\n\r\n%s"
            % (len(AUDIO_ONLY), AUDIO_ONLY),
            rtsp.RtspNoVideoError,
            "not_video",
        ),
        (b"RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n", rtsp.RtspAuthError, "invalid_auth"),
        # Broken Content-Length headers (a ValueError once ended the recorder's supervision).
        (_OK + b"Content-Length: abc\r\n\r\n", rtsp.RtspProtocolError, "not_rtsp"),
        (_OK + b"Content-Length: -5\r\n\r\n", rtsp.RtspProtocolError, "not_rtsp"),
        (_OK + b"Content-Length: \xb2\r\n\r\n", rtsp.RtspProtocolError, "not_rtsp"),
        (
            _OK + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
            rtsp.RtspProtocolError,
            "not_rtsp",
        ),
        # A body shorter than announced, then the connection closes.
        (_OK + b"Content-Length: 500\r\n\r\nv=0\r\n", rtsp.RtspProtocolError, "not_rtsp"),
    ],
)
async def test_describe_odd_answers(
    server: Serve,
    answer: bytes | None,
    error: type[rtsp.RtspError],
    reason: str,
) -> None:
    """Each odd answer maps to the error (and translation key) a user can act on."""
    url = await server(answer)
    with pytest.raises(error) as err:
        await rtsp.describe(url, "user", "pw-secret", timeout=3)
    assert err.value.reason == reason
    assert "pw-secret" not in str(err.value)


async def test_describe_huge_header_is_not_rtsp(server: Serve) -> None:
    """A peer that sends an endless header line is refused, not buffered without end."""
    url = await server(b"RTSP/1.0 200 OK\r\nX: " + b"a" * (70 * 1024))
    with pytest.raises(rtsp.RtspProtocolError):
        await rtsp.describe(url, timeout=3)


async def _hostile(
    behaviour: Callable[[asyncio.StreamWriter], Awaitable[None]],
) -> tuple[str, asyncio.Server, set[asyncio.Task[None]]]:
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            await behaviour(writer)
        except OSError, asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return f"rtsp://127.0.0.1:{srv.sockets[0].getsockname()[1]}/s", srv, handlers


async def _endless_headers(writer: asyncio.StreamWriter) -> None:
    chunk = b"".join(b"X-Header-%06d: value\r\n" % n for n in range(3000))  # ~70 KB
    writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n")
    for _ in range(60):  # 4 MB of short header lines, never an empty line
        writer.write(chunk)
        await writer.drain()


async def _huge_sdp(writer: asyncio.StreamWriter) -> None:
    body = b"v=0\r\n" + b"a=x-padding:" + b"p" * (300 * 1024) + b"\r\n"
    writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: %d\r\n\r\n" % len(body))
    writer.write(body)
    await writer.drain()


async def _trickle(writer: asyncio.StreamWriter) -> None:
    for byte in b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 10\r\n" * 100:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        (_endless_headers, rtsp.RtspProtocolError),
        (_huge_sdp, rtsp.RtspProtocolError),
        (_trickle, rtsp.RtspTimeoutError),
    ],
    ids=["endless_headers", "huge_sdp", "trickle"],
)
async def test_hostile_server_clear_error_bounded_memory(
    behaviour: Callable[[asyncio.StreamWriter], Awaitable[None]], error: type[rtsp.RtspError]
) -> None:
    """Endless headers, a huge SDP, a trickling server: one clear error, in time, little memory."""
    url, srv, handlers = await _hostile(behaviour)
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(error):
            await rtsp.describe(url, timeout=2)
        took = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        srv.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await srv.wait_closed()
    assert took < 4
    # The reader keeps at most its 64 KiB header limit (twice, while searching) or the
    # 256 KiB body limit; the server offered megabytes.
    assert peak < 2 * 2**20, peak
