"""A full recording disk in Home Assistant, for real: the recordings folder is a small tmpfs.

Mounting needs root (the dev root and CI run as root); elsewhere the test is skipped and
says why (tests/test_storage.py covers the same flow with a patched free-space probe).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
import time

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.cctv_nvr.const import CONF_MIN_FREE_GB, DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.recorder import RecorderState
from tests.engine.helpers import fill_disk, inspect_file, wait_for
from tests.helpers import camera_entry, run_retention, setup_camera
from tests.simulator import CameraSimulator

MIB = 2**20


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


async def test_disk_full_in_home_assistant(
    hass: HomeAssistant, own_simulator: CameraSimulator, small_recordings_fs: Path
) -> None:
    """Cleanup frees space and recording goes on; with nothing to free, a repair issue."""
    entry = camera_entry(own_simulator, segment_seconds=2)
    entry.add_to_hass(hass)
    # A 3 MiB floor on the 24 MiB filesystem (the option is in GB).
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_MIN_FREE_GB: 3 * MIB / 1024**3}
    )
    await setup_camera(hass, entry)
    coordinator = entry.runtime_data
    recorder = coordinator.recorder
    # The engine's own floor (16 MiB by default) scaled down to this small filesystem.
    recorder.config.min_free_bytes = 1 * MIB
    nvr = hass.data[DATA_NVR]
    camera = "front_door"
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.front_door_continuous_recording"}, blocking=True
    )

    def segments() -> list:  # type: ignore[type-arg]
        return nvr.index.segments(camera, 0, time.time() + 60)

    await wait_for(lambda: len(segments()) >= 12, timeout=60)
    first = segments()[:2]
    await hass.services.async_call(
        DOMAIN,
        "protect",
        {
            "entity_id": "camera.front_door",
            "start": _iso(first[0].start),
            "end": _iso(first[-1].end),
        },
        blocking=True,
    )
    kept = {s.path: (nvr.root / s.path).read_bytes() for s in first}

    # Something fills the disk: ffmpeg hits ENOSPC and the recorder stops cleanly.
    await hass.async_add_executor_job(fill_disk, small_recordings_fs / "filler.bin", MIB // 2)
    await wait_for(lambda: recorder.status.reason == "disk_full", timeout=30)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.front_door_recording_problem").state == "on"

    # The free-space watch (every 30 s) cleans up at once.
    before = {s.path for s in segments()}
    await run_retention(hass, free_space_only=True)
    assert before - {s.path for s in segments()}, "nothing was deleted"
    assert ir.async_get(hass).async_get_issue(DOMAIN, "disk_full") is None
    resumed = time.time()
    await wait_for(lambda: recorder.status.state == RecorderState.RECORDING, timeout=15)
    await wait_for(lambda: any(s.start >= resumed for s in segments()), timeout=30)
    for path, data in kept.items():
        assert (nvr.root / path).read_bytes() == data, f"protected {path} was touched"
    for segment in segments():
        assert inspect_file(nvr.root / segment.path).first_is_keyframe, segment.path

    # Nothing left to free: a repair issue says so; recording waits without a restart loop.
    await hass.async_add_executor_job(fill_disk, small_recordings_fs / "filler2.bin", MIB // 2)
    await wait_for(lambda: recorder.status.reason == "disk_full", timeout=30)
    await hass.services.async_call(
        DOMAIN,
        "protect",
        {"entity_id": "camera.front_door", "start": _iso(0), "end": _iso(time.time())},
        blocking=True,
    )
    before = {s.path for s in segments()}
    await run_retention(hass, free_space_only=True)
    assert before <= {s.path for s in segments()}, "protected footage was deleted"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "disk_full")
    assert issue is not None
    assert issue.translation_key == "disk_full"
    restarts = recorder.status.restarts
    await asyncio.sleep(6)
    assert recorder.status.restarts == restarts
    assert recorder.status.state == RecorderState.ERROR
    assert all((nvr.root / s.path).is_file() for s in segments())
    # The rest of the integration keeps working.
    assert hass.states.get("camera.front_door").state != "unavailable"
    assert hass.states.get("sensor.front_door_storage_used") is not None
