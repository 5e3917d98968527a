"""Section 4 (also "index"): SegmentIndex queries vs a directory walk.

SegmentIndex queries on a synthetic 10M-segment index (16 cameras, 72 days; built once,
cached under --workdir/cache) vs a walk of the same layout as empty files (2 cameras x
7 days): a camera-day timeline, browsing an hour, the segments of a 1-hour export. No
simulator; in a run of several sections it runs in a child process beside the others
(mostly its one-off build of the index).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import os
from pathlib import Path
import random
import shutil
import statistics
import time
from typing import Any

from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.layout import hour_dirs, parse_segment_name

from .common import FPS, SEGMENT_SECONDS, Bench, Row, Section, log

TITLE = "4 Index queries"

INDEX_CAMERAS = 16
INDEX_EPOCH = 1767225600  # 2026-01-01T00:00:00Z: start of the synthetic history
WALK_CAMERAS = 2
WALK_DAYS = 7
INDEX_REPS = 30
BUILD_BATCH = 160_000  # segments per add_segments() call (one transaction)
MAX_GAP = 1.0  # media_source.MAX_GAP


def _hour_strings(hour_index: int) -> tuple[str, str, str]:
    """(YYYY-MM-DD, HH, YYYYMMDDTHH) of the UTC hour hour_index hours after INDEX_EPOCH."""
    moment = datetime.fromtimestamp(INDEX_EPOCH + hour_index * 3600, UTC)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H"), moment.strftime("%Y%m%dT%H")


def synthetic_segments(cameras: list[str], first: int, count: int) -> list[Segment]:
    """Segments of time steps [first, first + count) for every camera, time-major.

    Step i starts at INDEX_EPOCH + 10 i; one recording run per camera and UTC day.
    """
    out: list[Segment] = []
    hour_cache: dict[int, tuple[str, str, str]] = {}
    for step in range(first, first + count):
        offset = step * SEGMENT_SECONDS
        hour = offset // 3600
        strings = hour_cache.get(hour) or hour_cache.setdefault(hour, _hour_strings(hour))
        day_text, hh, compact = strings
        within = offset % 3600
        run = f"d{offset // 86400:03d}"
        name = f"{compact}{within // 60:02d}{within % 60:02d}Z-{run}.mp4"
        start = float(INDEX_EPOCH + offset)
        for number, camera in enumerate(cameras):
            out.append(Segment(
                camera=camera, path=f"{camera}/{day_text}/{hh}/{name}", start=start,
                end=start + SEGMENT_SECONDS, bytes=2_400_000 + (step * 7919 + number * 104729) % 200_000,
                video_codec="h264", width=1920, height=1080, fps=float(FPS), run_id=run,
            ))
    return out


def build_index(db: Path, cameras: list[str], steps: int, rng: random.Random) -> float:
    """Create the synthetic index at db (via db.building, renamed when complete); return seconds."""
    tmp = db.with_name(db.name + ".building")
    for stale in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        stale.unlink(missing_ok=True)
    total = steps * len(cameras)
    t0 = time.monotonic()
    index = SegmentIndex(tmp)
    try:
        per_batch = max(1, BUILD_BATCH // len(cameras))
        done = 0
        next_report = 0.0
        for first in range(0, steps, per_batch):
            batch = synthetic_segments(cameras, first, min(per_batch, steps - first))
            added = index.add_segments(batch)
            if added != len(batch):
                raise RuntimeError(f"add_segments added {added} of {len(batch)}")
            done += added
            elapsed = time.monotonic() - t0
            if elapsed >= next_report or done == total:
                rate = done / elapsed if elapsed else 0.0
                eta = (total - done) / rate if rate else 0.0
                log(f"section 4: indexed {done:,} of {total:,} segments "
                    f"({rate:,.0f}/s, {elapsed:.0f} s, ETA {eta:.0f} s)")
                next_report = elapsed + 15
        # Event recordings: one every ~2 hours per camera, 20-180 s long.
        span = steps * SEGMENT_SECONDS
        for camera in cameras:
            moment = rng.uniform(0, 7200)
            while moment < span - 200:
                length = rng.uniform(20, 180)
                rec_id = index.recordings.start(camera, "event", "motion", INDEX_EPOCH + moment)
                index.recordings.set_end(rec_id, INDEX_EPOCH + moment + length)
                moment += rng.uniform(3600, 10800)
    finally:
        index.close()
    tmp.rename(db)
    return time.monotonic() - t0


def build_walk_tree(tree: Path, cameras: list[str], first_day: int, days: int) -> int:
    """Empty files <tree>/<camera>/<YYYY-MM-DD>/<HH>/<name>.mp4, named like the index rows."""
    marker = tree / ".complete"
    if marker.exists():
        return int(marker.read_text(encoding="ascii"))
    if tree.exists():
        shutil.rmtree(tree)
    steps_per_day = 86400 // SEGMENT_SECONDS
    files = 0
    made: set[Path] = set()
    for day in range(first_day, first_day + days):
        for seg in synthetic_segments(cameras, day * steps_per_day, steps_per_day):
            path = tree / seg.path
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            files += 1
    marker.write_text(str(files), encoding="ascii")
    return files


def walk_starts(directories: list[Path]) -> list[float]:
    """Start times parsed from the segment names in directories (missing ones skipped)."""
    starts: list[float] = []
    for directory in directories:
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    parsed = parse_segment_name(entry.name)
                    if parsed is not None:
                        starts.append(parsed[0])
        except FileNotFoundError:
            continue
    starts.sort()
    return starts


def walk_spans(starts: list[float], lo: float, hi: float) -> list[tuple[float, float]]:
    """coverage() from names only: each file is assumed to last SEGMENT_SECONDS."""
    spans: list[tuple[float, float]] = []
    for start in starts:
        a, b = max(start, lo), min(start + SEGMENT_SECONDS, hi)
        if b <= a:
            continue
        if spans and a - spans[-1][1] <= MAX_GAP:
            if b > spans[-1][1]:
                spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def _dirs(root: Path, camera: str, lo: float, hi: float) -> list[Path]:
    # Look back one segment length: a file started in the previous hour may reach into lo.
    return hour_dirs(root, camera, lo - SEGMENT_SECONDS, hi - 1e-6)


def walk_day(root: Path, camera: str, day: float) -> list[tuple[float, float]]:
    return walk_spans(walk_starts(_dirs(root, camera, day, day + 86400)), day, day + 86400)


def walk_browse(root: Path, camera: str, day: float, hour: float) -> tuple[list[float], list[tuple[float, float]]]:
    """Hours of the day holding a segment file, then the hour's coverage."""
    day_dir = root / camera / datetime.fromtimestamp(day, UTC).strftime("%Y-%m-%d")
    hours: list[float] = []
    for name in sorted(path.name for path in day_dir.iterdir()):
        with os.scandir(day_dir / name) as entries:
            if any(parse_segment_name(entry.name) is not None for entry in entries):
                hours.append(day + int(name) * 3600)
    return hours, walk_spans(walk_starts(_dirs(root, camera, hour, hour + 3600)), hour, hour + 3600)


def walk_export(root: Path, camera: str, start: float, end: float) -> list[float]:
    return [s for s in walk_starts(_dirs(root, camera, start, end))
            if s < end and s + SEGMENT_SECONDS > start]


def index_day(index: SegmentIndex, camera: str, day: float) -> list[tuple[float, float]]:
    spans = index.coverage(camera, day, day + 86400, MAX_GAP)
    index.recordings.overlapping(camera, day, day + 86400)
    return spans


def index_browse(index: SegmentIndex, camera: str, day: float, hour: float) -> tuple[list[float], list[tuple[float, float]]]:
    hours = index.bucket_starts(camera, day, day + 86400, 3600, origin=day)
    spans = index.coverage(camera, hour, hour + 3600, MAX_GAP)
    index.recordings.overlapping(camera, hour, hour + 3600)
    return hours, spans


def index_export(index: SegmentIndex, camera: str, start: float, end: float) -> list[float]:
    return [s.start for s in index.segments(camera, start, end)]


def section_index(cache: Path, total: int, reps: int = INDEX_REPS) -> list[Row]:
    sec = TITLE
    cameras = [f"cam{i:02d}" for i in range(INDEX_CAMERAS)]
    steps = total // INDEX_CAMERAS
    total = steps * INDEX_CAMERAS
    full_days = steps * SEGMENT_SECONDS // 86400
    if full_days < 1:
        raise ValueError(f"{total} segments make less than one full day per camera")
    rng = random.Random(4)
    cache.mkdir(parents=True, exist_ok=True)
    db = cache / f"index-{total}x{INDEX_CAMERAS}.db"
    rows: list[Row] = []
    if db.exists():
        build_note = f"reused {db.name} from --workdir (cached)"
        log(f"section 4: reusing {db}")
    else:
        log(f"section 4: building {db} ({total:,} segments)")
        seconds = build_index(db, cameras, steps, rng)
        build_note = f"built in {seconds:.0f} s ({total / seconds:,.0f} segments/s via add_segments)"
    walk_days = min(WALK_DAYS, full_days)
    first_walk_day = full_days - walk_days
    tree = cache / f"walk-{total}x{INDEX_CAMERAS}"
    t0 = time.monotonic()
    files = build_walk_tree(tree, cameras[:WALK_CAMERAS], first_walk_day, walk_days)
    log(f"section 4: directory tree of {files:,} empty files ready in {time.monotonic() - t0:.0f} s")
    index = SegmentIndex(db)
    try:
        count = sum(index.camera_stats(camera)[0] for camera in cameras)
        if count != total:
            raise RuntimeError(f"cached index holds {count} segments, expected {total}")
        size = sum(p.stat().st_size for p in cache.glob(db.name + "*"))
        days_total = steps * SEGMENT_SECONDS / 86400
        rows.append((sec, "synthetic index", f"{total:,} segments",
                     (f"{INDEX_CAMERAS} cameras x {steps:,} x {SEGMENT_SECONDS} s segments "
                      f"({days_total:.1f} days each, contiguous, one run per day) + event recordings; "
                      f"{size / 2**30:.2f} GiB; {build_note}")))
        walk_note = (f"walk: {files:,} EMPTY files for {WALK_CAMERAS} cameras x {walk_days} days "
                     "(same names as the index rows); warm caches; queries on random days/hours "
                     "of that subset, same query for both sides")
        rows.append((sec, "directory tree for the walk", f"{files:,} empty files", walk_note))
        timings: dict[str, tuple[list[float], list[float]]] = {
            "day": ([], []), "browse": ([], []), "export": ([], []),
        }
        mismatches = dict.fromkeys(timings, 0)
        sizes: dict[str, list[int]] = {name: [] for name in timings}

        def timed(fn, *a):
            t = time.perf_counter()
            result = fn(*a)
            return time.perf_counter() - t, result

        first_walk_ts = INDEX_EPOCH + first_walk_day * 86400
        for rep in range(reps):
            camera = rng.choice(cameras[:WALK_CAMERAS])
            day = first_walk_ts + rng.randrange(walk_days) * 86400
            hour = day + rng.randrange(24) * 3600
            export_start = first_walk_ts + rng.uniform(SEGMENT_SECONDS, walk_days * 86400 - 3600)
            queries = {
                "day": ((index_day, index, camera, day), (walk_day, tree, camera, day)),
                "browse": ((index_browse, index, camera, day, hour),
                           (walk_browse, tree, camera, day, hour)),
                "export": ((index_export, index, camera, export_start, export_start + 3600),
                           (walk_export, tree, camera, export_start, export_start + 3600)),
            }
            for name, (ours, walk) in queries.items():
                order = [(0, ours), (1, walk)] if rep % 2 == 0 else [(1, walk), (0, ours)]
                results: dict[int, Any] = {}
                for side, (fn, *fn_args) in order:
                    elapsed, results[side] = timed(fn, *fn_args)
                    timings[name][side].append(elapsed)
                mismatches[name] += results[0] != results[1]
                got = results[0][1] if name == "browse" else results[0]
                sizes[name].append(len(got))
    finally:
        index.close()
    labels = {
        "day": ("camera-day timeline",
                "coverage(day) + recordings(day)",
                "scan the day's 24 hour dirs (+1 h look-back), parse names, merge spans"),
        "browse": ("browse an hour",
                   "bucket_starts(day, 3600) + coverage(hour) + recordings(hour), as media_source",
                   "list the day's hour dirs (first valid name each) + parse the hour's names"),
        "export": ("segments of a 1-hour export",
                   "segments(t, t+3600)",
                   "list the 2 hour dirs, parse names, keep the overlapping ones"),
    }
    units = {"day": "span(s)", "browse": "span(s) in the hour", "export": "segments"}
    for name, (ours_t, walk_t) in timings.items():
        title, ours_what, walk_what = labels[name]
        med_ours, med_walk = statistics.median(ours_t), statistics.median(walk_t)
        agree = ("results identical" if mismatches[name] == 0
                 else f"RESULTS DIFFER in {mismatches[name]} of {reps}")
        rows.append((sec, f"{title}: index", f"median {med_ours * 1000:.2f} ms",
                     (f"{ours_what}; {reps} random queries, max {max(ours_t) * 1000:.2f} ms; "
                      f"median {statistics.median(sizes[name]):.0f} {units[name]} per query")))
        rows.append((sec, f"{title}: directory walk", f"median {med_walk * 1000:.2f} ms",
                     f"{walk_what}; max {max(walk_t) * 1000:.2f} ms"))
        rows.append((sec, f"{title}: ratio walk/index", f"{med_walk / med_ours:.1f}x", agree))
    return rows


async def run(bench: Bench) -> list[Row]:
    total = 200_000 if bench.quick else 10_000_000
    log(f"section 4: index queries ({total:,} segments)")
    return await asyncio.to_thread(section_index, bench.cache, total)


SECTION = Section("4", "index", TITLE, run, simulator=False, beside=True)
