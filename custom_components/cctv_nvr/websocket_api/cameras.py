"""Cameras and their footage: the camera list, a day's timeline, playback and live URLs."""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
import time
from zoneinfo import ZoneInfo

from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio as vol

from ..access import Right
from ..cloud import footage_locations
from ..const import (
    CONF_LIVE_PANEL_ONLY,
    CONF_STREAM_INFO,
    DOMAIN,
    MAX_GAP,
    MAX_PLAYLIST_SECONDS,
    MAX_TIMELINE_SECONDS,
    SIGNED_URL_LIFETIME,
)
from ..coordinator import loaded_cameras
from ..engine.codecs import segment_codec_string
from ..engine.index import Segment
from ..engine.policy import clip
from ..engine.recorder import RecorderState
from ..engine.timeline import day_bounds, timeline
from ..engine.transcode import wants_rendition
from ..renditions import CODEC_H264, CODEC_QUERY, listed_span
from ..urls import live_playlist_path, playlist_path
from ..util import camera_entity_id, checked_range
from .helpers import (
    CAMERA,
    DATE,
    END,
    MOMENT,
    RANGE,
    START,
    CameraCall,
    Message,
    access_of,
    sign,
    with_camera,
)

HEVC = "hevc"  # whether the client decodes H.265 (MediaSource.isTypeSupported)
MAX_CODEC_PROBES = 4  # files read for the codec strings of one playback
GENERIC_HEVC = "hvc1.1.6.L93.B0"  # H.265 Main, level 3.1: asked when no file tells more


@websocket_command({vol.Required("type"): f"{DOMAIN}/cameras"})
@callback
def ws_cameras(hass: HomeAssistant, connection: ActiveConnection, msg: Message) -> None:
    """List the cameras the user has any right on, with their live state and the rights."""
    access = access_of(hass, connection)
    now = time.time()
    cameras = []
    for key, entry in sorted(loaded_cameras(hass).items(), key=lambda kv: kv[1].title):
        rights = access.rights(key)
        if not rights:
            continue
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
                "rights": rights,
                "live_now": access.policy.allows(access.caller, key, Right.LIVE, now=now),
                "live_panel_only": bool(entry.options.get(CONF_LIVE_PANEL_ONLY)),
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
@with_camera(Right.RECORDINGS)
async def ws_timeline(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Return a camera's coverage, gaps and events for a local day or a range.

    Footage the user may not see (outside their windows or look-back) is left out.
    """
    coordinator = call.coordinator
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
    now = time.time()
    visible = call.access.policy.visible(call.access.caller, call.key, start, end, now)
    result = await hass.async_add_executor_job(
        partial(
            timeline,
            coordinator.nvr.index,
            call.key,
            start,
            end,
            max_gap=MAX_GAP,
            open_segment=open_segment,
            visible=visible,
        )
    )
    # Where the footage is: local only (the rest of "spans"), in the bucket only, or both.
    where = await hass.async_add_executor_job(
        footage_locations, coordinator.nvr.index, call.key, start, end, MAX_GAP
    )
    for location, located in where.items():
        ranges: list[tuple[float, float]] = [(lo, hi) for lo, hi in located]
        if visible is not None and visible != [(start, end)]:
            ranges = clip(ranges, visible)
        result[location] = [[lo, hi] for lo, hi in ranges]
    earliest = call.access.policy.earliest(call.access.caller, call.key, now)
    if earliest is not None and result["first"] is not None:
        # The date picker starts at the oldest footage the user may see (their look-back).
        result["first"] = max(result["first"], earliest)
    connection.send_result(msg["id"], result)


def _codec_strings(root: Path, segments: list[Segment]) -> list[str]:
    """Return the video codec strings of the footage (one file per format). Blocks."""
    found: list[str] = []
    seen: set[tuple[str | None, int | None, int | None]] = set()
    for segment in segments:
        key = (segment.video_codec, segment.width, segment.height)
        if key in seen or len(seen) >= MAX_CODEC_PROBES:
            continue
        seen.add(key)
        with contextlib.suppress(OSError, ValueError):
            codec = segment_codec_string(root / segment.path)
            if codec is not None and codec not in found:
                found.append(codec)
    return found


@websocket_command(
    {vol.Required("type"): f"{DOMAIN}/playback", **RANGE, vol.Optional(HEVC): cv.boolean}
)
@with_camera(Right.RECORDINGS)
async def ws_playback(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Return a signed, expiring HLS playlist URL of a camera's footage in a range.

    The playlist holds only footage the user may see. ``codecs`` are the footage's video
    codec strings (``hvc1.1.6.L93.90``) for ``MediaSource.isTypeSupported``; with
    ``hevc: false`` (the client cannot decode H.265) its H.265 footage is listed as
    H.264 renditions (``rendition`` says so); otherwise everything is served as stored.
    ``first`` and ``last`` are where the playlist's timeline starts and ends (its first and
    last segments, or pieces of them in a rendition playlist): position 0 is ``first``.
    """
    start, end = checked_range(msg[START], msg[END], MAX_PLAYLIST_SECONDS)
    begin, finish = int(start), int(end) + (0 if end == int(end) else 1)
    visible = call.access.policy.footage_filter(
        call.access.caller, call.key, float(begin), float(finish), time.time()
    )
    segments = [
        segment
        for segment in await hass.async_add_executor_job(
            call.coordinator.nvr.index.segments, call.key, float(begin), float(finish)
        )
        if visible(segment.start, segment.end)
    ]
    if not segments:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_footage")
    root = call.coordinator.nvr.root
    codecs = await hass.async_add_executor_job(_codec_strings, root, segments)
    hevc = msg.get(HEVC, True)
    rendition = any(
        wants_rendition(segment.video_codec, client_decodes_hevc=hevc) for segment in segments
    )
    first, last = segments[0].start, segments[-1].end
    path = playlist_path(call.key, begin, finish)
    if rendition:
        path += f"?{CODEC_QUERY}={CODEC_H264}"  # signed with the path
        # The playlist lists pieces of H.265 segments: it starts where its first piece does.
        if wants_rendition(segments[0].video_codec, client_decodes_hevc=hevc):
            first = listed_span(segments[0], begin, finish)[0]
        if wants_rendition(segments[-1].video_codec, client_decodes_hevc=hevc):
            last = listed_span(segments[-1], begin, finish)[1]
    connection.send_result(
        msg["id"],
        {
            "url": sign(hass, connection, path),
            "codecs": codecs,
            "rendition": rendition,
            "start": begin,
            "end": finish,
            "first": first,
            "last": last,
            "expires": time.time() + SIGNED_URL_LIFETIME.total_seconds(),
        },
    )


def _live_codecs(files: list[Path]) -> list[str]:
    """Return the codec string of the newest recorded file that has one. Blocks."""
    for path in files:
        with contextlib.suppress(OSError, ValueError):
            if (codec := segment_codec_string(path)) is not None:
                return [codec]
    return []


@websocket_command(
    {
        vol.Required("type"): f"{DOMAIN}/live",
        vol.Required(CAMERA): str,
        vol.Optional(HEVC): cv.boolean,
    }
)
@with_camera(Right.LIVE)
async def ws_live(
    hass: HomeAssistant, connection: ActiveConnection, msg: Message, call: CameraCall
) -> None:
    """Return a signed URL of the camera's live HLS playlist (from the recording).

    For users who may watch the camera live now; live video comes from the recording being
    written, so the camera must be recording (24/7, or the pre-roll buffer of events).
    ``codecs`` is the recording's video codec string; with ``hevc: false`` an H.265
    camera's live fragments are served as H.264 renditions (``rendition``).
    """
    recorder = call.coordinator.recorder
    if recorder.status.state != RecorderState.RECORDING:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="live_not_recording"
        )
    codecs = await hass.async_add_executor_job(_live_codecs, await recorder.latest_files())
    info = call.entry.data.get(CONF_STREAM_INFO) or {}
    if not codecs and info.get("video_codec") == "hevc":
        codecs = [GENERIC_HEVC]  # no file to read yet: what the camera's probe said
    rendition = not msg.get(HEVC, True) and any(codec[:4] in ("hvc1", "hev1") for codec in codecs)
    path = live_playlist_path(call.key)
    if rendition:
        path += f"?{CODEC_QUERY}={CODEC_H264}"  # signed with the path
    connection.send_result(
        msg["id"],
        {
            "url": sign(hass, connection, path),
            "codecs": codecs,
            "rendition": rendition,
            "expires": time.time() + SIGNED_URL_LIFETIME.total_seconds(),
        },
    )
