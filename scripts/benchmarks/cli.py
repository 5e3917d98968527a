"""Benchmark the recorder against the simulated camera; prints one markdown table.

The command line of scripts/bench: options, the machine rows, running the chosen
sections of registry.SECTIONS (some in child processes) and printing their rows.
"""

from __future__ import annotations

import argparse
import asyncio
from contextlib import suppress
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import av

from .common import (
    ENTRY,
    FPS,
    MOUNT,
    SEGMENT_SECONDS,
    Bench,
    Row,
    failed,
    log,
    table,
)
from .registry import SECTIONS

CACHE_DIR = "cache"
# By number: what --sections, --help and --list show.
BY_NUMBER = tuple(sorted(SECTIONS, key=lambda section: int(section.number)))
NUMBERS = tuple(section.number for section in BY_NUMBER)
SECTION_ALIASES = {section.alias: section.number for section in BY_NUMBER}
DEFAULT_SECTIONS = ",".join(section.number for section in BY_NUMBER if section.default)
BESIDE = [section.number for section in BY_NUMBER if section.beside]


def machine_rows(args: argparse.Namespace) -> list[Row]:
    model = "?"
    with suppress(OSError), Path("/proc/cpuinfo").open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with suppress(OSError, ValueError), Path("/proc/meminfo").open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    try:
        ffmpeg_version = subprocess.run(
            ["ffmpeg", "-version"], capture_output=True, text=True, check=True
        ).stdout.split()[2]
    except (OSError, subprocess.SubprocessError, IndexError):
        ffmpeg_version = "missing"
    return [
        ("", "date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
         ("--quick" if args.quick else "full run")
         + ("" if args.sections == DEFAULT_SECTIONS else f", sections {args.sections}")),
        ("", "machine",
         (f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
          f"{model}, {mem} RAM"),
         (f"{platform.machine()}, Linux {platform.release()}; shared/noisy: compare ratios "
          "within one run only")),
        ("", "software",
         (f"ffmpeg {ffmpeg_version}, PyAV {av.__version__} (libav {av.ffmpeg_version_info}), "
          f"Python {platform.python_version()}"), ""),
    ] + ([
        ("", "stream", f"simulator /{MOUNT}: H.264 1920x1080 {FPS} fps, GOP {FPS}, RTSP/TCP",
         f"segments {SEGMENT_SECONDS} s; CPU = utime+stime from /proc/<pid>/stat"),
    ] if any(section.simulator for section in SECTIONS
             if section.number in parse_sections(args.sections)) else [])


def row_order(row: Row) -> int:
    """Sort key of a row: its section's number (0 for the machine and note rows)."""
    number = row[0].split(" ", 1)[0]
    return int(number) if number.isdigit() else 0


async def run(args: argparse.Namespace, work: Path) -> tuple[list[Row], bool]:
    rows = [] if args.child_rows else machine_rows(args)
    chosen = parse_sections(args.sections)
    bench = Bench(quick=args.quick, work=work, cache=args.cache_dir or work / CACHE_DIR, rows=rows)
    # Sections marked beside (4: no camera, mostly its one-off index build; 7: a 10-minute
    # soak that costs little CPU) run as child processes beside the others, so a full run
    # takes about as long as the soak. Their own process keeps their RSS and timings separate.
    children: list[tuple[str, asyncio.subprocess.Process, Path]] = []
    if not args.child_rows and len(chosen) > 1:
        for section in SECTIONS:
            if section.beside and section.number in chosen:
                children.append(await start_child(args, work, bench.cache, section.number))
                chosen.discard(section.number)
    try:
        for section in SECTIONS:
            if section.number not in chosen:
                continue
            if section.simulator:
                await bench.simulator()
            else:
                await bench.stop_simulator()
            try:
                rows += await section.run(bench)
            except Exception as err:
                traceback.print_exc(file=sys.stderr)
                sim = bench.sim if section.simulator else None
                rows.append((section.title, "all", failed(err, sim), ""))
                bench.ok = False
        await bench.stop_simulator()
        for name, proc, out in children:
            log(f"waiting for section {name} (child process {proc.pid})")
            returncode = await proc.wait()
            try:
                result = json.loads(out.read_text(encoding="utf-8"))
                rows += [tuple(row) for row in result["rows"]]
                bench.ok = bench.ok and bool(result["ok"]) and returncode == 0
            except (OSError, ValueError, KeyError) as err:
                rows.append((f"{name} (child)", "all", f"failed: exit {returncode}, {err}", ""))
                bench.ok = False
        children = []
    finally:
        await bench.stop_simulator()
        for _name, proc, _out in children:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    rows.sort(key=row_order)  # machine rows first, then by section
    return rows, bench.ok


async def start_child(
    args: argparse.Namespace, work: Path, cache: Path, section: str
) -> tuple[str, asyncio.subprocess.Process, Path]:
    """Run one section of the bench in a child process (its rows come back as JSON)."""
    child_work = work / f"child{section}"
    child_work.mkdir(parents=True, exist_ok=True)
    out = work / f"child{section}.json"
    command = [sys.executable, str(ENTRY), "--sections", section, "--workdir", str(child_work),
               "--cache-dir", str(cache), "--child-rows", str(out)]
    if args.quick:
        command.append("--quick")
    log(f"section {section}: started in a child process beside the other sections")
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    return section, proc, out


def parse_sections(text: str) -> set[str]:
    if text.strip().lower() == "all":
        return set(NUMBERS)
    chosen = set()
    for part in text.split(","):
        name = SECTION_ALIASES.get(part.strip().lower(), part.strip())
        if name not in NUMBERS:
            raise ValueError(f"unknown section {part!r} (use {', '.join(NUMBERS)} or "
                             f"{', '.join(SECTION_ALIASES)})")
        chosen.add(name)
    return chosen


def section_list() -> str:
    """One line per section: number, alias, title, where it runs."""
    lines = []
    for section in BY_NUMBER:
        notes = [] if section.simulator else ["no simulator"]
        if section.beside:
            notes.append("child process beside the others")
        if not section.default:
            notes.append("not in the default run")
        lines.append(f"{section.number:>2}  {section.alias:<11} {section.title}"
                     + (f" ({', '.join(notes)})" if notes else ""))
    return "\n".join(lines)


def beside_note() -> str:
    """The runtime row's note when a run of several sections had some run beside it."""
    *others, last = BESIDE
    if not others:
        return f"section {last} ran in a child process beside the others"
    return f"sections {', '.join(others)} and {last} ran in child processes beside the others"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 1 minute instead of about 12")
    parser.add_argument(
        "--sections", default=DEFAULT_SECTIONS,
        help=(f"which sections to run (default {DEFAULT_SECTIONS}; 'all' adds the long "
              "soaks; aliases "
              f"{', '.join(f'{k}={v}' for k, v in SECTION_ALIASES.items())})"),
    )
    parser.add_argument(
        "--workdir", type=Path,
        help=("keep the recordings here (default: temp, removed); the synthetic index and "
              f"directory tree of section 4 are cached in DIR/{CACHE_DIR} and reused by later runs"),
    )
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-rows", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        chosen = parse_sections(args.sections)
    except ValueError as err:
        parser.error(str(err))
    if args.sections == "all":
        args.sections = ",".join(NUMBERS)
    if args.list:
        print(section_list())
        return 0
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        print("scripts/bench: ffmpeg/ffprobe not on PATH (run inside the dev root)", file=sys.stderr)
        return 2
    if args.workdir is not None:
        if (args.child_rows is None and args.workdir.exists()
                and any(p.name != CACHE_DIR for p in args.workdir.iterdir())):
            print(f"scripts/bench: {args.workdir} is not empty (only a {CACHE_DIR}/ of an "
                  "earlier run may be in it)", file=sys.stderr)
            return 2
        args.workdir.mkdir(parents=True, exist_ok=True)
        work = args.workdir
    else:
        work = Path(tempfile.mkdtemp(prefix="cctv_nvr_bench-"))
    started = time.monotonic()
    try:
        rows, ok = asyncio.run(run(args, work))
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        rows, ok = [("", "bench", f"failed: {type(err).__name__}: {err}", "")], False
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.child_rows is not None:
        args.child_rows.write_text(json.dumps({"rows": rows, "ok": ok}), encoding="utf-8")
        return 0 if ok else 1
    rows.append(("", "bench runtime", f"{time.monotonic() - started:.0f} s",
                 beside_note() if chosen & set(BESIDE) and len(chosen) > 1 else ""))
    print(table(rows), flush=True)
    return 0 if ok else 1
