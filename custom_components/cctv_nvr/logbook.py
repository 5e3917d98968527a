"""Logbook: recordings, saved events and camera outages described in words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback

from . import audit
from .const import (
    ATTR_CAMERA_NAME,
    DOMAIN,
    EVENT_AUDIT,
    EVENT_CAMERA_OFFLINE,
    EVENT_EVENT_SAVED,
    EVENT_RECORDING_STARTED,
    EVENT_RECORDING_STOPPED,
    TRIGGER_EVENTS,
)
from .engine.index import KIND_EVENT


def _what(data: dict[str, Any]) -> str:
    label = data.get("label")
    if data.get("kind") == KIND_EVENT:
        return f"an event recording '{label}'" if label else "an event recording"
    return "a manual recording"


def describe(event_type: str, data: dict[str, Any]) -> str:
    """Return the logbook message of one of the integration's events."""
    if event_type == EVENT_AUDIT:
        return audit.describe(data)
    if event_type == EVENT_RECORDING_STARTED:
        return f"started {_what(data)}"
    if event_type == EVENT_RECORDING_STOPPED:
        return f"stopped {_what(data)}"
    if event_type == EVENT_EVENT_SAVED:
        seconds = data.get("duration")
        length = f" ({seconds:.0f} s)" if isinstance(seconds, (int, float)) else ""
        return f"saved {_what(data)}{length}"
    if event_type == EVENT_CAMERA_OFFLINE:
        return "went offline"
    return "came back online"


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the integration's events in the logbook."""

    @callback
    def _describe(event: Event) -> dict[str, str]:
        data = event.data
        entry = {
            LOGBOOK_ENTRY_NAME: str(data.get(ATTR_CAMERA_NAME) or "Camera"),
            LOGBOOK_ENTRY_MESSAGE: describe(str(event.event_type), dict(data)),
        }
        if data.get("entity_id"):
            entry[LOGBOOK_ENTRY_ENTITY_ID] = str(data["entity_id"])
        return entry

    for event_type in (*TRIGGER_EVENTS.values(), EVENT_AUDIT):
        async_describe_event(DOMAIN, event_type, _describe)
