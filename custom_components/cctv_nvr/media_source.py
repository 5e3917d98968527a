"""Media browser: CCTV NVR → camera → day → hour → items, in Home Assistant's time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
import time
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

from .access import loaded_cameras, visible_cameras
from .const import DOMAIN
from .data import DATA_NVR, CctvNvrConfigEntry
from .engine.index import Recording, SegmentIndex
from .views import HLS_MIME, export_path, playlist_path, thumbnail_path

MAX_GAP = 1.0


async def async_get_media_source(hass: HomeAssistant) -> CctvNvrMediaSource:
    """Return the integration's media source."""
    return CctvNvrMediaSource(hass)


def _local_hours(day: date, zone: ZoneInfo) -> list[datetime]:
    """Return the starts (aware, UTC) of a local day's hours: 23, 24 or 25 of them."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    first = start.astimezone(ZoneInfo("UTC"))
    count = round((end.timestamp() - start.timestamp()) / 3600)
    return [first + timedelta(hours=h) for h in range(count)]


def _hour_title(moment: datetime, zone: ZoneInfo, repeated: bool) -> str:
    local = moment.astimezone(zone)
    title = f"{local:%H}:00 - {local:%H}:59"
    if repeated:  # the hour that happens twice when clocks go back
        title += f" (UTC{local:%z}"[:-2] + ":" + f"{local:%z}"[-2:] + ")"
    return title


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
    def _cameras(self) -> dict[str, CctvNvrConfigEntry]:
        connection = current_connection.get()
        if connection is None:
            return loaded_cameras(self.hass)
        return visible_cameras(self.hass, connection.user)

    def _camera(self, key: str) -> CctvNvrConfigEntry:
        entry = self._cameras().get(key)
        if entry is None:
            raise BrowseError(f"Unknown camera: {key}")
        return entry

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """Return a playback URL (Home Assistant signs it for the requesting user)."""
        parts = item.identifier.split("/")
        try:
            if parts[0] == "play" and len(parts) == 4:  # noqa: PLR2004
                _, camera, start, end = parts
                if camera not in self._cameras():
                    raise Unresolvable(f"Unknown camera: {camera}")
                return PlayMedia(playlist_path(camera, int(start), int(end)), HLS_MIME)
            if parts[0] == "export" and len(parts) == 2:  # noqa: PLR2004
                export = await self.hass.async_add_executor_job(
                    self.hass.data[DATA_NVR].index.get_export, int(parts[1])
                )
                if export is not None:
                    return PlayMedia(export_path(export.id), "video/mp4")
        except ValueError:
            pass
        raise Unresolvable(f"Unknown item: {item.identifier}")

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """Browse the tree."""
        parts = item.identifier.split("/") if item.identifier else []
        try:
            if not parts:
                return self._root()
            if parts[0] == "camera" and len(parts) == 2:  # noqa: PLR2004
                return await self._days(parts[1])
            if parts[0] == "day" and len(parts) == 3:  # noqa: PLR2004
                return await self._hours(parts[1], date.fromisoformat(parts[2]))
            if parts[0] == "hour" and len(parts) == 3:  # noqa: PLR2004
                return await self._hour(parts[1], int(parts[2]))
            if parts == ["exports"]:
                return await self._exports()
        except ValueError as err:
            raise BrowseError(f"Unknown item: {item.identifier}") from err
        raise BrowseError(f"Unknown item: {item.identifier}")

    def _folder(
        self, identifier: str | None, title: str, children: list[BrowseMediaSource] | None = None
    ) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
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
            self._folder(f"camera/{key}", entry.title)
            for key, entry in sorted(self._cameras().items(), key=lambda kv: kv[1].title)
        ]
        children.append(self._folder("exports", "Exports"))
        return self._folder(None, "CCTV NVR", children)

    async def _days(self, camera: str) -> BrowseMediaSource:
        entry = self._camera(camera)
        index = self.hass.data[DATA_NVR].index
        zone = self._zone
        days = await self.hass.async_add_executor_job(_days_with_footage, index, camera, zone)
        children = [
            self._folder(f"day/{camera}/{day.isoformat()}", f"{day:%A %d %B %Y}") for day in days
        ]
        return self._folder(f"camera/{camera}", entry.title, children)

    async def _hours(self, camera: str, day: date) -> BrowseMediaSource:
        entry = self._camera(camera)
        index = self.hass.data[DATA_NVR].index
        zone = self._zone
        hours = _local_hours(day, zone)
        found = await self.hass.async_add_executor_job(_hours_with_footage, index, camera, hours)
        labels = [moment.astimezone(zone).hour for moment in hours]
        children = [
            self._folder(
                f"hour/{camera}/{int(moment.timestamp())}",
                _hour_title(moment, zone, labels.count(moment.astimezone(zone).hour) > 1),
            )
            for moment in found
        ]
        return self._folder(f"day/{camera}/{day.isoformat()}", f"{entry.title} · {day}", children)

    async def _hour(self, camera: str, start: int) -> BrowseMediaSource:
        entry = self._camera(camera)
        index = self.hass.data[DATA_NVR].index
        zone = self._zone
        spans, recordings = await self.hass.async_add_executor_job(
            _hour_contents, index, camera, float(start)
        )
        children = []
        if spans:
            first, last = int(spans[0][0]), int(spans[-1][1]) + 1
            recorded = sum(b - a for a, b in spans)
            local = datetime.fromtimestamp(start, zone)
            children.append(
                self._playable(
                    f"play/{camera}/{first}/{last}",
                    f"{local:%H}:00 - {local:%H}:59 · {int(recorded // 60)} min recorded",
                    camera,
                    first,
                )
            )
        for recording in recordings:
            begin = int(recording.start)
            finish = int(recording.end or (start + 3600)) + 1
            local = datetime.fromtimestamp(begin, zone)
            label = recording.label or recording.kind
            children.append(
                self._playable(
                    f"play/{camera}/{begin}/{finish}", f"{label} · {local:%H:%M:%S}", camera, begin
                )
            )
        local = datetime.fromtimestamp(start, zone)
        return self._folder(
            f"hour/{camera}/{start}", f"{entry.title} · {local:%Y-%m-%d %H}:00", children
        )

    def _playable(self, identifier: str, title: str, camera: str, moment: int) -> BrowseMediaSource:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier,
            media_class=MediaClass.VIDEO,
            media_content_type="video/mp4",
            title=title,
            can_play=True,
            can_expand=False,
            thumbnail=thumbnail_path(camera, moment),
        )

    async def _exports(self) -> BrowseMediaSource:
        index = self.hass.data[DATA_NVR].index
        cameras = self._cameras()
        connection = current_connection.get()
        admin = connection is None or connection.user.is_admin
        exports = await self.hass.async_add_executor_job(index.list_exports)
        zone = self._zone
        children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"export/{export.id}",
                media_class=MediaClass.VIDEO,
                media_content_type="video/mp4",
                title=f"{export.name} · {_local(export.start, zone):%Y-%m-%d %H:%M}",
                can_play=True,
                can_expand=False,
            )
            for export in exports
            if export.camera in cameras or admin
        ]
        return self._folder("exports", "Exports", children)


def _local(moment: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(moment, zone)


def _days_with_footage(index: SegmentIndex, camera: str, zone: ZoneInfo) -> list[date]:
    """Return the local days with footage, newest first (one index seek per hour with footage)."""
    first = index.first_start(camera)
    if first is None:
        return []
    begin = _local_hours(datetime.fromtimestamp(first, zone).date(), zone)[0].timestamp()
    hours = index.bucket_starts(camera, begin, time.time() + 3600, 3600, origin=begin)
    days = {datetime.fromtimestamp(hour, zone).date() for hour in hours}
    return sorted(days, reverse=True)


def _hours_with_footage(index: SegmentIndex, camera: str, hours: list[datetime]) -> list[datetime]:
    begin = hours[0].timestamp()
    found = set(index.bucket_starts(camera, begin, begin + 3600 * len(hours), 3600, origin=begin))
    return [moment for moment in hours if moment.timestamp() in found]


def _hour_contents(
    index: SegmentIndex, camera: str, start: float
) -> tuple[list[tuple[float, float]], list[Recording]]:
    spans = index.coverage(camera, start, start + 3600, MAX_GAP)
    recordings = index.recordings(camera, start, start + 3600)
    return spans, recordings
