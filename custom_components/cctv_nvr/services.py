"""Services (actions): start and stop recordings, export, protect, unprotect, delete.

Every service targets cameras the same way, with Home Assistant's ``target`` (camera
entities, or devices and areas holding them). Ranges follow ``util.checked_range``;
every error is translated. The caller (``call.context.user_id``; none for automations,
which act as the system) needs the *control* right for start/stop, *export* for export;
protect, unprotect, delete_recordings and delete_export are for administrators only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
import time
from typing import Any

from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_NAME
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, entity_registry as er, service
from homeassistant.helpers.target import TargetSelection, async_extract_referenced_entity_ids
import probatio as vol

from .access import AccessDenied, Right, async_caller_for_context, async_policy
from .const import (
    ATTR_DURATION,
    ATTR_END,
    ATTR_EXPORT_ID,
    ATTR_LABEL,
    ATTR_POST_ROLL,
    ATTR_PRE_ROLL,
    ATTR_RECORDING_ID,
    ATTR_START,
    CONF_STORAGE_KEY,
    DOMAIN,
    MAX_EXPORT_SECONDS,
    MAX_MANUAL_RECORDING,
    MAX_POST_ROLL,
    MAX_PRE_ROLL,
    SERVICE_DELETE_EVENT,
    SERVICE_DELETE_EXPORT,
    SERVICE_DELETE_RECORDINGS,
    SERVICE_EXPORT,
    SERVICE_MOVE_FOOTAGE,
    SERVICE_PROTECT,
    SERVICE_START_RECORDING,
    SERVICE_STOP_RECORDING,
    SERVICE_UNPROTECT,
)
from .coordinator import CctvNvrConfigEntry
from .data import DATA_NVR
from .engine.index import KIND_EVENT
from .footage import (
    EXPORT_FORMATS,
    FORMAT_RECORDED,
    async_delete_event,
    async_delete_range,
    async_export,
    async_protect,
    async_remove_export,
)
from .util import as_timestamp, checked_range

ATTR_FORMAT = "format"  # of an export: as recorded, or H.264 for sharing
_SECONDS = vol.All(cv.time_period, lambda value: value.total_seconds())
_LABEL = vol.All(cv.string, vol.Strip, vol.Length(min=1, max=64))
START_SCHEMA = cv.make_entity_service_schema(
    {
        vol.Optional(ATTR_DURATION): _SECONDS,
        vol.Optional(ATTR_LABEL): _LABEL,
        vol.Optional(ATTR_PRE_ROLL): _SECONDS,
        vol.Optional(ATTR_POST_ROLL): _SECONDS,
    }
)
STOP_SCHEMA = cv.make_entity_service_schema(
    {vol.Optional(ATTR_LABEL): _LABEL, vol.Optional(ATTR_POST_ROLL): _SECONDS}
)
RANGE_SCHEMA = cv.make_entity_service_schema(
    {vol.Required(ATTR_START): cv.datetime, vol.Required(ATTR_END): cv.datetime}
)
EXPORT_SCHEMA = cv.make_entity_service_schema(
    {
        vol.Required(ATTR_START): cv.datetime,
        vol.Required(ATTR_END): cv.datetime,
        vol.Optional(ATTR_NAME): vol.All(cv.string, vol.Length(min=1, max=100)),
        vol.Optional(ATTR_FORMAT, default=FORMAT_RECORDED): vol.In(EXPORT_FORMATS),
    }
)
DELETE_EXPORT_SCHEMA = vol.Schema(
    {vol.Required(ATTR_EXPORT_ID): vol.All(vol.Coerce(int), vol.Range(min=1, max=2**62))}
)
DELETE_EVENT_SCHEMA = vol.Schema(
    {vol.Required(ATTR_RECORDING_ID): vol.All(vol.Coerce(int), vol.Range(min=1, max=2**62))}
)


def _checked_roll(call: ServiceCall, key: str, maximum: float) -> float | None:
    """Return a pre/post-roll in seconds; refuse negative or too long values."""
    value: float | None = call.data.get(key)
    if value is not None and not 0 <= value <= maximum:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=f"invalid_{key}",
            translation_placeholders={"max": str(maximum)},
        )
    return value


def _call_range(call: ServiceCall, max_seconds: float | None = None) -> tuple[float, float]:
    """Return the call's range as epoch seconds (ending now at the latest)."""
    return checked_range(
        as_timestamp(call.data[ATTR_START]),
        as_timestamp(call.data[ATTR_END]),
        max_seconds,
        clip_to_now=True,
    )


async def async_target_cameras(
    hass: HomeAssistant, call: ServiceCall, right: Right
) -> list[CctvNvrConfigEntry]:
    """Return the loaded camera entries a service call targets, if the caller has ``right``.

    Explicitly named entities that are not loaded cameras of this integration are
    an error (a typo must not pass silently); devices and areas may hold others. A
    camera the caller has no such right on refuses the whole call (nothing is done).
    """
    caller = await async_caller_for_context(hass, call.context)
    policy = async_policy(hass)
    selected = async_extract_referenced_entity_ids(hass, TargetSelection(call.data))
    registry = er.async_get(hass)
    found: dict[str, CctvNvrConfigEntry] = {}
    for entity_id in sorted(selected.referenced | selected.indirectly_referenced):
        entity = registry.async_get(entity_id)
        entry: CctvNvrConfigEntry | None = None
        if (
            entity is not None
            and entity.platform == DOMAIN
            and entity.domain == CAMERA_DOMAIN
            and entity.config_entry_id is not None
        ):
            entry = hass.config_entries.async_get_entry(entity.config_entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            if entity_id in selected.referenced:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="unknown_camera",
                    translation_placeholders={"entity_id": entity_id},
                )
            continue
        if not policy.allows(caller, entry.data[CONF_STORAGE_KEY], right):
            raise AccessDenied("camera_unauthorized", camera=entry.title)
        found[entry.entry_id] = entry
    if not found:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_cameras")
    return list(found.values())


async def _start_recording(call: ServiceCall) -> None:
    duration: float | None = call.data.get(ATTR_DURATION)
    if duration is not None and not 0 < duration <= MAX_MANUAL_RECORDING:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_duration",
            translation_placeholders={"max": str(MAX_MANUAL_RECORDING)},
        )
    pre_roll = _checked_roll(call, ATTR_PRE_ROLL, MAX_PRE_ROLL)
    post_roll = _checked_roll(call, ATTR_POST_ROLL, MAX_POST_ROLL)
    label: str | None = call.data.get(ATTR_LABEL)
    # A label or a pre/post-roll makes it an event recording; otherwise it is manual.
    is_event = label is not None or pre_roll is not None or post_roll is not None
    for entry in await async_target_cameras(call.hass, call, Right.CONTROL):
        recordings = entry.runtime_data.recordings
        if is_event:
            await recordings.async_start(
                KIND_EVENT,
                label,
                pre_roll=pre_roll or 0.0,
                duration=duration,
                post_roll=post_roll or 0.0,
            )
        else:
            await recordings.async_start_manual(duration)


async def _stop_recording(call: ServiceCall) -> None:
    cameras = await async_target_cameras(call.hass, call, Right.CONTROL)
    label: str | None = call.data.get(ATTR_LABEL)
    post_roll = _checked_roll(call, ATTR_POST_ROLL, MAX_POST_ROLL)
    if not any(
        running.label == label or label is None
        for entry in cameras
        for running in entry.runtime_data.recordings.running.values()
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_recording",
            translation_placeholders={"camera": ", ".join(entry.title for entry in cameras)},
        )
    for entry in cameras:
        await entry.runtime_data.recordings.async_stop(label, post_roll)


async def _export(call: ServiceCall) -> ServiceResponse:
    cameras = await async_target_cameras(call.hass, call, Right.EXPORT)
    if len(cameras) != 1:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="one_camera")
    start, end = _call_range(call, MAX_EXPORT_SECONDS)
    caller = await async_caller_for_context(call.hass, call.context)
    camera = cameras[0].data[CONF_STORAGE_KEY]
    if not async_policy(call.hass).range_visible(caller, camera, start, end, time.time()):
        raise AccessDenied("range_not_allowed")
    return await async_export(
        call.hass,
        cameras[0],
        caller,
        start,
        end,
        call.data.get(ATTR_NAME),
        fmt=call.data[ATTR_FORMAT],
    )


def _protection(protected: bool) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
    async def handler(call: ServiceCall) -> ServiceResponse:
        start, end = _call_range(call)
        caller = await async_caller_for_context(call.hass, call.context)
        changed = 0
        for entry in await async_target_cameras(call.hass, call, Right.RECORDINGS):
            changed += await async_protect(
                call.hass, entry, caller, start, end, protected=protected
            )
        return {"segments": changed}

    return handler


async def _delete_recordings(call: ServiceCall) -> ServiceResponse:
    start, end = _call_range(call)
    caller = await async_caller_for_context(call.hass, call.context)
    deleted = 0
    freed = 0
    for entry in await async_target_cameras(call.hass, call, Right.RECORDINGS):
        count, size = await async_delete_range(call.hass, entry, caller, start, end)
        deleted += count
        freed += size
    return {"segments": deleted, "bytes": freed}


async def _delete_export(call: ServiceCall) -> None:
    export_id: int = call.data[ATTR_EXPORT_ID]
    caller = await async_caller_for_context(call.hass, call.context)
    if not await async_remove_export(call.hass, call.hass.data[DATA_NVR], export_id, caller):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_export",
            translation_placeholders={"export_id": str(export_id)},
        )


async def _delete_event(call: ServiceCall) -> None:
    recording_id: int = call.data[ATTR_RECORDING_ID]
    caller = await async_caller_for_context(call.hass, call.context)
    if not await async_delete_event(call.hass, call.hass.data[DATA_NVR], recording_id, caller):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_event",
            translation_placeholders={"recording_id": str(recording_id)},
        )


async def _move_footage(call: ServiceCall) -> ServiceResponse:
    """Move the targeted cameras' footage into their recordings folders (in the background)."""
    cameras = await async_target_cameras(call.hass, call, Right.RECORDINGS)
    started: dict[str, Any] = {}
    for entry in cameras:
        totals = await entry.runtime_data.location.async_move()
        started[entry.entry_id] = {"segments": totals.total, "bytes": totals.total_bytes}
    return {"moving": started}


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's services (once, in async_setup)."""
    register = hass.services.async_register
    register(DOMAIN, SERVICE_START_RECORDING, _start_recording, START_SCHEMA)
    register(DOMAIN, SERVICE_STOP_RECORDING, _stop_recording, STOP_SCHEMA)
    register(
        DOMAIN, SERVICE_EXPORT, _export, EXPORT_SCHEMA, supports_response=SupportsResponse.ONLY
    )
    # Protecting and unprotecting decide what retention may delete: administrators only.
    for name, protected in ((SERVICE_PROTECT, True), (SERVICE_UNPROTECT, False)):
        service.async_register_admin_service(
            hass,
            DOMAIN,
            name,
            _protection(protected),
            RANGE_SCHEMA,
            supports_response=SupportsResponse.OPTIONAL,
        )
    service.async_register_admin_service(
        hass, DOMAIN, SERVICE_DELETE_EXPORT, _delete_export, DELETE_EXPORT_SCHEMA
    )
    service.async_register_admin_service(
        hass, DOMAIN, SERVICE_DELETE_EVENT, _delete_event, DELETE_EVENT_SCHEMA
    )
    # Moving files between folders: administrators only (progress: cctv_nvr_move_progress).
    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_MOVE_FOOTAGE,
        _move_footage,
        cv.make_entity_service_schema({}),
        supports_response=SupportsResponse.OPTIONAL,
    )
    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_DELETE_RECORDINGS,
        _delete_recordings,
        RANGE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
