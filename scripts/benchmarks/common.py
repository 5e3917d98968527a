"""What the sections share: constants, measuring helpers, the simulator, the run context.

A section module imports what it needs from here and defines its own helpers; nothing
here is copied into a section.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import json
import os
from pathlib import Path
import resource
import subprocess
import sys
import time

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.recorder import (
    Recorder,
    RecorderConfig,
    RecorderState,
)
from tests.simulator import CameraSimulator

REPO = Path(__file__).resolve().parent.parent.parent
ENTRY = REPO / "scripts" / "bench"  # re-run for the sections that run in a child process
FPS = 15
SEGMENT_SECONDS = 10
MOUNT = "main"
CLK_TCK = os.sysconf("SC_CLK_TCK")

Row = tuple[str, str, str, str]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def table(rows: list[Row]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| section | measurement | result | notes |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(cell(c) for c in row)} |" for row in rows]
    return "\n".join(lines)


# -- measuring -------------------------------------------------------------


def proc_cpu(pid: int | None) -> float | None:
    """utime+stime of a process in seconds (None when it is gone)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def self_and_children_cpu() -> float:
    """CPU of this process and of its children that ended and were waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_cpu() + usage.ru_utime + usage.ru_stime


def per_cam_min(cpu: float, wall: float) -> float:
    return cpu / (wall / 60)


def ffprobe_packets(path: Path) -> tuple[int, float]:
    """(video packets, duration) as ffprobe sees them; raises when unreadable."""
    out = subprocess.run(
        [
            "ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
            "-show_entries", "stream=nb_read_packets:format=duration", "-of", "json", str(path),
        ],
        check=True, capture_output=True, text=True, timeout=60,
    )
    data = json.loads(out.stdout)
    return int(data["streams"][0]["nb_read_packets"]), float(data["format"].get("duration", 0))


async def wait_until(predicate, timeout: float, what: str, interval: float = 0.2) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what} not within {timeout:g} s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


def recording(rec: Recorder) -> bool:
    return rec.status.state == RecorderState.RECORDING and ffmpeg_pid(rec) is not None


def ffmpeg_pid(rec: Recorder) -> int | None:
    """The pid of the Recorder's running ffmpeg (a private attribute, by design here)."""
    proc = rec._proc  # noqa: SLF001
    return proc.pid if proc is not None else None


def make_recorder(root: Path, camera: str, url: str, index: SegmentIndex) -> Recorder:
    return Recorder(
        RecorderConfig(
            camera=camera, root=root, url=url, segment_seconds=SEGMENT_SECONDS, fps_hint=FPS
        ),
        index,
    )


# -- the simulator and the run context ----------------------------------------------


async def ensure_sim(sim: CameraSimulator | None, work: Path, rows: list[Row]) -> CameraSimulator:
    """Return a running simulator; restart it (with a note row) if it has exited."""
    if sim is not None and sim.running:
        return sim
    if sim is not None:
        proc = sim._proc  # noqa: SLF001
        rows.append(("", "simulator", "exited during the previous section; restarted",
                     f"returncode {proc.returncode if proc else '?'}; see its stderr in sim.log"))
        log("the simulator has exited; restarting it")
        await sim.astop()
    log(f"starting the simulator; work dir {work}")
    new = CameraSimulator(stderr=(work / "sim.log").open("ab"))
    await new.astart()
    return new


def failed(err: Exception, sim: CameraSimulator | None = None) -> str:
    """The result cell of a failed measurement (and whether the simulator had exited)."""
    state = "" if sim is None or sim.running else " (the simulator had exited)"
    return f"failed: {type(err).__name__}: {err}{state}"


@dataclass
class Bench:
    """What a section's run() gets: the run's options and directories, the simulator."""

    quick: bool
    work: Path  # this run's work directory (a section works in work / "s<number>")
    cache: Path  # kept between runs with --workdir: section 4's index, section 5's source
    rows: list[Row]  # the run's rows (a simulator restart adds a note row here)
    sim: CameraSimulator | None = None
    ok: bool = True  # a section that reports a failure in its rows instead of raising clears it

    async def simulator(self) -> CameraSimulator:
        """The running simulator: started, or restarted with a note row if it has exited."""
        self.sim = await ensure_sim(self.sim, self.work, self.rows)
        return self.sim

    async def stop_simulator(self) -> None:
        if self.sim is not None:
            await self.sim.astop()
            self.sim = None


@dataclass(frozen=True)
class Section:
    """One section of the bench; each section module defines one as SECTION."""

    number: str  # "1": its rows sort by it; --sections takes it
    alias: str  # "cpu": --sections takes it too
    title: str  # first cell of its rows, e.g. "1 CPU / camera-minute"
    run: Callable[[Bench], Awaitable[list[Row]]]  # raises: one "failed" row, exit status 1
    simulator: bool = True  # needs the simulator (stopped before a section that does not)
    beside: bool = False  # in a run of several sections: runs in a child process beside them
    default: bool = True  # in a run without --sections (the long soaks are asked for by name)
