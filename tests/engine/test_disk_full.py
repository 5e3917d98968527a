"""A full disk, for real: a small tmpfs mounted for the test.

Mounting needs root (the dev root and CI run as root); elsewhere the test is skipped and
says why. Nothing is simulated: ffmpeg hits ENOSPC, the recorder stops starting ffmpeg
while there is no room, retention frees space, recording resumes; protected footage is
kept; when nothing can be freed the recorder waits without a restart loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from pathlib import Path
import time

import pytest

from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.recorder import (
    Recorder,
    RecorderConfig,
    RecorderState,
    RecorderStatus,
)
from custom_components.cctv_nvr.engine.retention import (
    CameraRetention,
    RetentionPolicy,
    disk_free_bytes,
    enforce,
)
from tests.engine.helpers import fill_disk, inspect_file, mounted_tmpfs, wait_for
from tests.simulator import CameraSimulator

MIB = 2**20
FS_SIZE = 24 * MIB
FLOOR = 2 * MIB  # the recorder starts no ffmpeg below this
WANT_FREE = 3 * MIB  # what the emergency cleanup restores


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs (unmounted afterwards)."""
    mount = tmp_path / "small"
    mount.mkdir()
    with mounted_tmpfs(mount, FS_SIZE):
        yield mount


async def test_disk_full_cleanup_and_no_restart_loop(
    own_simulator: CameraSimulator, index: SegmentIndex, small_fs: Path
) -> None:
    """ENOSPC → error "disk_full", no ffmpeg while full; cleanup → recording resumes."""
    seen: list[Segment] = []
    statuses: list[RecorderStatus] = []
    root = small_fs / "rec"
    recorder = Recorder(
        RecorderConfig(
            camera="cam",
            root=root,
            url=own_simulator.url("main"),
            segment_seconds=2,
            fps_hint=15,
            min_free_bytes=FLOOR,
            disk_full_retry=1.0,
        ),
        index,
        on_status=statuses.append,
        on_segment=seen.append,
    )
    await recorder.start()
    try:
        await wait_for(lambda: len(seen) >= 9, timeout=60)
        protected = seen[:2]
        index.protect("cam", protected[0].start, protected[-1].end)
        kept = {s.path: (root / s.path).read_bytes() for s in protected}

        # The disk fills up (something else wrote to it): ffmpeg gets ENOSPC.
        await asyncio.to_thread(fill_disk, small_fs / "filler.bin", MIB)
        await wait_for(lambda: recorder.status.reason == "disk_full", timeout=30)
        assert recorder.status.state == RecorderState.ERROR
        # While full, no ffmpeg is started: no restart loop.
        restarts = recorder.status.restarts
        await asyncio.sleep(5)
        assert recorder._proc is None
        assert recorder.status.restarts == restarts
        assert recorder.status.reason == "disk_full"

        # Emergency cleanup: the oldest unprotected footage goes, protected footage stays.
        policy = RetentionPolicy(cameras={"cam": CameraRetention()}, min_free_bytes=WANT_FREE)
        report = await asyncio.to_thread(
            partial(enforce, index, root, policy, free_bytes=partial(disk_free_bytes, small_fs))
        )
        assert report.deleted_segments > 0
        assert not report.still_short
        assert disk_free_bytes(small_fs) >= WANT_FREE
        resumed = time.time()
        count = len(seen)
        await wait_for(lambda: recorder.status.state == RecorderState.RECORDING, timeout=15)
        await wait_for(lambda: len(seen) > count + 1, timeout=30)
        assert any(s.start >= resumed - 1 for s in seen[count:])
        for path, data in kept.items():
            assert (root / path).read_bytes() == data, f"protected {path} changed"
            assert inspect_file(root / path).first_is_keyframe
        for segment in index.segments("cam", 0, time.time() + 60):  # every file left plays
            assert inspect_file(root / segment.path).first_is_keyframe, segment.path

        # Nothing left to free (everything protected): the recorder stops cleanly and waits.
        await asyncio.to_thread(fill_disk, small_fs / "filler2.bin", MIB // 2)
        await wait_for(lambda: recorder.status.reason == "disk_full", timeout=30)
        index.protect("cam", 0, time.time() + 60)
        report = await asyncio.to_thread(
            partial(enforce, index, root, policy, free_bytes=partial(disk_free_bytes, small_fs))
        )
        assert report.still_short
        assert report.deleted_segments == 0
        restarts = recorder.status.restarts
        await asyncio.sleep(5)
        assert recorder._proc is None
        assert recorder.status.restarts == restarts
        assert recorder.status.state == RecorderState.ERROR
        for segment in index.segments("cam", 0, time.time() + 60):
            assert (root / segment.path).is_file(), segment.path
    finally:
        await recorder.stop()
    # The failure was logged with its reason, once per episode, not once per retry.
    reasons = [s.reason for s in statuses if s.state == RecorderState.ERROR]
    assert reasons and set(reasons) == {"disk_full"}
