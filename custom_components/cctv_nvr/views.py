"""HTTP views: HLS playback over stored segments, raw segments and exports with Range.

Every view requires Home Assistant authentication or a valid signed path
(`async_sign_path`); the user must be allowed to read the camera's entity.
Unknown ids answer 404 without revealing any file path.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web
from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.http.const import KEY_HASS_REFRESH_TOKEN_ID, KEY_HASS_USER
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.http import HomeAssistantView

from .access import can_view
from .const import DOMAIN, HLS_MIME, MAX_PLAYLIST_SECONDS, SIGNED_URL_LIFETIME
from .coordinator import CctvNvrConfigEntry, loaded_cameras
from .data import DATA_NVR
from .engine import hls
from .engine.export import ExportError, export_range
from .engine.index import Recording, Segment, SegmentIndex
from .engine.media import ProbeError, last_keyframe_jpeg
from .urls import (
    EVENT_CLIP_ROUTE,
    EVENT_SNAPSHOT_ROUTE,
    EXPORT_ROUTE,
    INIT_ROUTE,
    MEDIA_ROUTE,
    PLAYLIST_ROUTE,
    SEGMENT_ROUTE,
    THUMBNAIL_ROUTE,
    init_path,
    media_path,
)

_LOGGER = logging.getLogger(__name__)


@callback
def async_register_views(hass: HomeAssistant) -> None:
    """Register the integration's HTTP views."""
    for view in (
        PlaylistView,
        InitView,
        MediaView,
        SegmentView,
        ExportView,
        ThumbnailView,
        EventClipView,
        EventSnapshotView,
    ):
        hass.http.register_view(view(hass))


class _NvrView(HomeAssistantView):
    """Shared checks: the camera exists and the user may see it."""

    requires_auth = True

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass

    def _camera(self, request: web.Request, camera: str) -> CctvNvrConfigEntry:
        entry = loaded_cameras(self.hass).get(camera)
        if entry is None:
            raise web.HTTPNotFound
        if not can_view(self.hass, request.get(KEY_HASS_USER), entry):
            raise web.HTTPForbidden
        return entry

    async def _segment(self, request: web.Request, segment_id: str) -> tuple[Segment, Path]:
        nvr = self.hass.data[DATA_NVR]
        segment = await self.hass.async_add_executor_job(nvr.index.segment_by_id, int(segment_id))
        if segment is None:
            raise web.HTTPNotFound
        self._camera(request, segment.camera)
        path = _inside(nvr.root, segment.path)
        return segment, path


def _inside(root: Path, relative: str) -> Path:
    """Resolve a stored relative path; refuse anything outside the root."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise web.HTTPNotFound
    return path


class PlaylistView(_NvrView):
    """An HLS VOD playlist of a camera's footage between two moments."""

    url = PLAYLIST_ROUTE
    name = f"api:{DOMAIN}:playlist"

    async def get(self, request: web.Request, camera: str, start: str, end: str) -> web.Response:
        """Return the playlist; its segment URLs are signed for the same user."""
        self._camera(request, camera)
        begin, finish = int(start), int(end)
        if not 0 < finish - begin <= MAX_PLAYLIST_SECONDS:
            raise web.HTTPBadRequest
        nvr = self.hass.data[DATA_NVR]
        segments = await self.hass.async_add_executor_job(
            nvr.index.segments, camera, float(begin), float(finish)
        )
        if not segments:
            raise web.HTTPNotFound
        token = request.get(KEY_HASS_REFRESH_TOKEN_ID)

        def sign(path: str) -> str:
            return async_sign_path(self.hass, path, SIGNED_URL_LIFETIME, refresh_token_id=token)

        text = hls.build_playlist(
            segments,
            float(begin),
            float(finish),
            lambda seg: sign(init_path(seg.row_id)),
            lambda seg, offset: sign(media_path(seg.row_id, offset)),
        )
        return web.Response(text=text, content_type=HLS_MIME, headers={"Cache-Control": "no-cache"})


class InitView(_NvrView):
    """The initialisation section (ftyp + moov) of a segment, for EXT-X-MAP."""

    url = INIT_ROUTE
    name = f"api:{DOMAIN}:init"

    async def get(self, request: web.Request, segment_id: str) -> web.Response:
        """Return the init bytes."""
        _segment, path = await self._segment(request, segment_id)
        data = await self.hass.async_add_executor_job(_read_or_none, hls.init_bytes, path)
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="video/mp4")


class MediaView(_NvrView):
    """The media fragments of a segment, shifted onto the playlist's timeline."""

    url = MEDIA_ROUTE
    name = f"api:{DOMAIN}:media"

    async def get(self, request: web.Request, segment_id: str, offset_ms: str) -> web.Response:
        """Return the moof/mdat bytes with shifted decode times."""
        _segment, path = await self._segment(request, segment_id)
        data = await self.hass.async_add_executor_job(
            _read_or_none, hls.media_bytes, path, int(offset_ms) / 1000
        )
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="video/iso.segment")


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
        _segment, path = await self._segment(request, segment_id)
        if not await self.hass.async_add_executor_job(path.is_file):
            raise web.HTTPNotFound
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


class ExportView(_NvrView):
    """An exported clip (download, seeking with Range)."""

    url = EXPORT_ROUTE
    name = f"api:{DOMAIN}:export"

    async def get(self, request: web.Request, export_id: str) -> web.StreamResponse:
        """Serve the export file."""
        nvr = self.hass.data[DATA_NVR]
        export = await self.hass.async_add_executor_job(nvr.index.exports.get, int(export_id))
        if export is None:
            raise web.HTTPNotFound
        self._camera_or_admin(request, export.camera)
        path = _inside(nvr.exports, export.path)
        if not await self.hass.async_add_executor_job(path.is_file):
            raise web.HTTPNotFound
        filename = Path(export.path).name
        return web.FileResponse(
            path,
            headers={
                "Content-Type": "video/mp4",
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )

    def _camera_or_admin(self, request: web.Request, camera: str) -> None:
        user = request.get(KEY_HASS_USER)
        if camera in loaded_cameras(self.hass):
            self._camera(request, camera)
        elif user is None or not user.is_admin:
            raise web.HTTPNotFound


class ThumbnailView(_NvrView):
    """One frame near a moment of a camera's footage (generated lazily, cached)."""

    url = THUMBNAIL_ROUTE
    name = f"api:{DOMAIN}:thumbnail"

    async def get(self, request: web.Request, camera: str, moment: str) -> web.Response:
        """Return a small JPEG of the keyframe nearest after the moment."""
        self._camera(request, camera)
        nvr = self.hass.data[DATA_NVR]
        at = float(moment)
        cache = nvr.thumbnails / camera / f"{int(at)}.jpg"
        data = await self.hass.async_add_executor_job(
            _thumbnail, nvr.index, nvr.root, cache, camera, at
        )
        if data is None:
            raise web.HTTPNotFound
        return web.Response(
            body=data,
            content_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=86400"},
        )


def _thumbnail(
    index: SegmentIndex, root: Path, cache: Path, camera: str, at: float
) -> bytes | None:
    if cache.is_file():
        return cache.read_bytes()
    segments = index.segments(camera, at, at + 3600)
    for segment in segments[:3]:
        try:
            data = last_keyframe_jpeg(_inside(root, segment.path), width=320)
        except ProbeError, OSError, web.HTTPNotFound:
            continue
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(data)
        return data
    return None


# -- saved events: clip and snapshot for notifications ---------------------------------
#
# Links to these are signed for the integration's read-only content user with the
# camera's notification link lifetime (see events.notification_links): a companion
# app fetches them without a session, and each signature is valid for its path only.


class _EventView(_NvrView):
    async def _event(self, request: web.Request, recording_id: str) -> Recording:
        nvr = self.hass.data[DATA_NVR]
        recording = await self.hass.async_add_executor_job(
            nvr.index.recordings.get, int(recording_id)
        )
        if recording is None or recording.end is None:
            raise web.HTTPNotFound
        self._camera(request, recording.camera)
        return recording


class EventClipView(_EventView):
    """An event's range as one MP4 (remuxed once from the stored segments, then cached)."""

    url = EVENT_CLIP_ROUTE
    name = f"api:{DOMAIN}:event_clip"

    async def get(self, request: web.Request, recording_id: str) -> web.StreamResponse:
        """Serve the clip; Range requests are answered with 206."""
        recording = await self._event(request, recording_id)
        assert recording.end is not None  # noqa: S101
        nvr = self.hass.data[DATA_NVR]
        segments = await self.hass.async_add_executor_job(
            nvr.index.segments, recording.camera, recording.start, recording.end
        )
        if not segments:
            raise web.HTTPNotFound
        # The name holds the footage's end: a clip cut before the last segment was
        # indexed is built again once it is.
        covered = min(segments[-1].end, recording.end)
        cache = (
            nvr.thumbnails
            / "events"
            / recording.camera
            / f"{recording.id}-{round(recording.start * 1000)}-{round(covered * 1000)}.mp4"
        )
        entry = loaded_cameras(self.hass)[recording.camera]
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
        return web.FileResponse(cache, headers={"Content-Type": "video/mp4"})


class EventSnapshotView(_EventView):
    """A JPEG of an event: the last keyframe of the segment at the middle of its range."""

    url = EVENT_SNAPSHOT_ROUTE
    name = f"api:{DOMAIN}:event_snapshot"

    async def get(self, request: web.Request, recording_id: str) -> web.Response:
        """Return the snapshot (cached after the first request)."""
        recording = await self._event(request, recording_id)
        assert recording.end is not None  # noqa: S101
        nvr = self.hass.data[DATA_NVR]
        cache = nvr.thumbnails / "events" / recording.camera / f"{recording.id}.jpg"
        data = await self.hass.async_add_executor_job(
            _event_snapshot, nvr.index, nvr.root, cache, recording
        )
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="image/jpeg")


def _event_snapshot(
    index: SegmentIndex, root: Path, cache: Path, recording: Recording
) -> bytes | None:
    if cache.is_file():
        return cache.read_bytes()
    assert recording.end is not None  # noqa: S101
    middle = (recording.start + recording.end) / 2
    segments = index.segments(recording.camera, recording.start, recording.end)
    segments.sort(key=lambda seg: abs((seg.start + seg.end) / 2 - middle))
    for segment in segments[:3]:
        try:
            data = last_keyframe_jpeg(_inside(root, segment.path))
        except ProbeError, OSError, web.HTTPNotFound:
            continue
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(data)
        return data
    return None
