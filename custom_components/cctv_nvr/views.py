"""HTTP views: HLS playback, raw segments, exports, thumbnails, event clips and snapshots.

Every view asks ``access`` on every request, for the user Home Assistant authenticated (a
session, or a path signed with ``async_sign_path`` whose user it restores): the camera must
be loaded (404) and the user must have the right and, for footage, may see that footage
(403). A playlist lists only footage its user may see; its fragments carry a *media
token* bound to the user's refresh token and the camera (one HMAC per playlist, not one
JWT per fragment), and each fragment request checks the policy again, so a playback whose
grant was withdrawn stops at its next request. Unknown ids answer 404 without revealing
any file path; ids and moments beyond any real value answer 400.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
import contextlib
from datetime import date
import hashlib
import hmac
import logging
from pathlib import Path
import time
from zoneinfo import ZoneInfo

from aiohttp import web
from homeassistant.components.http.const import KEY_HASS_REFRESH_TOKEN_ID, KEY_HASS_USER
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.http import KEY_AUTHENTICATED, HomeAssistantView

from .access import Access, Right, async_access, caller_of
from .audit import Action, async_audit
from .cloud import async_footage_file, footage_file_blocking
from .const import (
    DOMAIN,
    HLS_MIME,
    MAX_PLAYLIST_SECONDS,
    SIGNED_URL_LIFETIME,
)
from .coordinator import CctvNvrConfigEntry, loaded_cameras
from .data import DATA_NVR
from .engine import hls
from .engine.export import ExportError, export_range
from .engine.index import KIND_EVENT, Recording, Segment, SegmentIndex
from .engine.index.audit import to_csv
from .engine.live import LiveFeed, LiveNotReadyError
from .engine.media import ProbeError, last_keyframe_jpeg
from .engine.policy import Caller
from .engine.transcode import AnyPiece, Part, TranscodeError
from .footage import DATA_REMUXES
from .links import link_valid
from .renditions import (
    CODEC_AUTO,
    CODEC_H264,
    CODEC_QUERY,
    DATA_RENDITIONS,
    RenditionService,
    as_listed,
    part_name,
    plan,
    rendition_wanted,
)
from .urls import (
    AUDIT_CSV_ROUTE,
    EVENT_CLIP_ROUTE,
    EVENT_SNAPSHOT_ROUTE,
    EXPORT_ROUTE,
    INIT_ROUTE,
    LIVE_FRAGMENT_ROUTE,
    LIVE_INIT_ROUTE,
    LIVE_PLAYLIST_ROUTE,
    LIVE_RENDITION_FRAGMENT_ROUTE,
    LIVE_RENDITION_INIT_ROUTE,
    MEDIA_ROUTE,
    PLAYLIST_AUTO_ROUTE,
    PLAYLIST_ROUTE,
    RENDITION_INIT_ROUTE,
    RENDITION_MEDIA_ROUTE,
    SEGMENT_ROUTE,
    THUMBNAIL_ROUTE,
    init_path,
    live_fragment_path,
    live_init_path,
    live_rendition_fragment_path,
    live_rendition_init_path,
    media_path,
    rendition_init_path,
    rendition_media_path,
)
from .util import day_range

_LOGGER = logging.getLogger(__name__)

MAX_MOMENT = 10**11  # epoch seconds (year 5138): anything larger is not a moment
MAX_ROW_ID = 2**62
LINK_CALLER = Caller(user_id=None, admin=True)  # a notification link: made by the system
MEDIA_TOKEN = "t"  # noqa: S105 - the name of the query parameter, not a secret


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the integration's HTTP views."""
    for view in (
        PlaylistView,
        PlaylistAutoView,
        InitView,
        MediaView,
        RenditionInitView,
        RenditionMediaView,
        SegmentView,
        ExportView,
        ThumbnailView,
        EventClipView,
        EventSnapshotView,
        AuditCsvView,
        LivePlaylistView,
        LiveInitView,
        LiveFragmentView,
        LiveRenditionInitView,
        LiveRenditionFragmentView,
    ):
        hass.http.register_view(view(hass))


def _number(value: str, maximum: int) -> int:
    """Return a path number, or answer 400 when it is beyond any real value."""
    if len(value) > 20:  # noqa: PLR2004
        raise web.HTTPBadRequest
    number = int(value)
    if abs(number) > maximum:
        raise web.HTTPBadRequest
    return number


# -- media tokens -----------------------------------------------------------------------------


def _mac(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


@callback
def async_media_token(hass: HomeAssistant, refresh_token_id: str, camera: str) -> str | None:
    """Return a token for a camera's fragments, bound to a refresh token (its user)."""
    refresh_token = hass.auth.async_get_refresh_token(refresh_token_id)
    if refresh_token is None:
        return None
    expires = int(time.time() + SIGNED_URL_LIFETIME.total_seconds())
    payload = f"{refresh_token_id}.{expires}"
    return f"{payload}.{_mac(refresh_token.jwt_key, f'{payload}.{camera}')}"


@callback
def async_media_token_user(hass: HomeAssistant, token: str, camera: str) -> Caller | None:
    """Return who a media token speaks for, if it is valid for the camera and not expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or int(parts[1]) < time.time():  # noqa: PLR2004
        return None
    refresh_token = hass.auth.async_get_refresh_token(parts[0])
    if refresh_token is None:
        return None
    expected = _mac(refresh_token.jwt_key, f"{parts[0]}.{parts[1]}.{camera}")
    if not hmac.compare_digest(expected, parts[2]):
        return None
    return caller_of(hass, refresh_token.user)


# -- views ------------------------------------------------------------------------------------


class _NvrView(HomeAssistantView):
    """Shared checks: who asks, the camera exists, the user may use it."""

    requires_auth = True

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass

    def _access(self, request: web.Request) -> Access:
        caller = caller_of(self.hass, request.get(KEY_HASS_USER))
        if caller is None:
            raise web.HTTPForbidden
        return async_access(self.hass, caller)

    def _camera(
        self, request: web.Request, camera: str, right: Right
    ) -> tuple[CctvNvrConfigEntry, Access]:
        access = self._access(request)
        if camera not in loaded_cameras(self.hass):
            raise web.HTTPNotFound
        entry = access.camera(camera, right)
        if entry is None:
            raise web.HTTPForbidden
        return entry, access

    async def _segment(self, segment_id: str) -> tuple[Segment, Path]:
        nvr = self.hass.data[DATA_NVR]
        segment = await self.hass.async_add_executor_job(
            nvr.index.segment_by_id, _number(segment_id, MAX_ROW_ID)
        )
        if segment is None:
            raise web.HTTPNotFound
        return segment, _inside(segment.root_path(nvr.root), segment.path)

    def _session_or_token(
        self, request: web.Request, camera: str, right: Right
    ) -> tuple[CctvNvrConfigEntry, Access]:
        """Check a playlist's piece: a session, or the playlist's media token for the camera."""
        if request.get(KEY_AUTHENTICATED):
            return self._camera(request, camera, right)
        caller = async_media_token_user(self.hass, request.query.get(MEDIA_TOKEN, ""), camera)
        if caller is None:
            raise web.HTTPUnauthorized
        if camera not in loaded_cameras(self.hass):
            raise web.HTTPNotFound
        access = async_access(self.hass, caller)
        entry = access.camera(camera, right)
        if entry is None:
            raise web.HTTPForbidden
        return entry, access

    def _check_footage(self, access: Access, camera: str, start: float, end: float) -> None:
        """Answer 403 unless the caller may see all of this footage."""
        if not access.policy.segment_visible(access.caller, camera, start, end, time.time()):
            raise web.HTTPForbidden


def _inside(root: Path, relative: str) -> Path:
    """Resolve a stored relative path; refuse anything outside the root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise web.HTTPNotFound
    return path


def _playlist(
    index: SegmentIndex,
    camera: str,
    begin: int,
    finish: int,
    visible: Callable[[Segment], bool],
    query: str,
    rendition: Callable[[Segment], list[AnyPiece | None] | None] = lambda _seg: None,
) -> str | None:
    """Build a playlist of the visible footage of [begin, finish) (executor).

    ``rendition(segment)`` returns the parts of a segment to list as H.264 renditions
    (see ``renditions``), or None to list the stored segment.
    """
    segments = [seg for seg in index.segments(camera, float(begin), float(finish)) if visible(seg)]
    if not segments:
        return None
    listed: list[Segment] = []
    parts: dict[int, tuple[Segment, AnyPiece | None]] = {}  # id of a listed part -> its piece
    for segment in segments:
        pieces = rendition(segment)
        if pieces is None:
            listed.append(segment)
            continue
        for piece in pieces:
            part = as_listed(segment, piece)
            parts[id(part)] = (segment, piece)
            listed.append(part)

    def init_url(seg: Segment) -> str:
        if id(seg) in parts:
            return f"{rendition_init_path(seg.row_id, part_name(parts[id(seg)][1]))}?{query}"
        return f"{init_path(seg.row_id)}?{query}"

    def media_url(seg: Segment, offset: float) -> str:
        if id(seg) in parts:
            piece = parts[id(seg)][1]
            # A piece's rendition keeps the segment's timeline: it starts at piece.start.
            shift = offset - (piece.start if piece else 0.0)
            return f"{rendition_media_path(seg.row_id, part_name(piece), shift)}?{query}"
        return f"{media_path(seg.row_id, offset)}?{query}"

    return hls.build_playlist(listed, float(begin), float(finish), init_url, media_url)


class PlaylistView(_NvrView):
    """An HLS VOD playlist of a camera's footage between two moments."""

    url = PLAYLIST_ROUTE
    name = f"api:{DOMAIN}:playlist"
    codec: str | None = None  # None: the ``codec`` of the (signed) query; stored without one

    async def get(self, request: web.Request, camera: str, start: str, end: str) -> web.Response:
        """Return the playlist; its fragment URLs carry a media token for the same user."""
        begin, finish = _number(start, MAX_MOMENT), _number(end, MAX_MOMENT)
        _entry, access = self._camera(request, camera, Right.RECORDINGS)
        if not 0 < finish - begin <= MAX_PLAYLIST_SECONDS:
            raise web.HTTPBadRequest
        refresh_token_id = request.get(KEY_HASS_REFRESH_TOKEN_ID)
        token = async_media_token(self.hass, refresh_token_id, camera) if refresh_token_id else None
        if token is None:
            raise web.HTTPForbidden
        visible = access.policy.footage_filter(
            access.caller, camera, float(begin), float(finish), time.time()
        )
        nvr = self.hass.data[DATA_NVR]
        codec = self.codec or request.query.get(CODEC_QUERY)
        agent = request.headers.get("User-Agent", "")

        def rendition(seg: Segment) -> list[AnyPiece | None] | None:
            return plan(seg) if rendition_wanted(codec, agent, seg.video_codec) else None

        text = await self.hass.async_add_executor_job(
            _playlist,
            nvr.index,
            camera,
            begin,
            finish,
            lambda seg: visible(seg.start, seg.end),
            f"{MEDIA_TOKEN}={token}",
            rendition,
        )
        if text is None:
            raise web.HTTPNotFound
        await async_audit(self.hass, access.caller, camera, Action.WATCHED, start=begin, end=finish)
        return web.Response(text=text, content_type=HLS_MIME, headers={"Cache-Control": "no-cache"})


class PlaylistAutoView(PlaylistView):
    """The media browser's playlist: the request's User-Agent picks stored H.265 or H.264."""

    url = PLAYLIST_AUTO_ROUTE
    name = f"api:{DOMAIN}:playlist_auto"
    codec = CODEC_AUTO


class _FragmentView(_NvrView):
    """Pieces of a playlist: a session, a signed path, or the playlist's media token."""

    requires_auth = False

    async def _fragment(self, request: web.Request, segment_id: str) -> Path:
        segment, path = await self._segment(segment_id)
        _entry, access = self._session_or_token(request, segment.camera, Right.RECORDINGS)
        self._check_footage(access, segment.camera, segment.start, segment.end)
        # Only in the bucket: fetched (after the checks above) into the local cache.
        try:
            return await async_footage_file(self.hass, segment, path)
        except Exception as err:
            _LOGGER.debug("Cloud footage %s not fetched: %s", segment.row_id, err)
            raise web.HTTPNotFound from err


class InitView(_FragmentView):
    """The initialisation section (ftyp + moov) of a segment, for EXT-X-MAP."""

    url = INIT_ROUTE
    name = f"api:{DOMAIN}:init"

    async def get(self, request: web.Request, segment_id: str) -> web.Response:
        """Return the init bytes."""
        path = await self._fragment(request, segment_id)
        data = await _read_or_404(self.hass, hls.init_bytes, path)
        return web.Response(body=data, content_type="video/mp4")


class MediaView(_FragmentView):
    """The media fragments of a segment, shifted onto the playlist's timeline."""

    url = MEDIA_ROUTE
    name = f"api:{DOMAIN}:media"

    async def get(self, request: web.Request, segment_id: str, offset_ms: str) -> web.Response:
        """Return the moof/mdat bytes with shifted decode times."""
        offset = _number(offset_ms, MAX_MOMENT * 1000) / 1000
        path = await self._fragment(request, segment_id)
        data = await _read_or_404(self.hass, hls.media_bytes, path, offset)
        return web.Response(body=data, content_type="video/iso.segment")


class _RenditionView(_FragmentView):
    """A part of an H.264 rendition of an H.265 segment (same checks as the stored parts)."""

    async def _rendition(
        self, request: web.Request, segment_id: str, part: str
    ) -> tuple[Path, Segment, list[AnyPiece | None], int]:
        """Check the caller; make (or find) the part's rendition.

        Return its path, the segment, the segment's parts and this part's place among them.
        """
        segment, path = await self._segment(segment_id)
        _entry, access = self._session_or_token(request, segment.camera, Right.RECORDINGS)
        self._check_footage(access, segment.camera, segment.start, segment.end)
        if not rendition_wanted(CODEC_H264, "", segment.video_codec):
            raise web.HTTPNotFound  # only H.265 footage has renditions
        service = self.hass.data[DATA_RENDITIONS]
        parts = plan(segment)
        names = [part_name(piece) for piece in parts]
        if part not in names:
            raise web.HTTPNotFound
        number = names.index(part)
        try:
            renditions = await service.async_renditions()
            made = await renditions.segment(path, segment.path, parts[number])
        except TranscodeError as err:
            _LOGGER.debug("No rendition of %s (%s): %s", segment.path, part, err)
            if err.reason in ("source_missing", "not_fragmented"):
                raise web.HTTPNotFound from err
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "2"}) from err
        return made, segment, parts, number


class RenditionInitView(_RenditionView):
    """The init section of a part's H.264 rendition, for EXT-X-MAP."""

    url = RENDITION_INIT_ROUTE
    name = f"api:{DOMAIN}:rendition_init"

    async def get(self, request: web.Request, segment_id: str, part: str) -> web.Response:
        """Return the init bytes (the part is made first when not cached)."""
        made, *_rest = await self._rendition(request, segment_id, part)
        data = await _read_or_404(self.hass, hls.init_bytes, made)
        return web.Response(body=data, content_type="video/mp4")


class RenditionMediaView(_RenditionView):
    """A part of an H.264 rendition, shifted onto the playlist's timeline.

    Serving it asks for the following parts ahead of the playhead (this segment's next
    pieces, then the next H.265 segment's), one group per user and camera.
    """

    url = RENDITION_MEDIA_ROUTE
    name = f"api:{DOMAIN}:rendition_media"

    async def get(
        self, request: web.Request, segment_id: str, part: str, offset_ms: str
    ) -> web.Response:
        """Return the moof/mdat bytes of the part's rendition with shifted decode times."""
        offset = _number(offset_ms, MAX_MOMENT * 1000) / 1000
        made, segment, parts, number = await self._rendition(request, segment_id, part)
        data = await _read_or_404(self.hass, hls.media_bytes, made, offset)
        service = self.hass.data[DATA_RENDITIONS]
        ahead = await self.hass.async_add_executor_job(_ahead, service, segment, parts, number)
        caller = self._access(request) if request.get(KEY_AUTHENTICATED) else None
        who = caller.caller.user_id if caller else request.query.get(MEDIA_TOKEN, "")[:24]
        (await service.async_renditions()).prefetch(ahead, f"{who}:{segment.camera}")
        return web.Response(body=data, content_type="video/iso.segment")


def _ahead(
    service: RenditionService, segment: Segment, pieces: list[AnyPiece | None], number: int
) -> list[Part]:
    """Return the parts after a segment's part ``number``: its own, then the next segment's."""
    root = service.nvr.root
    parts: list[Part] = [
        (root / segment.path, segment.path, piece) for piece in pieces[number + 1 :]
    ]
    following = [
        seg
        for seg in service.nvr.index.segments(segment.camera, segment.end, segment.end + 3600)
        if seg.start > segment.start and seg.row_id != segment.row_id
    ]
    after = min(following, key=lambda seg: seg.start, default=None)
    if after is not None and rendition_wanted(CODEC_H264, "", after.video_codec):
        with contextlib.suppress(web.HTTPNotFound):
            path = _inside(root, after.path)
            parts += [(path, after.path, piece) for piece in plan(after)]
    return parts


# -- live video from the recording being written ---------------------------------------------


class LivePlaylistView(_NvrView):
    """A camera's live HLS playlist: the newest complete fragments of its recording.

    Only for users who may watch the camera live now (their time windows apply); each
    request checks again, so a live view stops when the grant or the window ends.
    """

    url = LIVE_PLAYLIST_ROUTE
    name = f"api:{DOMAIN}:live"

    async def get(self, request: web.Request, camera: str) -> web.Response:
        """Return the live playlist; its fragment URLs carry a media token for the same user."""
        entry, access = self._camera(request, camera, Right.LIVE)
        refresh_token_id = request.get(KEY_HASS_REFRESH_TOKEN_ID)
        token = async_media_token(self.hass, refresh_token_id, camera) if refresh_token_id else None
        if token is None:
            raise web.HTTPForbidden
        feed = await entry.runtime_data.async_live_feed()
        if feed is None:  # not recording: live video comes from the recording
            raise web.HTTPNotFound(text="not recording")
        query = f"{MEDIA_TOKEN}={token}"
        try:
            if request.query.get(CODEC_QUERY) == CODEC_H264:
                text = _live_rendition_playlist(feed, camera, query)
            else:
                text = feed.playlist(
                    lambda version: f"{live_init_path(camera, version)}?{query}",
                    lambda sequence: f"{live_fragment_path(camera, sequence)}?{query}",
                )
        except LiveNotReadyError:
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "1"}) from None
        await async_audit(self.hass, access.caller, camera, Action.WATCHED_LIVE)
        return web.Response(text=text, content_type=HLS_MIME, headers={"Cache-Control": "no-cache"})


class _LivePartView(_NvrView):
    """Pieces of the live playlist: a session or the playlist's media token, live right now."""

    requires_auth = False

    def _feed(self, request: web.Request, camera: str) -> LiveFeed:
        entry, _access = self._session_or_token(request, camera, Right.LIVE)
        return entry.runtime_data.live


class LiveInitView(_LivePartView):
    """A version of the live initialisation section (ftyp + moov), for EXT-X-MAP."""

    url = LIVE_INIT_ROUTE
    name = f"api:{DOMAIN}:live_init"

    async def get(self, request: web.Request, camera: str, version: str) -> web.Response:
        """Return the init bytes."""
        feed = self._feed(request, camera)
        data = feed.init_bytes(_number(version, MAX_ROW_ID))
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="video/mp4")


class LiveFragmentView(_LivePartView):
    """A live fragment (moof + mdat) moved onto the live timeline."""

    url = LIVE_FRAGMENT_ROUTE
    name = f"api:{DOMAIN}:live_fragment"

    async def get(self, request: web.Request, camera: str, sequence: str) -> web.Response:
        """Return the fragment's bytes (read in the executor)."""
        feed = self._feed(request, camera)
        data = await self.hass.async_add_executor_job(
            _read_or_none, feed.fragment_bytes, _number(sequence, MAX_ROW_ID)
        )
        if data is None:
            raise web.HTTPNotFound
        return web.Response(
            body=data, content_type="video/iso.segment", headers={"Cache-Control": "no-cache"}
        )


class _LiveRenditionView(_LivePartView):
    """H.264 renditions of live fragments of an H.265 camera (engine: transcode, "Live").

    Each fragment (with its init part) is one rendition source, made when first asked for
    and cached like recorded parts (same bound on ffmpeg processes). Its rendition keeps the
    live timeline's decode times, so fragments join as the stored ones do.
    """

    async def _made(self, request: web.Request, camera: str, sequence: str) -> Path:
        feed = self._feed(request, camera)
        number = _number(sequence, MAX_ROW_ID)
        fragment = feed.fragment(number)
        if fragment is None:
            raise web.HTTPNotFound
        init = feed.init_bytes(fragment.init)
        data = await self.hass.async_add_executor_job(_read_or_none, feed.fragment_bytes, number)
        if init is None or data is None:
            raise web.HTTPNotFound
        service = self.hass.data[DATA_RENDITIONS]
        source = await self.hass.async_add_executor_job(
            service.live_source, camera, number, fragment.wall, init, data
        )
        try:
            renditions = await service.async_renditions()
            return await renditions.segment(source, f"live/{source.stem}")
        except TranscodeError as err:
            _LOGGER.debug("No rendition of live fragment %s of %s: %s", number, camera, err)
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "1"}) from err


class LiveRenditionInitView(_LiveRenditionView):
    """The init section of a live fragment's H.264 rendition, for EXT-X-MAP."""

    url = LIVE_RENDITION_INIT_ROUTE
    name = f"api:{DOMAIN}:live_rendition_init"

    async def get(self, request: web.Request, camera: str, sequence: str) -> web.Response:
        """Return the init bytes (the fragment's rendition is made first)."""
        made = await self._made(request, camera, sequence)
        data = await _read_or_404(self.hass, hls.init_bytes, made)
        return web.Response(body=data, content_type="video/mp4")


class LiveRenditionFragmentView(_LiveRenditionView):
    """A live fragment's H.264 rendition (moof + mdat on the live timeline)."""

    url = LIVE_RENDITION_FRAGMENT_ROUTE
    name = f"api:{DOMAIN}:live_rendition_fragment"

    async def get(self, request: web.Request, camera: str, sequence: str) -> web.Response:
        """Return the rendition's fragments (already on the live timeline)."""
        made = await self._made(request, camera, sequence)
        data = await _read_or_404(self.hass, hls.media_bytes, made, 0.0)
        return web.Response(
            body=data, content_type="video/iso.segment", headers={"Cache-Control": "no-cache"}
        )


def _live_rendition_playlist(feed: LiveFeed, camera: str, query: str) -> str:
    """Return the live playlist whose parts are H.264 renditions of the live fragments.

    A rendition's init part comes from a fragment's rendition: each EXT-X-MAP names the
    fragment that follows it.
    """
    marker = "\0init\0"
    text = feed.playlist(
        lambda _version: marker,
        lambda sequence: f"{live_rendition_fragment_path(camera, sequence)}?{query}",
    )
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if marker in line:
            following = next(
                item for item in lines[number + 1 :] if item and not item.startswith("#")
            )
            sequence = int(following.split("?")[0].rsplit("/", 1)[1].removesuffix(".m4s"))
            init = f"{live_rendition_init_path(camera, sequence)}?{query}"
            lines[number] = line.replace(marker, init)
    return "\n".join(lines) + "\n"


async def _read_or_404(hass: HomeAssistant, func: object, *args: object) -> bytes:
    """Read a part of a file in the executor; answer 404 when it cannot be read."""
    data = await hass.async_add_executor_job(_read_or_none, func, *args)
    if data is None:
        raise web.HTTPNotFound
    return data


def _read_or_none(func: object, *args: object) -> bytes | None:
    try:
        return func(*args)  # type: ignore[operator, no-any-return]
    except (OSError, ValueError) as err:
        _LOGGER.debug("Cannot read segment: %s", err)
        return None


class SegmentView(_NvrView):
    """A stored segment file as it is (download, seeking with Range)."""

    url = SEGMENT_ROUTE
    name = f"api:{DOMAIN}:segment"

    async def get(self, request: web.Request, segment_id: str) -> web.StreamResponse:
        """Serve the file; aiohttp answers Range requests with 206."""
        segment, path = await self._segment(segment_id)
        _entry, access = self._camera(request, segment.camera, Right.RECORDINGS)
        self._check_footage(access, segment.camera, segment.start, segment.end)
        if not await self.hass.async_add_executor_job(path.is_file):
            raise web.HTTPNotFound
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


class ExportView(_NvrView):
    """An exported clip (download, seeking with Range)."""

    url = EXPORT_ROUTE
    name = f"api:{DOMAIN}:export"

    async def get(self, request: web.Request, export_id: str) -> web.StreamResponse:
        """Serve the export file to those who may see its footage (administrators: any)."""
        nvr = self.hass.data[DATA_NVR]
        export = await self.hass.async_add_executor_job(
            nvr.index.exports.get, _number(export_id, MAX_ROW_ID)
        )
        if export is None:
            raise web.HTTPNotFound
        access = self._access(request)
        if not access.caller.admin:
            _entry, access = self._camera(request, export.camera, Right.RECORDINGS)
            if not access.policy.range_visible(
                access.caller, export.camera, export.start, export.end, time.time()
            ):
                raise web.HTTPForbidden
        path = _inside(nvr.exports, export.path)
        if not await self.hass.async_add_executor_job(path.is_file):
            raise web.HTTPNotFound
        if "Range" not in request.headers or request.headers["Range"].startswith("bytes=0-"):
            await async_audit(
                self.hass,
                access.caller,
                export.camera,
                Action.DOWNLOADED,
                start=export.start,
                end=export.end,
                detail=f"export {export.name}",
            )
        filename = Path(export.path).name
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "video/mp4",
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )


class ThumbnailView(_NvrView):
    """One frame of the footage at or after a moment (made once per segment, cached)."""

    url = THUMBNAIL_ROUTE
    name = f"api:{DOMAIN}:thumbnail"

    async def get(self, request: web.Request, camera: str, moment: str) -> web.Response:
        """Return a small JPEG of the segment holding the moment (or the next one)."""
        at = float(_number(moment, MAX_MOMENT))
        _entry, access = self._camera(request, camera, Right.RECORDINGS)
        nvr = self.hass.data[DATA_NVR]
        policy, caller, now = access.policy, access.caller, time.time()
        hass = self.hass
        data = await self.hass.async_add_executor_job(
            _thumbnail,
            nvr.index,
            lambda seg: footage_file_blocking(
                hass, seg, _inside(seg.root_path(nvr.root), seg.path)
            ),
            nvr.thumbnails / camera,
            camera,
            at,
            lambda seg: policy.segment_visible(caller, camera, seg.start, seg.end, now),
        )
        if data is None:
            raise web.HTTPNotFound
        return web.Response(
            body=data,
            content_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=86400"},
        )


def _thumbnail(
    index: SegmentIndex,
    file_of: Callable[[Segment], Path],
    cache: Path,
    camera: str,
    at: float,
    visible: Callable[[Segment], bool],
) -> bytes | None:
    """Return the JPEG of the first visible indexed segment at or after ``at`` (executor).

    Cached per segment (``<segment id>.jpg``): a deleted segment's thumbnail is never
    served (the row is looked up first) and retention removes it. ``file_of`` gives a
    segment's file (fetched from the bucket when it is only there).
    """
    for segment in index.segments(camera, at, at + 3600)[:3]:
        if not visible(segment):
            continue
        cached = cache / f"{segment.row_id}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        try:
            data = last_keyframe_jpeg(file_of(segment), width=320)
        except ProbeError, OSError, web.HTTPNotFound:
            continue
        cache.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
        return data
    return None


# -- saved events: clip and snapshot for notifications ---------------------------------
#
# Notification links to these are signed with the integration's own key and the
# camera's notification link lifetime (see links.py and events.notification_links): a
# companion app fetches them without a session, each signature is valid for its path
# only, and they survive restarts. Deleting the event (or its footage) ends them: the
# views answer 404. With a session, the user's rights apply as everywhere.


class _EventView(_NvrView):
    requires_auth = False  # a session, or a notification link's signature

    async def _event(self, request: web.Request, recording_id: str) -> tuple[Recording, Access]:
        if not request.get(KEY_AUTHENTICATED) and not link_valid(self.hass, request):
            raise web.HTTPUnauthorized
        nvr = self.hass.data[DATA_NVR]
        recording = await self.hass.async_add_executor_job(
            nvr.index.recordings.get, _number(recording_id, MAX_ROW_ID)
        )
        if recording is None or recording.end is None or recording.kind != KIND_EVENT:
            raise web.HTTPNotFound
        if not request.get(KEY_AUTHENTICATED):  # the link speaks for the system
            if recording.camera not in loaded_cameras(self.hass):
                raise web.HTTPNotFound
            return recording, async_access(self.hass, LINK_CALLER)
        _entry, access = self._camera(request, recording.camera, Right.RECORDINGS)
        if not access.policy.range_visible(
            access.caller, recording.camera, recording.start, recording.end, time.time()
        ):
            raise web.HTTPForbidden
        return recording, access


def _event_cache(thumbnails: Path, recording: Recording) -> Path:
    return thumbnails / "events" / recording.camera


class EventClipView(_EventView):
    """An event's range as one MP4 (remuxed once from the stored segments, then cached)."""

    url = EVENT_CLIP_ROUTE
    name = f"api:{DOMAIN}:event_clip"

    async def get(self, request: web.Request, recording_id: str) -> web.StreamResponse:
        """Serve the clip; Range requests are answered with 206."""
        recording, access = await self._event(request, recording_id)
        assert recording.end is not None  # noqa: S101
        nvr = self.hass.data[DATA_NVR]
        segments = await self.hass.async_add_executor_job(
            nvr.index.segments, recording.camera, recording.start, recording.end
        )
        if not segments:
            raise web.HTTPNotFound
        # The name holds the footage it was made of: a clip cut before the last segment
        # was indexed, or whose footage was partly deleted since, is made again.
        covered = min(segments[-1].end, recording.end)
        cache = _event_cache(nvr.thumbnails, recording) / (
            f"{recording.id}-{segments[0].row_id}-{segments[-1].row_id}-{len(segments)}"
            f"-{round(covered * 1000)}.mp4"
        )
        entry = loaded_cameras(self.hass)[recording.camera]
        queue = self.hass.data[DATA_REMUXES]
        async with queue.turn(request, key=("event", recording.id)):
            if not await self.hass.async_add_executor_job(cache.is_file):
                try:
                    await export_range(
                        segments,
                        nvr.root,
                        recording.start,
                        covered,
                        cache,
                        ffmpeg=entry.runtime_data.recorder.config.ffmpeg,
                    )
                except ExportError as err:
                    _LOGGER.warning("Cannot build the clip of event %s: %s", recording.id, err)
                    raise web.HTTPNotFound from err
        if "Range" not in request.headers or request.headers["Range"].startswith("bytes=0-"):
            await async_audit(
                self.hass,
                access.caller,
                recording.camera,
                Action.DOWNLOADED,
                start=recording.start,
                end=recording.end,
                detail=f"event {recording.label or recording.id}",
                user_name="notification link" if access.caller is LINK_CALLER else None,
            )
        return web.FileResponse(cache, headers={"Content-Type": "video/mp4"})


class EventSnapshotView(_EventView):
    """A JPEG of an event: the last keyframe of the segment at the middle of its range."""

    url = EVENT_SNAPSHOT_ROUTE
    name = f"api:{DOMAIN}:event_snapshot"

    async def get(self, request: web.Request, recording_id: str) -> web.Response:
        """Return the snapshot (cached per segment after the first request)."""
        recording, _access = await self._event(request, recording_id)
        nvr = self.hass.data[DATA_NVR]
        data = await self.hass.async_add_executor_job(
            _event_snapshot,
            nvr.index,
            nvr.root,
            _event_cache(nvr.thumbnails, recording),
            recording,
        )
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="image/jpeg")


def _event_snapshot(
    index: SegmentIndex, root: Path, cache: Path, recording: Recording
) -> bytes | None:
    """Return the JPEG of the event's middle segment that still exists (executor)."""
    assert recording.end is not None  # noqa: S101
    middle = (recording.start + recording.end) / 2
    segments = index.segments(recording.camera, recording.start, recording.end)
    segments.sort(key=lambda seg: abs((seg.start + seg.end) / 2 - middle))
    for segment in segments[:3]:
        cached = cache / f"{recording.id}-{segment.row_id}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        try:
            data = last_keyframe_jpeg(_inside(segment.root_path(root), segment.path))
        except ProbeError, OSError, web.HTTPNotFound:
            continue
        cache.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
        return data
    return None


class AuditCsvView(_NvrView):
    """The audit trail of some local days as CSV (administrators only)."""

    url = AUDIT_CSV_ROUTE
    name = f"api:{DOMAIN}:audit_csv"

    async def get(self, request: web.Request) -> web.Response:
        """Return the selection ``cctv_nvr/audit`` shows, as a spreadsheet file."""
        if not self._access(request).caller.admin:
            raise web.HTTPForbidden
        try:
            first = date.fromisoformat(request.query["from"])
            last = date.fromisoformat(request.query.get("to", request.query["from"]))
            since, until = day_range(first, last, ZoneInfo(self.hass.config.time_zone))
        except (KeyError, ValueError, HomeAssistantError) as err:
            raise web.HTTPBadRequest from err
        index = self.hass.data[DATA_NVR].index
        user_id, camera = request.query.get("user_id"), request.query.get("camera")
        text = await self.hass.async_add_executor_job(
            lambda: to_csv(index.audit.find(since, until, user_id=user_id, camera=camera))
        )
        return web.Response(
            text=text,
            content_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="cctv-audit-{first}-{last}.csv"'
            },
        )
