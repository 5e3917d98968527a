"""Every URL and media-source id of the integration: built and parsed here, nowhere else.

Each HTTP route (the pattern ``views.py`` registers) sits beside the function that
builds its paths, so the two cannot drift apart. Paths are unsigned: callers sign them
(``async_sign_path``) for the user who will fetch them. ``MediaId`` is the identifier of
an item of the media browser; it builds and parses the identifier strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
import re
from typing import Final, Self
from urllib.parse import urlencode

from .const import DOMAIN, URL_BASE

# -- HTTP routes and their paths ------------------------------------------------------------

PLAYLIST_ROUTE: Final = URL_BASE + "/playlist/{camera}/{start:\\d+}-{end:\\d+}.m3u8"
# The media browser's: the request's User-Agent picks stored H.265 or its H.264 rendition (a
# path of its own: Home Assistant does not sign media URLs that carry a query).
PLAYLIST_AUTO_ROUTE: Final = URL_BASE + "/playlist/{camera}/{start:\\d+}-{end:\\d+}/auto.m3u8"
INIT_ROUTE: Final = URL_BASE + "/init/{segment_id:\\d+}.mp4"
MEDIA_ROUTE: Final = URL_BASE + "/media/{segment_id:\\d+}/{offset_ms:-?\\d+}.m4s"
SEGMENT_ROUTE: Final = URL_BASE + "/segment/{segment_id:\\d+}.mp4"
EXPORT_ROUTE: Final = URL_BASE + "/export/{export_id:\\d+}.mp4"
THUMBNAIL_ROUTE: Final = URL_BASE + "/thumbnail/{camera}/{moment:\\d+}.jpg"
EVENT_CLIP_ROUTE: Final = URL_BASE + "/event/{recording_id:\\d+}/clip.mp4"
EVENT_SNAPSHOT_ROUTE: Final = URL_BASE + "/event/{recording_id:\\d+}/snapshot.jpg"
AUDIT_CSV_ROUTE: Final = URL_BASE + "/audit.csv"
RENDITION_INIT_ROUTE: Final = (
    URL_BASE + "/rendition/{segment_id:\\d+}/{part:all|t?\\d+-\\d+}/init.mp4"
)
RENDITION_MEDIA_ROUTE: Final = (
    URL_BASE + "/rendition/{segment_id:\\d+}/{part:all|t?\\d+-\\d+}/{offset_ms:-?\\d+}.m4s"
)
LIVE_PLAYLIST_ROUTE: Final = URL_BASE + "/live/{camera}/live.m3u8"
LIVE_INIT_ROUTE: Final = URL_BASE + "/live/{camera}/init/{version:\\d+}.mp4"
LIVE_FRAGMENT_ROUTE: Final = URL_BASE + "/live/{camera}/{sequence:\\d+}.m4s"
LIVE_RENDITION_INIT_ROUTE: Final = URL_BASE + "/live/{camera}/h264/init/{sequence:\\d+}.mp4"
LIVE_RENDITION_FRAGMENT_ROUTE: Final = URL_BASE + "/live/{camera}/h264/{sequence:\\d+}.m4s"


def playlist_path(camera: str, start: int, end: int) -> str:
    """Return the path of the HLS playlist of a camera's footage in [start, end)."""
    return f"{URL_BASE}/playlist/{camera}/{start}-{end}.m3u8"


def playlist_auto_path(camera: str, start: int, end: int) -> str:
    """Return the path of a playlist whose requester's User-Agent picks stored or H.264."""
    return f"{URL_BASE}/playlist/{camera}/{start}-{end}/auto.m3u8"


def init_path(segment_id: int) -> str:
    """Return the path of a segment's initialisation section (EXT-X-MAP)."""
    return f"{URL_BASE}/init/{segment_id}.mp4"


def media_path(segment_id: int, offset_seconds: float) -> str:
    """Return the path of a segment's fragments shifted by an offset onto a playlist."""
    return f"{URL_BASE}/media/{segment_id}/{round(offset_seconds * 1000)}.m4s"


def rendition_init_path(segment_id: int, part: str) -> str:
    """Return the path of the init section of a part's H.264 rendition (``all`` or a piece).

    A piece: ``t<first ms>-<stop ms>`` (cut by time) or ``<first>-<stop>`` (fragments).
    """
    return f"{URL_BASE}/rendition/{segment_id}/{part}/init.mp4"


def rendition_media_path(segment_id: int, part: str, offset_seconds: float) -> str:
    """Return the path of a part's H.264 rendition, moved by an offset onto a playlist."""
    return f"{URL_BASE}/rendition/{segment_id}/{part}/{round(offset_seconds * 1000)}.m4s"


def segment_path(segment_id: int) -> str:
    """Return the path of a stored segment file as it is."""
    return f"{URL_BASE}/segment/{segment_id}.mp4"


def export_path(export_id: int) -> str:
    """Return the download path of an export."""
    return f"{URL_BASE}/export/{export_id}.mp4"


def thumbnail_path(camera: str, moment: int) -> str:
    """Return the path of a thumbnail of a camera's footage near a moment."""
    return f"{URL_BASE}/thumbnail/{camera}/{moment}.jpg"


def event_clip_path(recording_id: int) -> str:
    """Return the path of an event's MP4 clip."""
    return f"{URL_BASE}/event/{recording_id}/clip.mp4"


def event_snapshot_path(recording_id: int) -> str:
    """Return the path of an event's JPEG snapshot."""
    return f"{URL_BASE}/event/{recording_id}/snapshot.jpg"


def live_playlist_path(camera: str) -> str:
    """Return the path of a camera's live HLS playlist (from the recording being written)."""
    return f"{URL_BASE}/live/{camera}/live.m3u8"


def live_init_path(camera: str, version: int) -> str:
    """Return the path of a version of a camera's live initialisation section."""
    return f"{URL_BASE}/live/{camera}/init/{version}.mp4"


def live_fragment_path(camera: str, sequence: int) -> str:
    """Return the path of a camera's live fragment by its media sequence number."""
    return f"{URL_BASE}/live/{camera}/{sequence}.m4s"


def live_rendition_init_path(camera: str, sequence: int) -> str:
    """Return the path of the init section of a live fragment's H.264 rendition."""
    return f"{URL_BASE}/live/{camera}/h264/init/{sequence}.mp4"


def live_rendition_fragment_path(camera: str, sequence: int) -> str:
    """Return the path of a live fragment's H.264 rendition (on the live timeline)."""
    return f"{URL_BASE}/live/{camera}/h264/{sequence}.m4s"


def audit_csv_path(first: date, last: date, user_id: str | None, camera: str | None) -> str:
    """Return the path of the audit trail of local days first to last as CSV."""
    query = {"from": first.isoformat(), "to": last.isoformat()}
    if user_id:
        query["user_id"] = user_id
    if camera:
        query["camera"] = camera
    return f"{URL_BASE}/audit.csv?{urlencode(query)}"


# -- media-source identifiers ---------------------------------------------------------------

MEDIA_SOURCE_PREFIX: Final = f"media-source://{DOMAIN}"
_CAMERA_KEY = re.compile(r"^[a-z0-9_]+$")  # storage keys are slugs


class MediaKind(StrEnum):
    """What a media-source item is."""

    ROOT = ""
    CAMERA = "camera"  # camera/<camera>: its days
    DAY = "day"  # day/<camera>/<YYYY-MM-DD>: its hours (local time)
    HOUR = "hour"  # hour/<camera>/<epoch>: the hour's footage and recordings
    PLAY = "play"  # play/<camera>/<start>/<end>: footage in a range (HLS)
    EXPORTS = "exports"  # exports: the exported clips
    EXPORT = "export"  # export/<id>: one exported clip (MP4)


@dataclass(frozen=True, slots=True)
class MediaId:
    """The identifier of an item of the integration's media source."""

    kind: MediaKind
    camera: str | None = None
    day: date | None = None
    start: int | None = None  # epoch seconds (hour start, or range start)
    end: int | None = None  # epoch seconds (range end)
    export_id: int | None = None

    @classmethod
    def root(cls) -> Self:
        """Return the top of the tree."""
        return cls(MediaKind.ROOT)

    @classmethod
    def for_camera(cls, camera: str) -> Self:
        """Return a camera's folder of days."""
        return cls(MediaKind.CAMERA, camera=camera)

    @classmethod
    def for_day(cls, camera: str, day: date) -> Self:
        """Return a camera's local day."""
        return cls(MediaKind.DAY, camera=camera, day=day)

    @classmethod
    def for_hour(cls, camera: str, start: int) -> Self:
        """Return the hour of a camera's footage that starts at ``start``."""
        return cls(MediaKind.HOUR, camera=camera, start=start)

    @classmethod
    def for_range(cls, camera: str, start: int, end: int) -> Self:
        """Return a playable range of a camera's footage."""
        return cls(MediaKind.PLAY, camera=camera, start=start, end=end)

    @classmethod
    def exports(cls) -> Self:
        """Return the folder of exports."""
        return cls(MediaKind.EXPORTS)

    @classmethod
    def for_export(cls, export_id: int) -> Self:
        """Return one export."""
        return cls(MediaKind.EXPORT, export_id=export_id)

    @classmethod
    def parse(cls, identifier: str | None) -> Self:
        """Return the id an identifier string names; raise ValueError when it names none."""
        if not identifier:
            return cls.root()
        kind, *rest = identifier.split("/")
        media: Self | None = None
        match MediaKind(kind), rest:
            case MediaKind.CAMERA, [camera]:
                media = cls.for_camera(_camera(camera))
            case MediaKind.DAY, [camera, day]:
                media = cls.for_day(_camera(camera), date.fromisoformat(day))
            case MediaKind.HOUR, [camera, start]:
                media = cls.for_hour(_camera(camera), _number(start))
            case MediaKind.PLAY, [camera, start, end]:
                media = cls.for_range(_camera(camera), _number(start), _number(end))
            case MediaKind.EXPORTS, []:
                media = cls.exports()
            case MediaKind.EXPORT, [export_id]:
                media = cls.for_export(_number(export_id))
        if media is None:
            raise ValueError(f"not a {DOMAIN} media id: {identifier}")
        return media

    def __str__(self) -> str:
        """Return the identifier string (the part after ``media-source://cctv_nvr/``)."""
        match self.kind:
            case MediaKind.CAMERA:
                parts = [self.camera]
            case MediaKind.DAY:
                parts = [self.camera, self.day.isoformat() if self.day else None]
            case MediaKind.HOUR:
                parts = [self.camera, _text(self.start)]
            case MediaKind.PLAY:
                parts = [self.camera, _text(self.start), _text(self.end)]
            case MediaKind.EXPORT:
                parts = [_text(self.export_id)]
            case _:
                parts = []
        return (
            "/".join([self.kind.value, *(part or "" for part in parts)])
            if parts
            else str(self.kind.value)
        )

    @property
    def identifier(self) -> str | None:
        """Return the identifier as the media source takes it (None for the root)."""
        return str(self) or None

    @property
    def uri(self) -> str:
        """Return the full media-source URI (``media-source://cctv_nvr/...``)."""
        return f"{MEDIA_SOURCE_PREFIX}/{self}"


def _camera(value: str) -> str:
    if not _CAMERA_KEY.match(value):
        raise ValueError(f"not a camera key: {value!r}")
    return value


def _number(value: str) -> int:
    if not value.isdigit() or len(value) > 15:  # noqa: PLR2004 - beyond any epoch or row id
        raise ValueError(f"not a number: {value!r}")
    return int(value)


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)
