"""Small helpers every room uses: translated range checks and the camera entity of an entry."""

from __future__ import annotations

from datetime import date, datetime, timedelta
import time
from zoneinfo import ZoneInfo

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .const import DOMAIN


def checked_range(
    start: float,
    end: float,
    max_seconds: float | None = None,
    *,
    allow_future: bool = False,
    clip_to_now: bool = False,
) -> tuple[float, float]:
    """Return (start, end) as epoch seconds; refuse reversed, future or too long ranges.

    The one range rule of services and WebSocket commands: ``end`` after ``start``,
    ``start`` not in the future (unless ``allow_future``: a timeline may show a day
    that has not ended), at most ``max_seconds`` long. ``clip_to_now`` ends the range
    now at the latest (exports, deletions). Errors are translated.
    """
    if end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="range_reversed")
    now = time.time()
    if not allow_future and start > now:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="range_future")
    if max_seconds is not None and end - start > max_seconds:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="range_too_long",
            translation_placeholders={"hours": f"{max_seconds / 3600:g}"},
        )
    return start, min(end, now) if clip_to_now else end


def as_timestamp(value: datetime) -> float:
    """Return epoch seconds of a datetime; a naive one is in Home Assistant's time zone."""
    aware = value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())
    return dt_util.as_utc(aware).timestamp()


def entity_unique_id(entry_id: str, key: str) -> str:
    """Return the unique id of a camera's entity (``key``: camera, continuous_recording, ...)."""
    return f"{entry_id}_{key}"


@callback
def camera_entity_id(hass: HomeAssistant, entry_id: str) -> str | None:
    """Return the camera entity of a config entry."""
    return er.async_get(hass).async_get_entity_id(
        "camera", DOMAIN, entity_unique_id(entry_id, "camera")
    )


MAX_AUDIT_DAYS = 31  # one audit answer covers at most a month of days


def day_range(first: date, last: date, zone: ZoneInfo) -> tuple[float, float]:
    """Return the UTC bounds of local days ``first`` to ``last`` (inclusive, a month at most)."""
    if last < first or (last - first).days >= MAX_AUDIT_DAYS:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="audit_days",
            translation_placeholders={"days": str(MAX_AUDIT_DAYS)},
        )
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.timestamp(), end.timestamp()
