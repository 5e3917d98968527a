"""Section 2 (also "concurrent"): K concurrent Recorders against K bare ffmpeg.

For each K: K bare `ffmpeg -c copy -f segment` of the same URLs over a window of their
own, then K Recorders whose supervisor (one SegmentIndex, the recorders' Python side)
runs in a process of its own (supervisor_side.py), so that its CPU is measured
exactly from /proc. Packets in the segment files vs fps x indexed duration, gaps
between indexed segments, CPU of the ffmpeg children and of the supervisor. The
simulator runs in ceil(K / 16) processes so that it is not what limits K.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import sys
import time
import traceback

import av

from custom_components.cctv_nvr.engine.index import SegmentIndex
from tests.simulator import CameraSimulator

from .common import (
    FPS,
    MOUNT,
    SEGMENT_SECONDS,
    Bench,
    Row,
    Section,
    failed,
    log,
    per_cam_min,
    proc_cpu,
    wait_until,
)
from .cpu import has_media, terminate

TITLE = "2 Concurrent cameras"


def count_packets(path: Path) -> int:
    """Video packets in a file (PyAV demux, no decode)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return sum(1 for p in container.demux(video) if p.size and p.pts is not None)



@dataclass
class KResult:
    k: int
    lost: int  # packets missing from files vs fps x indexed duration, all segments
    lost_first: int  # ... of which in the first segment of a recording run
    packets: int
    expected: int
    max_gap: float
    min_cover: float
    restarts: int
    ffmpeg_cpu: float
    self_cpu: float
    sim_cpu: float
    wall: float
    segments: int
    later: int  # segments that are not the first of their recording run
    steady_per_cam: list[int]
    problems: list[str]
    simulators: int = 1
    lost_per_cam: list[int] | None = None  # all segments
    bare_cpu: float = 0.0  # K bare ffmpeg over a window of their own, just before ours
    bare_wall: float = 1.0
    bare_ended: int = 0

    @property
    def bare_share(self) -> float:
        """Bare ffmpeg, share of one core."""
        return self.bare_cpu / self.bare_wall

    @property
    def total_ratio(self) -> float:
        """(our ffmpeg children + supervisor) / bare ffmpeg, CPU per second of window."""
        return (self.ffmpeg_cpu + self.self_cpu) / self.wall / self.bare_share

    @property
    def steady_loss(self) -> int:
        return self.lost - self.lost_first

    def zero_loss(self, *, strict: bool) -> bool:
        lost = self.lost if strict else self.steady_loss
        return (
            (strict or self.later > 0)
            and lost == 0 and self.max_gap <= 1.5 / FPS and self.restarts == 0
            and not self.problems and self.min_cover >= self.wall
        )


@dataclass
class CamResult:
    lost: int = 0
    lost_first: int = 0
    packets: int = 0
    expected: int = 0
    max_gap: float = 0.0
    covered: float = 0.0
    segments: int = 0
    later: int = 0


def analyse_recorder(index: SegmentIndex, root: Path, camera: str, problems: list[str]) -> CamResult:
    """Packets in each indexed segment file vs fps x its indexed duration; gaps."""
    segments = index.segments(camera, 0, 1e12)
    res = CamResult(segments=len(segments), covered=sum(s.duration for s in segments))
    if not segments:
        problems.append(f"{camera}: no segment indexed")
    for prev, seg in zip([None, *segments], segments, strict=False):
        if prev is not None:
            res.max_gap = max(res.max_gap, seg.start - prev.end)
        try:
            count = count_packets(root / seg.path)
        except (av.error.FFmpegError, OSError, IndexError) as err:
            problems.append(f"{camera}/{Path(seg.path).name}: {err}")
            continue
        first_of_run = prev is None or prev.run_id != seg.run_id
        res.later += not first_of_run
        want = round(seg.duration * FPS)
        res.packets += count
        res.expected += want
        # One frame of slack per segment (rounding, first-packet timestamp quirk).
        if want - count > 1:
            res.lost += want - count
            if first_of_run:
                res.lost_first += want - count
    return res


SUPERVISOR_SIDE = Path(__file__).with_name("supervisor_side.py")
CAMERAS_PER_SIMULATOR = 16  # each simulator process serves at most this many cameras


async def simulators(bench: Bench, work: Path, k: int) -> tuple[list[CameraSimulator], list[str]]:
    """One URL per camera, spread over ceil(k / 16) simulator processes.

    The bench's simulator serves the first 16; the others are started here (and stopped
    by the caller): so that the simulator is not what limits the camera count.
    """
    sims = [await bench.simulator()]
    while len(sims) * CAMERAS_PER_SIMULATOR < k:
        extra = CameraSimulator(stderr=(work / f"sim{len(sims)}.log").open("ab"))
        await extra.astart()
        sims.append(extra)
    return sims, [sims[n // CAMERAS_PER_SIMULATOR].url(MOUNT) for n in range(k)]


def source_side(lost_per_cam: list[int] | None) -> bool:
    """True when every simulator's cameras lost the same count (what that simulator dropped)."""
    if not lost_per_cam:
        return False
    groups = [
        lost_per_cam[n : n + CAMERAS_PER_SIMULATOR]
        for n in range(0, len(lost_per_cam), CAMERAS_PER_SIMULATOR)
    ]
    return any(groups) and all(min(g) == max(g) for g in groups)


def sims_cpu(sims: list[CameraSimulator]) -> float:
    return sum(proc_cpu(sim.pid) or 0.0 for sim in sims)


async def bare_window(work: Path, urls: list[str], seconds: float) -> tuple[float, float, int]:
    """K bare `ffmpeg -c copy -f segment` of the same URLs: (CPU-s, wall, processes ended)."""
    procs = []
    dirs = []
    log_file = (work / "bare.log").open("ab")
    try:
        for number, url in enumerate(urls):
            out = work / f"bare{number:02d}"
            out.mkdir(parents=True)
            dirs.append(out)
            procs.append(
                await asyncio.create_subprocess_exec(
                    "ffmpeg",
                    "-hide_banner",
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                    url,
                    "-c",
                    "copy",
                    "-f",
                    "segment",
                    "-segment_time",
                    str(SEGMENT_SECONDS),
                    "-reset_timestamps",
                    "1",
                    str(out / "out%03d.mp4"),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log_file,
                )
            )
        await wait_until(
            lambda: all(has_media(d) for d in dirs), 90, f"{len(urls)} bare ffmpeg writing"
        )
        await asyncio.sleep(1)
        before = [proc_cpu(proc.pid) for proc in procs]
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        after = [proc_cpu(proc.pid) for proc in procs]
        wall = time.monotonic() - t0
    finally:
        for proc in procs:
            await terminate(proc)
        log_file.close()
        await asyncio.to_thread(lambda: [shutil.rmtree(d, ignore_errors=True) for d in dirs])
    ended = sum(1 for a, b in zip(after, before, strict=True) if a is None or b is None)
    cpu = sum(a - b for a, b in zip(after, before, strict=True) if a is not None and b is not None)
    return cpu, wall, ended


async def run_k(bench: Bench, work: Path, k: int, seconds: float) -> KResult:
    root = work / f"k{k}"
    root.mkdir(parents=True)
    sims, urls = await simulators(bench, work, k)
    try:
        bare_cpu, bare_wall, bare_ended = await bare_window(root, urls, seconds)
        res = await ours_window(sims, root, urls, seconds)
    finally:
        for extra in sims[1:]:
            await extra.astop()
    res.bare_cpu, res.bare_wall, res.bare_ended = bare_cpu, bare_wall, bare_ended
    return res


async def ours_window(
    sims: list[CameraSimulator], root: Path, urls: list[str], seconds: float
) -> KResult:
    """Our recorders, their supervisor in a process of its own (supervisor_side.py)."""
    k = len(urls)
    side = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",
        str(SUPERVISOR_SIDE),
        str(root),
        str(SEGMENT_SECONDS),
        *urls,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=(root / "supervisor.log").open("ab"),
    )
    assert side.stdin is not None
    assert side.stdout is not None
    try:
        ready = json.loads(await asyncio.wait_for(side.stdout.readline(), 150) or b"{}")
        if "ready" not in ready:
            raise RuntimeError(f"supervisor: {ready.get('error', 'exited')}")
        pids: list[int] = ready["ready"]
        await asyncio.sleep(1)
        before = [proc_cpu(pid) for pid in pids]
        sim_before, side_before = sims_cpu(sims), proc_cpu(side.pid) or 0.0
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        after = [proc_cpu(pid) for pid in pids]
        sim_after, side_after = sims_cpu(sims), proc_cpu(side.pid) or 0.0
        wall = time.monotonic() - t0
        side.stdin.write(b"stop\n")
        await side.stdin.drain()
        stopped = json.loads(await asyncio.wait_for(side.stdout.readline(), 120) or b"{}")
        if "stopped" not in stopped:
            raise RuntimeError("supervisor ended without stopping its recorders")
        restarts = stopped["stopped"]["restarts"]
        restarts += sum(1 for a, b in zip(pids, stopped["stopped"]["pids"], strict=True) if a != b)
    finally:
        await terminate(side, 120)
    ffmpeg_cpu = sum(
        a - b for a, b in zip(after, before, strict=True) if a is not None and b is not None
    )
    problems: list[str] = []
    index = SegmentIndex(root / "index.db")
    try:
        results = await asyncio.to_thread(
            lambda: [
                analyse_recorder(index, root / "rec", f"cam{n:02d}", problems) for n in range(k)
            ]
        )
    finally:
        index.close()
    return KResult(
        k=k,
        lost=sum(r.lost for r in results),
        lost_first=sum(r.lost_first for r in results),
        packets=sum(r.packets for r in results),
        expected=sum(r.expected for r in results),
        max_gap=max(r.max_gap for r in results),
        min_cover=min(r.covered for r in results),
        restarts=restarts,
        ffmpeg_cpu=ffmpeg_cpu,
        self_cpu=side_after - side_before,
        sim_cpu=sim_after - sim_before,
        wall=wall,
        segments=sum(r.segments for r in results),
        later=sum(r.later for r in results),
        steady_per_cam=[r.lost - r.lost_first for r in results],
        problems=problems,
        simulators=len(sims),
        lost_per_cam=[r.lost for r in results],
    )


async def section_concurrent(
    bench: Bench, work: Path, ks: list[int], seconds: float
) -> list[Row]:
    """One row per K (a failed K is a row too, and clears bench.ok), then the largest K."""
    sec = TITLE
    rows: list[Row] = []
    results: list[KResult] = []
    for k in ks:
        sim = await bench.simulator()
        log(f"section 2: {k} bare ffmpeg, then {k} recorders, {seconds:g} s each")
        try:
            res = await run_k(bench, work, k, seconds)
        except Exception as err:
            traceback.print_exc(file=sys.stderr)
            rows.append((sec, f"K={k}, {seconds:g} s", failed(err, sim), ""))
            bench.ok = False
            continue
        if res.zero_loss(strict=True):
            verdict = "zero loss"
        elif res.zero_loss(strict=False):
            verdict = "steady-state zero loss"
        elif res.later == 0 and res.max_gap <= 1.5 / FPS and not res.problems:
            verdict = "window too short for steady-state segments"
        elif (res.lost == 0 and res.max_gap <= 1.5 / FPS and res.restarts == 0
              and not res.problems):
            verdict = (f"no packet lost, but indexed coverage {res.min_cover:.1f} s < the "
                       f"{res.wall:.1f} s window (not counted as zero loss)")
        elif k > 1 and min(res.steady_per_cam) == max(res.steady_per_cam) > 0:
            verdict = "LOSS, identical in every recorder (source side: simulator starved?)"
        elif k > CAMERAS_PER_SIMULATOR and source_side(res.lost_per_cam):
            verdict = ("LOSS, identical among the cameras of each simulator process (source "
                       "side: a simulator starved)")
        else:
            verdict = "LOSS"
        rows.append((
            sec,
            f"K={k}, {res.wall:.0f} s window",
            (f"{verdict}: {res.lost} packets missing of {res.expected} expected "
             f"({res.packets} in files; {res.lost_first} of them in the first segment of a "
             f"run, {res.steady_loss} in {res.later} later segments, per camera "
             f"{min(res.steady_per_cam)}-{max(res.steady_per_cam)}); max gap {res.max_gap * 1000:.0f} ms"),
            (f"{res.segments} segments; min covered {res.min_cover:.1f} s per camera; "
             f"restarts {res.restarts}; ffmpeg children {res.ffmpeg_cpu / res.wall * 100:.1f} % "
             f"of one core ({per_cam_min(res.ffmpeg_cpu, res.wall) / k:.3f} CPU-s/cam-min); "
             f"supervisor (own process) {res.self_cpu / res.wall * 100:.1f} %; "
             f"{res.simulators} simulator process(es) (not counted) "
             f"{res.sim_cpu / res.wall * 100:.1f} %")
            + (f"; problems: {'; '.join(res.problems[:3])}" if res.problems else ""),
        ))
        rows.append((
            sec,
            f"K={k}: ffmpeg + supervisor / bare ffmpeg",
            f"{res.total_ratio:.2f}x",
            (f"ours {res.ffmpeg_cpu / res.wall * 100:.1f} % (ffmpeg children) + "
             f"{res.self_cpu / res.wall * 100:.1f} % (supervisor) of one core, against "
             f"{k} bare `ffmpeg -c copy -f segment` {res.bare_share * 100:.1f} % in a "
             f"{res.bare_wall:.0f} s window of their own just before (same URLs, same "
             f"simulators); ffmpeg alone {res.ffmpeg_cpu / res.wall / res.bare_share:.2f}x, "
             f"supervisor alone {res.self_cpu / res.wall / res.bare_share:.2f}x of bare"
             + (f"; {res.bare_ended} bare ffmpeg ENDED in their window" if res.bare_ended else "")
             + ("; target <= 1.15x" if k == 32 else "")),
        ))
        results.append(res)
    for strict, label in ((True, "all segments"), (False, "excluding each run's first segment")):
        good = [r for r in results if r.zero_loss(strict=strict)]
        best = max(good, key=lambda r: r.k) if good else None
        if best is None:
            rows.append((sec, f"largest K with zero loss ({label})", "none", f"tried K = {ks}"))
        else:
            rows.append((
                sec, f"largest K with zero loss ({label})", f"{best.k} (tried {ks})",
                (f"ffmpeg children {best.ffmpeg_cpu / best.wall * 100:.1f} % of one core "
                 f"(sum of utime+stime / wall); + supervisor "
                 f"{best.self_cpu / best.wall * 100:.1f} %"),
            ))
    return rows


async def run(bench: Bench) -> list[Row]:
    ks, seconds = ([4], 8) if bench.quick else ([8, 16, 32, 48, 64], 40)
    if override := os.environ.get("CCTV_BENCH_KS"):  # e.g. "32" or "32,48:60" (K list:window)
        counts, _, window = override.partition(":")
        ks = [int(k) for k in counts.split(",")]
        seconds = float(window or seconds)
    return await section_concurrent(bench, bench.work / "s2", ks, seconds)


SECTION = Section("2", "concurrent", TITLE, run)
