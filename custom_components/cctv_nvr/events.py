"""Bus event data of the integration and the signed notification links of saved events.

Every event (names in ``const``: ``EVENT_*``) carries the camera's entity id, device id
and name; recording events add the recording's id, kind, label and range.
``cctv_nvr_event_saved`` adds what a notification needs: the media-source id of the clip
(plays in the media browser) and signed, expiring URLs of the event's snapshot (JPEG)
and clip (MP4). A signed URL is valid for its one path only and needs no session (the
signature is the credential); it survives restarts (see ``links``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import (
    ATTR_CAMERA_NAME,
    ATTR_DEVICE_ID,
    CONF_NOTIFY_LINK_HOURS,
    DEFAULT_NOTIFY_LINK_HOURS,
    DOMAIN,
    MAX_NOTIFY_LINK_HOURS,
)
from .engine.index import Recording
from .links import sign_link
from .urls import MediaId, event_clip_path, event_snapshot_path
from .util import camera_entity_id


def event_media_id(recording: Recording) -> str:
    """Return the media-source id playing a recording's range."""
    end = recording.end if recording.end is not None else recording.start + 1
    return MediaId.for_range(recording.camera, math.floor(recording.start), math.ceil(end)).uri


@callback
def notification_links(
    hass: HomeAssistant, recording_id: int, expiration: timedelta
) -> dict[str, str]:
    """Return signed, expiring URLs of an event's snapshot and clip (valid for that file only)."""
    return {
        "snapshot_url": sign_link(hass, event_snapshot_path(recording_id), expiration),
        "clip_url": sign_link(hass, event_clip_path(recording_id), expiration),
    }


@callback
def link_lifetime(entry: ConfigEntry) -> timedelta:
    """Return how long notification links of a camera stay valid (option, at most a month)."""
    hours = float(entry.options.get(CONF_NOTIFY_LINK_HOURS, DEFAULT_NOTIFY_LINK_HOURS))
    return timedelta(hours=min(hours, MAX_NOTIFY_LINK_HOURS))


@callback
def camera_event_data(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    """Return the fields naming a camera in every event."""
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    return {
        "entity_id": camera_entity_id(hass, entry.entry_id),
        ATTR_DEVICE_ID: device.id if device else None,
        ATTR_CAMERA_NAME: entry.title,
    }


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


@callback
def recording_event_data(
    hass: HomeAssistant, entry: ConfigEntry, recording: Recording
) -> dict[str, Any]:
    """Return the data of a recording started/stopped event."""
    return {
        **camera_event_data(hass, entry),
        "recording_id": recording.id,
        "kind": recording.kind,
        "label": recording.label,
        "start": _iso(recording.start),
        "end": _iso(recording.end),
    }


@callback
def saved_event_data(
    hass: HomeAssistant, entry: ConfigEntry, recording: Recording
) -> dict[str, Any]:
    """Return the data of an event-saved event: the range, media id and signed links."""
    return {
        **recording_event_data(hass, entry, recording),
        "duration": None if recording.end is None else round(recording.end - recording.start, 3),
        "media_id": event_media_id(recording),
        **notification_links(hass, recording.id, link_lifetime(entry)),
    }
