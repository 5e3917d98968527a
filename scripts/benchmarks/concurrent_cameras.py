"""Section 2 (also "concurrent"): K concurrent Recorders.

Packets in the segment files vs fps x indexed duration, gaps between indexed segments,
CPU of the ffmpeg children.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
import sys
import time
import traceback

import av

from custom_components.cctv_nvr.engine.index import SegmentIndex
from tests.simulator import CameraSimulator

from .common import (
    FPS,
    MOUNT,
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


async def run_k(sim: CameraSimulator, work: Path, k: int, seconds: float) -> KResult:
    url = sim.url(MOUNT)
    root = work / f"k{k}"
    root.mkdir(parents=True)
    index = SegmentIndex(root / "index.db")
    recs = [make_recorder(root / "rec", f"cam{i:02d}", url, index) for i in range(k)]
    try:
        await asyncio.gather(*(r.start() for r in recs))
        await wait_until(lambda: all(recording(r) for r in recs), 60, f"{k} recorders recording")
        await asyncio.sleep(1)
        pids = [ffmpeg_pid(r) for r in recs]
        before = [proc_cpu(pid) for pid in pids]
        sim_before, self_before = proc_cpu(sim.pid), self_cpu()
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        after = [proc_cpu(pid) for pid in pids]
        sim_after, self_after = proc_cpu(sim.pid), self_cpu()
        wall = time.monotonic() - t0
        restarts = sum(r.status.restarts for r in recs)
        restarts += sum(
            1 for r, pid in zip(recs, pids, strict=True)
            if ffmpeg_pid(r) != pid
        )
    finally:
        await asyncio.gather(*(r.stop() for r in recs), return_exceptions=True)
    ffmpeg_cpu = sum(
        a - b for a, b in zip(after, before, strict=True) if a is not None and b is not None
    )
    problems: list[str] = []
    try:
        results = await asyncio.to_thread(
            lambda: [analyse_recorder(index, root / "rec", r.config.camera, problems) for r in recs]
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
        self_cpu=self_after - self_before,
        sim_cpu=(sim_after or 0) - (sim_before or 0),
        wall=wall,
        segments=sum(r.segments for r in results),
        later=sum(r.later for r in results),
        steady_per_cam=[r.lost - r.lost_first for r in results],
        problems=problems,
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
        log(f"section 2: {k} recorders for {seconds:g} s")
        try:
            res = await run_k(sim, work, k, seconds)
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
             f"supervisor {res.self_cpu / res.wall * 100:.1f} %; simulator (not counted) "
             f"{res.sim_cpu / res.wall * 100:.1f} %")
            + (f"; problems: {'; '.join(res.problems[:3])}" if res.problems else ""),
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
    ks, seconds = ([4], 8) if bench.quick else ([8, 16, 32], 40)
    return await section_concurrent(bench, bench.work / "s2", ks, seconds)


SECTION = Section("2", "concurrent", TITLE, run)
