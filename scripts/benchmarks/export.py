"""Section 5 (also "export"): export_range() vs a plain concat.

export_range() of one hour of 10 s fragmented-MP4 segments vs a plain `ffmpeg -f concat
-c copy`, alternated, wall time and CPU. No simulator.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
import resource
import shutil
import statistics
import subprocess
import time

from custom_components.cctv_nvr.engine import mp4box
from custom_components.cctv_nvr.engine.export import export_range
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex

from .common import FPS, SEGMENT_SECONDS, Bench, Row, Section, ffprobe_packets, log, self_cpu

TITLE = "5 Export"

EXPORT_EPOCH = 1769904000  # 2026-02-01T00:00:00Z


def make_source_segment(path: Path) -> None:
    """One 10 s 1080p15 fragmented MP4 (GOP 15), as the recorder writes them."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("tmp-" + path.name)
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}", "-t", str(SEGMENT_SECONDS),
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(FPS),
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(tmp),
        ],
        check=True, capture_output=True, timeout=300,
    )
    tmp.rename(path)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def section_export(cache: Path, work: Path, count: int, rounds: int = 3) -> list[Row]:
    sec = TITLE
    src = cache / "export-src" / f"seg-{SEGMENT_SECONDS}s-1080p{FPS}.mp4"
    log("section 5: source segment")
    await asyncio.to_thread(make_source_segment, src)
    seg_seconds = mp4box.video_duration(src) or float(SEGMENT_SECONDS)
    seg_bytes = src.stat().st_size
    camera = "exp"
    root = work / "rec"
    segments = []
    log(f"section 5: copying it {count} times")
    for number in range(count):
        start = EXPORT_EPOCH + number * SEGMENT_SECONDS
        moment = datetime.fromtimestamp(start, UTC)
        rel = f"{camera}/{moment:%Y-%m-%d}/{moment:%H}/{moment:%Y%m%dT%H%M%S}Z-exp.mp4"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, src, root / rel)
        segments.append(Segment(
            camera=camera, path=rel, start=float(start), end=start + seg_seconds, bytes=seg_bytes,
            video_codec="h264", width=1920, height=1080, fps=float(FPS), run_id="exp",
        ))
    index = SegmentIndex(work / "index.db")
    try:
        index.add_segments(segments)
        start, end = float(EXPORT_EPOCH), EXPORT_EPOCH + (count - 1) * SEGMENT_SECONDS + seg_seconds
        chosen = index.segments(camera, start, end)
    finally:
        index.close()
    list_path = work / "list.txt"
    list_path.write_text(
        "".join(f"file '{(root / s.path).resolve()}'\n" for s in chosen), encoding="utf-8"
    )
    names = ("ours", "concat", "concat_faststart")
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    outputs = {name: work / f"{name}.mp4" for name in names}
    checks: dict[str, str] = {}

    async def run_ours() -> None:
        result = await export_range(chosen, root, start, end, outputs["ours"])
        checks["ours_duration"] = f"{result.duration:.1f} s"

    async def run_concat(name: str = "concat", *extra: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "concat",
            "-safe", "0", "-i", str(list_path), "-c", "copy", *extra, "-y", str(outputs[name]),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"plain concat failed: {err.decode()[-300:]}")

    runners = {
        "ours": run_ours,
        "concat": run_concat,
        "concat_faststart": lambda: run_concat("concat_faststart", "-movflags", "+faststart"),
    }
    for number in range(rounds):
        order = list(names) if number % 2 == 0 else list(reversed(names))
        for name in order:
            outputs[name].unlink(missing_ok=True)
            log(f"section 5: round {number + 1}/{rounds}: {name}")
            c0, s0, t0 = children_cpu(), self_cpu(), time.perf_counter()
            await runners[name]()
            wall = time.perf_counter() - t0
            samples[name].append((wall, children_cpu() - c0, self_cpu() - s0))
    probes = {name: await asyncio.to_thread(ffprobe_packets, path) for name, path in outputs.items()}
    sizes = {name: path.stat().st_size for name, path in outputs.items()}
    expected = round(count * seg_seconds * FPS)

    def med(name: str, field: int) -> float:
        return statistics.median(sample[field] for sample in samples[name])

    def walls(name: str) -> str:
        return ", ".join(f"{sample[0]:.2f}" for sample in samples[name])

    minutes = count * SEGMENT_SECONDS / 60
    rows: list[Row] = [
        (sec, "footage", f"{count} x {seg_seconds:g} s segments ({minutes:g} min)",
         (f"one ffmpeg testsrc2 1080p{FPS} libx264 ultrafast GOP {FPS} fragmented MP4 "
          f"({seg_bytes / 2**20:.1f} MiB) copied {count} times into the layout + index rows; "
          f"{rounds} rounds alternating, warm page cache")),
    ]
    for name, what in (
        ("ours", "export_range() (plan_parts + ffconcat with durations + -c copy + faststart)"),
        ("concat", "plain `ffmpeg -f concat -safe 0 -i list.txt -c copy out.mp4`"),
        ("concat_faststart", "the same plus `-movflags +faststart` (diagnostic: the moov rewrite)"),
    ):
        packets, seconds = probes[name]
        extra = (f"; + Python {med(name, 2):.2f} CPU-s in the bench process"
                 if name == "ours" else "")
        rows.append((
            sec, f"{ {'ours': 'ours', 'concat': 'plain concat'}.get(name, 'concat + faststart')}: wall",
            f"median {med(name, 0):.2f} s",
            (f"{what}; samples {walls(name)} s; ffmpeg CPU median {med(name, 1):.2f} CPU-s "
             f"(RUSAGE_CHILDREN){extra}; output {sizes[name] / 2**20:.0f} MiB, "
             f"{packets} of {expected} packets, {seconds:.1f} s (ffprobe)"),
        ))
    ratio_wall = med("ours", 0) / med("concat", 0)
    cpu_concat = med("concat", 1)
    ratio_cpu = med("ours", 1) / cpu_concat if cpu_concat else float("nan")
    ratio_total = (med("ours", 1) + med("ours", 2)) / cpu_concat if cpu_concat else float("nan")
    rows.append((sec, "ratio ours/concat", f"{ratio_wall:.2f}x wall",
                 (f"ffmpeg CPU {ratio_cpu:.2f}x; {ratio_total:.2f}x including our Python; "
                  "target <= 1.1x wall")))
    rows.append((sec, "ratio (concat + faststart)/concat",
                 f"{med('concat_faststart', 0) / med('concat', 0):.2f}x wall",
                 (f"ffmpeg CPU {med('concat_faststart', 1) / cpu_concat:.2f}x; what `+faststart` "
                  "alone costs (a second pass over the output file)")))
    for path in outputs.values():
        path.unlink(missing_ok=True)
    return rows


async def run(bench: Bench) -> list[Row]:
    count = 12 if bench.quick else 360
    log(f"section 5: export of {count} segments")
    work = bench.work / "s5"
    try:
        work.mkdir(parents=True)
        return await section_export(bench.cache, work, count)
    finally:
        # Synthetic copies (up to ~1-2 GB): removed so --workdir can be reused.
        await asyncio.to_thread(shutil.rmtree, work, True)


SECTION = Section("5", "export", TITLE, run, simulator=False)
