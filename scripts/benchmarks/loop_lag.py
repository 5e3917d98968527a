"""Section 6 (also "lag"): event-loop lag.

Event-loop lag p50/p99 of the loop running 16 Recorders (their blocking work in the
default executor) vs the same 10 ms sampler with none.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import statistics
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
    self_cpu,
    wait_until,
)

TITLE = "6 Event-loop lag"

LAG_INTERVAL = 0.010  # the sampler's sleep


async def lag_sampler(seconds: float) -> list[float]:
    """(actual - expected) wake-up delays in s of a task sleeping LAG_INTERVAL repeatedly."""
    lags: list[float] = []
    end = time.perf_counter() + seconds
    while True:
        t = time.perf_counter()
        if t >= end:
            return lags
        await asyncio.sleep(LAG_INTERVAL)
        lags.append(time.perf_counter() - t - LAG_INTERVAL)


def lag_stats(lags: list[float]) -> tuple[float, float, float]:
    """(p50, p99, max) in ms."""
    if len(lags) < 2:
        raise RuntimeError(f"only {len(lags)} lag samples")
    cuts = statistics.quantiles(lags, n=100, method="inclusive")
    return statistics.median(lags) * 1000, cuts[98] * 1000, max(lags) * 1000


async def section_loop_lag(
    sim: CameraSimulator, work: Path, k: int, seconds: float, base_seconds: float
) -> list[Row]:
    sec = TITLE
    url = sim.url(MOUNT)
    await asyncio.to_thread(work.mkdir, parents=True)
    # Baseline: half before and half after the recorders, so host noise is seen by both.
    log(f"section 6: baseline sampler (no recorders) for {base_seconds / 2:g} s")
    before = await lag_sampler(base_seconds / 2)
    index = SegmentIndex(work / "index.db")
    recs = [make_recorder(work / "rec", f"cam{i:02d}", url, index) for i in range(k)]
    try:
        await asyncio.gather(*(r.start() for r in recs))
        await wait_until(lambda: all(recording(r) for r in recs), 60, f"{k} recorders recording")
        await asyncio.sleep(1)
        pids = [ffmpeg_pid(r) for r in recs]
        log(f"section 6: sampler with {k} recorders for {seconds:g} s")
        self_before = self_cpu()
        t0 = time.monotonic()
        lags = await lag_sampler(seconds)
        wall = time.monotonic() - t0
        self_used = self_cpu() - self_before
        restarts = sum(1 for r, pid in zip(recs, pids, strict=True) if ffmpeg_pid(r) != pid)
    finally:
        await asyncio.gather(*(r.stop() for r in recs), return_exceptions=True)
        segments = sum(len(index.segments(r.config.camera, 0, 1e12)) for r in recs)
        index.close()
    log(f"section 6: baseline sampler (no recorders) for {base_seconds / 2:g} s")
    after = await lag_sampler(base_seconds / 2)
    base = lag_stats(before + after)
    halves = f"p99 before {lag_stats(before)[1]:.2f} ms, after {lag_stats(after)[1]:.2f} ms"
    rec = lag_stats(lags)
    over = sum(1 for lag in lags if lag > 0.005)
    return [
        (sec, "baseline: no recorders", f"p50 {base[0]:.2f} ms, p99 {base[1]:.2f} ms",
         (f"sampler task sleeping {LAG_INTERVAL * 1000:g} ms, lag = actual - expected wake-up; "
          f"{base_seconds:g} s ({len(before) + len(after)} samples), half before and half after "
          f"the recorders ({halves}); max {base[2]:.2f} ms")),
        (sec, f"{k} recorders", f"p50 {rec[0]:.2f} ms, p99 {rec[1]:.2f} ms",
         (f"{wall:.0f} s, {len(lags)} samples, max {rec[2]:.2f} ms, {over} samples > 5 ms; "
          f"blocking work in the loop's default executor; {segments} segments indexed; "
          f"restarts {restarts}; bench process {self_used / wall * 100:.1f} % of one core; "
          "target p99 < 5 ms")),
        (sec, "ratio recorders/baseline",
         f"p50 {rec[0] / base[0]:.1f}x, p99 {rec[1] / base[1]:.1f}x" if base[0] > 0 and base[1] > 0 else "n/a",
         "p99 " + ("meets" if rec[1] < 5 else "MISSES") + " the 5 ms target"),
    ]


async def run(bench: Bench) -> list[Row]:
    k, seconds, base_seconds = (4, 8, 6) if bench.quick else (16, 60, 60)
    sim = await bench.simulator()
    log(f"section 6: event-loop lag, {k} cameras")
    return await section_loop_lag(sim, bench.work / "s6", k, seconds, base_seconds)


SECTION = Section("6", "lag", TITLE, run)
