"""Section 1 (also "cpu"): CPU per camera-minute.

CPU per camera-minute of our Recorder (its ffmpeg child, plus the Python supervisor, which
runs in a process of its own: supervisor_side.py), a
bare `ffmpeg -c copy -f segment` and the PyAV recorder of pyav_recorder.py (next to this
file), all recording the simulator's /main mount concurrently over the same window.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
import json
from pathlib import Path
import signal
import subprocess
import sys
import time

from tests.simulator import CameraSimulator

from .common import (
    MOUNT,
    SEGMENT_SECONDS,
    Bench,
    Row,
    Section,
    ffprobe_packets,
    log,
    per_cam_min,
    proc_cpu,
    wait_until,
)

TITLE = "1 CPU / camera-minute"
PYAV_RECORDER = Path(__file__).with_name("pyav_recorder.py")
SUPERVISOR_SIDE = Path(__file__).with_name("supervisor_side.py")


def probe_dir(directory: Path) -> tuple[int, int, float, list[str]]:
    """(files, packets, seconds, problems) over every .mp4 below directory."""
    files = packets = 0
    seconds = 0.0
    problems: list[str] = []
    for path in sorted(directory.rglob("*.mp4")):
        files += 1
        try:
            count, duration = ffprobe_packets(path)
        except (subprocess.SubprocessError, KeyError, IndexError, ValueError) as err:
            problems.append(f"{path.name}: {type(err).__name__}")
            continue
        packets += count
        seconds += duration
    return files, packets, seconds, problems


def has_media(directory: Path) -> bool:
    return any(p.stat().st_size > 4096 for p in directory.rglob("*.mp4"))



async def terminate(proc: asyncio.subprocess.Process, timeout: float = 10) -> None:
    if proc.returncode is None:
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(timeout):
            await proc.wait()
    except TimeoutError:
        with suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()



async def section_cpu(sim: CameraSimulator, work: Path, seconds: float) -> list[Row]:
    sec = TITLE
    url = sim.url(MOUNT)
    await asyncio.to_thread(work.mkdir, parents=True)
    ours_root, bare_dir, pyav_dir = work / "ours", work / "bare", work / "pyav"
    bare_dir.mkdir()
    ours_root.mkdir()
    procs: list[asyncio.subprocess.Process] = []
    logs = [(work / "bare.log").open("wb"), (work / "pyav.log").open("wb"),
            (work / "supervisor.log").open("wb")]
    try:
        # Our recorder's Python side in a process of its own: its CPU is measured exactly.
        side = await asyncio.create_subprocess_exec(
            sys.executable, "-P", str(SUPERVISOR_SIDE), str(ours_root), str(SEGMENT_SECONDS), url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=logs[2],
        )
        procs.append(side)
        bare = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
            "-rtsp_transport", "tcp", "-i", url, "-c", "copy", "-f", "segment",
            "-segment_time", str(SEGMENT_SECONDS), "-reset_timestamps", "1",
            str(bare_dir / "out%03d.mp4"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=logs[0],
        )
        procs.append(bare)
        pyav = await asyncio.create_subprocess_exec(
            # -P: scripts/benchmarks/ not first on its sys.path (its modules, e.g. export.py,
            # must not shadow what the recorder imports).
            sys.executable, "-P", str(PYAV_RECORDER), url, str(pyav_dir), str(seconds + 120),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=logs[1],
        )
        procs.append(pyav)
        assert side.stdout is not None
        assert side.stdin is not None
        # Ready once our first segment is indexed (a run's first segment is probed once).
        ready = json.loads(await asyncio.wait_for(side.stdout.readline(), 120) or b"{}")
        if "ready" not in ready:
            raise RuntimeError(f"supervisor: {ready.get('error', 'exited')}")
        await wait_until(lambda: has_media(bare_dir), 30, "bare ffmpeg writing")
        await wait_until(lambda: pyav_dir.is_dir() and has_media(pyav_dir), 30, "PyAV writing")
        await asyncio.sleep(2)  # past start-up (imports, probing, first keyframe)

        ours_pid = ready["ready"][0]
        pids = {"ours": ours_pid, "bare": bare.pid, "pyav": pyav.pid, "sim": sim.pid,
                "supervisor": side.pid}
        before = {name: proc_cpu(pid) for name, pid in pids.items()}
        t0 = time.monotonic()
        await asyncio.sleep(seconds)
        after = {name: proc_cpu(pid) for name, pid in pids.items()}
        wall = time.monotonic() - t0
        for name in ("ours", "bare", "pyav", "supervisor"):
            if before[name] is None or after[name] is None:
                raise RuntimeError(f"{name} process ended during the window")

        side.stdin.write(b"stop\n")
        await side.stdin.drain()
        stopped = json.loads(await asyncio.wait_for(side.stdout.readline(), 60) or b"{}")
        restarted = stopped.get("stopped", {}).get("pids") != [ours_pid]
        for proc in procs:
            await terminate(proc)
        pyav_out = (await pyav.stdout.read()).decode() if pyav.stdout else ""
    finally:
        for proc in procs:
            await terminate(proc)
        for handle in logs:
            handle.close()

    cpu = {name: after[name] - before[name] for name in pids}
    supervisor = cpu["supervisor"]
    rate = {name: per_cam_min(value, wall) for name, value in cpu.items()}
    rate_sup = per_cam_min(supervisor, wall)
    files = {name: probe_dir(d) for name, d in (("ours", ours_root), ("bare", bare_dir),
                                                  ("pyav", pyav_dir))}

    def output(name: str) -> str:
        count, packets, secs, problems = files[name]
        text = f"{count} files, {packets} packets, {secs:.1f} s readable (ffprobe)"
        if problems:
            text += f"; UNREADABLE: {', '.join(problems[:3])}"
        return text

    try:
        pyav_stats = json.loads(pyav_out.strip().splitlines()[-1])
        pyav_note = (f"; skipped {pyav_stats.get('skipped_before_keyframe')} packets before "
                     "the first keyframe with a pts")
    except (ValueError, IndexError):
        pyav_note = f"; no stats from the PyAV recorder ({pyav.returncode=})"
    window = f"same {wall:.0f} s window, concurrently"
    fmt = "{:.3f} CPU-s"
    rows: list[Row] = [
        (sec, "(a) ours: Recorder's ffmpeg child", fmt.format(rate["ours"]),
         f"{window}; {cpu['ours']:.2f} CPU-s in window (pid {pids['ours']}); {output('ours')}" + ("; ffmpeg RESTARTED in window" if restarted else "")),
        (sec, "(a) ours: Python supervisor (own process)", fmt.format(rate_sup),
         (f"{window}; supervisor_side.py: the Recorder and its index alone in a process, "
          f"/proc/{pids['supervisor']}/stat (event loop + executor threads), exact")),
        (sec, "(b) bare `ffmpeg -c copy -f segment`", fmt.format(rate["bare"]),
         f"{window}; {cpu['bare']:.2f} CPU-s in window (pid {pids['bare']}); {output('bare')}"),
        (sec, "(c) PyAV recorder (separate process)", fmt.format(rate["pyav"]),
         f"{window}; {cpu['pyav']:.2f} CPU-s in window; {output('pyav')}{pyav_note}"),
        (sec, "ratio ours/bare", f"{rate['ours'] / rate['bare']:.2f}x",
         f"{(rate['ours'] + rate_sup) / rate['bare']:.2f}x including the supervisor"),
        (sec, "ratio pyav/bare", f"{rate['pyav'] / rate['bare']:.2f}x", ""),
        (sec, "simulator (not counted)", fmt.format(rate["sim"]),
         f"serving 3 clients; {cpu['sim'] / wall * 100:.1f} % of one core"),
    ]
    return rows


async def run(bench: Bench) -> list[Row]:
    seconds = 10 if bench.quick else 60
    sim = await bench.simulator()
    log(f"section 1: three recorders for {seconds} s")
    return await section_cpu(sim, bench.work / "s1", seconds)


SECTION = Section("1", "cpu", TITLE, run)
