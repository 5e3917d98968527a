"""Continuous recording of one camera: a supervised ffmpeg process.

ffmpeg copies the camera's video (no re-encode) into keyframe-aligned,
fragmented MP4 segments (a crash loses at most the last ~1 s fragment) and
announces every finished segment on its stdout (segment list in CSV), so the
engine never polls directories. Progress lines on the same pipe tell whether
media packets still arrive: a stream that stops moving is restarted even when
its RTSP socket stays open. Any exit of ffmpeg while recording is wanted,
including a clean exit 0 when the server hangs up, counts as a failure and is
retried with a short capped backoff after a cheap RTSP DESCRIBE check.

Supervision cannot die: any exception in it (a protocol surprise, an OS or
database error, a plain bug) is a *fault*: logged once per kind with the
camera's name, counted in the status (``faults``, ``last_fault``,
``fault_since``), and retried with a growing backoff. A fault episode ends when
a segment is indexed again. Should the supervising task end anyway (cancelled
from outside), ``alive`` turns False and ``revive()`` starts it again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import logging
import os
from pathlib import Path
import re
import secrets
import signal
import subprocess
import time
import traceback
from typing import Any
import weakref

from . import rtsp
from .fmp4 import last_frame_damaged, trim_incomplete_tail
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
from .mp4box import Mp4Error, drop_last_video_sample, leading_parameter_sets
from .retention import disk_free_bytes

_LOGGER = logging.getLogger(__name__)

type Executor = Callable[..., Awaitable[Any]]

# Fragment duration inside each segment: what an abrupt kill can lose at most.
FRAGMENT_SECONDS = 1.0
_STDERR_LINES = 20
_MIN_SEGMENT_SECONDS = 0.05
# A segment this small holds headers at most (no complete frame).
_EMPTY_SEGMENT_BYTES = 4096
# ffmpeg's words for a camera refusing a session: SETUP/PLAY answered 453 or 503.
_BUSY = re.compile(r"failed: (453|503)\b|Not Enough Bandwidth|Service Unavailable")
# A segment that cannot be indexed is tried again this often (then left to _reconcile).
_INDEX_ATTEMPTS = 3
# Longest presentation offset (B-frame reordering) a video packet keeps, in seconds:
# H.264 reorders 16 frames at most, a second at 16 frames a second.
_MAX_REORDER = 1.0
# How much later than ffmpeg's progress reports a run's first segment list line may
# place the run (the line waits for the cut, interleaving and a loaded machine) before
# the list is believed instead (see Recorder._first_segment_start).
_ANCHOR_SLACK = 2.0


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
    # Faults: exceptions supervision survived (count, the last one's kind, and since
    # when the current episode lasts; None once a segment was indexed after it).
    faults: int = 0
    last_fault: str | None = None
    fault_since: float | None = None


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
    # Reconnect backoff cap: a camera back from an outage is found within this (plus the
    # DESCRIBE). A refused or timed-out DESCRIBE costs next to nothing, so it stays short.
    max_backoff: float = 1.0
    auth_retry: float = 15.0
    describe_timeout: float = 3.0
    # Backoff after a fault (an exception in supervision): doubles up to this.
    fault_max_backoff: float = 15.0
    # Room a run needs on the recordings filesystem: below it no ffmpeg is started (no
    # crash loop on a full disk); the recorder waits, checking every disk_full_retry s.
    min_free_bytes: int = 16 * 2**20
    disk_full_retry: float = 5.0
    # Whether root may be written now (blocking; a chosen folder that vanished, see
    # engine.location): False keeps ffmpeg from starting ("location_missing").
    root_usable: Callable[[Path], bool] | None = None


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
    last_segment: Segment | None = None  # the newest segment indexed from the list
    # (monotonic, stream seconds) of recent progress: does stream time still advance?
    timeline: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=64))
    timestamps_stuck: bool = False


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
        self._logged_faults: set[str] = set()
        self._control = asyncio.Lock()
        # End of the newest indexed segment of this camera: a new run starts after it.
        self._indexed_end: float | None = None
        self._finishing: set[asyncio.Task[None]] = set()  # runs being finished
        self._active_run: str | None = None  # run id of the running ffmpeg
        self._reconcile_from: float | None = None  # a failed reconcile's window, kept
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
    def alive(self) -> bool:
        """Return False when recording is wanted but a supervising task has ended."""
        if not self._wanted:
            return True
        return all(task is not None and not task.done() for task in (self._task, self._ingest_task))

    async def revive(self) -> bool:
        """Start the supervising tasks again if they ended while recording is wanted.

        Returns True when something had to be restarted (counted and logged as a fault).
        """
        async with self._control:
            if self.alive:
                return False
            ended = [
                task for task in (self._task, self._ingest_task) if task is not None and task.done()
            ]
            for task in ended:
                cause = None if task.cancelled() else task.exception()
                how = "was cancelled" if task.cancelled() else "ended"
                self._fault("supervising task", cause or RuntimeError(f"{task.get_name()!r} {how}"))
            loop = asyncio.get_running_loop()
            if self._ingest_task is None or self._ingest_task.done():
                self._ingest = asyncio.Queue()  # join() must not wait for a dead consumer
                self._ingest_task = loop.create_task(
                    self._ingest_loop(), name=f"cctv_nvr ingest {self.config.camera}"
                )
            if self._task is None or self._task.done():
                self._terminate()
                self._task = loop.create_task(
                    self._supervise(), name=f"cctv_nvr recorder {self.config.camera}"
                )
            return True

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
        try:
            # ffmpeg outlives a killed Home Assistant (nothing reads its output, yet it
            # records on): such a leftover would write files nobody indexes, and hold
            # a session of a camera that allows only one.
            await self._run_blocking(self._end_leftover_ffmpeg)
        except Exception as err:  # noqa: BLE001 - recording starts anyway
            self._fault("ending a leftover ffmpeg", err)
        try:
            last = await self._run_blocking(self._index.last_segment, self.config.camera)
            self._indexed_end = last.end if last else None
            since = last.end - 60 if last else time.time() - 2 * 3600
            await self._reconcile(since, None)
        except Exception as err:  # noqa: BLE001 - recording starts anyway; runs reconcile too
            self._fault("start-up reconcile", err)
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"cctv_nvr recorder {self.config.camera}"
        )

    async def switch_root(
        self, root: Path, before_start: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Record into another folder from now on: the open segment is finished first.

        ``before_start`` runs between the stop and the restart (a recording that was
        not wanted stays stopped), e.g. to move files the next start should find.
        """
        async with self._control:
            wanted = self._wanted
            if wanted:
                await self._stop()
            self.config.root = root
            if before_start is not None:
                await before_start()
            if wanted:
                await self._start()

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
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await asyncio.gather(*self._finishing, return_exceptions=True)
        if self._ingest_task is not None:
            if not self._ingest_task.done():
                await self._ingest.put(None)
            await asyncio.gather(self._ingest_task, return_exceptions=True)
            self._ingest_task = None
        self._set_status(RecorderState.IDLE, None)

    async def latest_files(self, count: int = 2) -> list[Path]:
        """Return the newest ``count`` segment files (the growing one first)."""
        files: list[Path] = await self._run_blocking(self._latest_files, count)
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
        if self._on_status is not None and _notable(previous) != _notable(status):
            try:
                self._on_status(status)
            except Exception as err:  # noqa: BLE001 - the owner's bug must not stop recording
                self._fault("status listener", err, notify=False)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def _supervise(self) -> None:
        """Keep recording while wanted; no exception ends this loop (see the module doc)."""
        backoff = 0.5
        fault_backoff = 1.0
        while self._wanted:
            try:
                backoff = await self._attempt(backoff)
            except Exception as err:  # noqa: BLE001 - supervision must not die
                self._fault("supervision", err)
                self._set_status(RecorderState.ERROR, "internal_error")
                await self._sleep(fault_backoff)
                fault_backoff = min(fault_backoff * 2, self.config.fault_max_backoff)
            else:
                if self._status.fault_since is None:
                    fault_backoff = 1.0

    async def _attempt(self, backoff: float) -> float:
        """Check the camera, record one run, wait; return the next reconnect backoff."""
        if self._status.state not in (
            RecorderState.OFFLINE,
            RecorderState.AUTH_FAILED,
            RecorderState.ERROR,  # stays an error (e.g. disk full) until a run starts
        ):
            self._set_status(RecorderState.CONNECTING, None)
        wait, next_backoff = self._wait_after(await self._check_and_run(), backoff)
        if not self._stopping():
            await self._sleep(wait)
        return next_backoff

    async def _check_and_run(  # noqa: PLR0911 - one return per outcome
        self,
    ) -> tuple[RecorderState, str, float | None] | None:
        """DESCRIBE the camera and, if it answers and there is room, record one run.

        Returns what went wrong as (state, reason, seconds the run lasted or None when
        no run started), or None when stop() was called meanwhile.
        """
        cfg = self.config
        try:
            described = await rtsp.describe(
                cfg.url, cfg.username, cfg.password, timeout=cfg.describe_timeout
            )
        except rtsp.RtspAuthError:
            return RecorderState.AUTH_FAILED, "invalid_auth", None
        except rtsp.RtspError as err:
            return RecorderState.OFFLINE, err.reason, None
        if self._stopping():
            return None
        if cfg.root_usable is not None and not await self._run_blocking(cfg.root_usable, cfg.root):
            return RecorderState.ERROR, "location_missing", None
        if await self._disk_full():
            return RecorderState.ERROR, "disk_full", None
        started = time.monotonic()
        reason = await self._run(described)
        if self._stopping():
            return None
        # A camera that refuses a session is there (not offline), but not recording.
        state = (
            RecorderState.ERROR
            if reason in ("ffmpeg_missing", "storage_unwritable", "disk_full", "camera_busy")
            else RecorderState.OFFLINE
        )
        return state, reason, time.monotonic() - started

    def _wait_after(
        self, outcome: tuple[RecorderState, str, float | None] | None, backoff: float
    ) -> tuple[float, float]:
        """Report an attempt's outcome; return (seconds to wait, next reconnect backoff)."""
        cfg = self.config
        if outcome is None:
            return 0.0, backoff
        state, reason, lasted = outcome
        self._failed(state, reason)
        if state == RecorderState.AUTH_FAILED:
            return cfg.auth_retry, backoff
        if reason in ("disk_full", "location_missing"):
            return cfg.disk_full_retry, backoff
        if state == RecorderState.ERROR and reason != "camera_busy":
            return 30.0, backoff  # ffmpeg missing, folder unwritable: the user must act
        if lasted is not None:  # a run ended (not a failed DESCRIBE)
            self._set_status(state, reason, restarts=self._status.restarts + 1)
            if lasted > 30:  # noqa: PLR2004
                backoff = 0.5
        return backoff, min(backoff * 2, cfg.max_backoff)

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

    def _fault(self, where: str, err: BaseException, *, notify: bool = True) -> None:
        """Record an exception supervision survived: log it once per kind, count it."""
        kind = f"{where}: {type(err).__name__}"
        if kind not in self._logged_faults:
            self._logged_faults.add(kind)
            _LOGGER.error(
                "Camera %s: %s failed (%s); counted as a recorder fault, retried with backoff\n%s",
                self.config.camera,
                where,
                self._redact(f"{type(err).__name__}: {err}"),
                self._redact("".join(traceback.format_exception(err)).rstrip()),
            )
        else:
            _LOGGER.debug("Camera %s: %s failed again (%r)", self.config.camera, where, err)
        status = self._status
        counted = replace(
            status,
            faults=status.faults + 1,
            last_fault=kind,
            fault_since=status.fault_since or time.time(),
        )
        if notify:
            self._set_status(
                status.state,
                status.reason,
                faults=counted.faults,
                last_fault=counted.last_fault,
                fault_since=counted.fault_since,
            )
        else:  # the status listener itself failed: do not call it again from here
            self._status = counted

    def _faults_resolved(self) -> None:
        """End the current fault episode, if any: a segment was indexed."""
        if self._status.fault_since is None:
            return
        _LOGGER.info(
            "Camera %s: recording works again after %d recorder fault(s)",
            self.config.camera,
            self._status.faults,
        )
        self._logged_faults.clear()
        self._set_status(self._status.state, self._status.reason, fault_since=None)

    def _redact(self, text: str) -> str:
        """Remove credentials from a text (URLs, and the configured password itself)."""
        text = rtsp.redact_text(text)
        if self.config.password:
            text = text.replace(self.config.password, "***")
        return text

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
        # A camera clock that jumps (NTP resync) must not put a hole or a pile of
        # frames into a segment: see _clock_jump_filter.
        args += ["-bsf:v", _clock_jump_filter(f"1/({fps:g}*TB)", cfg.stall_timeout)]
        audio = described.audio_codec
        if cfg.record_audio and audio is not None:
            args += ["-map", "0:a:0?"]
            if audio == "aac":
                args += ["-c:a", "copy"]
            else:
                args += ["-c:a", "aac", "-b:a", "64k"]
        args += [
            # Audio that stops must not hold video back in the interleaving queue
            # (10 s by default): packets wait at most one fragment for the other track.
            "-max_interleave_delta",
            str(int(FRAGMENT_SECONDS * 1_000_000)),
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
                # A packet older than the segment's start (audio held back by a camera
                # across a gap in its audio) must not shift the timeline of what follows.
                ":avoid_negative_ts=disabled"
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

    def _end_leftover_ffmpeg(self) -> None:
        """End ffmpeg processes still recording this camera from before a crash (executor)."""
        template = segment_template(self.config.root, self.config.camera, "")
        prefix = template[: template.index("%")]  # <root>/<camera>/
        leftovers = [pid for pid in _ffmpeg_writing(prefix) if pid != os.getpid()]
        for pid in leftovers:
            _LOGGER.warning(
                "Camera %s: ending ffmpeg (pid %d) left recording by an earlier run of "
                "Home Assistant",
                self.config.camera,
                pid,
            )
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while leftovers and time.monotonic() < deadline:
            leftovers = [pid for pid in leftovers if Path(f"/proc/{pid}").exists()]
            time.sleep(0.1)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

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
        self._active_run = run.run_id
        self._process_started(proc, run)
        readers = [
            asyncio.create_task(self._read_stdout(proc, run)),
            asyncio.create_task(self._read_stderr(proc, run)),
        ]
        try:
            reason = await self._watch(proc, run)
            await self._wait_exit(proc)
        finally:
            # Whatever happened above, this ffmpeg ends with the run (readers end at its EOF).
            if proc.returncode is None:
                _terminate_once(proc)
                await self._wait_exit(proc)
            await asyncio.gather(*readers, return_exceptions=True)
            self._proc = None
            self._active_run = None
        if any("No space left on device" in line for line in run.stderr):
            reason = "disk_full"
        elif not run.frames and any(_BUSY.search(line) for line in run.stderr):
            # The camera refused another session (its limit is reached, e.g. by a
            # live view or another recorder); retried like any other exit.
            reason = "camera_busy"
        if proc.returncode not in (0, 255, -signal.SIGTERM) and run.stderr:
            _LOGGER.debug(
                "Camera %s: ffmpeg exited with %s: %s",
                self.config.camera,
                proc.returncode,
                " | ".join(run.stderr),
            )
        await self._drain_ingest()  # announced segments first, then what is left over
        # The repair decodes (about a second) and the reconcile scans: neither needs to
        # hold up the next run, whose files they leave alone (they look at this run's).
        task = asyncio.get_running_loop().create_task(
            self._finish_run(run), name=f"cctv_nvr finish run {self.config.camera}"
        )
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return reason

    async def _finish_run(self, run: _Run) -> None:
        """Repair the end of a run's last segment, then index what the run left over."""
        since = min(run.started - 1, self._reconcile_from or run.started)
        try:
            await self._run_blocking(self._repair_cut_frame, run)
            await self._reconcile(since, run)
        except Exception as err:  # noqa: BLE001 - the next run's finish tries again
            self._reconcile_from = since
            self._fault("finishing a run", err)
        else:
            self._reconcile_from = None

    async def _watch(self, proc: asyncio.subprocess.Process, run: _Run) -> str:
        """Wait for ffmpeg to exit, ending it when it stops making progress; return why."""
        reason = "stream_ended"
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
            if run.timestamps_stuck:
                _LOGGER.debug(
                    "Camera %s: stream time stopped advancing, restarting ffmpeg",
                    self.config.camera,
                )
                reason = "timestamps_stuck"
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
        return reason

    async def _drain_ingest(self) -> None:
        """Wait until every announced segment is indexed (restarting a dead ingest task)."""
        task = self._ingest_task
        if task is None or task.done():
            cause = None if task is None or task.cancelled() else task.exception()
            self._fault("segment indexing", cause or RuntimeError("the ingest task had ended"))
            # Segments left in the old queue are found by _reconcile after this run.
            self._ingest = asyncio.Queue()
            self._ingest_task = asyncio.get_running_loop().create_task(
                self._ingest_loop(), name=f"cctv_nvr ingest {self.config.camera}"
            )
            return
        join = asyncio.ensure_future(self._ingest.join())
        try:
            await asyncio.wait((join, task), return_when=asyncio.FIRST_COMPLETED)
        finally:
            join.cancel()

    async def _wait_exit(self, proc: asyncio.subprocess.Process) -> None:
        try:
            async with asyncio.timeout(5):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def _terminate(self) -> None:
        _terminate_once(self._proc)

    async def _read_stderr(self, proc: asyncio.subprocess.Process, run: _Run) -> None:
        assert proc.stderr is not None  # noqa: S101
        async for line in _lines(proc.stderr):
            if line:
                run.stderr.append(self._redact(line))

    async def _read_stdout(self, proc: asyncio.subprocess.Process, run: _Run) -> None:
        """Read progress and segment notices; the pipe is drained whatever a line holds."""
        assert proc.stdout is not None  # noqa: S101
        async for line in _lines(proc.stdout):
            try:
                self._stdout_line(run, line)
            except Exception as err:  # noqa: BLE001 - one odd line must not stop the reading
                self._fault("reading ffmpeg's output", err)

    def _stdout_line(self, run: _Run, line: str) -> None:
        if "=" in line:
            self._progress(run, *line.split("=", 1))
        elif line.count(",") >= 2:  # noqa: PLR2004
            _LOGGER.debug("Camera %s: segment list: %s", self.config.camera, line)
            name, start, end = line.rsplit(",", 2)
            try:
                self._segment_done(run, name, float(start), float(end))
            except ValueError:
                _LOGGER.debug("Unexpected segment list line: %s", line)

    def _follow_timeline(self, run: _Run, stream_time: float) -> None:
        """Flag a stream whose time stops advancing while frames keep coming.

        A camera clock set back past the start of the session makes ffmpeg's RTSP
        reader stamp every later frame with the same time; the muxer piles them up and
        no segment is ever cut. Over ``stall_timeout`` of wall time the stream time
        must move forward by a quarter of it at least (steps back, a clock set back a
        little, do not count against it), else the run is restarted: a new session
        starts a new timeline.
        """
        now = time.monotonic()
        timeline = run.timeline
        timeline.append((now, stream_time))
        while len(timeline) > 2 and now - timeline[1][0] >= self.config.stall_timeout:  # noqa: PLR2004
            timeline.popleft()
        waited = now - timeline[0][0]
        forward = sum(
            max(0.0, later[1] - earlier[1])
            for earlier, later in zip(timeline, list(timeline)[1:], strict=False)
        )
        if waited >= self.config.stall_timeout and forward < waited / 4:
            if not run.timestamps_stuck:
                _LOGGER.debug(
                    "Camera %s: stream time moved %.2f s in %.2f s: %s",
                    self.config.camera,
                    forward,
                    waited,
                    " ".join(f"{t - now:+.2f}:{v:.2f}" for t, v in timeline),
                )
            run.timestamps_stuck = True

    def _anchor(self, run: _Run, stream_time: float) -> None:
        candidate = time.time() - stream_time
        if run.anchor is None or candidate < run.anchor:
            run.anchor = candidate

    def _first_segment_start(self, run: _Run, name: str, start: float, end: float) -> float:
        """Return the wall time a run's first segment (file name, listed span) starts.

        The anchor so far is the earliest (wall time - ffmpeg's progress time): each
        progress report comes after the frames it counts arrived, so the earliest is
        the closest. But ffmpeg reports the time of the packets as they come in, before
        the clock-jump filter (_clock_jump_filter), and the segment list gives times
        after it: a forward jump the filter closed before the first cut (a session's
        first packets ahead of the rest) leaves the progress time that much ahead of
        the segment's, and the run would be placed that much too early. The list's own
        end, read when the segment is cut, bounds the anchor from the other side. The
        list is believed when the two disagree by more than _ANCHOR_SLACK and the
        progress time puts the segment that much before its file was opened (the file
        name's second): a list line read late (a loaded machine, a run being stopped)
        must not move a well placed run later. Nothing this ffmpeg recorded was
        received before it started.
        """
        listed = time.time() - end
        parsed = parse_segment_name(Path(name).name)
        opened = parsed[0] if parsed is not None else float("-inf")
        if (
            run.anchor is not None
            and listed - run.anchor > _ANCHOR_SLACK
            and run.anchor + start < opened - _ANCHOR_SLACK
        ):
            _LOGGER.debug(
                "Camera %s: progress time %.1f s ahead of the segment list; placing the "
                "run by the list",
                self.config.camera,
                listed - run.anchor,
            )
            run.anchor = listed
        else:
            self._anchor(run, end)
        assert run.anchor is not None  # noqa: S101
        return max(run.anchor + start, run.started)

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
                if run.frames:
                    self._follow_timeline(run, micros / 1_000_000)
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
        # Within a run the segments are contiguous by construction; only the first
        # one is placed on the wall clock (later anchor refinements must not open gaps).
        if run.last_end is None:
            wall_start = self._first_segment_start(run, name, start, end)
            if self._indexed_end is not None:
                # Never before what is indexed: a previous run whose camera clock jumped
                # ahead a little (less than the stall timeout: kept as a pause) ends late.
                wall_start = max(wall_start, self._indexed_end)
        else:
            wall_start = run.last_end
        wall_end = wall_start + (end - start)
        run.last_end = wall_end
        run.segments += 1
        self._ingest.put_nowait((name, wall_start, wall_end, run))

    async def _ingest_loop(self) -> None:
        queue = self._ingest
        while True:
            item = await queue.get()
            if item is None:
                # The stop sentinel counts too: a later run's join() must not wait for it.
                queue.task_done()
                return
            try:
                await self._ingest_one(*item)
            finally:
                queue.task_done()

    async def _ingest_one(self, name: str, start: float, end: float, run: _Run) -> None:
        """Index one announced segment, trying again with backoff; never raises."""
        for attempt in range(_INDEX_ATTEMPTS):
            try:
                segment = await self._run_blocking(self._index_segment, name, start, end, run)
            except Exception as err:  # noqa: BLE001 - indexing goes on with the next one
                self._fault("segment indexing", err)
                if attempt + 1 < _INDEX_ATTEMPTS:
                    await asyncio.sleep(0.5 * 2**attempt)
                continue
            if segment is not None:
                self._indexed_end = max(self._indexed_end or 0.0, segment.end)
                self._faults_resolved()
                self._set_status(
                    self._status.state, self._status.reason, last_segment_end=segment.end
                )
                self._notify_segment(segment)
            return
        # Still on disk: the _reconcile after this run indexes it.
        _LOGGER.warning(
            "Camera %s: segment %s not indexed yet; it will be after this run",
            self.config.camera,
            Path(name).name,
        )

    def _notify_segment(self, segment: Segment) -> None:
        if self._on_segment is None:
            return
        try:
            self._on_segment(segment)
        except Exception as err:  # noqa: BLE001 - the owner's bug must not stop indexing
            self._fault("segment listener", err)

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
        if not self._index.add_segment(segment):
            return None
        run.last_segment = segment
        return segment

    def _repair_cut_frame(self, run: _Run) -> None:
        """Drop the last frame of a run's last segment when it does not decode (executor).

        The check decodes the segment's last group of pictures in an ffmpeg process
        (``fmp4.last_frame_damaged``), never in Home Assistant's: decoders hold tens of
        MB that the allocator keeps (the chaos soak measured +94 MB/hour with PyAV).

        ffmpeg writes the access unit it was receiving when the camera vanished (the
        RTSP connection closed mid-frame) as the segment's last frame; a decoder
        fails on it. The product keeps every whole frame and drops that one, so every
        stored frame decodes; the index row is shortened by its duration.
        """
        segment = run.last_segment
        if segment is None:
            return
        path = segment.file(self.config.root)
        try:
            if not last_frame_damaged(path, self.config.ffmpeg):
                return
            seconds = drop_last_video_sample(path)
            size = path.stat().st_size
        except (Mp4Error, OSError, subprocess.SubprocessError) as err:
            _LOGGER.warning(
                "Camera %s: cannot check the end of %s: %s", self.config.camera, segment.path, err
            )
            return
        end = segment.end - seconds
        if end - segment.start < _MIN_SEGMENT_SECONDS:  # that frame was all it held
            indexed = self._index.segment_by_path(segment.path)
            if indexed is not None:
                self._index.delete_segments([indexed.row_id])
            self._discard_unplayable(path, segment.path)
            run.last_segment = None
            return
        self._index.shorten_segment(segment.path, end, size)
        if run.last_end is not None and abs(run.last_end - segment.end) < 1e-6:  # noqa: PLR2004
            run.last_end = end
        run.last_segment = replace(segment, end=end, bytes=size)
        _LOGGER.info(
            "Camera %s: dropped a frame cut short by the camera at the end of %s (%.3f s)",
            self.config.camera,
            segment.path,
            seconds,
        )

    async def _reconcile(self, since: float, run: _Run | None) -> None:
        """Index segment files that no notice announced (killed ffmpeg, crash)."""
        try:
            found = await self._run_blocking(self._reconcile_blocking, since, run)
        except OSError:
            _LOGGER.exception("Camera %s: cannot scan recordings", self.config.camera)
            return
        for segment in found:
            self._indexed_end = max(self._indexed_end or 0.0, segment.end)
            self._notify_segment(segment)

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
            if name_start < since - 1 or (run_id is not None and run_id == self._active_run):
                continue  # too old, or still being written by the running ffmpeg
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

    def _latest_files(self, count: int = 2) -> list[Path]:
        now = time.time()
        files: list[Path] = []
        for directory in reversed(hour_dirs(self.config.root, self.config.camera, now - 3600, now)):
            if directory.is_dir():
                files.extend(
                    sorted((p for p in directory.iterdir() if p.suffix == ".mp4"), reverse=True)
                )
            if len(files) >= count:
                break
        return files[:count]


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
        root=str(config.root),
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


def _ffmpeg_writing(prefix: str) -> list[int]:
    """Return the pids of ffmpeg processes whose output template starts with ``prefix``.

    Reads /proc (Linux); elsewhere nothing is found.
    """
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or b"ffmpeg" not in Path(os.fsdecode(argv[0])).name.encode():
            continue
        if any(os.fsdecode(arg).startswith(prefix) for arg in argv[1:]):
            found.append(int(entry.name))
    return found


_TERMINATED: weakref.WeakSet[asyncio.subprocess.Process] = weakref.WeakSet()


def _terminate_once(proc: asyncio.subprocess.Process | None) -> None:
    """Ask ffmpeg to finish (SIGTERM), once: a second signal makes it stop at once.

    After the first SIGTERM ffmpeg closes its outputs and says TEARDOWN to the camera;
    a second one interrupts that, and a camera that allows one session keeps the dead
    one until it times out (a minute or more without recording).
    """
    if proc is None or proc.returncode is not None or proc in _TERMINATED:
        return
    _TERMINATED.add(proc)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)


def _clock_jump_filter(step: str, forward: float) -> str:
    """Return an ffmpeg ``setts`` filter that closes timestamp jumps of the video.

    A decode timestamp that steps back, or more than ``forward`` seconds ahead, is a
    camera clock jump, not time that passed: frames keep coming, else the stall
    watchdog would have restarted ffmpeg. The video goes on one ``step`` (an
    expression in time-base units) after the previous frame. Every other step passes
    unchanged, as do packets without timestamps. Not used on audio: the filter holds
    one packet back, which for audio that stops and starts would hold its last packet
    for the whole gap.

    A packet is presented at its (new) decode time plus its presentation offset: the
    B-frame reordering, kept when it lies within ``_MAX_REORDER`` seconds and dropped
    otherwise. ffmpeg reads a session's first packets without decode timestamps (the
    H.264 reader guesses them only once it has decoded a few frames) and gives them the
    decode times that follow on from each other; their presentation times are the
    camera's. When those run ahead of what follows (a session that joined a camera
    frozen since its last frame: that frame first, then the camera's time the length of
    the freeze later), the offset is that jump, not reordering: kept, the file would
    step back after those packets and the run would be placed that much too early.
    """
    delta = "DTS-PREV_INDTS"
    allowed = f"between({delta},0,{forward:g}/TB)"
    step_dts = f"PREV_OUTDTS+if({allowed},{delta},{step})"
    unknown = "eq(DTS,NOPTS)+eq(PREV_INDTS,NOPTS)+eq(PREV_OUTDTS,NOPTS)"
    dts = f"if({unknown},DTS,{step_dts})"
    reorder = f"if(between(PTS-DTS,0,{_MAX_REORDER:g}/TB),PTS-DTS,0)"
    pts = f"if(eq(PTS,NOPTS)+eq(DTS,NOPTS),PTS,{dts}+{reorder})"
    # Commas separate filters in -bsf: escaped inside the expressions.
    return f"setts=dts={dts}:pts={pts}".replace(",", r"\,")


def _notable(status: RecorderStatus) -> tuple[Any, ...]:
    """Return the parts of a status worth a notice (rates change every second; not these)."""
    return (
        status.state,
        status.reason,
        status.restarts,
        status.last_segment_end,
        status.faults,
        status.fault_since,
    )


async def _lines(stream: asyncio.StreamReader) -> AsyncIterator[str]:
    """Yield a pipe's lines, stripped; a line over the pipe's limit is skipped, not fatal."""
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # longer than the stream's limit: dropped by readline
            continue
        if not raw:
            return
        yield raw.decode("utf-8", "replace").strip()
