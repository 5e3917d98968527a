"""Camera quirks, each from the simulator, and what a user keeps of each.

Every test records real footage through the recorder and checks the same things:
the files on disk are the index (nothing lost, nothing extra), every stored frame
starts a decodable file at a keyframe and decodes (strictly, except where the camera's
own data was lost), each index row lasts as long as its file's video, segments are
contiguous except where the fault was, recording goes on (or resumes), and the index
stays on the wall clock (nothing recorded "in the future").

Quirks of the stream itself (B-frames, variable frame rate, parameter sets only in the
SDP) use the shared simulator; faults that change the camera (clock, sessions, a
hostile server) use a simulator of the test's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import os
from pathlib import Path
import subprocess
import time

import av
import pytest

from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.layout import parse_segment_name
from custom_components.cctv_nvr.engine.mp4box import (
    leading_parameter_sets,
    video_fragment_span,
)
from custom_components.cctv_nvr.engine.recorder import (
    Recorder,
    RecorderConfig,
    RecorderState,
)
from tests.engine.helpers import decode_strictly, inspect_file, wait_for
from tests.simulator import HOSTILE_MODES, CameraSimulator

FPS = 15
FRAME = 1 / FPS
SEGMENT = 2
# A live viewer of a stream (as Home Assistant's stream worker is): one RTSP session.
FFMPEG_VIEWER = ("ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i")

_RECORDERS: list[Recorder] = []


@pytest.fixture(autouse=True)
async def stop_recorders(index: SegmentIndex) -> AsyncIterator[None]:
    """Stop every recorder a test made, even when it failed half-way."""
    yield
    while _RECORDERS:
        await _RECORDERS.pop().stop()


def recorder_of(
    url: str, index: SegmentIndex, root: Path, camera: str = "cam", **config: object
) -> tuple[Recorder, list[Segment]]:
    seen: list[Segment] = []
    recorder = Recorder(
        RecorderConfig(
            camera=camera,
            root=root,
            url=url,
            segment_seconds=SEGMENT,
            fps_hint=FPS,
            **config,  # type: ignore[arg-type]
        ),
        index,
        on_segment=seen.append,
    )
    _RECORDERS.append(recorder)
    return recorder, seen


def kept(
    index: SegmentIndex,
    root: Path,
    stopped: float,
    *,
    camera: str = "cam",
    gaps: tuple[tuple[float, float, float], ...] = (),
    frame: float = FRAME,
    strict: bool = True,
    ahead: float = 1.0,
    pause: float = 0.0,
) -> list[Segment]:
    """Check what the user keeps of a recording that stopped at ``stopped``.

    ``gaps``: (from, to, longest) windows of wall time where a fault may leave a gap
    of ``longest`` seconds; elsewhere consecutive segments meet to within a frame.
    ``frame``: the longest frame interval of the stream. ``strict``: every frame
    decodes (else only the files' structure and durations are checked). ``ahead``:
    how far past ``stopped`` the index may reach (a camera clock that jumped ahead by
    less than the stall timeout is kept as a pause). ``pause``: how much longer than its
    frames a row may be (that pause, when it falls at a segment's end).
    """
    segments = index.segments(camera, 0, time.time() + 60)
    assert segments, "nothing recorded"
    folder = root / camera
    on_disk = {p.relative_to(root).as_posix() for p in folder.rglob("*.mp4")}
    assert on_disk == {s.path for s in segments}
    for segment in segments:
        path = root / segment.path
        assert inspect_file(path, decode=False).first_is_keyframe, segment.path
        if strict:
            packets, frames = decode_strictly(path)
            assert frames == packets > 0, segment.path
        span = video_fragment_span(path)
        assert span is not None
        assert -1.5 * frame <= segment.duration - span <= 1.5 * frame + pause, (
            segment.path,
            span,
            segment,
        )
    for before, after in zip(segments, segments[1:], strict=False):
        gap = after.start - before.end
        allowed = max(
            [longest for start, end, longest in gaps if start - 1 <= before.end <= end + 1],
            default=frame,
        )
        assert -frame <= gap <= allowed, (before.path, after.path, gap)
    # On the wall clock: nothing ends after recording stopped.
    assert segments[-1].end <= stopped + ahead, segments[-1].end - stopped
    return segments


async def record_for(recorder: Recorder, seen: list[Segment], segments: int) -> float:
    """Start, wait for ``segments`` more segments, stop; return when recording stopped."""
    count = len(seen)
    await recorder.start()
    await wait_for(lambda: len(seen) >= count + segments, timeout=30 + 4 * segments)
    await recorder.stop()
    return time.time()


def packet_times(path: Path) -> list[tuple[int, int, bool]]:
    """(pts, dts, keyframe) of every video packet of a file, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (p.pts, p.dts, p.is_keyframe)
            for p in container.demux(stream)
            if p.pts is not None and p.dts is not None
        ]


# -- quirks of the stream itself ----------------------------------------------------


async def test_b_frames(simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path) -> None:
    """Reordered frames (pts != dts) are copied as they are; every frame decodes."""
    recorder, seen = recorder_of(simulator.url("bframes"), index, tmp_path / "rec")
    stopped = await record_for(recorder, seen, 3)
    # The stop can cut the last GOP between a P-frame and the two B-frames shown before
    # it: that row (its presentation end) lasts up to two frames longer than the decode
    # span of its frames (failed 1 pass in 4 under load with the plain tolerance).
    segments = kept(index, tmp_path / "rec", stopped, pause=2 * FRAME)
    later = packet_times(tmp_path / "rec" / segments[-1].path)
    assert any(pts != dts for pts, dts, _key in later)  # the quirk is in the file
    assert recorder.status.restarts == 0


async def test_variable_frame_rate(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """Frames 33, 67 and 100 ms apart keep their timing; rows last as long as their files."""
    recorder, seen = recorder_of(simulator.url("vfr"), index, tmp_path / "rec")
    stopped = await record_for(recorder, seen, 3)
    segments = kept(index, tmp_path / "rec", stopped, frame=0.1)
    times = [dts for _pts, dts, _key in packet_times(tmp_path / "rec" / segments[1].path)]
    steps = {round(b - a, -2) for a, b in zip(times, times[1:], strict=False)}
    assert len(steps) >= 3, steps  # three different frame intervals survive


async def test_parameter_sets_only_in_sdp(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """SPS/PPS only in the SDP: every file carries them in its header and decodes."""
    recorder, seen = recorder_of(simulator.url("sdponly"), index, tmp_path / "rec")
    stopped = await record_for(recorder, seen, 3)
    segments = kept(index, tmp_path / "rec", stopped)
    for segment in segments:
        path = tmp_path / "rec" / segment.path
        assert leading_parameter_sets(path, "h264") == b""  # none in band
        assert (segment.width, segment.height) == (640, 360)


async def test_first_seconds_without_keyframe(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """Joining a running 5 s GOP: recording starts at the next keyframe, no restart.

    A live viewer holds the stream, so the recorder joins mid-GOP and gets seconds of
    frames it cannot decode; it keeps from the first keyframe on, placed where that
    keyframe arrived.
    """
    viewer = subprocess.Popen(
        [*FFMPEG_VIEWER, simulator.url("longgop"), "-c", "copy", "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(3.5)  # into the GOP: the next keyframe is up to 5 s away
        recorder, seen = recorder_of(simulator.url("longgop"), index, tmp_path / "rec")
        recorder.config.segment_seconds = 4
        joined = time.time()
        stopped = await record_for(recorder, seen, 2)
    finally:
        viewer.terminate()
        viewer.wait()
    segments = kept(index, tmp_path / "rec", stopped)
    assert recorder.status.restarts == 0  # waiting for the keyframe is not a stall
    first = segments[0]
    assert first.start >= joined  # starts at the keyframe, not at the connect
    assert first.start - joined <= 6.0
    # Every segment starts at a keyframe of the 5 s GOP: a cut of 4 s lands on one.
    for segment in segments[:-1]:
        assert 5 - FRAME <= segment.duration <= 5 + FRAME, segment


# -- the camera's clock ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mount", "jump"),
    [("sub", -4.0), ("sub", 30.0), ("audio", -4.0), ("audio", 30.0)],
    ids=["back", "forward", "audio_back", "audio_forward"],
)
async def test_clock_jump(
    own_simulator: CameraSimulator,
    index: SegmentIndex,
    tmp_path: Path,
    mount: str,
    jump: float,
) -> None:
    """The camera's clock is reset mid-session: footage stays on the wall clock.

    Video is closed over the jump (one frame interval, nothing lost, no gap). With
    audio, ffmpeg re-synchronises the streams at the next RTCP report: that second,
    smaller jump may stay in the video as a pause of under the stall timeout, so the
    index may run that far ahead (see README, Known limitations).
    """
    recorder, seen = recorder_of(own_simulator.url(mount), index, tmp_path / "rec")
    await recorder.start()
    await wait_for(lambda: len(seen) >= 3, timeout=40)  # the session is > 4 s old
    jumped = time.time()
    await own_simulator.aclock_jump(jump, mount)
    count = len(seen)
    await wait_for(lambda: len(seen) >= count + 4, timeout=40)
    await recorder.stop()
    stopped = time.time()
    stall = recorder.config.stall_timeout
    # With audio, the resync's pause (under the stall timeout) may fall at a segment's end:
    # its row then reaches the next frame (1 in 4 loaded runs of audio_back).
    pause = 0.0 if mount == "sub" else stall
    segments = kept(
        index, tmp_path / "rec", stopped, ahead=1.0 if mount == "sub" else stall, pause=pause
    )
    assert recorder.status.restarts == 0
    assert any(s.start > jumped + 2 * SEGMENT for s in segments)
    # Every frame is where it was recorded: the rows cover the wall time recorded.
    assert segments[-1].end - segments[0].start == pytest.approx(
        sum(s.duration for s in segments), abs=FRAME * len(segments)
    )
    assert stopped - segments[-1].end <= SEGMENT + 2


async def test_clock_set_back_past_the_session_start_restarts(
    own_simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """Timestamps before the session's start freeze ffmpeg's timeline: the run restarts."""
    recorder, seen = recorder_of(own_simulator.url("sub"), index, tmp_path / "rec")
    await recorder.start()
    await wait_for(lambda: len(seen) >= 1, timeout=30)
    jumped = time.time()
    await own_simulator.aclock_jump(-3600, "sub")
    await wait_for(lambda: recorder.status.restarts >= 1, timeout=20)
    assert recorder.status.reason == "timestamps_stuck"
    count = len(seen)
    await wait_for(lambda: len(seen) >= count + 2, timeout=30)
    await recorder.stop()
    # Until the restart (at most the stall timeout and a reconnect) the footage is
    # kept but its frames pile up at one instant: a gap of that length follows.
    kept(index, tmp_path / "rec", time.time(), gaps=((jumped, jumped + 12, 12.0),))


@pytest.mark.parametrize("mount", ["sub", "audio"])
async def test_rtp_timestamp_wrap(
    own_simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path, mount: str
) -> None:
    """RTP timestamps pass 2^32 a few seconds in: nothing to see in the footage."""
    await own_simulator.artp_wrap(4)
    recorder, seen = recorder_of(own_simulator.url(mount), index, tmp_path / "rec")
    await recorder.start()
    await wait_for(lambda: len(seen) >= 1, timeout=30)
    high = (await own_simulator.astatus())["rtp"][mount]
    assert all(ts > 2**32 - 4 * 90000 for ts in high[:1])  # video: just short of wrapping
    await wait_for(lambda: len(seen) >= 5, timeout=40)
    low = (await own_simulator.astatus())["rtp"][mount]
    assert all(ts < 2**31 for ts in low), low  # every stream has wrapped
    await recorder.stop()
    kept(index, tmp_path / "rec", time.time())
    assert recorder.status.restarts == 0


# -- audio, sessions, the network -------------------------------------------------------


async def test_audio_stops_and_starts(
    own_simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """10 s without audio: video is recorded on time all along; audio returns after."""
    recorder, seen = recorder_of(own_simulator.url("audio"), index, tmp_path / "rec")
    arrived: list[float] = []
    recorder._on_segment = lambda segment: (seen.append(segment), arrived.append(time.time()))
    await recorder.start()
    await wait_for(lambda: len(seen) >= 2, timeout=30)
    silent = time.time()
    await own_simulator.aaudio_gap(10, "audio")
    await wait_for(lambda: len(seen) >= 2 + 8, timeout=40)
    await recorder.stop()
    segments = kept(index, tmp_path / "rec", time.time())
    # Segments were announced as they were cut, not held back until audio returned.
    during = [t for t in arrived if silent < t < silent + 10]
    assert len(during) >= 3, [round(t - silent, 1) for t in arrived]
    assert max(b - a for a, b in zip(arrived, arrived[1:], strict=False)) < SEGMENT + 3
    with_audio = [bool(inspect_file(tmp_path / "rec" / s.path).audio_codec) for s in segments]
    assert with_audio[0]
    assert with_audio[-1]


async def test_camera_allowing_one_session(
    own_simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """One RTSP session: recording holds it; a viewer is refused; recording goes first.

    When a viewer holds the only session, the recorder says camera_busy and asks again
    every few seconds; it records within seconds of the session coming free.
    """
    await own_simulator.amax_sessions(1)
    recorder, seen = recorder_of(own_simulator.url("sub"), index, tmp_path / "rec")
    await recorder.start()
    await wait_for(lambda: len(seen) >= 1, timeout=30)
    refused = await asyncio.to_thread(
        subprocess.run,
        [*FFMPEG_VIEWER, own_simulator.url("sub"), "-t", "1", "-c", "copy", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode != 0
    assert "453" in refused.stderr
    count = len(seen)
    await wait_for(lambda: len(seen) >= count + 2, timeout=30)
    await recorder.stop()
    kept(index, tmp_path / "rec", time.time())  # the refused viewer cost the recording nothing

    # The recorder's session ends with its connection; then a viewer takes the only one.
    await wait_for(lambda: own_simulator.status()["sessions"] == 0, timeout=15)
    viewer = subprocess.Popen(
        [*FFMPEG_VIEWER, own_simulator.url("sub"), "-c", "copy", "-f", "null", "-"],
        stdin=subprocess.DEVNULL,
    )
    try:
        await wait_for(lambda: own_simulator.status()["sessions"] == 1, timeout=15)
        await recorder.start()
        await wait_for(lambda: recorder.status.reason == "camera_busy", timeout=20)
        assert recorder.status.state is RecorderState.ERROR  # there, but not recording
    finally:
        viewer.terminate()
        viewer.wait()
    freed = time.time()
    await wait_for(lambda: recorder.status.state is RecorderState.RECORDING, timeout=15)
    assert time.time() - freed <= 8
    count = len(seen)
    await wait_for(lambda: len(seen) >= count + 1, timeout=30)
    await recorder.stop()
    kept(index, tmp_path / "rec", time.time(), gaps=((freed - 120, freed + 10, 300.0),))


async def test_udp_with_packet_loss(
    own_simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """RTSP over UDP losing 5 % of its packets for 6 s: recording never stops.

    Frames whose packets were lost are kept as they came (damaged: the camera's data
    is gone); from the first keyframe after the loss every frame decodes again.
    """
    recorder, seen = recorder_of(own_simulator.url("sub"), index, tmp_path / "rec", transport="udp")
    await recorder.start()
    await wait_for(lambda: len(seen) >= 2, timeout=30)
    lossy_from = time.time()
    await own_simulator.aloss(5, 6, "sub")
    lossy_to = lossy_from + 6
    await wait_for(lambda: len([s for s in seen if s.start > lossy_to + 1]) >= 2, timeout=40)
    await recorder.stop()
    root = tmp_path / "rec"
    segments = kept(index, root, time.time(), strict=False)
    assert recorder.status.restarts == 0
    damaged = 0
    for segment in segments:
        if segment.end < lossy_from or segment.start > lossy_to + 1:
            packets, frames = decode_strictly(root / segment.path)
            assert frames == packets, segment.path
        else:
            try:
                decode_strictly(root / segment.path)
            except av.error.FFmpegError:
                damaged += 1
    assert damaged >= 1  # the loss reached the footage (the fault did happen)


# -- a broken or hostile server -------------------------------------------------------------


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def test_hostile_server_clear_error_other_cameras_unaffected(
    own_simulator: CameraSimulator,
    simulator: CameraSimulator,
    index: SegmentIndex,
    tmp_path: Path,
) -> None:
    """Each broken answer is a clear reason, memory stays flat, the other camera records on."""
    root = tmp_path / "rec"
    good, good_seen = recorder_of(simulator.url("sub"), index, root, camera="good")
    bad, bad_seen = recorder_of(own_simulator.url("sub"), index, root, camera="bad")
    await good.start()
    await bad.start()
    await wait_for(lambda: len(bad_seen) >= 1 and len(good_seen) >= 1, timeout=30)
    rss_before = _rss(os.getpid())
    expected = {"trickle": "timeout"}
    for mode in HOSTILE_MODES:
        await own_simulator.ahostile(mode)
        reason = expected.get(mode, "not_rtsp")
        await wait_for(
            lambda reason=reason: bad.status.reason == reason and bad.status.restarts >= 0,
            timeout=20,
        )
        await asyncio.sleep(3)  # several attempts against the hostile server
        assert bad.status.state is RecorderState.OFFLINE, mode
        assert bad.status.reason == reason, mode
        assert bad.status.faults == 0, mode  # a clear error, not a crash survived
        assert bad.alive, mode
    await own_simulator.ahostile(None)
    await wait_for(lambda: bad.status.state is RecorderState.RECORDING, timeout=15)
    grown = _rss(os.getpid()) - rss_before
    assert grown < 20 * 2**20, grown  # the servers offered hundreds of MB
    count = len(good_seen)
    await wait_for(lambda: len(good_seen) >= count + 1, timeout=20)
    await good.stop()
    await bad.stop()
    stopped = time.time()
    segments = kept(index, root, stopped, camera="good")  # the good camera lost nothing
    assert good.status.restarts == 0
    assert len(segments) >= 8


async def test_restart_into_a_frozen_camera_stays_on_the_wall_clock(
    own_simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """A run started while the camera is frozen is placed when its frames arrived.

    The camera stops sending while a viewer keeps its stream open (as the chaos soak's
    bare ffmpeg does); the recorder's run goes stale and is restarted into the frozen
    camera. The new session gets the camera's last frame first, then, when the camera
    moves again, frames whose time is the length of the freeze later: ffmpeg's first
    packets carried presentation times that far ahead of their decode times, the file
    stepped back after them and the run was placed that much too early (the progress
    time ffmpeg reports is taken before the clock-jump filter closes the jump).
    """
    url = own_simulator.url("sub")
    viewer = await asyncio.create_subprocess_exec(
        *FFMPEG_VIEWER, url, "-c", "copy", "-f", "null", "-", stdin=asyncio.subprocess.DEVNULL
    )
    try:
        recorder, seen = recorder_of(url, index, tmp_path / "rec")
        await recorder.start()
        await wait_for(lambda: len(seen) >= 1, timeout=30)
        await own_simulator.afreeze()
        frozen = time.time()
        await wait_for(lambda: recorder.status.restarts >= 1, timeout=30)
        assert recorder.status.reason in ("timestamps_stuck", "stalled")
        # The new ffmpeg (after at most the 2 s backoff) joins the frozen camera.
        await asyncio.sleep(5)
        await own_simulator.aunfreeze()
        unfrozen = time.time()
        count = len(seen)
        await wait_for(lambda: len(seen) >= count + 3, timeout=40)
        await recorder.stop()
    finally:
        viewer.kill()
        await viewer.wait()
    assert unfrozen - frozen >= 8  # the freeze was long enough to be unmistakable
    root = tmp_path / "rec"
    segments = kept(index, root, time.time(), gaps=((frozen, unfrozen, unfrozen - frozen + 2),))
    after = [s for s in segments if s.start > frozen]
    assert after, [s.path for s in segments]
    # The run's frames arrived after the camera moved again: its first segment starts
    # then (within the time ffmpeg needs to see a keyframe), not the freeze earlier.
    assert unfrozen - 1 <= after[0].start <= unfrozen + 3, after[0].start - unfrozen
    for segment in segments:
        # ffmpeg names a file by the wall clock when it opens it, as the frames come.
        named = parse_segment_name(Path(segment.path).name)
        assert named is not None
        assert abs(segment.start - named[0]) <= 2, (segment.path, segment.start - named[0])
        # Timestamps only go forward (no B-frames on this mount: presentation too).
        times = packet_times(root / segment.path)
        assert times, segment.path
        for (pts, dts, _key), (next_pts, next_dts, _next_key) in zip(
            times, times[1:], strict=False
        ):
            assert next_dts > dts, (segment.path, times[:5])
            assert next_pts > pts, (segment.path, times[:5])
