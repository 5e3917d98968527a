"""Health for the user: problem sensor, recorder figures and repair issues."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
import time

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.recorder import RecorderState
from tests.const import PROBLEM, SWITCH
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator


async def _turn_on(hass: HomeAssistant) -> None:
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: SWITCH}, blocking=True)


async def test_health_and_offline_repair(
    hass: HomeAssistant, own_simulator: CameraSimulator
) -> None:
    """Healthy while segments arrive; a long outage raises a repair issue that clears."""
    entry = camera_entry(own_simulator, sub=None)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "offline_repair_minutes": 1}
    )
    await setup_camera(hass, entry)
    coordinator = entry.runtime_data
    assert hass.states.get(PROBLEM).state == "off"
    await _turn_on(hass)
    await wait_for(lambda: coordinator.recorder.status.last_segment_end, timeout=30)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "off"
    assert hass.states.get("sensor.front_door_last_segment").state not in ("unknown", None)
    assert float(hass.states.get("sensor.front_door_incoming_frame_rate").state) > 10

    await own_simulator.aoffline()
    await wait_for(lambda: coordinator.recorder.status.state == RecorderState.OFFLINE, timeout=10)
    await wait_for(lambda: hass.states.get(PROBLEM).state == "on", timeout=5)
    issues = ir.async_get(hass)
    issue_id = f"camera_offline_{entry.entry_id}"
    assert issues.async_get_issue(DOMAIN, issue_id) is None  # not yet a minute
    # Pretend the outage began two minutes ago (waiting a real minute would slow the suite).
    coordinator.recorder._status = replace(coordinator.recorder.status, since=time.time() - 120)
    await coordinator.async_refresh()
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    await own_simulator.aonline()
    await wait_for(lambda: coordinator.recorder.status.state == RecorderState.RECORDING, timeout=10)
    await coordinator.async_refresh()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "off"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_ffmpeg_missing_raises_repair(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """ffmpeg that cannot start: a repair issue; the camera itself keeps working."""
    entry = await setup_camera(hass, camera_entry(simulator))
    coordinator = entry.runtime_data
    coordinator.recorder.config.ffmpeg = "/nonexistent/ffmpeg"
    await _turn_on(hass)
    await wait_for(lambda: coordinator.recorder.status.state == RecorderState.ERROR, timeout=10)
    await coordinator.async_refresh()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"ffmpeg_missing_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["camera"] == "Front door"
    assert hass.states.get("camera.front_door").state != "unavailable"
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unwritable_storage_raises_repair(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """A recordings folder that cannot be created: a repair issue, no crash loop."""
    entry = await setup_camera(hass, camera_entry(simulator))
    root: Path = hass.data[DATA_NVR].root
    await hass.async_add_executor_job(lambda: root.mkdir(parents=True, exist_ok=True))
    # A file where the camera's folder belongs (root can write anywhere, so chmod cannot test this).
    await hass.async_add_executor_job((root / "front_door").write_text, "not a folder")
    coordinator = entry.runtime_data
    await _turn_on(hass)
    await wait_for(lambda: coordinator.recorder.status.state == RecorderState.ERROR, timeout=10)
    await coordinator.async_refresh()
    assert coordinator.recorder.status.reason == "storage_unwritable"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"storage_unwritable_{entry.entry_id}")
    assert issue is not None
    assert coordinator.recorder.status.restarts == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_recorder_fault_sensor_repair_and_revival(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """A supervising task that ended is restarted; faults show, persist into a repair, clear."""
    entry = await setup_camera(hass, camera_entry(simulator))
    coordinator = entry.runtime_data
    recorder = coordinator.recorder
    await _turn_on(hass)
    await wait_for(lambda: recorder.status.last_segment_end, timeout=30)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "off"

    # The supervising task ends (as if a bug escaped it): Home Assistant's side notices.
    task = recorder._task
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not recorder.alive
    await coordinator.async_refresh()
    assert recorder.alive
    assert recorder.status.faults == 1
    assert recorder.status.last_fault == "supervising task: RuntimeError"
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "on"  # until a segment is indexed again

    # Persisting faults (pretend the episode began ten minutes ago) become a repair issue.
    issues = ir.async_get(hass)
    issue_id = f"recorder_fault_{entry.entry_id}"
    since = recorder.status.fault_since
    assert since is not None
    recorder._status = replace(recorder.status, fault_since=since - 600)
    await coordinator.async_refresh()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["camera"] == "Front door"
    assert issue.translation_placeholders["fault"] == "supervising task: RuntimeError"

    # Recording goes on: the next indexed segment ends the episode, issue and sensor clear.
    await wait_for(lambda: recorder.status.fault_since is None, timeout=30)
    await coordinator.async_refresh()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    await hass.async_block_till_done()
    assert hass.states.get(PROBLEM).state == "off"
    assert await hass.config_entries.async_unload(entry.entry_id)
