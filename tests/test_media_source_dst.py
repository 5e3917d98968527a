"""The media browser's days have 23, 24 or 25 hours in Home Assistant's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from homeassistant.components.media_player import BrowseError
from homeassistant.components.media_source import (
    Unresolvable,
    async_browse_media,
    async_resolve_media,
)
from homeassistant.core import HomeAssistant
import pytest

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.index import Segment
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

ZONE = "Europe/Amsterdam"


def _fill_day(index, day: str) -> int:  # type: ignore[no-untyped-def]
    """Index one 60 s segment at the start of every UTC hour of a local day (rows only)."""
    zone = ZoneInfo(ZONE)
    start = datetime.fromisoformat(day).replace(tzinfo=zone).timestamp()
    end = datetime.fromisoformat(day).replace(tzinfo=zone).replace(day=int(day[-2:]) + 1)
    hours = 0
    moment = start
    while moment < end.timestamp():
        index.add_segment(
            Segment(
                camera="front_door",
                path=f"front_door/dst/{int(moment)}.mp4",
                start=moment,
                end=moment + 60,
                bytes=1000,
            )
        )
        moment += 3600
        hours += 1
    return hours


@pytest.mark.parametrize(
    ("day", "hours", "repeated"),
    [("2026-10-25", 25, "02:00"), ("2026-03-29", 23, None), ("2026-06-01", 24, None)],
)
async def test_dst_days(
    hass: HomeAssistant, simulator: CameraSimulator, day: str, hours: int, repeated: str | None
) -> None:
    """Autumn's day has 25 hours (02:00 twice, told apart), spring's 23."""
    await hass.config.async_update(time_zone=ZONE)
    await setup_camera(hass, camera_entry(simulator))
    index = hass.data[DATA_NVR].index
    assert await hass.async_add_executor_job(_fill_day, index, day) == hours
    camera = await async_browse_media(hass, f"media-source://{DOMAIN}/camera/front_door")
    assert f"media-source://{DOMAIN}/day/front_door/{day}" in [
        c.media_content_id for c in camera.children
    ]
    browsed = await async_browse_media(hass, f"media-source://{DOMAIN}/day/front_door/{day}")
    titles = [c.title for c in browsed.children]
    assert len(titles) == hours
    assert len(set(titles)) == hours  # every hour has its own label
    assert titles[0].startswith("00:00")
    assert titles[-1].startswith("23:00")
    if repeated:
        twice = [t for t in titles if t.startswith(repeated)]
        assert len(twice) == 2
        assert twice[0] != twice[1]
    if hours == 23:
        assert not any(t.startswith("02:00") for t in titles)
    # An hour opens to a playable item covering its footage.
    hour = await async_browse_media(hass, browsed.children[5].media_content_id)
    assert hour.children[0].can_play


async def test_hour_items_and_unknown_identifiers(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """An hour lists its footage and its labelled recordings; bad identifiers are refused."""
    await setup_camera(hass, camera_entry(simulator))
    index = hass.data[DATA_NVR].index
    # A camera without footage has no days (and nothing to browse into).
    camera = await async_browse_media(hass, f"media-source://{DOMAIN}/camera/front_door")
    assert camera.children == []
    start = datetime(2026, 6, 1, 10, tzinfo=ZoneInfo("UTC")).timestamp()
    await hass.async_add_executor_job(
        index.add_segments,
        [
            Segment(
                camera="front_door",
                path=f"front_door/h/{n}.mp4",
                start=start + 60 * n,
                end=start + 60 * (n + 1),
                bytes=1000,
            )
            for n in range(3)
        ],
    )
    recording = await hass.async_add_executor_job(
        index.recordings.start, "front_door", "event", "doorbell", start + 30
    )
    await hass.async_add_executor_job(index.recordings.set_end, recording, start + 90)
    hour = await async_browse_media(hass, f"media-source://{DOMAIN}/hour/front_door/{int(start)}")
    titles = [child.title for child in hour.children]
    assert len(titles) == 2, titles
    assert "3 min recorded" in titles[0]
    assert "doorbell" in titles[1]
    resolved = await async_resolve_media(hass, hour.children[1].media_content_id, None)
    assert resolved.url.startswith(f"/api/{DOMAIN}/playlist/front_door/{int(start) + 30}-")
    for identifier in ("camera/nope", "hour/front_door/soon", "day/front_door/not-a-day", "x"):
        with pytest.raises(BrowseError):
            await async_browse_media(hass, f"media-source://{DOMAIN}/{identifier}")
    for identifier in ("play/nope/1/2", "play/front_door/a/b", "export/x", "export/999", "y"):
        with pytest.raises(Unresolvable):
            await async_resolve_media(hass, f"media-source://{DOMAIN}/{identifier}", None)
