"""Section 9 (also "chaos"): chaos soak, our recorder and a bare ffmpeg under the same faults.

8 cameras for 20 minutes (``--quick``: 2 minutes), each its own simulator (offline,
hostile and session faults take a whole simulator): /sub, /bframes, /vfr, /sdponly,
/longgop, /audio (1080p + AAC), /sub over RTSP/UDP and /pcmu (G.711, transcoded).
Every minute (``--quick``: every 15 s) one random fault hits one random camera it
applies to: offline 10 s, offline mid-frame 10 s, frozen 10 s, garbage 5 s, clock set
back 4 s, clock jumping 30 s ahead, RTP timestamps wrapping (a reconnect into a session
that wraps 5 s in), audio stopping 10 s (audio cameras), 5 % RTP loss for 10 s (the UDP
camera), a limit of two sessions while a viewer is refused, and a hostile server for
15 s (a random mode). On top: kill -9 of one camera's ffmpeg every 5 minutes
(``--quick``: once), and one restart of the Home Assistant side at half time.

The restart is played here, not with a Home Assistant process: every engine Recorder is
stopped and the index closed (what unloading the integration does), then the index is
opened as at start-up (``open_or_recover`` with ``quick_check``) and new Recorders start
(what the coordinators do). A bare ``ffmpeg -rtsp_transport T -i URL -map 0:v:0 -c copy
-f segment -segment_time 10 -reset_timestamps 1 -strftime 1`` records each camera beside
ours, restarted 1 s after it exits (a shell loop); it gets the same faults, including
the kill -9 (not the Home Assistant restart: it runs outside). Its files are placed by
their names (whole seconds), so its figures are good to about a second per file.

At the end: every stored file decodes (strictly; frames the camera damaged itself,
during garbage or loss, are counted apart, and so are frames missing outside a fault that
the bare ffmpeg's recording of the same moment misses too: a stalled machine starved the
simulator before either recorder saw them), the index equals the disk and a rebuild of
the index from the files, gaps only where faults were (seconds lost per fault type, ours
against bare ffmpeg), no supervising task ever ended, and memory growth after warm-up.
Not in the default run: ``scripts/bench --sections chaos``.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
import os
from pathlib import Path
import random
import signal
import time

import av

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.rebuild import rebuild_index
from custom_components.cctv_nvr.engine.recorder import Recorder, RecorderConfig
from tests.simulator import HOSTILE_MODES, CameraSimulator

from .common import FPS, Bench, Row, Section, ffmpeg_pid, log
from .memory_soak import slope_per_hour, vm_rss

TITLE = "9 Chaos soak"
MOUNTS = ("sub", "bframes", "vfr", "sdponly", "longgop", "audio", "sub", "pcmu")
UDP_CAMERA = 6
AUDIO = ("audio", "pcmu")
SEGMENT_SECONDS = 10
RECOVERY = 15.0  # a fault's window: while it lasts, and this long after
SAMPLE = 10.0
# How far a rebuilt row's start (from the file's name, whole seconds, the wall clock when
# ffmpeg opened it) may lie from ours before the index counts as wrong. ffmpeg opens a run's
# first file when the stream starts and drops what precedes the first keyframe: that
# file's footage (ours) may begin up to a keyframe interval after its name as well.
START_TOLERANCE = 2.0
KEYFRAME_INTERVAL = {"longgop": 5.0}  # seconds; 1 s on every other mount


@dataclass
class Camera:
    name: str
    mount: str
    transport: str
    sim: CameraSimulator
    recorder: Recorder | None = None
    bare: asyncio.subprocess.Process | None = None
    busy_until: float = 0.0


@dataclass
class Fault:
    kind: str
    camera: str | None  # None: every camera (the Home Assistant restart)
    start: float
    end: float  # wall time the fault was lifted

    @property
    def window(self) -> tuple[float, float]:
        return self.start, self.end + RECOVERY


@dataclass
class Soak:
    work: Path
    cameras: list[Camera]
    index: SegmentIndex
    faults: list[Fault] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(8))
    stopping: bool = False
    died: int = 0  # samples that found a supervising task ended
    faults_counted: int = 0  # recorder faults (exceptions survived), over all recorders
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, self, children)


def make_recorder(soak: Soak, cam: Camera) -> Recorder:
    return Recorder(
        RecorderConfig(
            camera=cam.name, root=soak.work / "rec", url=cam.sim.url(cam.mount),
            transport=cam.transport, segment_seconds=SEGMENT_SECONDS, fps_hint=FPS,
        ),
        soak.index,
    )


async def bare_loop(soak: Soak, cam: Camera) -> None:
    """A bare ffmpeg recording the camera, started again 1 s after it exits."""
    runs = 0
    while not soak.stopping:
        folder = soak.work / "bare" / cam.name / f"run{runs:03d}"
        folder.mkdir(parents=True)
        cam.bare = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-rtsp_transport", cam.transport, "-i", cam.sim.url(cam.mount),
            "-map", "0:v:0", "-c", "copy", "-f", "segment", "-segment_time",
            str(SEGMENT_SECONDS), "-reset_timestamps", "1", "-strftime", "1",
            str(folder / "%Y%m%dT%H%M%S.mp4"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "TZ": "UTC"},
        )
        await cam.bare.wait()
        runs += 1
        if not soak.stopping:
            await asyncio.sleep(1)


# -- the faults ---------------------------------------------------------------------


async def _hold(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def fault(soak: Soak, cam: Camera, kind: str) -> None:
    """Inject one fault into one camera, hold it, lift it; record its window."""
    sim = cam.sim
    start = time.time()
    if kind in ("offline", "offline_mid_frame"):
        await sim.aoffline(mid_frame=kind == "offline_mid_frame")
        await _hold(10)
        await sim.aonline()
    elif kind == "freeze":
        await sim.afreeze()
        await _hold(10)
        await sim.aunfreeze()
    elif kind == "garbage":
        await sim.agarbage(5, mount=cam.mount)
        await _hold(5)
    elif kind in ("clock_back", "clock_forward"):
        await sim.aclock_jump(-4 if kind == "clock_back" else 30, cam.mount)
        await _hold(5)
    elif kind == "rtp_wrap":
        await sim.artp_wrap(5)
        await sim.aoffline()  # every session reconnects into a media that wraps
        await sim.aonline()
        await _hold(15)
        await sim.artp_wrap(None)
    elif kind == "audio_gap":
        await sim.aaudio_gap(10, cam.mount)
        await _hold(10)
    elif kind == "udp_loss":
        await sim.aloss(5, 10, cam.mount)
        await _hold(10)
    elif kind == "session_limit":
        await sim.amax_sessions(2)  # ours and the bare ffmpeg; a third viewer is refused
        viewer = await asyncio.create_subprocess_exec(
            "ffmpeg", "-v", "quiet", "-rtsp_transport", "tcp", "-i", sim.url(cam.mount),
            "-t", "8", "-c", "copy", "-f", "null", "-",
            stdin=asyncio.subprocess.DEVNULL,
        )
        await _hold(10)
        with suppress(ProcessLookupError):
            viewer.kill()
        await viewer.wait()
        await sim.amax_sessions(None)
    elif kind == "hostile":
        mode = soak.rng.choice(HOSTILE_MODES)
        kind = f"hostile ({mode})"
        await sim.ahostile(mode)
        await _hold(15)
        await sim.ahostile(None)
    elif kind == "kill9":
        for pid in (ffmpeg_pid(cam.recorder) if cam.recorder else None,
                    cam.bare.pid if cam.bare and cam.bare.returncode is None else None):
            if pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    soak.faults.append(Fault(kind, cam.name, start, time.time()))


def applicable(cam_index: int, mount: str) -> list[str]:
    kinds = ["offline", "offline_mid_frame", "freeze", "garbage", "clock_back",
             "clock_forward", "rtp_wrap", "session_limit", "hostile"]
    if mount in AUDIO:
        kinds.append("audio_gap")
    if cam_index == UDP_CAMERA:
        kinds.append("udp_loss")
    return kinds


async def restart_home_assistant(soak: Soak) -> None:
    """Stop every recorder and close the index; open it as at start-up; start again."""
    start = time.time()
    recs = [cam.recorder for cam in soak.cameras if cam.recorder is not None]
    soak.faults_counted += sum(r.status.faults for r in recs)
    await asyncio.gather(*(r.stop() for r in recs))
    await asyncio.to_thread(soak.index.close)
    index, recovered = await asyncio.to_thread(
        SegmentIndex.open_or_recover, soak.work / "index.db", quick_check=True
    )
    if recovered:
        log("section 9: the index needed recovering after the restart")
    soak.index = index
    for cam in soak.cameras:
        cam.recorder = make_recorder(soak, cam)
    await asyncio.gather(*(cam.recorder.start() for cam in soak.cameras if cam.recorder))
    soak.faults.append(Fault("ha_restart", None, start, time.time()))


async def sampler(soak: Soak, t0: float) -> None:
    while not soak.stopping:
        recs = [cam.recorder for cam in soak.cameras if cam.recorder is not None]
        soak.died += sum(1 for r in recs if not r.alive)
        children = sum(vm_rss(ffmpeg_pid(r)) or 0 for r in recs)
        soak.samples.append((time.monotonic() - t0, vm_rss("self") or 0, children))
        await asyncio.sleep(SAMPLE)


# -- what is left at the end -------------------------------------------------------------


def coverage(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end) covered by the union of the intervals."""
    covered = 0.0
    cursor = start
    for first, last in sorted(intervals):
        a, b = max(first, cursor), min(last, end)
        if b > a:
            covered += b - a
            cursor = b
    return covered


def frame_intervals(path: Path, start: float) -> list[tuple[float, float]]:
    """Wall-time spans a file's frames cover, placed at ``start``: a pause of the frames
    of more than a second (a freeze the file's timeline holds) is not covered."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            times = sorted(float(p.pts * p.time_base) for p in container.demux(stream)
                           if p.pts is not None)
    except (av.error.FFmpegError, IndexError):
        return []
    if not times:
        return []
    spans = []
    first = previous = times[0]
    for moment in times[1:]:
        if moment - previous > 1.0:
            spans.append((first, previous + 1 / FPS))
            first = moment
        previous = moment
    spans.append((first, previous + 1 / FPS))
    return [(start + a - times[0], start + b - times[0]) for a, b in spans]


def bare_intervals(work: Path, camera: str) -> list[tuple[float, float]]:
    """The bare ffmpeg's footage, each file placed by its name (whole seconds)."""
    found = []
    for moment, path in bare_files(work, camera):
        found += frame_intervals(path, moment)
    return found


def decode_check(path: Path) -> bool:
    """Decode every video frame strictly; False on any error or a missing frame."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            video.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
            video.codec_context.thread_count = 1
            packets = frames = 0
            for packet in container.demux(video):
                if packet.pts is None and not packet.size:
                    continue
                packets += 1
                frames += len(packet.decode())
            frames += len(video.codec_context.decode(None))
    except av.error.FFmpegError:
        return False
    return frames == packets > 0


def windows_of(soak: Soak, camera: str, kinds: tuple[str, ...] = ()) -> list[tuple[float, float]]:
    return [
        f.window for f in soak.faults
        if (f.camera in (camera, None)) and (not kinds or f.kind.split(" ")[0] in kinds)
    ]


def overlaps(a: tuple[float, float], windows: list[tuple[float, float]]) -> bool:
    return any(a[0] < w[1] and w[0] < a[1] for w in windows)


def bare_files(work: Path, camera: str) -> list[tuple[float, Path]]:
    """The bare ffmpeg's files of a camera with their start (from the name, whole seconds)."""
    found = []
    for path in sorted((work / "bare" / camera).rglob("*.mp4")):
        try:
            moment = datetime.strptime(path.stem, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            continue
        found.append((moment.timestamp(), path))
    return found


def bare_damaged(files: list[tuple[float, Path]], start: float, end: float) -> bool:
    """Whether the bare ffmpeg's recording of [start, end] fails the same strict decode.

    The bare ffmpeg records the same simulator over its own RTSP session: frames missing in
    both were lost before either recorder saw them (a machine-wide stall starving the
    simulator), not by ours. A bare file may last up to a segment longer than its name says.
    """
    return any(
        moment < end + 1 and start - 1 < moment + SEGMENT_SECONDS + 1 and not decode_check(path)
        for moment, path in files
    )


def check_files(soak: Soak) -> tuple[int, int, int, int, list[str]]:
    """(files, damaged by the camera in a fault, damaged before both recorders, failed, first
    failures)."""
    files = damaged = upstream = failed = 0
    failures: list[str] = []
    for cam in soak.cameras:
        camera_damage = windows_of(soak, cam.name, ("garbage", "udp_loss"))
        bare = bare_files(soak.work, cam.name)
        for segment in soak.index.segments(cam.name, 0, 1e12):
            files += 1
            if decode_check(soak.work / "rec" / segment.path):
                continue
            if overlaps((segment.start - 1, segment.end + 1), camera_damage):
                damaged += 1
            elif bare_damaged(bare, segment.start, segment.end):
                upstream += 1
            else:
                failed += 1
                failures.append(segment.path)
    return files, damaged, upstream, failed, failures[:3]


def check_index(soak: Soak) -> tuple[list[str], float, float]:
    """Index against disk and against a rebuild: (problems, max start and length deltas)."""
    problems: list[str] = []
    rebuilt = SegmentIndex(soak.work / "rebuilt.db")
    try:
        rebuild_index(rebuilt, soak.work / "rec")
        start_delta = length_delta = 0.0
        for cam in soak.cameras:
            ours = {s.path: s for s in soak.index.segments(cam.name, 0, 1e12)}
            files = {p.relative_to(soak.work / "rec").as_posix()
                     for p in (soak.work / "rec" / cam.name).rglob("*.mp4")}
            if set(ours) != files:
                problems.append(f"{cam.name}: {len(set(ours) ^ files)} index/disk differences")
            again = {s.path: s for s in rebuilt.segments(cam.name, 0, 1e12)}
            if set(again) != set(ours):
                problems.append(f"{cam.name}: rebuild has {len(set(again) ^ set(ours))} other paths")
            misplaced: list[tuple[float, str]] = []
            for path in set(ours) & set(again):
                delta = ours[path].start - again[path].start
                start_delta = max(start_delta, abs(delta))
                length_delta = max(length_delta, abs(ours[path].duration - again[path].duration))
                if not -START_TOLERANCE <= delta <= START_TOLERANCE + KEYFRAME_INTERVAL.get(
                    cam.mount, 1.0
                ):
                    misplaced.append((delta, path))
            if misplaced:
                delta, path = max(misplaced, key=lambda row: abs(row[0]))
                problems.append(
                    f"{cam.name}: {len(misplaced)} rows start too far from the rebuild's "
                    f"(worst {Path(path).name} {delta:+.1f} s)"
                )
    finally:
        rebuilt.close()
    return problems, start_delta, length_delta


def gaps(soak: Soak, from_t: float) -> tuple[list[tuple[str, float, float]], int]:
    """Unexplained gaps (> 1 s, outside every fault window) and the count of gaps."""
    unexplained = []
    count = 0
    for cam in soak.cameras:
        segments = soak.index.segments(cam.name, from_t, 1e12)
        explained = windows_of(soak, cam.name)
        for before, after in zip(segments, segments[1:], strict=False):
            if after.start - before.end > 1.0:
                count += 1
                if not overlaps((before.end, after.start), explained):
                    unexplained.append((cam.name, before.end, after.start - before.end))
    return unexplained, count


def lost_by_kind(soak: Soak) -> dict[str, tuple[int, float, float]]:
    """Fault kind -> (times, seconds lost by ours, seconds lost by bare ffmpeg)."""
    ours = {
        cam.name: [
            span
            for s in soak.index.segments(cam.name, 0, 1e12)
            for span in frame_intervals(soak.work / "rec" / s.path, s.start)
        ]
        for cam in soak.cameras
    }
    bare = {cam.name: bare_intervals(soak.work, cam.name) for cam in soak.cameras}
    table: dict[str, tuple[int, float, float]] = {}
    for f in soak.faults:
        names = [f.camera] if f.camera else [cam.name for cam in soak.cameras]
        start, end = f.window
        # Per camera it hit (the restart hits them all).
        lost_ours = sum(end - start - coverage(ours[n], start, end) for n in names) / len(names)
        lost_bare = sum(end - start - coverage(bare[n], start, end) for n in names) / len(names)
        kind = f.kind.split(" ")[0]
        times, a, b = table.get(kind, (0, 0.0, 0.0))
        table[kind] = (times + 1, a + lost_ours, b + lost_bare)
    return table


# -- the run ---------------------------------------------------------------------------------


async def chaos(work: Path, quick: bool) -> list[Row]:
    duration = 120.0 if quick else 1200.0
    every = 15.0 if quick else 60.0
    warmup = 20.0 if quick else 120.0
    await asyncio.to_thread(work.mkdir, parents=True)
    sims = [CameraSimulator(stderr=(work / f"sim{n}.log").open("ab")) for n in range(len(MOUNTS))]
    await asyncio.gather(*(sim.astart() for sim in sims))
    index = SegmentIndex(work / "index.db")
    cams = [
        Camera(f"cam{n}", mount, "udp" if n == UDP_CAMERA else "tcp", sims[n])
        for n, mount in enumerate(MOUNTS)
    ]
    soak = Soak(work, cams, index)
    tasks: list[asyncio.Task[None]] = []
    injected: list[asyncio.Task[None]] = []
    t0 = time.monotonic()
    try:
        for cam in cams:
            cam.recorder = make_recorder(soak, cam)
        await asyncio.gather(*(cam.recorder.start() for cam in cams if cam.recorder))
        tasks = [asyncio.create_task(bare_loop(soak, cam)) for cam in cams]
        tasks.append(asyncio.create_task(sampler(soak, t0)))
        log(f"section 9: {len(cams)} cameras for {duration:g} s, a fault every {every:g} s")
        measured_from = time.time() + warmup
        next_fault = warmup
        kills = [warmup + every * 1.5] if quick else [300.0 * k for k in range(1, 4)]
        restart_at = duration / 2
        while (now := time.monotonic() - t0) < duration:
            if now >= next_fault:
                free = [n for n, cam in enumerate(cams) if cam.busy_until <= now]
                n = soak.rng.choice(free)
                kind = soak.rng.choice(applicable(n, cams[n].mount))
                cams[n].busy_until = now + 30
                log(f"section 9: t={now:.0f} s {kind} on {cams[n].name} ({cams[n].mount})")
                injected.append(asyncio.create_task(fault(soak, cams[n], kind)))
                next_fault += every
            if kills and now >= kills[0]:
                kills.pop(0)
                cam = soak.rng.choice(cams)
                log(f"section 9: t={now:.0f} s kill -9 of {cam.name}'s ffmpeg (ours and bare)")
                injected.append(asyncio.create_task(fault(soak, cam, "kill9")))
            if restart_at is not None and now >= restart_at:
                restart_at = None
                log(f"section 9: t={now:.0f} s restart of the Home Assistant side")
                await restart_home_assistant(soak)
            await asyncio.sleep(0.5)
        await asyncio.gather(*injected)
        await asyncio.sleep(RECOVERY + 5)  # the last fault's recovery
    finally:
        soak.stopping = True
        recs = [cam.recorder for cam in cams if cam.recorder is not None]
        soak.faults_counted += sum(r.status.faults for r in recs)
        soak.died += sum(1 for r in recs if not r.alive)
        await asyncio.gather(*(r.stop() for r in recs), return_exceptions=True)
        for cam in cams:
            if cam.bare is not None and cam.bare.returncode is None:
                cam.bare.terminate()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(sim.astop() for sim in sims), return_exceptions=True)
    wall = time.monotonic() - t0
    log("section 9: checking the footage")
    files, damaged, upstream, failed, failures = await asyncio.to_thread(check_files, soak)
    problems, start_delta, length_delta = await asyncio.to_thread(check_index, soak)
    unexplained, gap_count = await asyncio.to_thread(gaps, soak, measured_from)
    lost = await asyncio.to_thread(lost_by_kind, soak)
    soak.index.close()
    after = [s for s in soak.samples if s[0] >= warmup]
    mib = 2**20
    bench_slope = slope_per_hour([(t, a / mib) for t, a, _c in after]) if len(after) > 2 else 0.0
    child_slope = slope_per_hour([(t, c / mib) for t, _a, c in after]) if len(after) > 2 else 0.0
    total = len(soak.faults)
    rows: list[Row] = [
        (TITLE, "faults injected",
         f"{total} in {wall / 60:.1f} min on {len(cams)} cameras",
         ", ".join(f"{k} {v[0]}" for k, v in sorted(lost.items()))
         + "; mounts " + ", ".join(f"{c.name} /{c.mount}{' (UDP)' if c.transport == 'udp' else ''}"
                                   for c in cams)),
        (TITLE, "every stored file decodes",
         "**yes**" if not failed else f"NO: {failed} files",
         f"{files} files decoded strictly (err_detect explode); {damaged} hold frames the "
         "camera itself damaged (garbage, UDP loss) and were kept; "
         f"{upstream} outside a fault miss frames the bare ffmpeg's recording of the same "
         "moment misses too (lost before either recorder: a stalled machine starved the "
         "simulator)"
         + (f"; failing: {', '.join(failures)}" if failures else "")),
        (TITLE, "index = disk = rebuild from disk",
         "**yes**" if not problems else "NO: " + "; ".join(problems[:3]),
         (f"same paths; rebuilt rows start within {start_delta:.2f} s (names are whole "
          f"seconds) and last within {length_delta:.3f} s of ours")),
        (TITLE, "gaps only where faults were",
         "**yes**" if not unexplained else f"NO: {len(unexplained)} elsewhere",
         f"{gap_count} gaps > 1 s after the warm-up, all inside a fault's window (while it "
         f"lasted and {RECOVERY:g} s after)"
         + ("; elsewhere: " + ", ".join(f"{c} {g:.1f} s" for c, _t, g in unexplained[:3])
            if unexplained else "")),
        (TITLE, "no supervising task died",
         "**yes**" if not soak.died else f"NO: {soak.died} samples",
         (f"alive checked every {SAMPLE:g} s; recorder faults (exceptions survived): "
          f"{soak.faults_counted}")),
        (TITLE, "memory growth after warm-up",
         f"{bench_slope:+.1f} MB/hour" + (" (2 min: not meaningful)" if quick else ""),
         f"bench process (recorders, index): least-squares slope over {len(after)} samples "
         f"(VmRSS {after[0][1] / mib if after else 0:.1f} to "
         f"{after[-1][1] / mib if after else 0:.1f} MB); "
         f"ffmpeg children (ours, sum) {child_slope:+.1f} MB/hour (they restart with faults); "
         + ("meets" if bench_slope < 5 else "MISSES") + " the 5 MB/hour target"),
    ]
    for kind, (times, ours, bare) in sorted(lost.items()):
        rows.append((
            TITLE, f"seconds lost: {kind} (x{times})",
            f"ours {ours / times:.1f} s / bare {bare / times:.1f} s per fault",
            (f"per camera hit; window: while the fault lasted and {RECOVERY:g} s after; "
             "covered = frames at most 1 s apart (a frozen timeline is a loss)"
             + ("; bare ffmpeg runs outside Home Assistant: not restarted"
                if kind == "ha_restart" else "")),
        ))
    return rows


async def run(bench: Bench) -> list[Row]:
    return await chaos(bench.work / "s9", bench.quick)


SECTION = Section("9", "chaos", TITLE, run, simulator=False, default=False)
