"""Section 13 (also "push"): push cameras (engine/ingest.py) against pulled ones.

(a) CPU per camera-minute of a pushed camera against a pulled RTSP camera of the same
stream in the same run: N pulled Recorders record the simulator's /main while N "cameras"
(an `ffmpeg -c copy -f flv` relay each, pulling the same /main) publish it to our
IngestServer, where N PushRecorders record it, all over the same window. Pushed =
its recording ffmpeg + the bench process's Python (the ingest server parsing RTMP and
feeding ffmpeg; an upper bound: the pulled supervisors and the bench's waiting are in
it too). Pulled = its recording ffmpeg. The relays play the cameras and are not counted.

(b) The largest number of publishers with zero lost packets (tried 16 and 32; --quick 4):
K relays publish at once; packets in every indexed segment against fps x duration, gaps
between segments (section 2's analysis), and the event loop's lag meanwhile (against the
same sampler with no publishers just before: the host's own noise).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import Path
import signal
import sys
import time
import traceback

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.ingest import (
    IngestServer,
    PushRecorder,
    new_stream_key,
    publish_url,
)
from custom_components.cctv_nvr.engine.recorder import RecorderConfig, RecorderState
from tests.simulator import CameraSimulator

from .common import (
    FPS,
    MOUNT,
    SEGMENT_SECONDS,
    Bench,
    Row,
    Section,
    failed,
    ffmpeg_pid,
    log,
    make_recorder,
    per_cam_min,
    proc_cpu,
    recording,
    self_cpu,
    wait_until,
)
from .concurrent_cameras import analyse_recorder
from .loop_lag import lag_sampler, lag_stats

TITLE = "13 Push cameras"


async def relay(url: str, target: str, log_file: Path) -> asyncio.subprocess.Process:
    """A "camera" that publishes: the simulator's stream copied to an RTMP URL."""
    with log_file.open("ab") as handle:
        return await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
            "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "flv", target,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=handle,
        )  # fmt: skip


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        if proc.returncode is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class PushSide:
    """An ingest server with K push cameras, each fed by a relay of the simulator."""

    def __init__(self, root: Path, index: SegmentIndex, k: int) -> None:
        self.root = root
        self.index = index
        self.server = IngestServer(port=0, host="127.0.0.1")
        self.recorders: list[PushRecorder] = []
        self.keys: list[str] = []
        self.relays: list[asyncio.subprocess.Process] = []
        self.k = k

    async def start(self, url: str) -> None:
        await self.server.start()
        for i in range(self.k):
            recorder = PushRecorder(
                RecorderConfig(camera=f"push{i:02d}", root=self.root, url="",
                               segment_seconds=SEGMENT_SECONDS, fps_hint=FPS),
                self.index,
            )
            key = new_stream_key()
            self.server.add_camera(recorder, key)
            await recorder.start()
            self.recorders.append(recorder)
            self.keys.append(key)
        for i, key in enumerate(self.keys):
            target = publish_url("127.0.0.1", self.server.port, key)
            self.relays.append(await relay(url, target, self.root / f"relay{i:02d}.log"))

    def recording(self) -> bool:
        return all(r.status.state == RecorderState.RECORDING and ffmpeg_pid(r) is not None
                   for r in self.recorders)

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.recorders), return_exceptions=True)
        await stop_all(self.relays)
        await self.server.stop()


async def section_cpu(sim: CameraSimulator, work: Path, n: int, seconds: float) -> list[Row]:
    sec = TITLE
    url = sim.url(MOUNT)
    await asyncio.to_thread((work / "push").mkdir, parents=True)
    index = SegmentIndex(work / "index.db")
    pulled = [make_recorder(work / "pull", f"pull{i:02d}", url, index) for i in range(n)]
    push = PushSide(work / "push", index, n)
    try:
        await asyncio.gather(*(r.start() for r in pulled))
        await push.start(url)
        await wait_until(lambda: all(recording(r) for r in pulled) and push.recording(), 60,
                         f"{n} pulled and {n} pushed cameras recording")
        await asyncio.sleep(2)
        pull_pids = [ffmpeg_pid(r) for r in pulled]
        push_pids = [ffmpeg_pid(r) for r in push.recorders]
        relay_pids = [p.pid for p in push.relays]
        before = {pid: proc_cpu(pid) for pid in [*pull_pids, *push_pids, *relay_pids]}
        self_before = self_cpu()
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        after = {pid: proc_cpu(pid) for pid in before}
        python = self_cpu() - self_before
        wall = time.monotonic() - t0
        restarted = [r.config.camera for r, pid in zip([*pulled, *push.recorders],
                                                        [*pull_pids, *push_pids], strict=True)
                     if ffmpeg_pid(r) != pid]
    finally:
        await asyncio.gather(*(r.stop() for r in pulled), return_exceptions=True)
        await push.stop()
        index.close()

    def cpu(pids: list[int | None]) -> float:
        total = 0.0
        for pid in pids:
            start, end = before.get(pid), after.get(pid)
            if start is None or end is None:
                raise RuntimeError(f"process {pid} ended during the window")
            total += end - start
        return total

    pull_rate = per_cam_min(cpu(pull_pids), wall) / n
    push_ffmpeg = per_cam_min(cpu(push_pids), wall) / n
    push_python = per_cam_min(python, wall) / n
    relay_rate = per_cam_min(cpu(relay_pids), wall) / n
    fmt = "{:.3f} CPU-s"
    note = f"{n} + {n} cameras of /main (1080p H.264, 15 fps), same {wall:.0f} s window"
    if restarted:
        note += f"; RESTARTED in window: {', '.join(restarted)}"
    return [
        (sec, "(a) pulled: Recorder's ffmpeg (RTSP)", fmt.format(pull_rate), note),
        (sec, "(a) pushed: PushRecorder's ffmpeg (FLV on stdin)", fmt.format(push_ffmpeg), note),
        (sec, "(a) pushed: Python (ingest server + supervisors)", fmt.format(push_python),
         "getrusage(SELF) / pushed cameras: an upper bound (pulled supervisors, bench waiting)"),
        (sec, "(a) ratio pushed/pulled",
         f"{(push_ffmpeg + push_python) / pull_rate:.2f}x",
         f"ffmpeg only {push_ffmpeg / pull_rate:.2f}x"),
        (sec, "(a) relays playing the cameras (not counted)", fmt.format(relay_rate), ""),
    ]


async def run_k(sim: CameraSimulator, work: Path, k: int, seconds: float) -> Row:
    sec = TITLE
    root = work / f"k{k}"
    await asyncio.to_thread(root.mkdir, parents=True)
    index = SegmentIndex(root / "index.db")
    push = PushSide(root, index, k)
    baseline = lag_stats(await lag_sampler(min(seconds / 2, 15)))  # the host's noise alone
    try:
        await push.start(sim.url(MOUNT))
        await wait_until(push.recording, 90, f"{k} pushed cameras recording")
        await asyncio.sleep(1)
        pids = [ffmpeg_pid(r) for r in push.recorders]
        t0 = time.monotonic()
        lags = await lag_sampler(seconds)
        wall = time.monotonic() - t0
        restarts = sum(r.status.restarts for r in push.recorders)
        restarts += sum(1 for r, pid in zip(push.recorders, pids, strict=True)
                        if ffmpeg_pid(r) != pid)
        dropped = sum(1 for r in push.recorders if not r.push_status.connected)
    finally:
        await push.stop()
    problems: list[str] = []
    try:
        results = await asyncio.to_thread(
            lambda: [analyse_recorder(index, root, r.config.camera, problems)
                     for r in push.recorders]
        )
    finally:
        index.close()
    steady = sum(r.lost - r.lost_first for r in results)
    lost = sum(r.lost for r in results)
    gap = max(r.max_gap for r in results)
    cover = min(r.covered for r in results)
    p50, p99, worst = lag_stats(lags)
    zero = (steady == 0 and gap <= 1.5 / FPS and restarts == 0 and dropped == 0
            and not problems and cover >= wall)
    verdict = "zero loss" if zero else "LOSS"
    return (
        sec, f"(b) K={k} publishers, {seconds:g} s",
        (
            f"{verdict}: lost {steady} steady-state packets ({lost} incl. first segments), "
            f"largest gap {gap * 1000:.0f} ms"
        ),
        (
            f"{sum(r.packets for r in results)} packets in {sum(r.segments for r in results)} "
            f"segments; shortest coverage {cover:.1f} s of {wall:.1f} s; restarts {restarts}, "
            f"dropped publishers {dropped}; event loop lag p50/p99/max {p50:.2f}/{p99:.2f}/"
            f"{worst:.1f} ms (no publishers, just before: {baseline[0]:.2f}/{baseline[1]:.2f}/"
            f"{baseline[2]:.1f} ms)"
        )
        + (f"; problems: {'; '.join(problems[:3])}" if problems else ""),
    )


async def run(bench: Bench) -> list[Row]:
    seconds = 10 if bench.quick else 60
    n = 2 if bench.quick else 4
    ks = [4] if bench.quick else [16, 32]
    work = bench.work / "s13"
    rows: list[Row] = []
    sim = await bench.simulator()
    log(f"section 13: {n} pulled + {n} pushed cameras for {seconds} s")
    rows += await section_cpu(sim, work / "cpu", n, seconds)
    largest = None
    for k in ks:
        sim = await bench.simulator()
        log(f"section 13: {k} publishers for {seconds} s")
        try:
            row = await run_k(sim, work, k, seconds)
        except Exception as err:  # a failed K is a row
            traceback.print_exc(file=sys.stderr)
            rows.append((TITLE, f"(b) K={k}", failed(err, sim), ""))
            bench.ok = False
            continue
        rows.append(row)
        if row[2].startswith("zero loss"):
            largest = k
    rows.append((TITLE, "(b) largest K with zero lost packets",
                 str(largest) if largest else "none", f"tried {', '.join(map(str, ks))}"))
    return rows


SECTION = Section("13", "push", TITLE, run)
