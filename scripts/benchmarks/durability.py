"""Section 9 (also "durability"): kill -9 of the Home Assistant side while it indexes.

The Home Assistant side is played by a child process (ha_side.py, next to this file)
that does what the coordinators do with the engine: one SegmentIndex shared by four Recorders of the simulator, 2 s
segments (the shortest a user can set: an insert every half second), and a reader
querying the index.
That process is killed with SIGKILL at a random moment between 1 and 5 s after its
first segment; its ffmpeg children are left alone (they record on, orphaned, as after a
real crash). Then the start-up of Home Assistant is replayed in this process (each
recorder's start must end the orphaned ffmpeg of its camera first): the index is opened as
``SegmentIndex.open_or_recover(quick_check=True)`` opens it (it must not need
recovering), ``PRAGMA integrity_check`` must say ok, every recorder starts (its
reconcile indexes the leftovers of the crash) and stops, and then the index must
equal the disk: the same paths, sizes matching, every row lasting > 0. The work
folder is kept from one kill to the next, like a real installation.

50 kills (``--quick``: 5). tests/engine/test_durability.py runs the same loop 5 times.
Not in the default run: ``scripts/bench --sections durability``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import random
import signal
import sqlite3
import sys
import time

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.recorder import Recorder, RecorderConfig

from .common import Bench, Row, Section, log

TITLE = "10 Index durability"
HA_SIDE = Path(__file__).with_name("ha_side.py")
CAMERAS = 4
SEGMENT_SECONDS = 2.0  # the shortest a user can set: an insert every half second


@dataclass
class Outcome:
    """What the kills found."""

    kills: int = 0
    recovered: int = 0  # times the index had to be moved aside (corrupt)
    integrity_failures: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    segments: int = 0
    killed_after: list[float] = field(default_factory=list)  # s after the first segment
    orphans: int = 0  # ffmpeg processes the killed side left recording
    leftovers: int = 0  # ffmpeg processes still alive after the start-up check

    @property
    def ok(self) -> bool:
        return not (
            self.recovered or self.integrity_failures or self.disagreements or self.leftovers
        )


def recorders(root: Path, url: str, index: SegmentIndex) -> list[Recorder]:
    return [
        Recorder(
            RecorderConfig(
                camera=f"cam{n}",
                root=root,
                url=url,
                segment_seconds=SEGMENT_SECONDS,
                fps_hint=15,
            ),
            index,
        )
        for n in range(CAMERAS)
    ]


def _segment_rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0])
    except sqlite3.Error:
        return 0


async def kill_once(work: Path, url: str, rng: random.Random, outcome: Outcome) -> None:
    """Run the Home Assistant side, kill -9 it while it indexes, replay the start-up."""
    db = work / "index.db"
    before = _segment_rows(db)
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(HA_SIDE), str(work), url, str(CAMERAS), str(SEGMENT_SECONDS),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _segment_rows(db) <= before:  # it indexes: the kill lands mid-stream
            if time.monotonic() > deadline or child.returncode is not None:
                raise RuntimeError("the Home Assistant side indexed nothing")
            await asyncio.sleep(0.1)
        delay = rng.uniform(1.0, 5.0)
        await asyncio.sleep(delay)
        ffmpegs = _children(child.pid)
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    outcome.kills += 1
    outcome.killed_after.append(delay)
    await asyncio.sleep(0.5)
    outcome.orphans += sum(1 for pid in ffmpegs if _alive(pid))
    await startup_check(work, url, outcome)
    still = [pid for pid in ffmpegs if _alive(pid)]
    outcome.leftovers += len(still)
    for pid in still:  # not to disturb the next kill's figures
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def startup_check(work: Path, url: str, outcome: Outcome) -> None:
    """Open the index as Home Assistant's start-up does, reconcile, compare with the disk."""
    db = work / "index.db"
    loop = asyncio.get_running_loop()
    index, recovered = await loop.run_in_executor(
        None, lambda: SegmentIndex.open_or_recover(db, quick_check=True)
    )
    if recovered:
        outcome.recovered += 1
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            outcome.integrity_failures.append(f"kill {outcome.kills}: {result[:3]}")
        recs = recorders(work / "rec", url, index)
        # As the cameras' entries set up: each start ends its camera's orphaned ffmpeg,
        # then reconciles (the crash's leftovers are indexed).
        await asyncio.gather(*(rec.start() for rec in recs))
        await asyncio.gather(*(rec.stop() for rec in recs))
        problems = await loop.run_in_executor(None, compare_with_disk, index, work / "rec")
        outcome.disagreements += [f"kill {outcome.kills}: {p}" for p in problems]
        outcome.segments = sum(len(index.segments(f"cam{n}", 0, 1e12)) for n in range(CAMERAS))
    finally:
        index.close()


def compare_with_disk(index: SegmentIndex, root: Path) -> list[str]:
    """Return how the index and the files disagree (empty: they agree)."""
    problems = []
    for n in range(CAMERAS):
        camera = f"cam{n}"
        rows = {s.path: s for s in index.segments(camera, 0, 1e12)}
        folder = root / camera
        files = (
            {p.relative_to(root).as_posix(): p for p in folder.rglob("*.mp4")}
            if folder.is_dir()
            else {}
        )
        problems += [f"{path} on disk, not indexed" for path in sorted(set(files) - set(rows))]
        problems += [f"{path} indexed, not on disk" for path in sorted(set(rows) - set(files))]
        for path in sorted(set(rows) & set(files)):
            size = files[path].stat().st_size
            if rows[path].bytes != size:
                problems.append(f"{path}: {rows[path].bytes} bytes indexed, {size} on disk")
            if rows[path].duration <= 0:
                problems.append(f"{path}: lasts {rows[path].duration} s")
    return problems


async def kill_loop(work: Path, url: str, kills: int, seed: int = 9) -> Outcome:
    rng = random.Random(seed)
    outcome = Outcome()
    for n in range(kills):
        await kill_once(work, url, rng, outcome)
        log(
            f"section 10: kill {n + 1}/{kills}: {outcome.segments} segments, "
            f"{len(outcome.disagreements)} disagreements so far"
        )
    return outcome


async def run(bench: Bench) -> list[Row]:
    kills = 5 if bench.quick else 50
    sim = await bench.simulator()
    work = bench.work / "s10"
    await asyncio.to_thread(work.mkdir, parents=True)
    started = time.monotonic()
    outcome = await kill_loop(work, sim.url("sub"), kills)
    took = time.monotonic() - started
    after = sorted(outcome.killed_after)
    return [
        (
            TITLE,
            f"kill -9 while indexing, {outcome.kills} times",
            "**0 failures**"
            if outcome.ok
            else f"FAILED: {outcome.recovered} recovered, {len(outcome.integrity_failures)} integrity, "
            f"{len(outcome.disagreements)} index/disk",
            (
                f"{CAMERAS} recorders, {SEGMENT_SECONDS:g} s segments; killed {after[0]:.1f}-"
                f"{after[-1]:.1f} s after the first new segment; after each: open_or_recover "
                f"(quick_check) recovered {outcome.recovered}x, PRAGMA integrity_check not ok "
                f"{len(outcome.integrity_failures)}x, index vs disk after start-up: "
                f"{len(outcome.disagreements)} disagreements; ffmpeg left recording by the killed "
                f"side: {outcome.orphans}, ended by the start-up: {outcome.orphans - outcome.leftovers} "
                + (
                    "; first: " + "; ".join(outcome.disagreements[:2])
                    if outcome.disagreements
                    else ""
                )
                + f"; {outcome.segments} segments at the end; {took:.0f} s"
            ),
        ),
    ]


SECTION = Section("10", "durability", TITLE, run, default=False)
