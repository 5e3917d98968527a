#!/usr/bin/env python3
"""The recorders' Python side (the supervisor) as a process of its own, for sections 1 and 2.

    python scripts/benchmarks/supervisor_side.py WORK SEGMENT_SECONDS URL [URL ...]

One SegmentIndex (WORK/index.db) shared by one Recorder per URL (cameras cam00,
cam01, ... writing under WORK/rec), as the coordinators do in Home Assistant. The
engine is imported as a package of its own (like ha_side.py), so the process holds
the supervisor and nothing else: the bench reads its CPU time from /proc/<pid>/stat
(all its threads: event loop and executor), which is the supervisor's cost exactly,
not an upper bound, and the CPU of its ffmpeg children from theirs.

Talks JSON lines on stdout: ``{"ready": [ffmpeg pids]}`` once every recorder records
and has indexed the first segment of its run, which is probed once per ffmpeg run:
the window that follows measures steady recording (``{"error": ...}`` if that does
not happen within 90 s); on a line ``stop`` on stdin (or its
end) it stops the recorders, which finish and index their open segments, and prints
``{"stopped": {"restarts": N, "pids": [ffmpeg pids at the end]}}``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "custom_components" / "cctv_nvr"))

from engine.index import SegmentIndex
from engine.recorder import Recorder, RecorderConfig, RecorderState


def say(message: dict[str, object]) -> None:
    print(json.dumps(message), flush=True)


def pids(recorders: list[Recorder]) -> list[int | None]:
    return [r._proc.pid if r._proc is not None else None for r in recorders]  # noqa: SLF001


async def main(work: Path, segment_seconds: float, urls: list[str]) -> None:
    index = SegmentIndex(work / "index.db")
    recorders = [
        Recorder(
            RecorderConfig(
                camera=f"cam{n:02d}",
                root=work / "rec",
                url=url,
                segment_seconds=segment_seconds,
                fps_hint=15,
            ),
            index,
        )
        for n, url in enumerate(urls)
    ]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        await asyncio.gather(*(r.start() for r in recorders))
        deadline = time.monotonic() + 90
        # Steady state: every recorder has indexed the first segment of its run (which
        # is probed once per run; the later ones are not).
        while not all(
            r.status.state == RecorderState.RECORDING
            and r._proc is not None  # noqa: SLF001
            and r.status.last_segment_end is not None
            for r in recorders
        ):
            if time.monotonic() > deadline:
                states = sorted({r.status.state.value for r in recorders})
                say({"error": f"not every recorder indexed a segment within 90 s: {states}"})
                break
            await asyncio.sleep(0.2)
        else:
            say({"ready": pids(recorders)})
        while (line := await reader.readline()) and line.strip() != b"stop":
            pass
        at_end = pids(recorders)
        restarts = sum(r.status.restarts for r in recorders)
    finally:
        await asyncio.gather(*(r.stop() for r in recorders), return_exceptions=True)
        index.close()
    say({"stopped": {"restarts": restarts, "pids": at_end}})


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]))
