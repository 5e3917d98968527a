"""Services: start and stop recordings (manual or event, with pre/post-roll), footage actions."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any

from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, ATTR_NAME
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
from homeassistant.util import dt as dt_util
import probatio as vol

from .const import (
    ATTR_DURATION,
    ATTR_END,
    ATTR_EXPORT_ID,
    ATTR_LABEL,
    ATTR_POST_ROLL,
    ATTR_PRE_ROLL,
    ATTR_START,
    DOMAIN,
    MAX_EXPORT_SECONDS,
    MAX_MANUAL_RECORDING,
    MAX_POST_ROLL,
    MAX_PRE_ROLL,
    SERVICE_DELETE_EXPORT,
    SERVICE_DELETE_RECORDINGS,
    SERVICE_EXPORT,
    SERVICE_PROTECT,
    SERVICE_START_RECORDING,
    SERVICE_STOP_RECORDING,
    SERVICE_UNPROTECT,
)
from .coordinator import KIND_EVENT
from .data import DATA_NVR
from .engine.index import SegmentIndex

if TYPE_CHECKING:
    from .coordinator import CameraCoordinator

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


@callback
def async_target_cameras(hass: HomeAssistant, call: ServiceCall) -> list[CameraCoordinator]:
    """Return the coordinators of the cameras a service call targets.

    Explicitly named entities that are not loaded cameras of this integration are
    an error (a typo must not pass silently); devices and areas may hold others.
    """
    selected = async_extract_referenced_entity_ids(hass, TargetSelection(call.data))
    registry = er.async_get(hass)
    found: dict[str, CameraCoordinator] = {}
    for entity_id in sorted(selected.referenced | selected.indirectly_referenced):
        entry = registry.async_get(entity_id)
        ours = (
            entry is not None
            and entry.platform == DOMAIN
            and entry.domain == CAMERA_DOMAIN
            and entry.config_entry_id is not None
        )
        config_entry = (
            hass.config_entries.async_get_entry(entry.config_entry_id)
            if ours and entry is not None and entry.config_entry_id
            else None
        )
        if config_entry is None or config_entry.state is not ConfigEntryState.LOADED:
            if entity_id in selected.referenced:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="unknown_camera",
                    translation_placeholders={"entity_id": entity_id},
                )
            continue
        found[config_entry.entry_id] = config_entry.runtime_data
    if not found:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_cameras")
    return list(found.values())


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's services (once, in async_setup)."""

    async def start_recording(call: ServiceCall) -> None:
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
        for coordinator in async_target_cameras(hass, call):
            if is_event:
                await coordinator.async_start_recording(
                    KIND_EVENT,
                    label,
                    pre_roll=pre_roll or 0.0,
                    duration=duration,
                    post_roll=post_roll or 0.0,
                )
            else:
                await coordinator.async_start_manual(duration)

    async def stop_recording(call: ServiceCall) -> None:
        cameras = async_target_cameras(hass, call)
        label: str | None = call.data.get(ATTR_LABEL)
        post_roll = _checked_roll(call, ATTR_POST_ROLL, MAX_POST_ROLL)
        if not any(
            running.label == label or label is None
            for coordinator in cameras
            for running in coordinator.running.values()
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_recording",
                translation_placeholders={
                    "camera": ", ".join(c.config_entry.title for c in cameras)
                },
            )
        for coordinator in cameras:
            await coordinator.async_stop_recording(label, post_roll)

    hass.services.async_register(DOMAIN, SERVICE_START_RECORDING, start_recording, START_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_STOP_RECORDING, stop_recording, STOP_SCHEMA)
    async_setup_footage_services(hass)


# -- footage services: export, protect, unprotect, delete -------------------------------


def _range_schema(extra: dict[Any, Any] | None = None) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(ATTR_ENTITY_ID): cv.entity_ids,
            vol.Required(ATTR_START): cv.datetime,
            vol.Required(ATTR_END): cv.datetime,
            **(extra or {}),
        }
    )


def _checked_range(call: ServiceCall, max_seconds: float | None = None) -> tuple[float, float]:
    """Return (start, end) as epoch seconds; refuse reversed, future or too long ranges."""
    start = dt_util.as_utc(_aware(call.data[ATTR_START])).timestamp()
    end = dt_util.as_utc(_aware(call.data[ATTR_END])).timestamp()
    if end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="range_reversed")
    if start > time.time():
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="range_future")
    if max_seconds is not None and end - start > max_seconds:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="range_too_long",
            translation_placeholders={"hours": str(int(max_seconds // 3600))},
        )
    return start, min(end, time.time())


def remove_export(index: SegmentIndex, exports: Path, export_id: int) -> bool:
    """Delete an export's file and row (executor); False if there is no such export."""
    export = index.get_export(export_id)
    if export is None:
        return False
    path = (exports / export.path).resolve()
    if path.is_relative_to(exports.resolve()):
        path.unlink(missing_ok=True)
    return index.delete_export(export_id)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())


@callback
def async_setup_footage_services(hass: HomeAssistant) -> None:
    """Register export, protect, unprotect and (admin only) delete_recordings."""

    async def export(call: ServiceCall) -> ServiceResponse:
        cameras = async_target_cameras(hass, call)
        if len(cameras) != 1:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="one_camera")
        coordinator = cameras[0]
        start, end = _checked_range(call, MAX_EXPORT_SECONDS)
        return await coordinator.async_export(start, end, call.data.get(ATTR_NAME))

    def protection(
        protected: bool,
    ) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
        async def handler(call: ServiceCall) -> ServiceResponse:
            start, end = _checked_range(call)
            changed = 0
            for coordinator in async_target_cameras(hass, call):
                changed += await coordinator.async_protect(start, end, protected=protected)
            return {"segments": changed}

        return handler

    async def delete_recordings(call: ServiceCall) -> ServiceResponse:
        start, end = _checked_range(call)
        deleted = 0
        freed = 0
        for coordinator in async_target_cameras(hass, call):
            count, size = await coordinator.async_delete_range(start, end)
            deleted += count
            freed += size
        return {"segments": deleted, "bytes": freed}

    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT,
        export,
        _range_schema({vol.Optional(ATTR_NAME): vol.All(cv.string, vol.Length(min=1, max=100))}),
        supports_response=SupportsResponse.ONLY,
    )
    for name, func in ((SERVICE_PROTECT, protection(True)), (SERVICE_UNPROTECT, protection(False))):
        hass.services.async_register(
            DOMAIN, name, func, _range_schema(), supports_response=SupportsResponse.OPTIONAL
        )

    async def delete_export(call: ServiceCall) -> None:
        nvr = hass.data[DATA_NVR]
        export_id: int = call.data[ATTR_EXPORT_ID]
        if not await hass.async_add_executor_job(remove_export, nvr.index, nvr.exports, export_id):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_export",
                translation_placeholders={"export_id": str(export_id)},
            )

    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_DELETE_EXPORT,
        delete_export,
        vol.Schema({vol.Required(ATTR_EXPORT_ID): vol.All(vol.Coerce(int), vol.Range(min=1))}),
    )
    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_DELETE_RECORDINGS,
        delete_recordings,
        _range_schema(),
        supports_response=SupportsResponse.OPTIONAL,
    )
