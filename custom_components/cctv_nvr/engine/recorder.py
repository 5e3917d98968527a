"""Continuous recording of one camera: a supervised ffmpeg process.

ffmpeg copies the camera's video (no re-encode) into keyframe-aligned,
fragmented MP4 segments (a crash loses at most the last ~1 s fragment) and
announces every finished segment on its stdout (segment list in CSV), so the
engine never polls directories. Progress lines on the same pipe tell whether
media packets still arrive: a stream that stops moving is restarted even when
its RTSP socket stays open. Any exit of ffmpeg while recording is wanted,
including a clean exit 0 when the server hangs up, counts as a failure and is
retried with a short capped backoff after a cheap RTSP DESCRIBE check.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import logging
import os
from pathlib import Path
import secrets
import signal
import time
from typing import Any

from . import rtsp
from .fmp4 import trim_incomplete_tail
from .index import SEGMENT_CONTINUOUS, Segment, SegmentIndex
from .layout import (
    hour_dir,
    hour_dirs,
    parse_segment_name,
    relative,
    segment_dir_for_name,
    segment_template,
)
from .media import ProbeError, StreamInfo, probe_file
from .mp4box import leading_parameter_sets
from .retention import disk_free_bytes

_LOGGER = logging.getLogger(__name__)

type Executor = Callable[..., Awaitable[Any]]

# Fragment duration inside each segment: what an abrupt kill can lose at most.
FRAGMENT_SECONDS = 1.0
_STDERR_LINES = 20
_MIN_SEGMENT_SECONDS = 0.05
# A segment this small holds headers at most (no complete frame).
_EMPTY_SEGMENT_BYTES = 4096


class RecorderState(StrEnum):
    """What the recorder is doing."""

    IDLE = "idle"
    CONNECTING = "connecting"
    RECORDING = "recording"
    OFFLINE = "offline"
    AUTH_FAILED = "auth_failed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """A snapshot of the recorder's state for entities and diagnostics."""

    state: RecorderState = RecorderState.IDLE
    reason: str | None = None
    since: float = field(default_factory=time.time)
    last_segment_end: float | None = None
    restarts: int = 0
    fps: float | None = None
    bitrate_kbps: float | None = None


@dataclass(slots=True)
class RecorderConfig:
    """How to record one camera."""

    camera: str
    root: Path
    url: str
    username: str | None = None
    password: str | None = None
    transport: str = "tcp"
    segment_seconds: float = 10.0
    record_audio: bool = True
    ffmpeg: str = "ffmpeg"
    fps_hint: float | None = None
    video_codec_hint: str | None = None
    stall_timeout: float = 5.0
    start_timeout: float = 15.0
    max_backoff: float = 2.0
    auth_retry: float = 15.0
    describe_timeout: float = 3.0
    # Room a run needs on the recordings filesystem: below it no ffmpeg is started (no
    # crash loop on a full disk); the recorder waits, checking every disk_full_retry s.
    min_free_bytes: int = 16 * 2**20
    disk_full_retry: float = 5.0


@dataclass(slots=True)
class _Run:
    run_id: str
    started: float
    anchor: float | None = None
    last_end: float | None = None
    frames: int = 0
    last_progress: float = field(default_factory=time.monotonic)
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_LINES))
    segments: int = 0
    info: StreamInfo | None = None
    parameter_sets: bytes | None = None  # in-band SPS/PPS of the last probed segment


class Recorder:
    """Supervises one ffmpeg recording process for a camera."""

    def __init__(
        self,
        config: RecorderConfig,
        index: SegmentIndex,
        *,
        executor: Executor | None = None,
        on_status: Callable[[RecorderStatus], None] | None = None,
        on_segment: Callable[[Segment], None] | None = None,
    ) -> None:
        """Prepare a recorder; nothing runs until start()."""
        self.config = config
        self._index = index
        self._executor = executor
        self._on_status = on_status
        self._on_segment = on_segment
        self._status = RecorderStatus()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._wanted = False
        self._proc: asyncio.subprocess.Process | None = None
        self._ingest: asyncio.Queue[tuple[str, float, float, _Run] | None] = asyncio.Queue()
        self._ingest_task: asyncio.Task[None] | None = None
        self._last_failure_logged = False
        self._control = asyncio.Lock()
        # Kind of a finished segment from its (start, end): "continuous" unless the
        # owner says otherwise (a rolling pre-roll buffer is stored as "buffer").
        self.kind_for: Callable[[float, float], str] = lambda _start, _end: SEGMENT_CONTINUOUS

    # -- public API -------------------------------------------------------

    @property
    def status(self) -> RecorderStatus:
        """Return the current status."""
        return self._status

    @property
    def running(self) -> bool:
        """Return True while recording is wanted (even while reconnecting)."""
        return self._wanted

    @property
    def camera_dir(self) -> Path:
        """Return the camera's directory under the recordings root."""
        return self.config.root / self.config.camera

    async def start(self) -> None:
        """Start recording (idempotent)."""
        # Serialised with stop(): a start while a stop still finishes the last segment
        # must not end up with a supervisor whose ingest loop that stop then ends.
        async with self._control:
            await self._start()

    async def _start(self) -> None:
        if self._wanted:
            return
        self._wanted = True
        self._wake.clear()
        if self._ingest_task is None or self._ingest_task.done():
            self._ingest_task = asyncio.get_running_loop().create_task(
                self._ingest_loop(), name=f"cctv_nvr ingest {self.config.camera}"
            )
        last = await self._run_blocking(self._index.last_segment, self.config.camera)
        since = last.end - 60 if last else time.time() - 2 * 3600
        await self._reconcile(since, None)
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"cctv_nvr recorder {self.config.camera}"
        )

    async def stop(self) -> None:
        """Stop recording; the open segment is finished and indexed."""
        self._wanted = False
        self._wake.set()
        self._terminate()
        async with self._control:
            await self._stop()

    async def _stop(self) -> None:
        self._wanted = False
        self._wake.set()
        self._terminate()
        if self._task is not None:
            await self._task
            self._task = None
        if self._ingest_task is not None:
            await self._ingest.put(None)
            await self._ingest_task
            self._ingest_task = None
        self._set_status(RecorderState.IDLE, None)

    async def latest_files(self) -> list[Path]:
        """Return the newest segment files (the growing one first)."""
        files: list[Path] = await self._run_blocking(self._latest_files)
        return files

    # -- supervision ------------------------------------------------------

    async def _run_blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        if self._executor is not None:
            return await self._executor(func, *args)
        return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    def _set_status(self, state: RecorderState, reason: str | None, **changes: Any) -> None:
        status = self._status
        if state != status.state or reason != status.reason:
            status = replace(status, state=state, reason=reason, since=time.time())
        if changes:
            status = replace(status, **changes)
        if status == self._status:
            return
        previous, self._status = self._status, status
        # Rates change every second; only state changes are worth a notice.
        notable = (previous.state, previous.reason, previous.restarts, previous.last_segment_end)
        if self._on_status is not None and notable != (
            status.state,
            status.reason,
            status.restarts,
            status.last_segment_end,
        ):
            self._on_status(status)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _supervise(self) -> None:
        backoff = 0.5
        cfg = self.config
        while self._wanted:
            if self._status.state not in (
                RecorderState.OFFLINE,
                RecorderState.AUTH_FAILED,
                RecorderState.ERROR,  # stays an error (e.g. disk full) until a run starts
            ):
                self._set_status(RecorderState.CONNECTING, None)
            try:
                described = await rtsp.describe(
                    cfg.url, cfg.username, cfg.password, timeout=cfg.describe_timeout
                )
            except rtsp.RtspAuthError:
                self._failed(RecorderState.AUTH_FAILED, "invalid_auth")
                await self._sleep(cfg.auth_retry)
                continue
            except rtsp.RtspError as err:
                self._failed(RecorderState.OFFLINE, err.reason)
                await self._sleep(backoff)
                backoff = min(backoff * 2, cfg.max_backoff)
                continue
            if self._stopping():
                break
            if await self._disk_full():
                self._failed(RecorderState.ERROR, "disk_full")
                await self._sleep(cfg.disk_full_retry)
                continue
            started = time.monotonic()
            reason = await self._run(described)
            if self._stopping():
                break
            if reason in ("ffmpeg_missing", "storage_unwritable"):
                self._failed(RecorderState.ERROR, reason)
                await self._sleep(30)
                continue
            if reason == "disk_full":
                self._failed(RecorderState.ERROR, reason)
                await self._sleep(cfg.disk_full_retry)
                continue
            self._failed(RecorderState.OFFLINE, reason)
            self._set_status(self._status.state, reason, restarts=self._status.restarts + 1)
            if time.monotonic() - started > 30:  # noqa: PLR2004
                backoff = 0.5
            await self._sleep(backoff)
            backoff = min(backoff * 2, cfg.max_backoff)

    async def _disk_full(self) -> bool:
        """Return True when the recordings filesystem has less room than a run needs."""
        try:
            free: int = await self._run_blocking(disk_free_bytes, self.config.root)
        except OSError:
            return False  # a missing root is created (or reported) by the run itself
        return free < self.config.min_free_bytes

    def _stopping(self) -> bool:
        """Return True once stop() was called (read afresh: it changes while we await)."""
        return not self._wanted

    def _failed(self, state: RecorderState, reason: str) -> None:
        if not self._last_failure_logged:
            _LOGGER.warning(
                "Camera %s: recording interrupted (%s); retrying", self.config.camera, reason
            )
            self._last_failure_logged = True
        self._set_status(state, reason)

    # How ffmpeg's stdin is opened; a subclass feeding the stream itself uses a pipe.
    _stdin_mode: int = asyncio.subprocess.DEVNULL

    def _process_started(self, proc: asyncio.subprocess.Process, run: _Run) -> None:
        """Call when a run's ffmpeg has started (a subclass hook; nothing here)."""

    def _input_args(self) -> list[str]:
        """Return ffmpeg's input options and input: the camera's RTSP stream."""
        cfg = self.config
        return [
            "-rtsp_transport",
            cfg.transport,
            "-timeout",
            str(int(cfg.stall_timeout * 1_000_000)),
            "-analyzeduration",
            "1000000",
            "-fflags",
            "+genpts+discardcorrupt",
            "-i",
            rtsp.credential_url(cfg.url, cfg.username, cfg.password),
        ]

    def _ffmpeg_args(self, described: rtsp.DescribeResult, run_id: str) -> list[str]:
        cfg = self.config
        fps = cfg.fps_hint or 25.0
        video_codec = described.video_codec or cfg.video_codec_hint
        args = [
            cfg.ffmpeg,
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "warning",
            *self._input_args(),
            "-map",
            "0:v:0",
            "-c:v",
            "copy",
        ]
        if video_codec == "hevc":
            args += ["-tag:v", "hvc1"]
        audio = described.audio_codec
        if cfg.record_audio and audio is not None:
            args += ["-map", "0:a:0?"]
            if audio == "aac":
                args += ["-c:a", "copy"]
            else:
                args += ["-c:a", "aac", "-b:a", "64k"]
        args += [
            "-f",
            "segment",
            "-segment_time",
            f"{cfg.segment_seconds:g}",
            "-segment_time_delta",
            f"{0.5 / fps:.4f}",
            "-reset_timestamps",
            "1",
            "-segment_format",
            "mp4",
            "-segment_format_options",
            (
                "movflags=+frag_keyframe+empty_moov+default_base_moof"
                f":frag_duration={int(FRAGMENT_SECONDS * 1_000_000)}"
            ),
            "-segment_list",
            "pipe:1",
            "-segment_list_type",
            "csv",
            "-strftime",
            "1",
            segment_template(cfg.root, cfg.camera, run_id),
            "-progress",
            "pipe:1",
            "-stats_period",
            "1",
        ]
        return args

    def _prepare_dirs(self) -> None:
        now = datetime.now(UTC)
        for moment in (now, now + timedelta(hours=1)):
            hour_dir(self.config.root, self.config.camera, moment).mkdir(
                parents=True, exist_ok=True
            )

    async def _run(self, described: rtsp.DescribeResult) -> str:
        """Run ffmpeg once; return why it ended (a translation key)."""
        run = _Run(run_id=secrets.token_hex(2), started=time.time())
        try:
            await self._run_blocking(self._prepare_dirs)
        except OSError:
            _LOGGER.exception("Camera %s: cannot create recording folders", self.config.camera)
            return "storage_unwritable"
        args = self._ffmpeg_args(described, run.run_id)
        env = {**os.environ, "TZ": "UTC"}
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=self._stdin_mode,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError:
            _LOGGER.exception("Cannot start ffmpeg (%s)", self.config.ffmpeg)
            return "ffmpeg_missing"
        self._proc = proc
        self._process_started(proc, run)
        reason = "stream_ended"
        readers = [
            asyncio.create_task(self._read_stdout(proc, run)),
            asyncio.create_task(self._read_stderr(proc, run)),
        ]
        try:
            while True:
                try:
                    async with asyncio.timeout(0.5):
                        await proc.wait()
                    break
                except TimeoutError:
                    pass
                if not self._wanted:  # stop() raced with the start of this process
                    self._terminate()
                    break
                idle = time.monotonic() - run.last_progress
                limit = self.config.stall_timeout if run.frames else self.config.start_timeout
                if idle > limit:
                    reason = "stalled" if run.frames else "no_media"
                    _LOGGER.debug(
                        "Camera %s: no media for %.1f s, restarting ffmpeg",
                        self.config.camera,
                        idle,
                    )
                    self._terminate()
                    break
            await self._wait_exit(proc)
        finally:
            await asyncio.gather(*readers, return_exceptions=True)
            self._proc = None
        if any("No space left on device" in line for line in run.stderr):
            reason = "disk_full"
        if proc.returncode not in (0, 255, -signal.SIGTERM) and run.stderr:
            _LOGGER.debug(
                "Camera %s: ffmpeg exited with %s: %s",
                self.config.camera,
                proc.returncode,
                " | ".join(run.stderr),
            )
        await self._ingest.join()  # announced segments first, then what is left over
        await self._reconcile(run.started - 1, run)
        return reason

    async def _wait_exit(self, proc: asyncio.subprocess.Process) -> None:
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def _terminate(self) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)

    async def _read_stderr(self, proc: asyncio.subprocess.Process, run: _Run) -> None:
        assert proc.stderr is not None  # noqa: S101
        async for raw in proc.stderr:
            line = rtsp.redact_text(raw.decode("utf-8", "replace").strip())
            if line:
                run.stderr.append(line)

    async def _read_stdout(self, proc: asyncio.subprocess.Process, run: _Run) -> None:
        assert proc.stdout is not None  # noqa: S101
        async for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            if "=" in line:
                self._progress(run, *line.split("=", 1))
            elif line.count(",") >= 2:  # noqa: PLR2004
                _LOGGER.debug("Camera %s: segment list: %s", self.config.camera, line)
                name, start, end = line.rsplit(",", 2)
                try:
                    self._segment_done(run, name, float(start), float(end))
                except ValueError:
                    _LOGGER.debug("Unexpected segment list line: %s", line)

    def _anchor(self, run: _Run, stream_time: float) -> None:
        candidate = time.time() - stream_time
        if run.anchor is None or candidate < run.anchor:
            run.anchor = candidate

    def _progress(self, run: _Run, key: str, value: str) -> None:
        if key == "frame":
            with contextlib.suppress(ValueError):
                frames = int(value)
                if frames > run.frames:
                    run.frames = frames
                    run.last_progress = time.monotonic()
                    if self._status.state != RecorderState.RECORDING:
                        if self._last_failure_logged:
                            _LOGGER.info("Camera %s: recording resumed", self.config.camera)
                        self._last_failure_logged = False
                        self._set_status(RecorderState.RECORDING, None)
        elif key == "out_time_us":
            with contextlib.suppress(ValueError):
                micros = int(value)
                if micros > 0:
                    self._anchor(run, micros / 1_000_000)
        elif key == "fps":
            with contextlib.suppress(ValueError):
                self._set_status(self._status.state, self._status.reason, fps=float(value))
        elif key == "bitrate" and value.endswith("kbits/s"):
            with contextlib.suppress(ValueError):
                self._set_status(
                    self._status.state,
                    self._status.reason,
                    bitrate_kbps=float(value.removesuffix("kbits/s")),
                )

    def _segment_done(self, run: _Run, name: str, start: float, end: float) -> None:
        self._anchor(run, end)
        assert run.anchor is not None  # noqa: S101
        # Within a run the segments are contiguous by construction; only the first
        # one is placed on the wall clock (later anchor refinements must not open gaps).
        wall_start = run.anchor + start if run.last_end is None else run.last_end
        wall_end = wall_start + (end - start)
        run.last_end = wall_end
        run.segments += 1
        self._ingest.put_nowait((name, wall_start, wall_end, run))

    async def _ingest_loop(self) -> None:
        while True:
            item = await self._ingest.get()
            if item is None:
                # The stop sentinel counts too: a later run's join() must not wait for it.
                self._ingest.task_done()
                return
            name, start, end, run = item
            try:
                segment = await self._run_blocking(self._index_segment, name, start, end, run)
            except Exception:
                _LOGGER.exception("Camera %s: cannot index segment %s", self.config.camera, name)
                continue
            finally:
                self._ingest.task_done()
            if segment is not None:
                self._set_status(self._status.state, self._status.reason, last_segment_end=end)
                if self._on_segment is not None:
                    self._on_segment(segment)

    def _index_segment(self, name: str, start: float, end: float, run: _Run) -> Segment | None:
        """Add a finished segment to the index (executor).

        A run's first segment is probed and measured: ffmpeg's segment list counts
        the packets it dropped before the first keyframe, so that segment's real start
        is its end minus the duration of what the file holds. Later segments are placed
        by the list alone; the in-band parameter sets at their start (a few KiB) are
        compared with the run's, and the file is probed again only when they changed:
        a camera may switch resolution in-band without ending the RTSP session, and
        the container header alone does not show that.
        """
        self._prepare_dirs()
        directory = segment_dir_for_name(self.config.root, self.config.camera, Path(name).name)
        if directory is None:
            return None
        path = directory / Path(name).name
        try:
            # A failed write (disk full) can end a listed segment mid-fragment: cut
            # it back to its last whole fragment (reads box headers only).
            trimmed = trim_incomplete_tail(path)
            size = path.stat().st_size
        except FileNotFoundError:
            _LOGGER.warning("Camera %s: segment %s vanished", self.config.camera, name)
            return None
        first = run.info is None
        try:
            parameter_sets: bytes | None = leading_parameter_sets(
                path, run.info.video_codec if run.info else ""
            )
        except OSError:
            parameter_sets = None
        if first or trimmed or parameter_sets != run.parameter_sets:
            run.parameter_sets = parameter_sets
            with contextlib.suppress(ProbeError):  # unreadable: keep the run's last parameters
                run.info = probe_file(path, measure=first or trimmed > 0)
        info = run.info
        if trimmed:
            if info is None or not info.duration or info.duration < _MIN_SEGMENT_SECONDS:
                # Cut before its first whole fragment (disk full): no frame to keep.
                self._discard_unplayable(path, relative(self.config.root, path))
                return None
            end = start + info.duration
        elif first and info is not None and info.duration and info.duration < end - start:
            start = end - info.duration
        segment = _make_segment(self.config, path, start, end, size, info, run.run_id)
        segment = replace(segment, kind=self.kind_for(start, end))
        return segment if self._index.add_segment(segment) else None

    async def _reconcile(self, since: float, run: _Run | None) -> None:
        """Index segment files that no notice announced (killed ffmpeg, crash)."""
        try:
            found = await self._run_blocking(self._reconcile_blocking, since, run)
        except OSError:
            _LOGGER.exception("Camera %s: cannot scan recordings", self.config.camera)
            return
        for segment in found:
            if self._on_segment is not None:
                self._on_segment(segment)

    def _reconcile_blocking(self, since: float, run: _Run | None) -> list[Segment]:
        root = self.config.root
        files: list[Path] = []
        for directory in hour_dirs(root, self.config.camera, since, time.time() + 3600):
            if directory.is_dir():
                files.extend(sorted(p for p in directory.iterdir() if p.suffix == ".mp4"))
        known = self._index.known_paths(relative(root, p) for p in files)
        run_ends: dict[str, float] = {}
        last = self._index.last_segment(self.config.camera)
        if last is not None and last.run_id:
            run_ends[last.run_id] = last.end
        if run is not None and run.last_end is not None:
            run_ends[run.run_id] = run.last_end
        found = []
        for path in files:
            rel = relative(root, path)
            parsed = parse_segment_name(path.name)
            if rel in known or parsed is None:
                continue
            name_start, run_id = parsed
            if name_start < since - 1:
                continue
            try:
                trimmed = trim_incomplete_tail(path)
                if trimmed:
                    _LOGGER.debug(
                        "Camera %s: trimmed %d bytes of a cut fragment from %s",
                        self.config.camera,
                        trimmed,
                        rel,
                    )
                info = probe_file(path, measure=True)
            except ProbeError, OSError:
                info = None
            if info is None or not info.duration or info.duration < _MIN_SEGMENT_SECONDS:
                self._discard_unplayable(path, rel)
                continue
            # A cut file continues the indexed segment of its run that ends where it starts.
            start = name_start
            previous = run_ends.get(run_id or "")
            if previous is not None and abs(name_start - previous) <= 2:  # noqa: PLR2004
                start = previous
            segment = _make_segment(
                self.config, path, start, start + info.duration, path.stat().st_size, info, run_id
            )
            segment = replace(segment, kind=self.kind_for(segment.start, segment.end))
            if self._index.add_segment(segment):
                found.append(segment)
                run_ends[run_id or ""] = segment.end
        return found

    def _discard_unplayable(self, path: Path, rel: str) -> None:
        """Remove a file ffmpeg opened but wrote no frame into; keep anything bigger."""
        try:
            size = path.stat().st_size
        except OSError:
            return
        if size <= _EMPTY_SEGMENT_BYTES:
            _LOGGER.debug("Camera %s: removing empty segment %s", self.config.camera, rel)
            with contextlib.suppress(OSError):
                path.unlink()
        else:
            _LOGGER.warning(
                "Camera %s: %s (%d bytes) is unreadable; left on disk, not indexed",
                self.config.camera,
                rel,
                size,
            )

    def _latest_files(self) -> list[Path]:
        now = time.time()
        files: list[Path] = []
        for directory in reversed(hour_dirs(self.config.root, self.config.camera, now - 3600, now)):
            if directory.is_dir():
                files.extend(
                    sorted((p for p in directory.iterdir() if p.suffix == ".mp4"), reverse=True)
                )
            if len(files) >= 2:  # noqa: PLR2004
                break
        return files[:2]


def _make_segment(
    config: RecorderConfig,
    path: Path,
    start: float,
    end: float,
    size: int,
    info: StreamInfo | None,
    run_id: str | None,
) -> Segment:
    return Segment(
        camera=config.camera,
        path=relative(config.root, path),
        start=start,
        end=end,
        bytes=size,
        video_codec=info.video_codec if info else None,
        width=info.width if info else None,
        height=info.height if info else None,
        fps=info.fps if info else None,
        audio_codec=info.audio_codec if info else None,
        run_id=run_id,
    )
