"""Section 5 (also "export"): export_range() vs a plain concat vs `cp` of the same bytes.

export_range() (stitched: the fragments copied into one MP4) of one hour of 10 s
fragmented-MP4 segments, against the same range remuxed (method="remux", what exports
were before), a plain `ffmpeg -f concat -c copy`, and `cp` of the segment files (and,
as a diagnostic, `cat` of them into one file). The five alternate, each round in the opposite order of the last; wall time and CPU,
medians. No simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import os
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
NAMES = ("ours", "remux", "concat", "cp", "cat")


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


def clean_read(path: Path) -> str:
    """'' when `ffmpeg -i out -c copy -f mp4 /dev/null` reads the file without a word."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-c", "copy", "-f", "mp4", "-y", "/dev/null"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    return out.stderr.strip() or ("" if out.returncode == 0 else f"exit {out.returncode}")


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


async def run_process(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {err.decode()[-300:]}")


async def section_export(cache: Path, work: Path, count: int, rounds: int) -> list[Row]:
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
    files = [str((root / s.path).resolve()) for s in chosen]
    total_bytes = sum(seg.bytes for seg in chosen)
    list_path = work / "list.txt"
    list_path.write_text("".join(f"file '{path}'\n" for path in files), encoding="utf-8")
    outputs = {
        "ours": work / "ours.mp4", "remux": work / "remux.mp4",
        "concat": work / "concat.mp4", "cp": work / "cp", "cat": work / "cat.bin",
    }
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in NAMES}
    checks: dict[str, str] = {}
    methods: set[str] = set()

    async def run_ours() -> None:
        result = await export_range(chosen, root, start, end, outputs["ours"])
        methods.add(result.method)

    async def run_remux() -> None:
        await export_range(chosen, root, start, end, outputs["remux"], method="remux")

    async def run_concat() -> None:
        await run_process(
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "concat",
            "-safe", "0", "-i", str(list_path), "-c", "copy", "-y", str(outputs["concat"]),
        )

    async def run_cp() -> None:
        outputs["cp"].mkdir()
        await run_process("cp", "--reflink=never", "-t", str(outputs["cp"]), *files)

    async def run_cat() -> None:
        with outputs["cat"].open("wb") as target:
            proc = await asyncio.create_subprocess_exec(
                "cat", *files, stdin=asyncio.subprocess.DEVNULL, stdout=target,
            )
            if await proc.wait() != 0:
                raise RuntimeError("cat failed")

    runners: dict[str, Callable[[], Awaitable[None]]] = {
        "ours": run_ours, "remux": run_remux, "concat": run_concat, "cp": run_cp, "cat": run_cat,
    }

    async def check(name: str) -> None:
        path = outputs[name]
        if name in {"cp", "cat"}:
            written = list(path.iterdir()) if path.is_dir() else [path]
            copied = sum(p.stat().st_size for p in written)
            checks[name] = f"{copied / 2**20:.0f} MiB in {len(written)} file(s)"
            if copied != total_bytes:
                raise RuntimeError(f"{name} copied {copied} of {total_bytes} bytes")
            return
        packets, seconds = await asyncio.to_thread(ffprobe_packets, path)
        problems = await asyncio.to_thread(clean_read, path)
        checks[name] = (
            f"output {path.stat().st_size / 2**20:.0f} MiB, {packets} of {expected} packets, "
            f"{seconds:.1f} s (ffprobe); `ffmpeg -c copy` read: {problems or 'clean'}"
        )
        if packets != expected or problems:
            raise RuntimeError(f"{name}: {checks[name]}")

    expected = round(count * seg_seconds * FPS)
    for number in range(rounds):
        order = list(NAMES) if number % 2 == 0 else list(reversed(NAMES))
        for name in order:
            # Untimed: the last output goes and the dirty pages reach the disk, so no
            # run pays for the writeback of the one before it.
            await asyncio.to_thread(remove, outputs[name])
            await asyncio.to_thread(os.sync)
            log(f"section 5: round {number + 1}/{rounds}: {name}")
            c0, s0, t0 = children_cpu(), self_cpu(), time.perf_counter()
            await runners[name]()
            wall = time.perf_counter() - t0
            samples[name].append((wall, children_cpu() - c0, self_cpu() - s0))
            if number == 0:
                await check(name)
            await asyncio.to_thread(remove, outputs[name])
    if methods != {"stitched"}:
        raise RuntimeError(f"export_range() took the {methods} path, not the stitched one")

    def med(name: str, field: int) -> float:
        return statistics.median(sample[field] for sample in samples[name])

    def walls(name: str) -> str:
        return ", ".join(f"{sample[0]:.2f}" for sample in samples[name])

    def ratio(a: str, b: str) -> float:
        return med(a, 0) / med(b, 0)

    minutes = count * SEGMENT_SECONDS / 60
    rows: list[Row] = [
        (sec, "footage", f"{count} x {seg_seconds:g} s segments ({minutes:g} min)",
         (f"one ffmpeg testsrc2 1080p{FPS} libx264 ultrafast GOP {FPS} fragmented MP4 "
          f"({seg_bytes / 2**20:.1f} MiB) copied {count} times into the layout + index rows "
          f"({total_bytes / 2**20:.0f} MiB); {rounds} rounds, the order reversed every round, "
          "warm page cache, `sync` before every run (untimed)")),
    ]
    for name, label, what in (
        ("ours", "ours (stitched): wall",
         ("export_range(): fragment headers planned, ftyp + moov written, sample bytes "
          "copied in 1 MiB reads and writes into a file reserved with fallocate (no ffmpeg)")),
        ("remux", "remux: wall",
         ("export_range(method='remux'): ffconcat with durations + `-c copy` + `+faststart`, "
          "what exports did before")),
        ("concat", "plain concat: wall", "`ffmpeg -f concat -safe 0 -i list.txt -c copy out.mp4`"),
        ("cp", "cp of the same bytes: wall",
         f"`cp --reflink=never -t DIR` the {count} segment files, same disk"),
        ("cat", "cat of the same bytes: wall",
         f"diagnostic: `cat` the {count} segment files into one file, same disk"),
    ):
        cpu = (f"our Python {med(name, 2):.2f} CPU-s (RUSAGE_SELF, worker thread included)"
               if name == "ours" else f"child CPU {med(name, 1):.2f} CPU-s (RUSAGE_CHILDREN)")
        rows.append((sec, label, f"median {med(name, 0):.2f} s",
                     f"{what}; samples {walls(name)} s; {cpu}; {checks[name]}"))
    rows += [
        (sec, "ratio ours/concat", f"{ratio('ours', 'concat'):.2f}x wall",
         "target <= 0.6x"),
        (sec, "ratio ours/cp", f"{ratio('ours', 'cp'):.2f}x wall",
         f"target <= 1.3x; CPU {med('ours', 2):.2f} vs {med('cp', 1):.2f} CPU-s"),
        (sec, "ratio remux/concat", f"{ratio('remux', 'concat'):.2f}x wall",
         "diagnostic: the export before stitching (old target <= 1.1x)"),
        (sec, "ratio ours/cat", f"{ratio('ours', 'cat'):.2f}x wall",
         "diagnostic: against another plain copy of the bytes into one file"),
        (sec, "ratio concat/cp", f"{ratio('concat', 'cp'):.2f}x wall",
         "diagnostic: what a remux costs over copying the bytes"),
    ]
    return rows


async def run(bench: Bench) -> list[Row]:
    count = 12 if bench.quick else 360
    rounds = 9 if bench.quick else 5  # the quick runs last ~50 ms each: more of them
    log(f"section 5: export of {count} segments, {rounds} rounds")
    work = bench.work / "s5"
    try:
        work.mkdir(parents=True)
        return await section_export(bench.cache, work, count, rounds)
    finally:
        # Synthetic copies (up to ~4 GB): removed so --workdir can be reused.
        await asyncio.to_thread(shutil.rmtree, work, True)


SECTION = Section("5", "export", TITLE, run, simulator=False)
