"""Cameras and their footage: the camera list, a day's timeline, a playback URL."""

from __future__ import annotations

from functools import partial
import time
from zoneinfo import ZoneInfo

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio as vol

from ..access import visible_cameras
from ..const import (
    DOMAIN,
    MAX_GAP,
    MAX_PLAYLIST_SECONDS,
    MAX_TIMELINE_SECONDS,
    SIGNED_URL_LIFETIME,
)
from ..coordinator import CctvNvrConfigEntry
from ..engine.timeline import day_bounds, timeline
from ..urls import playlist_path
from ..util import camera_entity_id, checked_range
from .helpers import CAMERA, DATE, END, MOMENT, RANGE, START, Message, sign, with_camera


@websocket_command({vol.Required("type"): f"{DOMAIN}/cameras"})
@callback
def ws_cameras(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """List the cameras the user may watch, with their live state."""
    cameras = []
    for key, entry in sorted(
        visible_cameras(hass, connection.user).items(), key=lambda kv: kv[1].title
    ):
        coordinator = entry.runtime_data
        status = coordinator.data
        online = bool(coordinator.last_update_success and status is not None and status.online)
        cameras.append(
            {
                "id": key,
                "name": entry.title,
                "entry_id": entry.entry_id,
                "entity_id": camera_entity_id(hass, entry.entry_id),
                "online": online,
                "recording": bool(online and status is not None and status.recording),
                "continuous": coordinator.recordings.continuous,
                "manual": coordinator.recordings.manual_active,
            }
        )
    connection.send_result(
        msg["id"],
        {
            "cameras": cameras,
            "admin": connection.user.is_admin,
            "time_zone": hass.config.time_zone,
        },
    )


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/timeline",
        vol.Required(CAMERA): cv.string,
        vol.Exclusive(DATE, "when"): cv.date,
        vol.Exclusive(START, "when"): MOMENT,
        vol.Optional(END): MOMENT,
    }
)
@with_camera
async def ws_timeline(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, entry: CctvNvrConfigEntry
) -> None:
    """Return a camera's coverage, gaps and events for a local day or a range."""
    coordinator = entry.runtime_data
    status = coordinator.data
    # The open segment plus a little for ffmpeg to finish it and the index to take it.
    open_segment = (
        coordinator.recorder.config.segment_seconds * 2 + 5
        if status is not None and status.recording
        else None
    )
    if DATE in msg:
        start, end = day_bounds(msg[DATE], ZoneInfo(hass.config.time_zone))
    elif START in msg and END in msg:
        start, end = checked_range(msg[START], msg[END], MAX_TIMELINE_SECONDS, allow_future=True)
    else:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="timeline_when")
    result = await hass.async_add_executor_job(
        partial(
            timeline,
            coordinator.nvr.index,
            coordinator.camera_key,
            start,
            end,
            max_gap=MAX_GAP,
            open_segment=open_segment,
        )
    )
    connection.send_result(msg["id"], result)


@websocket_command({vol.Required("type"): f"{DOMAIN}/playback", **RANGE})
@with_camera
async def ws_playback(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, entry: CctvNvrConfigEntry
) -> None:
    """Return a signed, expiring HLS playlist URL of a camera's footage in a range."""
    start, end = checked_range(msg[START], msg[END], MAX_PLAYLIST_SECONDS)
    begin, finish = int(start), int(end) + (0 if end == int(end) else 1)
    camera = entry.runtime_data.camera_key
    segments = await hass.async_add_executor_job(
        entry.runtime_data.nvr.index.segments, camera, float(begin), float(finish)
    )
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    connection.send_result(
        msg["id"],
        {
            "url": sign(hass, connection, playlist_path(camera, begin, finish)),
            "start": begin,
            "end": finish,
            "first": segments[0].start,
            "last": segments[-1].end,
            "expires": time.time() + SIGNED_URL_LIFETIME.total_seconds(),
        },
    )
