"""Supervision cannot die: failures injected at the recorder's await points.

Each case makes one real step of the recorder fail (a DESCRIBE, the free-space check,
the folders, starting ffmpeg, a line of its output, indexing, the reconcile, the
owner's listeners) with an exception that is not one the step expects, then lets it
run for real again. What a user keeps is checked every time: the fault is logged once
with the camera's name and counted, the supervising tasks are alive, recording goes
on, and what is on disk is indexed without a gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import signal
import sqlite3
import time
from typing import Any

import pytest

from custom_components.cctv_nvr.engine import recorder as recorder_module, rtsp
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.recorder import (
    Recorder,
    RecorderConfig,
    RecorderState,
    RecorderStatus,
)
from tests.engine.helpers import inspect_file, wait_for
from tests.simulator import CameraSimulator

FPS = 15
FRAME = 1 / FPS
SEGMENT = 2


@dataclass
class Injector:
    """The recorder's executor: runs blocking calls for real, failing chosen ones first.

    ``target`` is the name of the function to fail (``_index_segment``, ...); its first
    ``skip`` calls run normally, the next ``times`` raise ``error``.
    """

    target: str = ""
    error: BaseException = field(default_factory=lambda: RuntimeError("injected"))
    times: int = 1
    skip: int = 0
    calls: int = 0
    hits: int = 0

    async def __call__(self, func: Callable[..., Any], *args: Any) -> Any:
        if getattr(func, "__name__", "") == self.target:
            self.calls += 1
            if self.calls > self.skip and self.hits < self.times:
                self.hits += 1
                raise self.error
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)


@dataclass
class Rig:
    """A recorder of the shared simulator, with what it reported."""

    recorder: Recorder
    injector: Injector
    seen: list[Segment]
    statuses: list[RecorderStatus]
    index: SegmentIndex
    root: Path


@pytest.fixture
async def rig(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> AsyncIterator[Rig]:
    injector = Injector()
    seen: list[Segment] = []
    statuses: list[RecorderStatus] = []
    recorder = Recorder(
        RecorderConfig(
            camera="cam",
            root=tmp_path / "rec",
            url=simulator.url("sub"),
            segment_seconds=SEGMENT,
            fps_hint=FPS,
        ),
        index,
        executor=injector,
        on_status=statuses.append,
        on_segment=seen.append,
    )
    yield Rig(recorder, injector, seen, statuses, index, tmp_path / "rec")
    await recorder.stop()


def fault_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name == recorder_module.__name__
    ]


async def check_recording_goes_on(
    rig: Rig,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    *,
    raised: bool = True,
    max_gap: float = FRAME,
) -> None:
    """The fault was logged once and counted; recording continues; disk == index, no gap.

    ``max_gap``: one frame, unless the fault had to restart ffmpeg (a new RTSP session).
    """
    recorder = rig.recorder
    count = len(rig.seen)
    await wait_for(lambda: len(rig.seen) >= count + 2, timeout=40)
    assert recorder.alive
    assert recorder.status.state is RecorderState.RECORDING
    assert recorder.status.faults >= 1
    assert recorder.status.last_fault is not None
    assert recorder.status.last_fault.startswith(kind), recorder.status.last_fault
    # A segment was indexed after the fault: the episode is over.
    assert recorder.status.fault_since is None
    logs = fault_logs(caplog)
    assert len(logs) == 1, [r.getMessage() for r in logs]
    message = logs[0].getMessage()
    where, error = kind.split(": ")
    assert message.startswith(f"Camera cam: {where} failed ({error}: "), message
    # The cause, for a bug report (a task cancelled from outside has no traceback).
    assert ("Traceback" in message) is raised, message
    await recorder.stop()
    segments = rig.index.segments("cam", 0, time.time() + 60)
    on_disk = {p.relative_to(rig.root).as_posix() for p in rig.root.rglob("*.mp4")}
    assert on_disk == {s.path for s in segments}
    for before, after in zip(segments, segments[1:], strict=False):
        assert abs(after.start - before.end) <= max_gap, (before.path, after.path)
    for segment in segments:
        facts = inspect_file(rig.root / segment.path)
        assert facts.first_is_keyframe, segment.path
        assert facts.decoded_frames == facts.video_packets, segment.path


def _once(real: Callable[..., Any], error: BaseException) -> Callable[..., Any]:
    """Wrap an async callable: the first call raises ``error``, later calls are real."""
    hits = [0]

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not hits[0]:
            hits[0] += 1
            raise error
        return await real(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    ("target", "error", "times", "kind"),
    [
        ("disk_free_bytes", IndexError("list index out of range"), 1, "supervision: IndexError"),
        ("_prepare_dirs", KeyError("HOME"), 1, "supervision: KeyError"),
        (
            "_index_segment",
            sqlite3.OperationalError("database is locked"),
            2,
            "segment indexing: OperationalError",
        ),
        (
            "_reconcile_blocking",
            sqlite3.DatabaseError("database disk image is malformed"),
            1,
            "start-up reconcile: DatabaseError",
        ),
        ("last_segment", ValueError("bad row"), 1, "start-up reconcile: ValueError"),
    ],
    ids=["disk_free", "prepare_dirs", "index_segment", "startup_reconcile", "last_segment"],
)
async def test_failure_in_blocking_step_is_survived(
    rig: Rig,
    caplog: pytest.LogCaptureFixture,
    target: str,
    error: BaseException,
    times: int,
    kind: str,
) -> None:
    """A blocking step (run in the executor) raises: counted, logged once, retried."""
    rig.injector.target, rig.injector.error, rig.injector.times = target, error, times
    await rig.recorder.start()
    await wait_for(lambda: rig.injector.hits == times, timeout=30)
    await check_recording_goes_on(rig, caplog, kind)


async def test_describe_raising_a_non_rtsp_error_is_survived(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The known bug's shape: DESCRIBE raises ValueError (not an RtspError)."""
    monkeypatch.setattr(rtsp, "describe", _once(rtsp.describe, ValueError("Content-Length")))
    await rig.recorder.start()
    await wait_for(lambda: rig.recorder.status.faults == 1, timeout=10)
    assert any(s.reason == "internal_error" for s in rig.statuses)
    await check_recording_goes_on(rig, caplog, "supervision: ValueError")


async def test_starting_ffmpeg_raising_is_survived(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting the process raises something other than OSError (e.g. a NUL in an argument)."""
    real = asyncio.create_subprocess_exec
    monkeypatch.setattr(
        asyncio, "create_subprocess_exec", _once(real, ValueError("embedded null byte"))
    )
    await rig.recorder.start()
    await check_recording_goes_on(rig, caplog, "supervision: ValueError")


async def test_odd_output_line_is_survived(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing a progress line raises (a plain bug): the pipe is still drained, the run goes on."""
    real = Recorder._progress
    hits = [0]

    def progress(self: Recorder, *args: Any) -> None:
        if not hits[0] and args[1] == "frame":
            hits[0] += 1
            raise AttributeError("'NoneType' object has no attribute 'frames'")
        real(self, *args)

    monkeypatch.setattr(Recorder, "_progress", progress)
    await rig.recorder.start()
    await wait_for(lambda: hits[0] == 1, timeout=20)
    await check_recording_goes_on(rig, caplog, "reading ffmpeg's output: AttributeError")
    assert rig.recorder.status.restarts == 0  # the same ffmpeg run went on


async def test_listeners_raising_are_survived(
    simulator: CameraSimulator,
    index: SegmentIndex,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The owner's on_status and on_segment raise every time: recording and indexing go on."""

    def broken(_value: object) -> None:
        raise RuntimeError("listener bug")

    recorder = Recorder(
        RecorderConfig(
            camera="cam",
            root=tmp_path / "rec",
            url=simulator.url("sub"),
            segment_seconds=SEGMENT,
            fps_hint=FPS,
        ),
        index,
        on_status=broken,
        on_segment=broken,
    )
    try:
        await recorder.start()
        await wait_for(lambda: len(index.segments("cam", 0, time.time() + 60)) >= 3, timeout=40)
        assert recorder.alive
        assert recorder.status.state is RecorderState.RECORDING
        assert recorder.status.faults >= 3
        kinds = {r.getMessage().split(" failed")[0] for r in fault_logs(caplog)}
        assert kinds == {"Camera cam: status listener", "Camera cam: segment listener"}
    finally:
        await recorder.stop()


async def test_reconcile_failing_after_a_run_is_survived(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The reconcile after a run (ffmpeg killed) raises: the next run starts, then indexes it.

    Finishing a run (repairing its cut frame, indexing its leftovers) happens beside
    the next run; a failed one's window is kept for the next finish.
    """
    rig.injector.target = "_reconcile_blocking"
    rig.injector.error = sqlite3.OperationalError("disk I/O error")
    rig.injector.skip = 1  # the start-up reconcile runs normally
    await rig.recorder.start()
    await wait_for(lambda: len(rig.seen) >= 1, timeout=30)
    proc = rig.recorder._proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGKILL)
    await wait_for(lambda: rig.injector.hits == 1, timeout=15)
    await wait_for(
        lambda: rig.recorder._proc is not None and rig.recorder._proc is not proc, timeout=20
    )
    count = len(rig.seen)
    await wait_for(lambda: len(rig.seen) >= count + 2, timeout=40)
    assert rig.recorder.alive
    assert rig.recorder.status.last_fault == "finishing a run: OperationalError"
    assert len(fault_logs(caplog)) == 1
    # The killed run's cut segment is indexed by the next run's finish (its window kept).
    await rig.recorder.stop()
    on_disk = {p.relative_to(rig.root).as_posix() for p in rig.root.rglob("*.mp4")}
    assert on_disk == {s.path for s in rig.index.segments("cam", 0, time.time() + 60)}


async def test_persistent_fault_backs_off_and_clears(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault on every attempt: state error, one log line, growing backoff; then it clears."""
    real = rtsp.describe
    broken = [True]
    calls: list[float] = []

    async def describe(*args: Any, **kwargs: Any) -> rtsp.DescribeResult:
        calls.append(time.monotonic())
        if broken[0]:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return await real(*args, **kwargs)

    monkeypatch.setattr(rtsp, "describe", describe)
    await rig.recorder.start()
    await asyncio.sleep(6.5)
    status = rig.recorder.status
    assert status.state is RecorderState.ERROR
    assert status.reason == "internal_error"
    assert status.fault_since is not None
    assert rig.recorder.alive
    # Backoff 1, 2, 4 s: attempts at about 0, 1, 3 (and 7) s, not a tight loop.
    assert 3 <= len(calls) <= 4, [round(t - calls[0], 1) for t in calls]
    assert status.faults == len(calls)
    assert len(fault_logs(caplog)) == 1
    broken[0] = False
    await check_recording_goes_on(rig, caplog, "supervision: UnicodeDecodeError")


@pytest.mark.parametrize("which", ["_task", "_ingest_task"])
async def test_dead_task_is_revived(rig: Rig, caplog: pytest.LogCaptureFixture, which: str) -> None:
    """A supervising task that ended (cancelled from outside) is seen and started again."""
    recorder = rig.recorder
    await recorder.start()
    await wait_for(lambda: len(rig.seen) >= 1, timeout=30)
    assert recorder.alive
    assert not await recorder.revive()  # nothing to do while alive
    task = getattr(recorder, which)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not recorder.alive
    assert await recorder.revive()
    assert recorder.alive
    # The ffmpeg of a cancelled supervisor ended with it: a reconnect's gap (a few seconds
    # at most); a cancelled ingest task costs nothing (its ffmpeg runs on).
    await check_recording_goes_on(
        rig,
        caplog,
        "supervising task: RuntimeError",
        raised=False,
        max_gap=3.0 if which == "_task" else FRAME,
    )
    assert "was cancelled" in fault_logs(caplog)[0].getMessage()
