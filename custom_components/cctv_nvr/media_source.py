"""Media browser: CCTV NVR → camera → day → hour → items, in Home Assistant's time zone.

Identifiers are ``urls.MediaId``. Browsing and resolving ask ``access`` which cameras
the user of the current WebSocket connection may watch; calls without a connection
(automations, scripts) see every camera.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
import time
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.media_player.const import MediaClass
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.components.websocket_api.connection import current_connection
from homeassistant.core import HomeAssistant, callback

from .access import SYSTEM, Access, AccessDenied, Right, async_access, caller_of
from .const import DOMAIN, HLS_MIME, MAX_GAP
from .coordinator import CctvNvrConfigEntry
from .data import DATA_NVR
from .engine.timeline import days_with_footage, hour_contents, hours_with_footage, local_hours
from .urls import MediaId, MediaKind, export_path, playlist_auto_path, thumbnail_path


async def async_get_media_source(hass: HomeAssistant) -> CctvNvrMediaSource:
    """Return the integration's media source."""
    return CctvNvrMediaSource(hass)


def _hour_title(moment: datetime, zone: ZoneInfo, repeated: bool) -> str:
    local = moment.astimezone(zone)
    title = f"{local:%H}:00 - {local:%H}:59"
    if repeated:  # the hour that happens twice when clocks go back
        title += f" (UTC{local:%z}"[:-2] + ":" + f"{local:%z}"[-2:] + ")"
    return title


def _unknown_item(identifier: str | None) -> dict[str, Any]:
    """Return the translated error fields of an identifier that names nothing."""
    return {
        "translation_domain": DOMAIN,
        "translation_key": "unknown_media",
        "translation_placeholders": {"identifier": identifier or ""},
    }


class CctvNvrMediaSource(MediaSource):
    """Recorded footage and exports."""

    name = "CCTV NVR"

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the media source."""
        super().__init__(DOMAIN)
        self.hass = hass

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.hass.config.time_zone)

    @callback
    def _access(self) -> Access:
        """Return what the user of the current WebSocket connection may see.

        Without a connection (an automation or a script) the system asks.
        """
        connection = current_connection.get()
        if connection is None:
            return async_access(self.hass, SYSTEM)
        caller = caller_of(self.hass, connection.user)
        if caller is None:
            raise AccessDenied
        return async_access(self.hass, caller)

    def _cameras(self) -> dict[str, CctvNvrConfigEntry]:
        return self._access().cameras(Right.RECORDINGS)

    def _visible(self, camera: str, start: float, end: float) -> list[tuple[float, float]]:
        access = self._access()
        return access.policy.visible(access.caller, camera, start, end, time.time())

    def _camera(self, key: str) -> CctvNvrConfigEntry:
        entry = self._cameras().get(key)
        if entry is None:
            raise BrowseError(
                translation_domain=DOMAIN,
                translation_key="camera_not_found",
                translation_placeholders={"camera": key},
            )
        return entry

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """Return a playback URL (Home Assistant signs it for the requesting user)."""
        try:
            media = MediaId.parse(item.identifier)
        except ValueError:
            media = MediaId.root()  # resolves to nothing
        match media:
            case MediaId(kind=MediaKind.PLAY, camera=str(camera), start=int(start), end=int(end)):
                if camera not in self._cameras():
                    raise Unresolvable(
                        translation_domain=DOMAIN,
                        translation_key="camera_not_found",
                        translation_placeholders={"camera": camera},
                    )
                # The playlist request's User-Agent picks stored H.265 or its H.264
                # rendition (``renditions.client_decodes_hevc``); H.264 plays as stored.
                return PlayMedia(playlist_auto_path(camera, start, end), HLS_MIME)
            case MediaId(kind=MediaKind.EXPORT, export_id=int(export_id)):
                export = await self.hass.async_add_executor_job(
                    self.hass.data[DATA_NVR].index.exports.get, export_id
                )
                if export is not None and self._access().may_see_export(export, time.time()):
                    return PlayMedia(export_path(export.id), "video/mp4")
        raise Unresolvable(**_unknown_item(item.identifier))

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """Browse the tree."""
        try:
            media = MediaId.parse(item.identifier)
        except ValueError as err:
            raise BrowseError(**_unknown_item(item.identifier)) from err
        match media:
            case MediaId(kind=MediaKind.ROOT):
                return self._root()
            case MediaId(kind=MediaKind.CAMERA, camera=str(camera)):
                return await self._days(camera)
            case MediaId(kind=MediaKind.DAY, camera=str(camera), day=date() as day):
                return await self._hours(camera, day)
            case MediaId(kind=MediaKind.HOUR, camera=str(camera), start=int(start)):
                return await self._hour(camera, start)
            case MediaId(kind=MediaKind.EXPORTS):
                return await self._exports()
        raise BrowseError(**_unknown_item(item.identifier))

    def _folder(
        self, media: MediaId, title: str, children: list[BrowseMediaSource] | None = None
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=media.identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type="",
            title=title,
            can_play=False,
            can_expand=True,
            children=children,
            children_media_class=MediaClass.VIDEO,
        )

    def _root(self) -> BrowseMediaSource:
        children = [
            self._folder(MediaId.for_camera(key), entry.title)
            for key, entry in sorted(self._cameras().items(), key=lambda kv: kv[1].title)
        ]
        children.append(self._folder(MediaId.exports(), "Exports"))
        return self._folder(MediaId.root(), "CCTV NVR", children)

    async def _days(self, camera: str) -> BrowseMediaSource:
        entry = self._camera(camera)
        index = self.hass.data[DATA_NVR].index
        access = self._access()
        policy, caller, now = access.policy, access.caller, time.time()
        days = await self.hass.async_add_executor_job(
            days_with_footage,
            index,
            camera,
            self._zone,
            lambda start, end: policy.visible(caller, camera, start, end, now),
        )
        children = [
            self._folder(MediaId.for_day(camera, day), f"{day:%A %d %B %Y}") for day in days
        ]
        return self._folder(MediaId.for_camera(camera), entry.title, children)

    async def _hours(self, camera: str, day: date) -> BrowseMediaSource:
        entry = self._camera(camera)
        index = self.hass.data[DATA_NVR].index
        zone = self._zone
        hours = local_hours(day, zone)
        visible = self._visible(camera, hours[0].timestamp(), hours[-1].timestamp() + 3600)
        found = await self.hass.async_add_executor_job(
            hours_with_footage, index, camera, hours, visible
        )
        labels = [moment.astimezone(zone).hour for moment in hours]
        children = [
            self._folder(
                MediaId.for_hour(camera, int(moment.timestamp())),
                _hour_title(moment, zone, labels.count(moment.astimezone(zone).hour) > 1),
            )
            for moment in found
        ]
        return self._folder(MediaId.for_day(camera, day), f"{entry.title} · {day}", children)

    async def _hour(self, camera: str, start: int) -> BrowseMediaSource:
        entry = self._camera(camera)
        index = self.hass.data[DATA_NVR].index
        zone = self._zone
        contents = await self.hass.async_add_executor_job(
            partial(
                hour_contents,
                index,
                camera,
                float(start),
                MAX_GAP,
                self._visible(camera, float(start), float(start) + 3600),
            )
        )
        children = []
        spans = contents.spans
        if spans:
            first, last = int(spans[0][0]), int(spans[-1][1]) + 1
            recorded = sum(b - a for a, b in spans)
            local = datetime.fromtimestamp(start, zone)
            children.append(
                self._playable(
                    MediaId.for_range(camera, first, last),
                    f"{local:%H}:00 - {local:%H}:59 · {int(recorded // 60)} min recorded",
                    thumbnail_path(camera, first),
                )
            )
        for recording in contents.recordings:
            begin = int(recording.start)
            finish = int(recording.end or (start + 3600)) + 1
            local = datetime.fromtimestamp(begin, zone)
            label = recording.label or recording.kind
            children.append(
                self._playable(
                    MediaId.for_range(camera, begin, finish),
                    f"{label} · {local:%H:%M:%S}",
                    thumbnail_path(camera, begin),
                )
            )
        local = datetime.fromtimestamp(start, zone)
        return self._folder(
            MediaId.for_hour(camera, start), f"{entry.title} · {local:%Y-%m-%d %H}:00", children
        )

    def _playable(
        self, media: MediaId, title: str, thumbnail: str | None = None
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=media.identifier,
            media_class=MediaClass.VIDEO,
            media_content_type="video/mp4",
            title=title,
            can_play=True,
            can_expand=False,
            thumbnail=thumbnail,
        )

    async def _exports(self) -> BrowseMediaSource:
        index = self.hass.data[DATA_NVR].index
        access = self._access()
        now = time.time()
        exports = await self.hass.async_add_executor_job(index.exports.newest_first)
        zone = self._zone
        children = [
            self._playable(
                MediaId.for_export(export.id),
                f"{export.name} · {datetime.fromtimestamp(export.start, zone):%Y-%m-%d %H:%M}",
            )
            for export in exports
            if access.may_see_export(export, now)
        ]
        return self._folder(MediaId.exports(), "Exports", children)
