"""Repair issues: what the user must fix for recording to go on.

Per camera: ffmpeg cannot start, the recordings folder is not writable, the camera has
been offline longer than its configured time, the recorder has kept failing (faults: an
exception it survived) for minutes. For all cameras: the disk is full of footage that may
not be deleted. Each is raised and cleared from the state that causes
it, so an issue disappears by itself once the cause is gone.
"""

from __future__ import annotations

import time

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import CONF_OFFLINE_REPAIR_MINUTES, DEFAULT_OFFLINE_MINUTES, DOMAIN
from .data import is_push
from .engine.recorder import Recorder, RecorderState

ISSUE_DISK_FULL = "disk_full"
# A fault episode (exceptions the recorder survived, no segment indexed since) this long
# becomes a repair issue; shorter ones only turn the recording-problem sensor on.
FAULT_REPAIR_SECONDS = 300
# Recorder errors that only the user can fix (the recorder's reason is the translation key).
_RECORDER_ERRORS = ("ffmpeg_missing", "storage_unwritable")


@callback
def _set_issue(
    hass: HomeAssistant,
    issue_id: str,
    active: bool,
    *,
    translation_key: str,
    severity: ir.IssueSeverity,
    placeholders: dict[str, str] | None = None,
) -> None:
    if active:
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=severity,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def async_update_camera_issues(hass: HomeAssistant, entry: ConfigEntry, recorder: Recorder) -> None:
    """Raise or clear a camera's repair issues from its recorder's state."""
    status = recorder.status
    placeholders = {"camera": entry.title, "path": str(recorder.config.root)}
    for reason in _RECORDER_ERRORS:
        _set_issue(
            hass,
            f"{reason}_{entry.entry_id}",
            status.state == RecorderState.ERROR and status.reason == reason,
            translation_key=reason,
            severity=ir.IssueSeverity.ERROR,
            placeholders=placeholders,
        )
    _set_issue(
        hass,
        f"recorder_fault_{entry.entry_id}",
        recorder.running
        and status.fault_since is not None
        and time.time() - status.fault_since > FAULT_REPAIR_SECONDS,
        translation_key="recorder_fault",
        severity=ir.IssueSeverity.ERROR,
        placeholders={
            **placeholders,
            "fault": status.last_fault or "unknown",
            "faults": str(status.faults),
        },
    )
    minutes = float(entry.options.get(CONF_OFFLINE_REPAIR_MINUTES, DEFAULT_OFFLINE_MINUTES))
    _set_issue(
        hass,
        f"camera_offline_{entry.entry_id}",
        recorder.running
        and status.state == RecorderState.OFFLINE
        and time.time() - status.since > minutes * 60,
        translation_key="push_offline" if is_push(entry) else "camera_offline",
        severity=ir.IssueSeverity.WARNING,
        placeholders={**placeholders, "minutes": f"{minutes:g}"},
    )


@callback
def async_set_disk_full(hass: HomeAssistant, full: bool) -> None:
    """Raise (or clear) the issue of a disk full of footage that may not be deleted."""
    _set_issue(
        hass,
        ISSUE_DISK_FULL,
        full,
        translation_key=ISSUE_DISK_FULL,
        severity=ir.IssueSeverity.CRITICAL,
    )
