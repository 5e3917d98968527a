"""Section 12 (also "transcode"): H.264 renditions of H.265 footage, ours vs a plain ffmpeg.

1. One 10 s 1080p15 H.265 segment made like the recorder's (libx265 from testsrc2, GOP 15,
   hvc1, 1 s fragments). Transcoded to H.264 by ``Renditions.segment()`` (a cold cache
   each time: the first part of a playback) and by a plain ``ffmpeg -i seg.mp4 -c:v
   libx264 out.mp4`` (the issue's baseline, libx264's default preset "medium"), alternated
   in the same run; also plain at our preset and tune (what our command adds: passthrough
   timing, fragments, the size cap, VBV) and a decode-only pass (the H.265 decode every transcode
   pays). Wall time (= the time to make the first part), ffmpeg CPU (RUSAGE_CHILDREN),
   x real time per core (footage seconds / CPU seconds), CPU per minute of watched
   footage (CPU seconds x 6) and the output's size. Target: ours/plain <= 1.1x time.
   Also the segment cut into the pieces a rendition playlist lists (``renditions.plan``'s
   cuts by time: ``plan_cuts`` with the product's ``PIECE_FIRST``/``PIECE_SECONDS``): the
   time to the first piece (what a click waits for) and the CPU of all its pieces against
   the whole segment (what cutting costs).
2. The preset table that chose ``transcode.VIEWING``: libx264 ultrafast, superfast and
   veryfast, each without and with ``-tune zerolatency``, through our command (same
   source, rotated): time to the first part, CPU, x real time per core, size.

Wall times are only as good as the machine is idle (the load average is in the notes):
ours runs ffmpeg at nice 5 as in Home Assistant, the plain commands at nice 0, so on a
busy machine our wall times stretch more; CPU seconds do not depend on it. Time from click to first frame in Chromium for H.265
footage next to the same for H.264 footage is not measured here: it needs Home
Assistant's views and the panel's player; section 14 (browser) measures it. No simulator.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import resource
import shutil
import statistics
import subprocess
import time

from custom_components.cctv_nvr.engine import transcode
from custom_components.cctv_nvr.engine.transcode import Quality, Renditions, TimePiece, plan_cuts
from custom_components.cctv_nvr.renditions import PIECE_FIRST, PIECE_MIN_LAST, PIECE_SECONDS

from .common import FPS, SEGMENT_SECONDS, Bench, Row, Section, ffprobe_packets, log, self_cpu

TITLE = "12 Transcode H.265 -> H.264"

PRESETS = ("ultrafast", "superfast", "veryfast")


def make_hevc_segment(path: Path) -> None:
    """One 10 s 1080p15 H.265 fragmented MP4 (GOP 15, hvc1), as the recorder writes them."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("tmp-" + path.name)
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}", "-t", str(SEGMENT_SECONDS),
            "-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast",
            "-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "1500k",
            "-x265-params", f"keyint={FPS}:min-keyint={FPS}:scenecut=0:bframes=0:log-level=error",
            "-tag:v", "hvc1", "-video_track_timescale", "90000",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
            "-frag_duration", "1000000", "-f", "mp4", str(tmp),
        ],
        check=True, capture_output=True, timeout=600,
    )
    tmp.rename(path)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


async def run_ffmpeg(args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {err.decode()[-300:]}")


Sample = tuple[float, float, float, int]  # wall, ffmpeg CPU, Python CPU, output bytes


async def measure(runner, out: Path) -> Sample:
    c0, s0, t0 = children_cpu(), self_cpu(), time.perf_counter()
    path = await runner()
    wall = time.perf_counter() - t0
    size = (path or out).stat().st_size if (path or out).exists() else 0
    return wall, children_cpu() - c0, self_cpu() - s0, size


async def section_transcode(bench: Bench, work: Path, rounds: int, preset_rounds: int) -> list[Row]:
    sec = TITLE
    src = bench.cache / "transcode-src" / f"hevc-{SEGMENT_SECONDS}s-1080p{FPS}.mp4"
    log("section 12: source segment (libx265, once per cache)")
    await asyncio.to_thread(make_hevc_segment, src)
    packets, seconds = await asyncio.to_thread(ffprobe_packets, src)
    caps = await transcode.detect()
    rows: list[Row] = [
        (sec, "footage", f"{seconds:g} s 1080p{FPS} H.265 ({src.stat().st_size / 2**20:.1f} MiB)",
         (f"testsrc2, libx265 ultrafast 1500k, GOP {FPS}, hvc1, 1 s fragments, {packets} "
          f"frames; {rounds} rounds alternating; load average at start {load()}")),
        (sec, "encoders", caps.best.name if caps.best else "none",
         (f"working: {', '.join(e.name for e in caps.working) or 'none'}; "
          + "; ".join(f"{name}: {why}" for name, why in caps.failed.items()))),
    ]
    out = work / "plain.mp4"

    async def ours(quality: Quality = transcode.VIEWING) -> Path:
        renditions = Renditions(work / f"cache-{time.monotonic_ns()}", quality=quality)
        try:
            return await renditions.segment(src, "bench")
        finally:
            await renditions.close()

    def cuts() -> list[TimePiece]:
        planned = plan_cuts(seconds, PIECE_FIRST, PIECE_SECONDS, PIECE_MIN_LAST)
        assert planned, "the segment is long enough to cut"
        return planned

    async def first_piece() -> Path:
        renditions = Renditions(work / f"cache-{time.monotonic_ns()}")
        try:
            return await renditions.segment(src, "bench", cuts()[0])
        finally:
            await renditions.close()

    async def all_pieces() -> None:
        renditions = Renditions(work / f"cache-{time.monotonic_ns()}")
        try:
            for piece in cuts():
                await renditions.segment(src, "bench", piece)
        finally:
            await renditions.close()

    viewing = transcode.VIEWING
    plain_base = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
    tuned = ["-tune", viewing.tune] if viewing.tune else []
    runners = {
        "ours": ours,
        "first_piece": first_piece,
        "all_pieces": all_pieces,
        "plain": lambda: run_ffmpeg([*plain_base, "-c:v", "libx264", str(out)]),
        "plain_same": lambda: run_ffmpeg(
            [*plain_base, "-c:v", "libx264", "-preset", viewing.preset, *tuned, str(out)]
        ),
        "decode": lambda: run_ffmpeg([*plain_base, "-f", "null", "-"]),
    }
    samples: dict[str, list[Sample]] = {name: [] for name in runners}
    for number in range(rounds):
        order = list(runners) if number % 2 == 0 else list(reversed(runners))
        for name in order:
            out.unlink(missing_ok=True)
            log(f"section 12: round {number + 1}/{rounds}: {name}")
            samples[name].append(await measure(runners[name], out))
    check_packets, check_seconds = await asyncio.to_thread(
        ffprobe_packets, await ours()
    )

    def med(name: str, index: int) -> float:
        return statistics.median(sample[index] for sample in samples[name])

    def walls(name: str) -> str:
        return ", ".join(f"{sample[0]:.2f}" for sample in samples[name])

    def figures(name: str) -> str:
        cpu = med(name, 1)
        size = samples[name][0][3]
        per_core = seconds / cpu if cpu else float("nan")
        text = (f"ffmpeg CPU {cpu:.2f} CPU-s = {per_core:.2f}x real time per core, "
                f"{cpu * 60 / seconds:.1f} CPU-s per watched minute; walls {walls(name)} s")
        if size:
            text += f"; {size / 2**20:.2f} MiB ({size * 8 / seconds / 1e6:.1f} Mbit/s)"
        return text

    label = f"{viewing.preset}" + (f" + {viewing.tune}" if viewing.tune else "")
    rows += [
        (sec, "ours: first part (wall)", f"median {med('ours', 0):.2f} s",
         (f"Renditions.segment(), cold cache, libx264 {label} crf {viewing.crf}, cap "
          f"{viewing.max_width}x{viewing.max_height} {viewing.maxrate_kbps} kbit/s; "
          f"{figures('ours')}; + Python {med('ours', 2):.2f} CPU-s; output "
          f"{check_packets}/{packets} frames, {check_seconds:.2f} s")),
        (sec, f"ours: first {PIECE_FIRST:g} s piece (wall)", f"median {med('first_piece', 0):.2f} s",
         (f"segment(seg, key, piece) of the first of plan_cuts(seg, {PIECE_FIRST:g}, "
          f"{PIECE_SECONDS:g}, {PIECE_MIN_LAST:g}) (what a rendition playlist lists), cold "
          f"cache: what a click waits for; {figures('first_piece')}")),
        (sec, f"ours: all {len(cuts())} pieces (wall)", f"median {med('all_pieces', 0):.2f} s",
         (f"every piece of the segment one after another; CPU {med('all_pieces', 1):.2f} CPU-s = "
          f"{med('all_pieces', 1) / med('ours', 1):.2f}x the whole segment's; "
          f"walls {walls('all_pieces')} s")),
        (sec, "plain `-c:v libx264` (wall)", f"median {med('plain', 0):.2f} s",
         f"`ffmpeg -i seg.mp4 -c:v libx264 out.mp4` (preset medium); {figures('plain')}"),
        (sec, f"plain at our preset ({label})", f"median {med('plain_same', 0):.2f} s",
         f"`... -c:v libx264 -preset {viewing.preset} {' '.join(tuned)}`; {figures('plain_same')}"),
        (sec, "decode only (H.265)", f"median {med('decode', 0):.2f} s",
         f"`ffmpeg -i seg.mp4 -f null -`: what every transcode pays; {figures('decode')}"),
    ]
    ratio = med("ours", 0) / med("plain", 0)
    rows.append((sec, "ratio ours/plain", f"{ratio:.2f}x time",
                 (f"ffmpeg CPU {med('ours', 1) / med('plain', 1):.2f}x; target <= 1.1x time")))
    rows.append((sec, "ratio ours/plain at our preset",
                 f"{med('ours', 0) / med('plain_same', 0):.2f}x time",
                 (f"ffmpeg CPU {med('ours', 1) / med('plain_same', 1):.2f}x: what our command "
                  "adds (passthrough timing, fragments, size cap, VBV) at the same encoder settings")))

    # The preset table (through our command, rotated).
    variants = [(preset, tune) for preset in PRESETS for tune in (None, "zerolatency")]
    table: dict[tuple[str, str | None], list[Sample]] = {v: [] for v in variants}
    for number in range(preset_rounds):
        shift = number % len(variants)
        for preset, tune in variants[shift:] + variants[:shift]:
            log(f"section 12: presets {number + 1}/{preset_rounds}: {preset} {tune or ''}")
            quality = Quality(preset=preset, tune=tune)
            table[preset, tune].append(await measure(partial_ours(ours, quality), out))
    for (preset, tune), found in table.items():
        wall = statistics.median(s[0] for s in found)
        cpu = statistics.median(s[1] for s in found)
        size = found[0][3]
        chosen = " (chosen)" if (preset, tune) == (viewing.preset, viewing.tune) else ""
        rows.append((
            sec, f"preset {preset}{' + ' + tune if tune else ''}{chosen}",
            f"first part {wall:.2f} s, CPU {cpu:.2f} s",
            (f"{seconds / cpu:.2f}x real time per core, {cpu * 60 / seconds:.1f} CPU-s per "
             f"watched minute, {size / 2**20:.2f} MiB ({size * 8 / seconds / 1e6:.1f} Mbit/s); "
             f"walls {', '.join(f'{s[0]:.2f}' for s in found)} s"),
        ))
    rows.append((sec, "load average at end", load(),
                 "1/5/15 min; wall times above stretch with it, CPU seconds do not"))
    return rows


def partial_ours(ours, quality: Quality):
    return lambda: ours(quality)


async def run(bench: Bench) -> list[Row]:
    rounds, preset_rounds = (2, 1) if bench.quick else (5, 3)
    work = bench.work / "s12"
    try:
        work.mkdir(parents=True)
        return await section_transcode(bench, work, rounds, preset_rounds)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


SECTION = Section("12", "transcode", TITLE, run, simulator=False)
