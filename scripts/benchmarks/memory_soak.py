"""Section 7 (also "soak"): memory soak.

VmRSS of the bench process and its ffmpeg children, 8 cameras for 10 min, growth in
MB/hour after a 1-min warm-up. In a run of several sections it runs in a child process
beside the others (it costs little CPU, and its own process keeps its RSS apart).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import time

from custom_components.cctv_nvr.engine.index import SegmentIndex
from tests.simulator import CameraSimulator

from .common import (
    MOUNT,
    Bench,
    Row,
    Section,
    ffmpeg_pid,
    log,
    make_recorder,
    recording,
    wait_until,
)

TITLE = "7 Memory soak"

SOAK_INTERVAL = 10.0
SOAK_WARMUP = 60.0  # excluded from the slope (--quick: a third of the window)


def vm_rss(pid: int | str | None) -> int | None:
    """VmRSS of a process in bytes (None when it is gone)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return sxy / sxx * 3600 if sxx else float("nan")


async def section_memory(
    sim: CameraSimulator, work: Path, k: int, seconds: float
) -> list[Row]:
    sec = TITLE
    url = sim.url(MOUNT)
    await asyncio.to_thread(work.mkdir, parents=True)
    index = SegmentIndex(work / "index.db")
    recs = [make_recorder(work / "rec", f"cam{i:02d}", url, index) for i in range(k)]
    # (t, self RSS, sum of ffmpeg children RSS, children found)
    samples: list[tuple[float, int, int, int]] = []
    try:
        await asyncio.gather(*(r.start() for r in recs))
        await wait_until(lambda: all(recording(r) for r in recs), 60, f"{k} recorders recording")
        pids = [ffmpeg_pid(r) for r in recs]
        log(f"section 7: {k} recorders for {seconds:g} s, RSS every {SOAK_INTERVAL:g} s")
        t0 = time.monotonic()
        while True:
            t = time.monotonic() - t0
            children = [vm_rss(ffmpeg_pid(r)) for r in recs]
            found = [c for c in children if c is not None]
            samples.append((t, vm_rss("self") or 0, sum(found), len(found)))
            if t >= seconds - 0.5:
                break
            await asyncio.sleep(max(0.0, min(SOAK_INTERVAL * len(samples), seconds) - t))
        restarts = sum(1 for r, pid in zip(recs, pids, strict=True) if ffmpeg_pid(r) != pid)
    finally:
        await asyncio.gather(*(r.stop() for r in recs), return_exceptions=True)
        segments = sum(len(index.segments(r.config.camera, 0, 1e12)) for r in recs)
        index.close()
    warmup = min(SOAK_WARMUP, seconds / 3)
    after_warmup = [s for s in samples if s[0] >= warmup - 0.5]
    if len(after_warmup) < 2:
        raise RuntimeError(f"only {len(after_warmup)} samples after the warm-up")
    mib = 2**20
    rows: list[Row] = []
    for label, field in (("bench process (recorders)", 1), ("ffmpeg children (sum)", 2)):
        start, end = samples[0][field] / mib, samples[-1][field] / mib
        slope = slope_per_hour([(s[0], s[field] / mib) for s in after_warmup])
        low = min(s[field] for s in after_warmup) / mib
        high = max(s[field] for s in after_warmup) / mib
        rows.append((
            sec, f"{label}: RSS growth", f"{slope:+.1f} MB/hour",
            (f"VmRSS start {start:.1f} MB, end {end:.1f} MB; after warm-up min {low:.1f}, max "
             f"{high:.1f} MB; least-squares slope over {len(after_warmup)} samples from "
             f"t >= {warmup:g} s; target < 5 MB/hour"),
        ))
    total_start = (samples[0][1] + samples[0][2]) / mib
    total_end = (samples[-1][1] + samples[-1][2]) / mib
    total_slope = slope_per_hour([(s[0], (s[1] + s[2]) / mib) for s in after_warmup])
    rows.append((
        sec, f"total, {k} cameras, {samples[-1][0]:.0f} s", f"{total_slope:+.1f} MB/hour",
        (f"start {total_start:.1f} MB, end {total_end:.1f} MB; {len(samples)} samples every "
         f"{SOAK_INTERVAL:g} s; children found per sample {min(s[3] for s in samples)}-"
         f"{max(s[3] for s in samples)} of {k}; restarts {restarts}; {segments} segments indexed; "
         "MB = MiB; " + ("meets" if total_slope < 5 else "MISSES") + " the 5 MB/hour target"),
    ))
    return rows


async def run(bench: Bench) -> list[Row]:
    k, seconds = (2, 45) if bench.quick else (8, 600)
    sim = await bench.simulator()
    log(f"section 7: memory soak, {k} cameras for {seconds} s")
    return await section_memory(sim, bench.work / "s7", k, seconds)


SECTION = Section("7", "soak", TITLE, run, beside=True)
