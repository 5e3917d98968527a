"""A minimal asyncio RTSP client: OPTIONS/DESCRIBE with Basic and Digest auth.

Used to check a camera cheaply (a few milliseconds on a LAN) before starting
ffmpeg, and to tell apart the failures a user can act on: wrong address,
wrong path, wrong password, not an RTSP server, no video.

A broken or hostile server only ever causes an ``RtspError``: an odd
Content-Length or a body cut short is ``not_rtsp``, headers are read up to
64 KiB and a body up to 256 KiB (memory stays bounded), and the whole exchange
is bounded by the caller's timeout, so a server that trickles bytes ends in
``timeout``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass, field
import hashlib
from http import HTTPStatus
import re
import secrets
from urllib.parse import quote, unquote, urlsplit, urlunsplit

DEFAULT_RTSP_PORT = 554
# Cameras answer 503 while a stream is being torn down or too many clients are
# connected; that is often over within a second, so a check asks again.
BUSY_RETRY_DELAY = 0.5
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 256 * 1024


class RtspError(Exception):
    """Base class of RTSP check failures (messages never contain credentials)."""

    reason = "cannot_connect"


class RtspInvalidUrlError(RtspError):
    """The URL is not an rtsp:// URL with a host."""

    reason = "invalid_url"


class RtspConnectError(RtspError):
    """The host could not be reached or refused the connection."""

    reason = "cannot_connect"


class RtspBusyError(RtspConnectError):
    """The camera answered 5xx (busy, or its stream is being torn down)."""


class RtspTimeoutError(RtspError):
    """The camera did not answer in time."""

    reason = "timeout"


class RtspAuthError(RtspError):
    """The camera answered 401: credentials missing or wrong."""

    reason = "invalid_auth"


class RtspNotFoundError(RtspError):
    """The camera answered 404: the stream path is wrong."""

    reason = "stream_not_found"


class RtspProtocolError(RtspError):
    """The peer did not speak RTSP or answered with an unexpected status."""

    reason = "not_rtsp"


class RtspNoVideoError(RtspError):
    """The stream has no video track."""

    reason = "not_video"


@dataclass(frozen=True, slots=True)
class RtspUrl:
    """An RTSP URL split into its parts, credentials kept apart."""

    host: str
    port: int
    path: str
    username: str | None
    password: str | None

    @property
    def uri(self) -> str:
        """Return the request URI without credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"rtsp://{host}:{self.port}{self.path}"


def parse_rtsp_url(url: str) -> RtspUrl:
    """Parse and validate an rtsp:// URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as err:
        raise RtspInvalidUrlError("malformed URL") from err
    if parts.scheme.lower() not in ("rtsp", "rtsps") or not parts.hostname:
        raise RtspInvalidUrlError("not an rtsp:// URL with a host")
    if parts.scheme.lower() == "rtsps":
        raise RtspInvalidUrlError("rtsps:// is not supported")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return RtspUrl(
        host=parts.hostname,
        port=port or DEFAULT_RTSP_PORT,
        path=path,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def strip_credentials(url: str) -> str:
    """Return the URL without any user information (safe to log or show)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid url>"
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def credential_url(url: str, username: str | None, password: str | None) -> str:
    """Return the URL with credentials embedded (for ffmpeg only; never log it)."""
    parsed = parse_rtsp_url(url)
    user = username if username is not None else parsed.username
    secret = password if password is not None else parsed.password
    if not user:
        return parsed.uri
    auth = quote(user, safe="")
    if secret:
        auth = f"{auth}:{quote(secret, safe='')}"
    return parsed.uri.replace("rtsp://", f"rtsp://{auth}@", 1)


# Credentials some cameras take in the path or query instead of the user information:
# ``?user=admin&password=…``, ``/user=admin_password=…_channel=1_stream=0.sdp``.
_CREDENTIAL_PARAM = re.compile(
    r"(?i)(?<![a-z0-9])(user(?:name)?|usr|login|pass(?:word|wd)?|pwd|psw|auth|token|secret)"
    r"=([^&;_/\s]*)"
)


def redact_text(text: str) -> str:
    """Remove credentials of any URL that appears in a text (logs, errors).

    The user information of URLs and credential parameters in paths and queries are
    replaced by ``***``.
    """
    text = re.sub(r"(\w+://)[^/\s@]*@", r"\1***:***@", text)
    return _CREDENTIAL_PARAM.sub(lambda match: f"{match.group(1)}=***", text)


def redact_url(url: str) -> str:
    """Return the URL without any credentials (safe to log, show or use as an id)."""
    return redact_text(strip_credentials(url))


@dataclass(frozen=True, slots=True)
class SdpMedia:
    """One m= section of an SDP description."""

    kind: str  # "video", "audio", ...
    codec: str  # encoding name from rtpmap, upper case, e.g. H264, H265, MPEG4-GENERIC, PCMU


@dataclass(frozen=True, slots=True)
class DescribeResult:
    """What DESCRIBE told about a stream."""

    media: tuple[SdpMedia, ...] = field(default_factory=tuple)

    @property
    def video_codec(self) -> str | None:
        """Return the normalised video codec name (h264, hevc, ...) or None."""
        for media in self.media:
            if media.kind == "video":
                return _CODEC_NAMES.get(media.codec, media.codec.lower())
        return None

    @property
    def audio_codec(self) -> str | None:
        """Return the normalised audio codec name (aac, pcm_mulaw, ...) or None."""
        for media in self.media:
            if media.kind == "audio":
                return _CODEC_NAMES.get(media.codec, media.codec.lower())
        return None


_CODEC_NAMES = {
    "H264": "h264",
    "H265": "hevc",
    "MPEG4-GENERIC": "aac",
    "MP4A-LATM": "aac_latm",
    "PCMU": "pcm_mulaw",
    "PCMA": "pcm_alaw",
    "G726-32": "g726",
    "OPUS": "opus",
    "JPEG": "mjpeg",
}


def parse_sdp(sdp: str) -> DescribeResult:
    """Extract media kinds and codec names from an SDP body."""
    media: list[SdpMedia] = []
    kind: str | None = None
    payloads: list[str] = []
    rtpmap: dict[str, str] = {}

    def flush() -> None:
        if kind is None:
            return
        codec = ""
        for payload in payloads:
            if payload in rtpmap:
                codec = rtpmap[payload]
                break
        if not codec and payloads:
            codec = _STATIC_PAYLOADS.get(payloads[0], "")
        media.append(SdpMedia(kind=kind, codec=codec.upper()))

    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            flush()
            fields = line[2:].split()
            kind = fields[0] if fields else "unknown"
            payloads = fields[3:]
            rtpmap = {}
        elif line.startswith("a=rtpmap:") and kind is not None:
            number, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            rtpmap[number] = encoding.split("/")[0]
    flush()
    return DescribeResult(media=tuple(media))


_STATIC_PAYLOADS = {"0": "PCMU", "8": "PCMA", "26": "JPEG", "14": "MPA"}


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)\s*=\s*"?([^",]*)"?', rest))
    return scheme.lower(), params


def _authorization(
    challenges: list[str], method: str, uri: str, username: str, password: str
) -> str | None:
    parsed = [_parse_challenge(c) for c in challenges]
    for scheme, params in parsed:
        if scheme == "digest":
            realm = params.get("realm", "")
            nonce = params.get("nonce", "")
            ha1 = hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False)
            ha2 = hashlib.md5(f"{method}:{uri}".encode(), usedforsecurity=False)
            qop = params.get("qop")
            if qop and "auth" in qop.split(","):
                cnonce = secrets.token_hex(8)
                response = hashlib.md5(
                    f"{ha1.hexdigest()}:{nonce}:00000001:{cnonce}:auth:{ha2.hexdigest()}".encode(),
                    usedforsecurity=False,
                ).hexdigest()
                return (
                    f'Digest username="{username}", realm="{realm}", nonce="{nonce}", '
                    f'uri="{uri}", response="{response}", qop=auth, nc=00000001, '
                    f'cnonce="{cnonce}"'
                )
            response = hashlib.md5(
                f"{ha1.hexdigest()}:{nonce}:{ha2.hexdigest()}".encode(), usedforsecurity=False
            ).hexdigest()
            return (
                f'Digest username="{username}", realm="{realm}", nonce="{nonce}", '
                f'uri="{uri}", response="{response}"'
            )
    for scheme, _params in parsed:
        if scheme == "basic":
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            return f"Basic {token}"
    return None


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.cseq = 0

    async def request(
        self, method: str, uri: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, list[str]], bytes]:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", "User-Agent: cctv_nvr"]
        lines.extend(f"{key}: {value}" for key, value in headers.items())
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as err:
            raise RtspProtocolError("connection closed before an RTSP answer") from err
        except asyncio.LimitOverrunError as err:
            raise RtspProtocolError("answer is not RTSP") from err
        text = head.decode("latin-1")
        status_line, *header_lines = text.split("\r\n")
        match = re.match(r"RTSP/1\.\d (\d{3})", status_line)
        if not match:
            raise RtspProtocolError("answer is not RTSP")
        parsed: dict[str, list[str]] = {}
        for line in header_lines:
            if ":" in line:
                key, _, value = line.partition(":")
                parsed.setdefault(key.strip().lower(), []).append(value.strip())
        length = _content_length(parsed.get("content-length", []))
        if length > _MAX_BODY_BYTES:
            raise RtspProtocolError("RTSP answer too large")
        try:
            body = await self.reader.readexactly(length) if length else b""
        except asyncio.IncompleteReadError as err:
            raise RtspProtocolError("connection closed inside an RTSP answer") from err
        return int(match.group(1)), parsed, body


def _content_length(values: list[str]) -> int:
    """Return the body length an answer announces (none: 0); anything odd is not RTSP.

    A camera may send a non-numeric, negative or repeated, disagreeing Content-Length:
    that is a protocol error, never a crash of the caller.
    """
    lengths = {value.strip() for value in values}
    if not lengths or lengths == {""}:
        return 0
    if len(lengths) > 1:
        raise RtspProtocolError("conflicting Content-Length headers")
    (text,) = lengths
    if not text.isascii() or not text.isdigit():
        raise RtspProtocolError("invalid Content-Length header")
    return int(text)


async def describe(
    url: str,
    username: str | None = None,
    password: str | None = None,
    *,
    timeout: float = 5.0,
) -> DescribeResult:
    """Send DESCRIBE (with auth when challenged) and return the stream's media.

    Credentials given as arguments win over credentials inside the URL.
    Raises an RtspError subclass whose ``reason`` is a translation key.
    """
    parsed = parse_rtsp_url(url)
    user = username if username is not None else parsed.username
    secret = password if password is not None else parsed.password
    busy: RtspBusyError | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return await _describe(parsed, user, secret)
                except RtspBusyError as err:
                    busy = err  # asked again until the timeout
                    await asyncio.sleep(BUSY_RETRY_DELAY)
    except TimeoutError as err:
        if busy is not None:
            raise busy from err
        raise RtspTimeoutError("the camera did not answer in time") from err


async def _describe(parsed: RtspUrl, user: str | None, secret: str | None) -> DescribeResult:
    try:
        reader, writer = await asyncio.open_connection(
            parsed.host, parsed.port, limit=_MAX_HEADER_BYTES
        )
    except OSError as err:
        raise RtspConnectError(f"cannot connect: {err.strerror or type(err).__name__}") from err
    except UnicodeError as err:  # a host name that cannot be encoded (IDNA)
        raise RtspConnectError("cannot connect: invalid host name") from err
    conn = _Connection(reader, writer)
    try:
        uri = parsed.uri
        headers = {"Accept": "application/sdp"}
        status, answer, body = await conn.request("DESCRIBE", uri, headers)
        if status == HTTPStatus.UNAUTHORIZED and user is not None:
            auth = _authorization(
                answer.get("www-authenticate", []), "DESCRIBE", uri, user, secret or ""
            )
            if auth is not None:
                status, answer, body = await conn.request(
                    "DESCRIBE", uri, {**headers, "Authorization": auth}
                )
        if status == HTTPStatus.UNAUTHORIZED:
            raise RtspAuthError("the camera refused the credentials (401)")
        if status == HTTPStatus.NOT_FOUND:
            raise RtspNotFoundError("the camera has no stream at this path (404)")
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RtspBusyError(f"camera unavailable (RTSP {status})")
        if status != HTTPStatus.OK:
            raise RtspProtocolError(f"unexpected RTSP status {status}")
        result = parse_sdp(body.decode("utf-8", "replace"))
    except OSError as err:
        raise RtspConnectError(f"connection failed: {type(err).__name__}") from err
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if result.video_codec is None:
        raise RtspNoVideoError("the stream has no video track")
    return result
