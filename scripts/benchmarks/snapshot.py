"""Section 3 (also "snapshot"): snapshot latency.

JPEG from the running recording vs a fresh RTSP session.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import Path
import statistics
import time

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.media import (
    ProbeError,
    last_keyframe_jpeg,
)
from tests.simulator import CameraSimulator

from .common import MOUNT, Bench, Row, Section, log, make_recorder, recording, wait_until

TITLE = "3 Snapshot latency"


def snapshot_from_files(files: list[Path]) -> bytes:
    """What camera.async_camera_image does: newest file first, then the previous one."""
    for path in files:
        with suppress(ProbeError, OSError):
            return last_keyframe_jpeg(path)
    raise ProbeError("no_keyframe", "no keyframe in the newest files")


async def section_snapshot(sim: CameraSimulator, work: Path, samples: int = 5) -> list[Row]:
    sec = TITLE
    url = sim.url(MOUNT)
    await asyncio.to_thread(work.mkdir, parents=True)
    index = SegmentIndex(work / "index.db")
    rec = make_recorder(work / "rec", "snap", url, index)
    from_rec: list[float] = []
    fresh: list[float] = []
    try:
        await rec.start()
        await wait_until(lambda: recording(rec), 30, "Recorder recording")
        await asyncio.sleep(2)
        for _ in range(samples):
            t = time.perf_counter()
            files = await rec.latest_files()
            jpeg = await asyncio.to_thread(snapshot_from_files, files)
            from_rec.append(time.perf_counter() - t)
            if not jpeg.startswith(b"\xff\xd8"):
                raise RuntimeError("recording snapshot is not a JPEG")
            await asyncio.sleep(1.3)  # different positions within the growing segment
        for _ in range(samples):
            t = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
                "-rtsp_transport", "tcp", "-i", url, "-frames:v", "1", "-f", "image2", "-",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
            fresh.append(time.perf_counter() - t)
            if proc.returncode != 0 or not out.startswith(b"\xff\xd8"):
                raise RuntimeError(f"fresh snapshot failed: {err.decode()[-200:]}")
    finally:
        await rec.stop()
        index.close()
    med_rec, med_fresh = statistics.median(from_rec), statistics.median(fresh)

    def ms(values: list[float]) -> str:
        return ", ".join(f"{v * 1000:.0f}" for v in values)

    return [
        (sec, "from the running recording", f"median {med_rec * 1000:.0f} ms",
         f"latest_files() + last_keyframe_jpeg(), 1080p; samples {ms(from_rec)} ms"),
        (sec, "fresh RTSP session (ffmpeg CLI)", f"median {med_fresh * 1000:.0f} ms",
         f"`ffmpeg -rtsp_transport tcp -i URL -frames:v 1 -f image2 -`; samples {ms(fresh)} ms"),
        (sec, "ratio fresh/recording", f"{med_fresh / med_rec:.1f}x", ""),
    ]


async def run(bench: Bench) -> list[Row]:
    sim = await bench.simulator()
    log("section 3: snapshot latency")
    return await section_snapshot(sim, bench.work / "s3")


SECTION = Section("3", "snapshot", TITLE, run)
