"""Recordings location in Home Assistant: the folder option, moving footage, a vanishing NAS.

Real Home Assistant, the RTSP simulator and ffmpeg. The read-only, small and vanishing
folders are real mounts (tmpfs, bind mounts): mounting needs root in a mount namespace
(the dev root and CI); elsewhere those tests are skipped and say why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
import subprocess
import time
from typing import Any

from homeassistant.core import Context, Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.cctv_nvr import locations
from custom_components.cctv_nvr.const import (
    CONF_LOCAL_FALLBACK,
    CONF_MIN_FREE_GB,
    CONF_RECORDINGS_FOLDER,
    DOMAIN,
    EVENT_MOVE_PROGRESS,
    GB,
)
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine import location
from custom_components.cctv_nvr.engine.index import Segment
from custom_components.cctv_nvr.engine.layout import hour_dir
from custom_components.cctv_nvr.engine.recorder import RecorderState
from tests.engine.helpers import wait_for
from tests.engine.segments_factory import SegmentFactory
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

CAMERA = "front_door"
SWITCH = "switch.front_door_continuous_recording"


def _mount(*args: str) -> None:
    """Run mount (or umount); skip the test when this machine does not permit it."""
    if os.geteuid() != 0:
        pytest.skip("mounting needs root in a mount namespace (run the tests in the dev root)")
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"mounting is not permitted here ({' '.join(args)}): {result.stderr.strip()}")


@contextmanager
def _mounted(*args: str, target: Path) -> Iterator[Path]:
    _mount(*args, str(target))
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


async def _options(hass: HomeAssistant, entry: Any, **changes: Any) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(result["flow_id"], changes)
    await hass.async_block_till_done()
    return dict(result)


def _segments(hass: HomeAssistant) -> list[Segment]:
    return hass.data[DATA_NVR].index.segments(CAMERA, 0, time.time() + 60)


async def _wait_segments(hass: HomeAssistant, check: Any, timeout: float = 90) -> None:
    async def found() -> bool:
        return bool(check(await hass.async_add_executor_job(_segments, hass)))

    start = time.monotonic()
    while not await found():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"segments not as expected within {timeout} s")
        await hass.async_block_till_done()
        await asyncio.sleep(0.3)


async def _play(hass_client: Any, segment: Segment) -> None:
    client = await hass_client()
    response = await client.get(f"/api/{DOMAIN}/segment/{segment.row_id}.mp4")
    assert response.status == 200, segment
    assert len(await response.read()) == segment.bytes


async def test_folder_option_validation(
    hass: HomeAssistant, simulator: CameraSimulator, hass_config_dir: str
) -> None:
    """Every wrong folder is refused with its reason; a good one is claimed and saved."""
    other = camera_entry(simulator, name="Back yard", mount="h265")
    other.add_to_hass(hass)
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    config = Path(hass_config_dir)
    default = hass.data[DATA_NVR].root
    elsewhere = config / "elsewhere"
    (elsewhere / "back_yard").mkdir(parents=True)
    hass.config_entries.async_update_entry(
        other, options={**other.options, CONF_RECORDINGS_FOLDER: str(elsewhere)}
    )
    (config / ".storage").mkdir(exist_ok=True)
    cases = {
        "relative/folder": "folder_not_absolute",
        str(config / "missing"): "folder_missing",
        str(default / "back_yard"): "folder_inside_camera",
        str(default / CAMERA / "x"): "folder_inside_camera",
        str(elsewhere / "back_yard" / "deeper"): "folder_inside_camera",
        str(config / ".storage" / "x"): "folder_forbidden",
    }
    for folder, error in cases.items():
        result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: folder})
        assert result["type"] is FlowResultType.FORM, folder
        assert result["errors"] == {CONF_RECORDINGS_FOLDER: error}, folder
        assert result["description_placeholders"]["default_folder"] == str(default)
    # The default folder, spelled out, is stored as "the default".
    result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: str(default) + "/"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_RECORDINGS_FOLDER] == ""
    good = config / "media" / "cctv"
    good.mkdir(parents=True)
    result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: f"{good}/"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_RECORDINGS_FOLDER] == str(good)
    assert (good / location.MARKER).is_file()
    assert entry.runtime_data.recorder.config.root == good


async def test_folder_option_read_only_and_full(
    hass: HomeAssistant, simulator: CameraSimulator, hass_config_dir: str
) -> None:
    """A read-only mount is not writable; a small one has less room than the floor."""
    entry = await setup_camera(hass, camera_entry(simulator))
    read_only = Path(hass_config_dir) / "ro"
    read_only.mkdir()
    with _mounted("mount", "-t", "tmpfs", "-o", "ro,size=4m", "none", target=read_only):
        result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: str(read_only)})
        assert result["errors"] == {CONF_RECORDINGS_FOLDER: "folder_not_writable"}
    small = Path(hass_config_dir) / "small"
    small.mkdir()
    with _mounted("mount", "-t", "tmpfs", "-o", "size=4m", "none", target=small):
        result = await _options(
            hass,
            entry,
            **{CONF_RECORDINGS_FOLDER: str(small), CONF_MIN_FREE_GB: 16 * 2**20 / GB},
        )
        assert result["errors"] == {CONF_RECORDINGS_FOLDER: "folder_low_space"}


async def test_change_folder_then_move_footage(
    hass: HomeAssistant, simulator: CameraSimulator, hass_config_dir: str, hass_client: Any
) -> None:
    """New segments go to the new folder, old ones stay playable; the move takes them over."""
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    nvr = hass.data[DATA_NVR]
    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    await _wait_segments(hass, lambda s: len(s) >= 2)
    old = await hass.async_add_executor_job(_segments, hass)
    assert {s.root for s in old} == {None}

    folder = Path(hass_config_dir) / "media" / "cctv"
    folder.mkdir(parents=True)
    result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: str(folder)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    await _wait_segments(hass, lambda s: sum(seg.root == str(folder) for seg in s) >= 2)
    for segment in old:
        await _play(hass_client, segment)  # still where it was written
    new = [s for s in await hass.async_add_executor_job(_segments, hass) if s.root]
    assert all((folder / s.path).is_file() for s in new)
    await _play(hass_client, new[0])
    # An export over both folders holds the footage of both.
    response = await hass.services.async_call(
        DOMAIN,
        "export",
        {
            "entity_id": "camera.front_door",
            "start": dt_util.utc_from_timestamp(old[0].start),
            "end": dt_util.utc_from_timestamp(new[-1].end),
        },
        blocking=True,
        return_response=True,
    )
    footage = (old[-1].end - old[0].start) + (new[-1].end - new[0].start)
    assert response["duration"] >= footage - 1  # type: ignore[index]

    events: list[Event] = []
    hass.bus.async_listen(EVENT_MOVE_PROGRESS, events.append)
    response = await hass.services.async_call(
        DOMAIN,
        "move_footage",
        {"entity_id": "camera.front_door"},
        blocking=True,
        return_response=True,
    )
    moving = response["moving"][entry.entry_id]  # type: ignore[index]
    assert moving["segments"] >= len(old)
    with pytest.raises(HomeAssistantError):  # one move at a time
        await entry.runtime_data.location.async_move()
    task = entry.runtime_data.location.move_task
    assert task is not None
    report = await task
    await hass.async_block_till_done()
    assert report.moved == moving["segments"]
    assert events[-1].data["done"] is True
    assert events[-1].data["percent"] == 100
    for segment in old:
        moved = await hass.async_add_executor_job(nvr.index.segment_by_id, segment.row_id)
        assert moved is not None
        assert moved.root == str(folder)
        assert not (nvr.root / segment.path).exists()
        await _play(hass_client, moved)

    # Back to the default folder (and the fallback off): the folder stays a valid choice.
    result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: "", CONF_LOCAL_FALLBACK: False})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.runtime_data.recorder.config.root == nvr.root
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)


@pytest.mark.parametrize("periodic", [True, False], ids=["periodic", "stray"])
async def test_vanishing_network_storage(  # noqa: PLR0915 - one story, told in order
    hass: HomeAssistant,
    own_simulator: CameraSimulator,
    hass_config_dir: str,
    hass_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    periodic: bool,
) -> None:
    """A NAS (a bind mount) goes away mid-recording and returns: nothing is lost.

    Unmounting leaves the bare mount point: recording falls back to the default folder
    (a repair issue says so), files written into the bare folder meanwhile move there
    too, and when the mount is back recording returns to it and the issue clears. The
    NAS's files were kept by the NAS (the bind mount's source); every index row then
    names a file that exists, and footage of both folders plays.

    ``periodic``: the check every second notices it. Otherwise the check runs by hand
    once ffmpeg has indexed a segment written into the bare mount point (a stray),
    which must then be moved to the default folder with its row.
    """
    interval = 1 if periodic else 3600
    monkeypatch.setattr(locations, "CHECK_INTERVAL", locations.timedelta(seconds=interval))
    config = Path(hass_config_dir)
    nas_disk = config / "nas_disk"  # what the NAS really stores
    nas_disk.mkdir()
    mount_point = config / "nas"
    mount_point.mkdir()
    if not periodic:
        # The bare mount point has this hour's folder (the camera recorded there before
        # the NAS was mounted): ffmpeg's next file then opens there, unnoticed, once the
        # NAS is gone. Without it ffmpeg fails at the next file and the recorder waits.
        now = datetime.now(UTC)
        for moment in (now, now + timedelta(hours=1)):
            hour_dir(mount_point, CAMERA, moment).mkdir(parents=True)
    _mount("mount", "--bind", str(nas_disk), str(mount_point))
    try:
        entry = camera_entry(own_simulator, segment_seconds=2)
        entry.add_to_hass(hass)
        await setup_camera(hass, entry)
        result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: str(mount_point)})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        nvr = hass.data[DATA_NVR]
        recorder = entry.runtime_data.recorder
        issue_id = f"location_missing_{entry.entry_id}"
        await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
        await _wait_segments(hass, lambda s: sum(seg.root == str(mount_point) for seg in s) >= 3)

        # The NAS goes off (lazily: ffmpeg still holds a file open there).
        subprocess.run(["umount", "-l", str(mount_point)], check=True)
        strays: list[Segment] = []
        if not periodic:

            def in_bare_folder(segments: list[Segment]) -> bool:
                strays[:] = [s for s in segments if s.root and (mount_point / s.path).is_file()]
                return bool(strays)

            await _wait_segments(hass, in_bare_folder, timeout=30)
            await entry.runtime_data.location.async_check()
        await wait_for(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id), 30)
        await wait_for(lambda: recorder.config.root == nvr.root, 30)
        await _wait_segments(hass, lambda s: sum(seg.root is None for seg in s) >= 3)
        bare = sorted((mount_point / CAMERA).rglob("*.mp4")) if mount_point.exists() else []
        assert bare == [], "files left in the bare mount point would be hidden by the NAS"
        for stray in strays:
            rescued = nvr.index.segment_by_id(stray.row_id)
            assert rescued is not None
            assert rescued.root is None
            assert (nvr.root / stray.path).is_file()

        # The NAS returns.
        subprocess.run(["mount", "--bind", str(nas_disk), str(mount_point)], check=True)
        if not periodic:
            await entry.runtime_data.location.async_check()
        await wait_for(lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None, 30)
        await wait_for(lambda: recorder.config.root == mount_point, 30)
        before = len(await hass.async_add_executor_job(_segments, hass))
        await _wait_segments(
            hass,
            lambda s: len(s) >= before + 2 and s[-1].root == str(mount_point),
        )
        await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)
        await hass.async_block_till_done()
        assert recorder.status.state == RecorderState.IDLE

        segments = await hass.async_add_executor_job(_segments, hass)
        roots = [s.root for s in segments]
        assert None in roots
        assert str(mount_point) in roots
        missing = [s.path for s in segments if not s.file(nvr.root).is_file()]
        assert missing == []
        on_disk = {p.relative_to(nas_disk).as_posix() for p in nas_disk.rglob("*.mp4")}
        on_disk |= {p.relative_to(nvr.root).as_posix() for p in nvr.root.rglob("*.mp4")}
        assert on_disk == {s.path for s in segments}, "a file on disk is not indexed"
        # The timeline spans both folders: no gap longer than a restart at each switch.
        spans = nvr.index.coverage(CAMERA, segments[0].start, segments[-1].end, max_gap=15)
        assert len(spans) == 1
        await _play(hass_client, next(s for s in segments if s.root is None))
        await _play(hass_client, next(s for s in segments if s.root))
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_vanished_folder_without_fallback_waits(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_config_dir: str,
    hass_read_only_user: MockUser,
) -> None:
    """Fallback off: a missing folder stops recording with the problem shown, then resumes."""
    folder = Path(hass_config_dir) / "share"
    folder.mkdir()
    entry = camera_entry(simulator, segment_seconds=2)
    entry.add_to_hass(hass)
    await setup_camera(hass, entry)
    result = await _options(
        hass, entry, **{CONF_RECORDINGS_FOLDER: str(folder), CONF_LOCAL_FALLBACK: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    coordinator = entry.runtime_data
    with pytest.raises(Unauthorized):  # moving footage is for administrators
        await hass.services.async_call(
            DOMAIN,
            "move_footage",
            {"entity_id": "camera.front_door"},
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    (folder / location.MARKER).unlink()  # the share is not mounted: no marker
    await coordinator.location.async_check()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"location_missing_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "location_missing_stopped"
    with pytest.raises(HomeAssistantError):
        await coordinator.location.async_move()
    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    await wait_for(lambda: coordinator.recorder.status.reason == "location_missing", 30)
    assert coordinator.recorder.config.root == folder
    assert not list(folder.rglob("*.mp4"))
    location.claim(folder)  # mounted again
    await coordinator.location.async_check()
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"location_missing_{entry.entry_id}") is None
    await _wait_segments(hass, lambda s: any(seg.root == str(folder) for seg in s))
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)


async def test_move_interrupted_by_unload_leaves_everything_playable(
    hass: HomeAssistant, simulator: CameraSimulator, hass_config_dir: str
) -> None:
    """Unloading the camera mid-move stops it; every row names a file; a new move finishes."""
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    nvr = hass.data[DATA_NVR]
    await hass.services.async_call("switch", "turn_on", {"entity_id": SWITCH}, blocking=True)
    await _wait_segments(hass, lambda s: len(s) >= 4)
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)
    folder = Path(hass_config_dir) / "media" / "cctv"
    folder.mkdir(parents=True)
    result = await _options(hass, entry, **{CONF_RECORDINGS_FOLDER: str(folder)})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await entry.runtime_data.location.async_move()
    task = entry.runtime_data.location.move_task
    assert task is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert task.cancelled()
    segments = await hass.async_add_executor_job(_segments, hass)
    assert [s.path for s in segments if not s.file(nvr.root).is_file()] == []
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.location.async_move()
    assert entry.runtime_data.location.move_task is not None
    await entry.runtime_data.location.move_task
    segments = await hass.async_add_executor_job(_segments, hass)
    assert {s.root for s in segments} == {str(folder)}
    assert all(s.file(nvr.root).is_file() for s in segments)


async def test_fresh_index_is_rebuilt_from_every_folder(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_config_dir: str,
    segment_factory: SegmentFactory,
) -> None:
    """A lost index is rebuilt from the default folder and from each camera's own folder."""
    folder = Path(hass_config_dir) / "nas"
    made = segment_factory.make_history(folder, None, CAMERA, time.time() - 3600, 3, 2)
    for path in folder.rglob("*.mp4"):
        os.utime(path, (time.time() - 600, time.time() - 600))  # finished long ago
    location.claim(folder)
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_RECORDINGS_FOLDER: str(folder)}
    )
    await setup_camera(hass, entry)
    await _wait_segments(hass, lambda s: len(s) == len(made), timeout=30)
    segments = await hass.async_add_executor_job(_segments, hass)
    assert {s.root for s in segments} == {str(folder)}
    assert {s.path for s in segments} == {s.path for s in made}
