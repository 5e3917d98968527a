"""Storage in Home Assistant: sensors, retention runs, index rebuilt from disk at start-up."""

from __future__ import annotations

import os
from pathlib import Path
import time

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest

from custom_components.cctv_nvr.const import CONF_MIN_FREE_GB, DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.retention import disk_free_bytes
from tests.engine.helpers import fill_disk
from tests.engine.segments_factory import SegmentFactory, files_on_disk
from tests.helpers import camera_entry, run_retention, setup_camera
from tests.simulator import CameraSimulator

DAY = 86400.0
MIB = 2**20


async def test_sensors(
    hass: HomeAssistant, simulator: CameraSimulator, segment_factory: SegmentFactory
) -> None:
    """Storage used, oldest recording, bitrate, days that fit and free disk are reported."""
    entry = await setup_camera(hass, camera_entry(simulator))
    nvr = hass.data[DATA_NVR]
    start = time.time() - 2 * DAY
    made = await hass.async_add_executor_job(
        segment_factory.make_history, nvr.root, nvr.index, "front_door", start, 12, 4
    )
    coordinator = entry.runtime_data
    coordinator._storage_checked = 0.0
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    used = hass.states.get("sensor.front_door_storage_used")
    assert used.attributes["unit_of_measurement"] == "GB"
    assert float(used.state) == pytest.approx(sum(s.bytes for s in made) / 1e9, abs=0.01)
    oldest = hass.states.get("sensor.front_door_oldest_recording")
    assert oldest.state.startswith(time.strftime("%Y-%m-%d", time.gmtime(start)))
    bitrate = float(hass.states.get("sensor.front_door_average_bitrate").state)
    assert bitrate > 0
    fit = float(hass.states.get("sensor.front_door_days_that_fit").state)
    assert 0 < fit <= 14  # capped by the retention age
    assert float(hass.states.get("sensor.front_door_recording_disk_free").state) > 0


async def test_retention_by_age_keeps_protected(
    hass: HomeAssistant, simulator: CameraSimulator, segment_factory: SegmentFactory
) -> None:
    """Footage past the camera's age limit is deleted (files and rows); protected stays."""
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={**entry.options, "retention_days": 1})
    await setup_camera(hass, entry)
    nvr = hass.data[DATA_NVR]
    old = await hass.async_add_executor_job(
        segment_factory.make_history, nvr.root, nvr.index, "front_door", time.time() - 3 * DAY, 6, 4
    )
    new = await hass.async_add_executor_job(
        segment_factory.make_history,
        nvr.root,
        nvr.index,
        "front_door",
        time.time() - 600,
        3,
        4,
        "r2",
    )
    await hass.async_add_executor_job(nvr.index.protect, "front_door", old[0].start, old[0].end)
    await run_retention(hass)
    remaining = await hass.async_add_executor_job(nvr.index.segments, "front_door", 0, time.time())
    assert [s.path for s in remaining] == [old[0].path] + [s.path for s in new]
    assert await hass.async_add_executor_job(files_on_disk, nvr.root) == {s.path for s in remaining}


async def test_low_disk_triggers_cleanup(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    small_recordings_fs: Path,
) -> None:
    """Below the free-space floor the oldest footage goes at once (a real 24 MiB tmpfs)."""
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_MIN_FREE_GB: 3 * MIB / 1024**3}
    )
    await setup_camera(hass, entry)
    nvr = hass.data[DATA_NVR]
    made = await hass.async_add_executor_job(
        segment_factory.make_history, nvr.root, nvr.index, "front_door", time.time() - 3600, 5, 4
    )
    # Leave less than the floor free, short by less than the oldest segment's size.
    await hass.async_add_executor_job(
        fill_disk, small_recordings_fs / "filler.bin", 3 * MIB - made[0].bytes // 2
    )
    await run_retention(hass, free_space_only=True)
    remaining = await hass.async_add_executor_job(nvr.index.segments, "front_door", 0, time.time())
    assert [s.path for s in remaining] == [s.path for s in made[1:]]
    assert await hass.async_add_executor_job(disk_free_bytes, nvr.root) >= 3 * MIB


async def test_index_rebuilt_from_disk_at_startup(
    hass: HomeAssistant, segment_factory: SegmentFactory, hass_config_dir: str
) -> None:
    """Files on disk without an index are indexed again when the integration starts."""
    root = Path(hass_config_dir) / "cctv_nvr" / "recordings"
    made = await hass.async_add_executor_job(
        segment_factory.make_history, root, None, "front_door", time.time() - 7200, 4, 4
    )
    for segment in made:
        old = time.time() - 3600
        os.utime(root / segment.path, (old, old))
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    index = hass.data[DATA_NVR].index
    rebuilt = await hass.async_add_executor_job(index.segments, "front_door", 0, time.time())
    assert [s.path for s in rebuilt] == [s.path for s in made]
    for got, want in zip(rebuilt, made, strict=True):
        assert abs(got.start - want.start) < 1
        assert abs(got.duration - want.duration) < 1 / 15


async def test_corrupt_index_is_set_aside_and_rebuilt(
    hass: HomeAssistant, segment_factory: SegmentFactory, hass_config_dir: str
) -> None:
    """A corrupt database is kept aside (never deleted) and the index rebuilt from disk."""
    base = Path(hass_config_dir) / "cctv_nvr"
    made = await hass.async_add_executor_job(
        segment_factory.make_history,
        base / "recordings",
        None,
        "front_door",
        time.time() - 7200,
        3,
        4,
    )
    for segment in made:
        os.utime(base / "recordings" / segment.path, (time.time() - 3600,) * 2)
    (base / "index.db").write_bytes(b"this is not a database" * 100)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    aside = list(base.glob("index.db.corrupt-*"))
    assert len(aside) == 1
    index = hass.data[DATA_NVR].index
    rebuilt = await hass.async_add_executor_job(index.segments, "front_door", 0, time.time())
    assert len(rebuilt) == 3
