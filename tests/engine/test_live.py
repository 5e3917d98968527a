"""Live HLS from the recording being written (engine/live.py), with real ffmpeg recordings.

The recording tests run the real recorder against the GStreamer simulator and follow it
with a LiveFeed the way the Home Assistant side does (refresh, playlist, fragments, from
worker threads); players are PyAV, the ffmpeg CLI over HTTP and hls.js in Chromium.
The unit tests feed the LiveFeed real fragmented MP4 files made by ffmpeg, cut short
or removed on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
import re
import shutil
import struct
import subprocess
import threading
import time

from aiohttp import web
import av
import pytest

from custom_components.cctv_nvr.engine import mp4box
from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.layout import STRFTIME_NAME, hour_dir
from custom_components.cctv_nvr.engine.live import (
    DEFAULT_WINDOW,
    LiveFeed,
    LiveFragment,
    LiveNotReadyError,
    _start_fragment,
)
from custom_components.cctv_nvr.engine.recorder import Recorder, RecorderConfig
from tests.engine.helpers import box
from tests.engine.segments_factory import SegmentFactory
from tests.simulator import CameraSimulator

FPS = 15
ROOT = Path(__file__).resolve().parents[2]
HLSJS = ROOT / ".cache" / "browser-test" / "node_modules" / "hls.js" / "dist" / "hls.min.js"


def init_url(version: int) -> str:
    return f"init/{version}.mp4"


def fragment_url(sequence: int) -> str:
    return f"frag/{sequence}.m4s"


# -- the playlist, parsed and checked ---------------------------------------------------


@dataclass
class Entry:
    """One media segment of a live playlist."""

    sequence: int
    duration: float
    pdt: float
    discontinuity: bool
    map_uri: str | None
    cc: int  # its discontinuity sequence number


@dataclass
class Playlist:
    target: int
    media_sequence: int
    discontinuity_sequence: int
    independent: bool
    entries: list[Entry]
    start_offset: float | None  # EXT-X-START TIME-OFFSET (from the first segment)

    def start_entry(self) -> Entry | None:
        """Return the segment a joining player starts on (EXT-X-START), if any."""
        if self.start_offset is None:
            return None
        at = 0.0
        for entry in self.entries:
            if abs(at - self.start_offset) < 1e-5:
                return entry
            at += entry.duration
        pytest.fail(f"EXT-X-START {self.start_offset} is not where a segment starts")

    @property
    def seconds(self) -> float:
        return sum(e.duration for e in self.entries)


_HEADER_TAGS = (
    "#EXT-X-TARGETDURATION:",
    "#EXT-X-MEDIA-SEQUENCE:",
    "#EXT-X-DISCONTINUITY-SEQUENCE:",
)


def _pdt(value: str) -> float:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value), value
    return datetime.fromisoformat(value).timestamp()


def _segment_tag(line: str, pending: dict[str, object], has_entries: bool) -> None:
    """Note a tag that applies to the next media segment."""
    if line == "#EXT-X-DISCONTINUITY":
        assert has_entries, "a discontinuity before the first segment counts twice"
        pending["discontinuity"] = True
    elif match := re.fullmatch(r'#EXT-X-MAP:URI="([^"]+)"', line):
        pending["map"] = match.group(1)
    elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
        pending["pdt"] = _pdt(line.split(":", 1)[1])
    elif match := re.fullmatch(r"#EXTINF:(\d+\.\d+),", line):
        pending["duration"] = float(match.group(1))
    else:
        pytest.fail(f"unexpected line {line}")


def parse_playlist(text: str) -> Playlist:
    """Parse a live media playlist, checking what RFC 8216 asks of one."""
    lines = text.splitlines()
    assert lines[:2] == ["#EXTM3U", "#EXT-X-VERSION:7"]
    # Live: no end, no type (any other tag fails below as unexpected).
    assert "#EXT-X-ENDLIST" not in lines
    assert not any(line.startswith("#EXT-X-PLAYLIST-TYPE") for line in lines)
    header: dict[str, str] = {}
    entries: list[Entry] = []
    pending: dict[str, object] = {}
    for line in lines[2:]:
        if line.startswith(_HEADER_TAGS):
            assert not entries, f"{line} after the first segment"
            key, value = line[1:].split(":", 1)
            header[key] = value
        elif line == "#EXT-X-INDEPENDENT-SEGMENTS":
            header["independent"] = "1"
        elif line.startswith("#EXT-X-START:"):
            assert not entries, "EXT-X-START after the first segment"
            match = re.fullmatch(r"#EXT-X-START:TIME-OFFSET=(\d+\.\d{6}),PRECISE=YES", line)
            assert match, line
            header["start"] = match.group(1)
        elif line.startswith("#"):
            _segment_tag(line, pending, bool(entries))
        else:
            match = re.fullmatch(r"frag/(\d+)\.m4s", line)
            assert match, line
            assert {"duration", "pdt"} <= pending.keys(), "EXTINF and a date for every segment"
            discontinuity = bool(pending.get("discontinuity"))
            if not entries or discontinuity:
                assert "map" in pending, "an EXT-X-MAP starts the list and follows a break"
            base = int(header["EXT-X-DISCONTINUITY-SEQUENCE"])
            entries.append(
                Entry(
                    int(match.group(1)),
                    float(pending["duration"]),  # type: ignore[arg-type]
                    float(pending["pdt"]),  # type: ignore[arg-type]
                    discontinuity,
                    pending.get("map"),  # type: ignore[arg-type]
                    (entries[-1].cc if entries else base) + int(discontinuity),
                )
            )
            pending = {}
    assert not pending, "tags after the last segment"
    assert entries, "a playlist without segments"
    playlist = Playlist(
        int(header["EXT-X-TARGETDURATION"]),
        int(header["EXT-X-MEDIA-SEQUENCE"]),
        int(header["EXT-X-DISCONTINUITY-SEQUENCE"]),
        "independent" in header,
        entries,
        float(header["start"]) if "start" in header else None,
    )
    assert [e.sequence for e in entries] == list(
        range(playlist.media_sequence, playlist.media_sequence + len(entries))
    )
    assert all(int(e.duration + 0.5) <= playlist.target for e in entries)
    playlist.start_entry()  # EXT-X-START, when there, is where a segment starts
    return playlist


def check_successor(before: Playlist, after: Playlist) -> None:
    """A later playlist slides forward and never changes a segment both list."""
    assert after.media_sequence >= before.media_sequence
    assert after.discontinuity_sequence >= before.discontinuity_sequence
    old = {e.sequence: e for e in before.entries}
    for entry in after.entries:
        if entry.sequence in old:
            kept = old[entry.sequence]
            assert (entry.duration, entry.pdt, entry.cc) == (kept.duration, kept.pdt, kept.cc)
    assert after.entries[-1].sequence >= before.entries[-1].sequence


# -- MP4 helpers --------------------------------------------------------------------------


def movie_of(init: bytes) -> mp4box.Movie:
    moov = next(b for b in mp4box.iter_boxes(init) if b.kind == b"moov")
    return mp4box.parse_movie(init[moov.offset : moov.end])


def track_runs(init: bytes, media: bytes) -> list[list[mp4box.TrackRun]]:
    """Return the track runs of every moof in media, read with the init's defaults."""
    movie = movie_of(init)
    return [
        mp4box.parse_moof(media[b.offset : b.end], movie)
        for b in mp4box.iter_boxes(media)
        if b.kind == b"moof"
    ]


@dataclass
class Decoded:
    video_frames: int
    audio_frames: int
    first_is_keyframe: bool
    width: int


def decode(path: Path) -> Decoded:
    """Decode every frame with PyAV, and check that ffmpeg reports no error either."""
    video_frames = audio_frames = 0
    first_key: bool | None = None
    with av.open(str(path)) as container:
        width = container.streams.video[0].codec_context.width
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    if first_key is None:
                        first_key = bool(frame.key_frame)
                    video_frames += 1
                else:
                    audio_frames += 1
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stderr
    assert not errors.strip(), errors
    return Decoded(video_frames, audio_frames, bool(first_key), width)


# -- following a real recording -------------------------------------------------------------


@dataclass
class Observed:
    """Everything a watcher of the live feed saw."""

    playlists: list[Playlist] = field(default_factory=list)
    fragments: dict[int, LiveFragment] = field(default_factory=dict)
    data: dict[int, bytes] = field(default_factory=dict)
    inits: dict[int, bytes] = field(default_factory=dict)
    refreshes: int = 0
    edge_lags: list[float] = field(default_factory=list)  # now - live edge, when it grew


async def watch(
    feed: LiveFeed,
    files: Callable[[], Awaitable[list[Path]]],
    seen: Observed,
    until: Callable[[], bool],
    timeout: float,
) -> None:
    """Refresh, fetch the playlist and its new fragments every 0.5 s, like a player."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the live feed did not get there in time"
        if await asyncio.to_thread(feed.refresh, await files()):
            assert feed.edge_wall_time is not None
            seen.edge_lags.append(time.time() - feed.edge_wall_time)
        seen.refreshes += 1
        try:
            text = await asyncio.to_thread(feed.playlist, init_url, fragment_url)
        except LiveNotReadyError:
            await asyncio.sleep(0.5)
            continue
        playlist = parse_playlist(text)
        if seen.playlists:
            check_successor(seen.playlists[-1], playlist)
        seen.playlists.append(playlist)
        for entry in playlist.entries:
            if entry.sequence in seen.data:
                continue
            fragment = feed.fragment(entry.sequence)
            assert fragment is not None
            data = await asyncio.to_thread(feed.fragment_bytes, entry.sequence)
            assert data is not None
            seen.fragments[entry.sequence] = fragment
            seen.data[entry.sequence] = data
            if fragment.init not in seen.inits:
                init = await asyncio.to_thread(feed.init_bytes, fragment.init)
                assert init is not None
                seen.inits[fragment.init] = init
            # What the playlist says is what the fragment is.
            assert entry.duration == pytest.approx(fragment.duration, abs=1e-6)
            assert entry.pdt == pytest.approx(fragment.wall, abs=1e-3)
            assert entry.discontinuity == (
                fragment.discontinuity and entry.sequence != playlist.media_sequence
            )
            assert entry.cc == fragment.discontinuity_sequence
        # Never renumbered, never changed while it is still available.
        for sequence, fragment in seen.fragments.items():
            assert feed.fragment(sequence) in (fragment, None)
        await asyncio.sleep(0.5)


_RECORDERS: list[Recorder] = []


@pytest.fixture(autouse=True)
async def stop_recorders(index: SegmentIndex) -> AsyncIterator[None]:
    """Stop every recorder a test made, even when it failed half-way."""
    yield
    while _RECORDERS:
        await _RECORDERS.pop().stop()


def make_recorder(tmp_path: Path, index: SegmentIndex, url: str) -> Recorder:
    config = RecorderConfig(
        camera="cam", root=tmp_path / "rec", url=url, segment_seconds=4, fps_hint=FPS
    )
    recorder = Recorder(config, index)
    _RECORDERS.append(recorder)
    return recorder


def newest_files(recorder: Recorder, count: int = 4) -> Callable[[], Awaitable[list[Path]]]:
    async def files() -> list[Path]:
        return list(reversed(await recorder.latest_files(count)))

    return files


def file_of(fragment: LiveFragment) -> Path:
    """The file of a fragment's video (its last part)."""
    return fragment.parts[-1].path


async def test_live_feed_follows_the_recording_across_files_and_runs(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """Contiguous numbering, a sliding window, seamless file boundaries, a new run's break.

    H.264 with AAC audio, 4 s segments, a 6 s window, refreshed every 0.5 s; the recorder
    is restarted half-way (a new ffmpeg run).
    """
    recorder = make_recorder(tmp_path, index, simulator.url("audio"))
    feed = LiveFeed(window=6)
    seen = Observed()
    files = newest_files(recorder)

    def run_files() -> set[Path]:
        return {file_of(f) for f in seen.fragments.values()}

    await recorder.start()
    # Two file boundaries inside the first run.
    await watch(feed, files, seen, lambda: len(run_files()) >= 3, timeout=30)
    first_run = set(seen.fragments)
    await recorder.stop()
    await recorder.start()

    def second_run_slid_in() -> bool:
        if not seen.playlists:
            return False
        head = seen.fragments[seen.playlists[-1].media_sequence]
        return head.init != seen.fragments[min(first_run)].init

    # Until the old run has left the window: the discontinuity sequence counts it.
    await watch(feed, files, seen, second_run_slid_in, timeout=30)
    await recorder.stop()

    sequences = sorted(seen.fragments)
    assert sequences == list(range(sequences[0], sequences[-1] + 1)), "numbers are contiguous"
    fragments = [seen.fragments[s] for s in sequences]
    _check_window(feed, seen, fragments)
    restart = _check_restart(seen, fragments)
    assert restart.sequence > max(first_run)
    _check_timeline(seen, fragments)
    _check_audio(seen, fragments)
    # Every fragment plays after its init: PyAV decodes each run's fragments as one file.
    for version, init in seen.inits.items():
        group = [f for f in fragments if f.init == version]
        path = tmp_path / f"run-{version}.mp4"
        path.write_bytes(init + b"".join(seen.data[f.sequence] for f in group))
        decoded = await asyncio.to_thread(decode, path)
        movie = movie_of(init)
        samples = sum(
            run.samples
            for f in group
            for moof in track_runs(init, seen.data[f.sequence])
            for run in moof
            if run.track_id == movie.video_track
        )
        seconds = sum(f.duration for f in group)
        assert decoded.first_is_keyframe
        assert decoded.video_frames == samples  # every frame served decodes
        # fps x duration, short of the frames a simulator starved of CPU may drop
        assert 0.75 * seconds * FPS <= decoded.video_frames <= seconds * FPS + 1
        assert decoded.audio_frames > 0
        assert decoded.width == 1920

    # The live edge is now: a fragment is listed within a refresh (0.5 s) of its last
    # frame's arrival, plus up to a second of the file names' rounding.
    lags = sorted(seen.edge_lags)
    median = lags[len(lags) // 2]
    print(f"live edge behind the wall clock: median {median:.2f} s, max {lags[-1]:.2f} s")
    assert lags[0] > -1.5
    assert median < 2.5
    # A refresh reads box headers and moofs, never media: a few KiB at most.
    per_refresh = feed.scanned_bytes / seen.refreshes
    media = sum(len(d) for d in seen.data.values()) / len(seen.data)
    print(f"scanned {per_refresh:.0f} B per refresh; fragments of {media:.0f} B")
    assert per_refresh < 8 * 1024


def _check_window(feed: LiveFeed, seen: Observed, fragments: list[LiveFragment]) -> None:
    """The window slid: the playlist always holds about 6 s, starting at a keyframe."""
    starts = [p.media_sequence for p in seen.playlists]
    assert starts == sorted(starts)
    assert starts[-1] > starts[0]
    full = [p for p in seen.playlists if p.media_sequence > fragments[0].sequence]
    assert full
    for playlist in full:
        # At least the window, from the last keyframe fragment that starts 6 s or more
        # before the end (1 s with the simulator's GOP of 1 s, unless it lost a frame).
        assert playlist.seconds >= 6 - 1e-6
        assert seen.fragments[playlist.media_sequence].keyframe
        for i, entry in enumerate(playlist.entries[1:], 1):
            before_end = sum(e.duration for e in playlist.entries[i:])
            assert before_end < 6 + 1e-6 or not seen.fragments[entry.sequence].keyframe
        assert playlist.target == max(int(e.duration + 0.5) for e in playlist.entries)
    # INDEPENDENT-SEGMENTS exactly when every listed fragment starts with a keyframe.
    for playlist in seen.playlists:
        keyframes = [seen.fragments[e.sequence].keyframe for e in playlist.entries]
        assert playlist.independent == all(keyframes)
    # The simulator's GOP is 1 s: (nearly) every fragment starts with a keyframe. (Under
    # load the simulator can drop a frame, and ffmpeg then cuts one fragment mid-GOP.)
    others = [(f.sequence, f.parts[-1].path.name, f.duration) for f in fragments if not f.keyframe]
    if others:
        print(f"fragments without a keyframe: {others}")
    assert len(others) <= len(fragments) // 4
    assert min(p.target for p in seen.playlists) == 1  # 1 s fragments
    # Slid-out fragments expire one window later.
    assert feed.fragment(fragments[0].sequence) is None
    assert feed.fragment_bytes(fragments[0].sequence) is None


def _check_restart(seen: Observed, fragments: list[LiveFragment]) -> LiveFragment:
    """One discontinuity with a new init, where the second run begins."""
    breaks = [f for f in fragments if f.discontinuity]
    restarts = [f for f in breaks if f.init != fragments[0].init]
    assert len(restarts) == 1
    restart = restarts[0]
    # Within a run, a break only where the dates jump: the loaded simulator lost a
    # stretch of frames (the decode times jump), or ffmpeg named a file far too late.
    by_sequence = {f.sequence: f for f in fragments}
    for fragment in breaks:
        if fragment is not restart:
            before = by_sequence[fragment.sequence - 1]
            jump = fragment.wall - (before.wall + before.duration)
            print(f"break inside a run at {fragment.sequence}: dates jump {jump:.2f} s")
            assert jump > 0.4
            assert fragment.init == before.init
    assert restart.keyframe
    before = [f for f in fragments if f.sequence < restart.sequence]
    assert {f.init for f in before} == {fragments[0].init}
    assert {f.init for f in fragments if f.sequence >= restart.sequence} == {restart.init}
    assert restart.init != fragments[0].init
    assert restart.wall > before[-1].wall + before[-1].duration - 1  # names: whole seconds
    assert any(
        e.sequence == restart.sequence and e.discontinuity and e.map_uri == init_url(restart.init)
        for p in seen.playlists
        for e in p.entries
    )
    assert seen.playlists[-1].entries[0].cc == restart.discontinuity_sequence
    return restart


def _check_timeline(seen: Observed, fragments: list[LiveFragment]) -> None:
    """Media time is playlist time, continuous across file boundaries."""
    for version, init in seen.inits.items():
        movie = movie_of(init)
        assert movie.video_track is not None
        timescale = movie.timescales[movie.video_track]
        video_times = []
        for fragment in (f for f in fragments if f.init == version):
            runs = track_runs(init, seen.data[fragment.sequence])
            video = [r for moof in runs for r in moof if r.track_id == movie.video_track]
            video = [r for r in video if r.samples]
            assert len(video) == 1
            # Every fragment's decode time is where it sits on the playlist.
            assert video[0].decode_time == round(fragment.start * timescale)
            assert video[0].duration == round(fragment.duration * timescale)
            video_times.append((video[0].decode_time, video[0].duration))
        # Continuous decode times from fragment to fragment, file boundaries included.
        for (start, duration), (following, _) in zip(video_times, video_times[1:], strict=False):
            assert following == start + duration
    boundaries = [
        (a, b)
        for a, b in zip(fragments, fragments[1:], strict=False)
        if file_of(a) != file_of(b) and not b.discontinuity
    ]
    assert len(boundaries) >= 2
    for a, b in boundaries:
        assert b.start == pytest.approx(a.end, abs=1e-9)
        assert b.wall == pytest.approx(a.wall + a.duration, abs=1e-6)
    # ffmpeg ends a file with the last audio packets in a moof of their own: they ride
    # along with the next file's first fragment.
    assert any(len(b.parts) == 2 for _, b in boundaries)
    for a, b in boundaries:
        assert [p.path for p in b.parts[:-1]] in ([], [file_of(a)])
    firsts = {b.sequence for _, b in boundaries}
    assert all(len(f.parts) == 1 for f in fragments if f.sequence not in firsts)


AAC_FRAME = 1024  # samples (the audio track's timescale is its sample rate)


def _check_audio(seen: Observed, fragments: list[LiveFragment]) -> None:
    """Audio has no hole: each run begins where the previous ended (or overlaps by ms)."""
    for version, init in seen.inits.items():
        movie = movie_of(init)
        audio_track = next(t for t in movie.timescales if t != movie.video_track)
        rate = movie.timescales[audio_track]
        end: int | None = None
        for fragment in (f for f in fragments if f.init == version):
            for moof in track_runs(init, seen.data[fragment.sequence]):
                for run in moof:
                    if run.track_id != audio_track or not run.samples:
                        continue
                    if end is not None:
                        # Less than one AAC frame (1024 samples): the recorder keeps a file's
                        # timeline from shifting (avoid_negative_ts=disabled), so ffmpeg starts
                        # each file's audio at its time 0, up to a frame off the previous end.
                        assert run.decode_time < end + AAC_FRAME, "a hole in the audio"
                        assert run.decode_time >= end - rate // 10
                    end = run.decode_time + run.duration


# -- served over HTTP to real players ---------------------------------------------------------


PAGE = """<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline style="width:100%"></video>
<script src="/hls.min.js"></script>
<script>
  const video = document.getElementById("v");
  window.fatal = null;
  window.started = null;
  const hls = new Hls();
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_e, data) => { if (data.fatal) window.fatal = data.details; });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
  video.addEventListener("playing", () => {
    if (window.started === null) window.started = video.currentTime;
  });
  hls.loadSource("/live.m3u8");
  hls.attachMedia(video);
</script></body></html>"""


@asynccontextmanager
async def serve(
    feed: LiveFeed, files: Callable[[], Awaitable[list[Path]]], requests: list[str]
) -> AsyncIterator[str]:
    """Serve the live feed as Home Assistant will: refresh on every playlist request."""

    async def playlist(request: web.Request) -> web.Response:
        requests.append(request.path)
        await asyncio.to_thread(feed.refresh, await files())
        try:
            text = await asyncio.to_thread(feed.playlist, init_url, fragment_url)
        except LiveNotReadyError as err:
            raise web.HTTPNotFound from err
        return web.Response(text=text, content_type="application/vnd.apple.mpegurl")

    async def init(request: web.Request) -> web.Response:
        requests.append(request.path)
        data = await asyncio.to_thread(feed.init_bytes, int(request.match_info["version"]))
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="video/mp4")

    async def fragment(request: web.Request) -> web.Response:
        requests.append(request.path)
        data = await asyncio.to_thread(feed.fragment_bytes, int(request.match_info["sequence"]))
        if data is None:
            raise web.HTTPNotFound
        return web.Response(body=data, content_type="video/iso.segment")

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def hlsjs(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(HLSJS)

    app = web.Application()
    app.router.add_get("/live.m3u8", playlist)
    app.router.add_get("/init/{version:\\d+}.mp4", init)
    app.router.add_get("/frag/{sequence:\\d+}.m4s", fragment)
    app.router.add_get("/page.html", page)
    app.router.add_get("/hls.min.js", hlsjs)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def wait_ready(
    feed: LiveFeed, files: Callable[[], Awaitable[list[Path]]], fragments: int
) -> None:
    deadline = time.monotonic() + 30
    while len(feed.listed()) < fragments:
        assert time.monotonic() < deadline, "no live fragments"
        await asyncio.to_thread(feed.refresh, await files())
        await asyncio.sleep(0.3)


async def test_ffmpeg_plays_the_live_playlist_over_http(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """ffmpeg's HLS demuxer plays 8 s of the live stream: every frame, no error, no jump."""
    recorder = make_recorder(tmp_path, index, simulator.url("audio"))
    feed = LiveFeed()
    files = newest_files(recorder)
    requests: list[str] = []
    await recorder.start()
    await wait_ready(feed, files, 3)
    async with serve(feed, files, requests) as base:
        proc = await asyncio.create_subprocess_exec(
            *("ffmpeg", "-hide_banner", "-v", "error", "-i", f"{base}/live.m3u8"),
            *("-t", "8", "-map", "0:v", "-map", "0:a", "-f", "framecrc", "-"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(45):
            out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert not err.decode().strip(), err.decode()
    lines = [line.split(",") for line in out.decode().splitlines() if not line.startswith("#")]
    video = [int(fields[2]) for fields in lines if fields[0].strip() == "0"]
    audio = [fields for fields in lines if fields[0].strip() == "1"]
    # Frames at 1/15 s steps (time base 1/15 after decoding): no repeat, no step back, no
    # jump (the feed cuts out gaps over 0.5 s). A simulator starved of CPU drops frames
    # now and then: a few steps of 2 or more.
    steps = [b - a for a, b in zip(video, video[1:], strict=False)]
    assert all(1 <= step <= 8 for step in steps), steps
    assert steps.count(1) >= 0.75 * len(steps)
    assert 0.75 * 8 * FPS <= len(video) <= 8 * FPS + 2
    assert audio
    # 8 s of 4 s segments from near the edge: the player crossed a file boundary, and it
    # kept reloading the playlist.
    fetched = [int(p.split("/")[-1].split(".")[0]) for p in requests if p.startswith("/frag/")]
    assert len({file_of(f) for s in fetched if (f := feed.fragment(s)) is not None}) >= 2
    assert requests.count("/live.m3u8") >= 3


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.fail("Chromium is required for the browser tests (apt-get install chromium)")


async def test_hlsjs_plays_live_in_chromium(
    simulator: CameraSimulator, index: SegmentIndex, tmp_path: Path
) -> None:
    """hls.js in Chromium plays the live stream across file boundaries near the live edge."""
    from playwright.async_api import async_playwright

    if not HLSJS.is_file():
        pytest.fail(f"{HLSJS} is missing: run scripts/setup (it installs hls.js with npm)")
    recorder = make_recorder(tmp_path, index, simulator.url("main"))
    feed = LiveFeed()
    files = newest_files(recorder)
    requests: list[str] = []
    await recorder.start()
    await wait_ready(feed, files, 3)
    async with serve(feed, files, requests) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{base}/page.html")
            # 6 s of playback: past at least one 4 s file boundary.
            await page.wait_for_function(
                "window.fatal !== null || (window.started !== null"
                " && document.getElementById('v').currentTime > window.started + 6)",
                timeout=45_000,
            )
            assert await page.evaluate("window.fatal") is None
            samples = []
            for _ in range(6):
                samples.append(
                    await page.evaluate(
                        "[hls.latency, Date.now() - hls.playingDate.getTime(),"
                        " document.getElementById('v').currentTime]"
                    )
                )
                await asyncio.sleep(0.5)
            assert await page.evaluate("document.getElementById('v').videoWidth") == 1920
            assert await page.evaluate("document.getElementById('v').error") is None
            assert await page.evaluate("window.fatal") is None
        finally:
            await browser.close()
    latency = [s[0] for s in samples]
    behind_wall = [s[1] / 1000 for s in samples]
    positions = [s[2] for s in samples]
    print(
        f"hls.js latency behind the live edge {min(latency):.2f}-{max(latency):.2f} s; "
        f"behind the wall clock {min(behind_wall):.2f}-{max(behind_wall):.2f} s"
    )
    assert positions == sorted(positions)
    assert positions[-1] > positions[0] + 2  # still playing, in real time
    # hls.js holds back 3 target durations (3 s) behind the edge; a loaded machine adds
    # a fragment or two. 20 runs beside a CPU hog: 2.3-5.7 s.
    assert max(latency) < 8
    assert max(behind_wall) < 9


# -- real files cut, grown and removed on purpose --------------------------------------------


def _segment_name(start: float, run: str) -> str:
    return datetime.fromtimestamp(start, UTC).strftime(STRFTIME_NAME) + f"-{run}.mp4"


def _place(root: Path, data: bytes, start: float, run: str) -> Path:
    directory = hour_dir(root, "cam", datetime.fromtimestamp(start, UTC))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _segment_name(start, run)
    path.write_bytes(data)
    return path


def _pairs(data: bytes) -> list[tuple[int, int]]:
    """(offset, end) of every complete moof + mdat pair of a file."""
    boxes = mp4box.iter_boxes(data)
    return [
        (a.offset, b.end)
        for a, b in zip(boxes, boxes[1:], strict=False)
        if a.kind == b"moof" and b.kind == b"mdat"
    ]


@pytest.fixture
def clip(segment_factory: SegmentFactory) -> bytes:
    """A real 4 s fragmented MP4 (H.264 320x240, 15 fps, a keyframe and fragment per second)."""
    path, _ = segment_factory.clip(4)
    return path.read_bytes()


def test_growing_file_cut_anywhere(clip: bytes, tmp_path: Path) -> None:
    """Only complete moof + mdat pairs count, wherever the file ends; each is taken once."""
    pairs = _pairs(clip)
    assert len(pairs) == 4
    boxes = mp4box.iter_boxes(clip)
    moov = next(b for b in boxes if b.kind == b"moov")
    # Cut inside the ftyp, the moov, a moof's header, a moof, an mdat's header, an mdat.
    cuts = [10, moov.offset + 20, moov.end, moov.end + 5]
    for offset, end in pairs:
        mdat = next(b for b in boxes if b.offset > offset)
        cuts += [offset + 3, offset + 40, mdat.offset, mdat.offset + 4, mdat.offset + 300]
        cuts += [end - 1, end]
    start = time.time() - 10
    path = _place(tmp_path, b"", start, "r1")
    feed = LiveFeed(window=60)
    taken: list[LiveFragment] = []
    for cut in sorted(cuts):
        path.write_bytes(clip[:cut])
        feed.refresh([path])
        complete = sum(end <= cut for _, end in pairs)
        listed = feed.listed()
        assert [f.sequence for f in listed] == list(range(complete))
        assert listed[: len(taken)] == taken  # taken once, never changed
        taken = listed
    assert len(taken) == 4
    # Scanning read headers and moofs only: a small fraction of the file.
    assert feed.scanned_bytes < len(clip) / 10
    # Each fragment is its file's bytes (the first file is not moved).
    for fragment, (offset, end) in zip(taken, pairs, strict=True):
        assert fragment.parts[0].offset == offset
        assert feed.fragment_bytes(fragment.sequence) == clip[offset:end]
        assert fragment.keyframe
        assert fragment.duration == pytest.approx(1.0)
    assert [f.start for f in taken] == pytest.approx([0, 1, 2, 3])
    assert [f.wall - start for f in taken] == pytest.approx([0, 1, 2, 3], abs=1)
    assert feed.init_bytes(0) == clip[: moov.end]
    (tmp_path / "whole.mp4").write_bytes(
        clip[: moov.end] + b"".join(feed.fragment_bytes(f.sequence) or b"" for f in taken)
    )
    assert decode(tmp_path / "whole.mp4").video_frames == 4 * FPS


def test_not_ready_until_the_first_fragment(clip: bytes, tmp_path: Path) -> None:
    feed = LiveFeed()
    with pytest.raises(LiveNotReadyError):
        feed.playlist(init_url, fragment_url)
    assert feed.refreshed_at is None
    assert feed.refresh([]) == 0
    assert feed.refreshed_at is not None
    path = _place(tmp_path, clip[: _pairs(clip)[0][0]], time.time(), "r1")  # ftyp + moov
    assert feed.refresh([path]) == 0
    with pytest.raises(LiveNotReadyError):
        feed.playlist(init_url, fragment_url)
    assert feed.fragment_bytes(0) is None
    assert feed.init_bytes(0) is None
    assert feed.edge_wall_time is None
    with pytest.raises(ValueError, match="positive"):
        LiveFeed(window=0)


def test_files_join_seamlessly_and_lost_media_breaks(clip: bytes, tmp_path: Path) -> None:
    """Same run: one timeline, no break. A file that vanished or shrank: a break."""
    pairs = _pairs(clip)
    t0 = float(int(time.time()) - 100)
    feed = LiveFeed(window=100)
    a = _place(tmp_path, clip, t0, "r1")
    b = _place(tmp_path, clip[: pairs[1][1]], t0 + 4, "r1")  # growing: 2 fragments so far
    assert feed.refresh([b, a]) == 6  # (taken in the order of their names)
    fragments = feed.listed()
    assert [f.start for f in fragments] == pytest.approx([0, 1, 2, 3, 4, 5])
    assert [f.wall - t0 for f in fragments] == pytest.approx([0, 1, 2, 3, 4, 5])
    assert not any(f.discontinuity for f in fragments)
    assert {f.init for f in fragments} == {0}
    assert fragments[4].parts[0].shift == pytest.approx(4.0)
    # The grown file's second fragment is served moved by 4 s.
    runs = track_runs(clip, feed.fragment_bytes(5) or b"")
    assert runs[0][0].decode_time == 5 * runs[0][0].duration

    # b vanishes while growing: its fragments are gone, the rest stays, the feed goes on.
    b.unlink()
    assert feed.refresh([a, b]) == 0
    assert feed.fragment_bytes(5) is None
    assert feed.fragment_bytes(3) is not None
    # The next file of the run, named where b's fragments ended: a break all the same.
    c = _place(tmp_path, clip, t0 + 6, "r1")
    assert feed.refresh([b, c]) == 4
    c_first = feed.listed()[6]
    assert c_first.discontinuity
    assert c_first.discontinuity_sequence == 1
    assert c_first.init == 0
    assert c_first.start == pytest.approx(6.0)  # the timeline runs on across the break
    assert c_first.wall == pytest.approx(t0 + 6)

    # c shrinks below what was scanned: its cut fragments are not served.
    c.write_bytes(clip[: pairs[2][0] + 10])
    assert feed.refresh([c]) == 0
    assert feed.fragment_bytes(c_first.sequence + 1) is not None
    assert feed.fragment_bytes(c_first.sequence + 2) is None
    assert feed.fragment_bytes(c_first.sequence + 3) is None
    d = _place(tmp_path, clip, t0 + 10, "r1")
    assert feed.refresh([c, d]) == 4
    d_first = feed.listed()[10]
    assert d_first.discontinuity
    assert d_first.discontinuity_sequence == 2
    assert not any(f.discontinuity for f in feed.listed()[11:])
    # Garbage where a moof should be ends that file's part too (the feed does not fail).
    e = _place(tmp_path, clip[: pairs[0][0]] + b"\0\0\0\x04junk" + bytes(64), t0 + 14, "r1")
    assert feed.refresh([d, e]) == 0
    assert len(feed.listed()) == 14


def test_new_run_skipped_file_and_late_file(clip: bytes, tmp_path: Path) -> None:
    """A new run: a break and a new init. A skipped file: a break. A late file: ignored."""
    t0 = float(int(time.time()) - 100)
    feed = LiveFeed(window=100)
    a = _place(tmp_path, clip, t0, "r1")
    b = _place(tmp_path, clip, t0 + 4, "r2")  # a new ffmpeg run, right after
    assert feed.refresh([a, b]) == 8
    b_first = feed.listed()[4]
    assert b_first.discontinuity
    assert b_first.discontinuity_sequence == 1
    assert b_first.init == 1
    assert feed.init_bytes(1) == feed.init_bytes(0)  # the same camera stream, a new run
    # A skipped file (4 s never seen) in the same run: a break, the date jumps.
    c = _place(tmp_path, clip, t0 + 12, "r2")
    assert feed.refresh([b, c]) == 4
    c_first = feed.listed()[8]
    assert c_first.discontinuity
    assert c_first.init == 1
    assert c_first.wall == pytest.approx(t0 + 12)
    assert c_first.start == pytest.approx(8.0)
    d = _place(tmp_path, clip, t0 + 16, "r2")
    assert feed.refresh([c, d]) == 4
    assert not feed.listed()[12].discontinuity
    # ffmpeg opened the next file 2 s late (a loaded machine): not a skip, no break.
    e = _place(tmp_path, clip, t0 + 22, "r2")
    assert feed.refresh([d, e]) == 4
    assert not feed.listed()[16].discontinuity
    assert feed.listed()[16].wall == pytest.approx(t0 + 20)
    # ...nor one opened early.
    f = _place(tmp_path, clip, t0 + 23, "r2")
    assert feed.refresh([e, f]) == 4
    assert not feed.listed()[20].discontinuity
    assert feed.listed()[20].wall == pytest.approx(t0 + 24)

    # An older file offered after a newer one was followed is never scanned.
    late = _place(tmp_path, clip, t0 + 14, "r2")
    assert feed.refresh([late, f]) == 0
    # Nor is one the stale list of a concurrent caller names again.
    assert feed.refresh([a, b]) == 0
    text = feed.playlist(init_url, fragment_url)
    playlist = parse_playlist(text)
    assert [e.sequence for e in playlist.entries] == list(range(24))
    assert [e.sequence for e in playlist.entries if e.discontinuity] == [4, 8]
    assert playlist.discontinuity_sequence == 0
    assert re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text) == [
        init_url(0),
        init_url(1),
        init_url(1),
    ]
    # The new run decodes from its own init.
    path = tmp_path / "run2.mp4"
    path.write_bytes(
        (feed.init_bytes(1) or b"") + b"".join(feed.fragment_bytes(s) or b"" for s in range(4, 16))
    )
    assert decode(path).video_frames == 12 * FPS


def _long_gop_clip(tmp_path: Path, gop: int = 3, seconds: int = 6) -> bytes:
    """A real fMP4 with a keyframe every 3 s and 1 s fragments (2 of 3 start mid-GOP)."""
    path = tmp_path / f"gop{gop}.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi"),
            *("-i", f"testsrc2=size=160x120:rate={FPS}", "-t", str(seconds)),
            *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop * FPS)),
            *("-pix_fmt", "yuv420p", "-movflags", "+frag_keyframe+empty_moov+default_base_moof"),
            *("-frag_duration", "1000000", str(path)),
        ],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


def test_head_of_the_window_starts_at_a_keyframe(tmp_path: Path) -> None:
    """With a GOP longer than a fragment the playlist starts at a keyframe fragment."""
    data = _long_gop_clip(tmp_path)
    t0 = float(int(time.time()) - 100)
    feed = LiveFeed(window=4)
    files: list[Path] = []
    keyframe_heads = []
    for i in range(4):
        files.append(_place(tmp_path, data, t0 + 6 * i, "r1"))
        feed.refresh(files[-2:])
        playlist = parse_playlist(feed.playlist(init_url, fragment_url))
        head = feed.fragment(playlist.media_sequence)
        assert head is not None
        assert head.keyframe
        assert not playlist.independent
        keyframe_heads.append(head.sequence)
        if i:
            # At least the window, and less than the window plus one GOP.
            assert 4 <= playlist.seconds < 4 + 3
    assert keyframe_heads == sorted(keyframe_heads)
    listed = feed.listed()
    assert [f.keyframe for f in listed[:3]] == [True, False, False]
    # The served window plays from its first fragment.
    path = tmp_path / "window.mp4"
    path.write_bytes(
        (feed.init_bytes(0) or b"")
        + b"".join(feed.fragment_bytes(f.sequence) or b"" for f in listed)
    )
    decoded = decode(path)
    assert decoded.first_is_keyframe
    assert decoded.video_frames == round(sum(f.duration for f in listed) * FPS)
    # A window shorter than the GOP, no keyframe in reach: cut without one.
    short = LiveFeed(window=0.5)
    short.refresh([_place(tmp_path / "short", data, t0, "r1")])
    (only,) = short.listed()
    assert only.sequence == 5
    assert not only.keyframe


def test_joining_player_starts_on_a_keyframe_fragment(tmp_path: Path) -> None:
    """Long GOP (a keyframe every 5 s, 1 s fragments, as the simulator's ``longgop`` mount).

    A player joining at any moment is pointed (EXT-X-START) at the newest keyframe fragment
    at least 2 s and at most 8 s before the live edge, so its first fragment decodes and it
    holds buffer; the fragment 2 back from the edge (hls.js's default start) is mostly
    mid-GOP, where a player shows nothing until the next keyframe.
    """
    data = _long_gop_clip(tmp_path, gop=5, seconds=10)
    pairs = _pairs(data)
    assert len(pairs) == 10
    t0 = float(int(time.time()) - 100)
    feed = LiveFeed()
    files: list[Path] = []
    leads = []
    default_mid_gop = 0
    for i in range(3):
        files.append(_place(tmp_path, b"", t0 + 10 * i, "r1"))
        for _, end in pairs:  # the recorder writes the file fragment by fragment
            files[-1].write_bytes(data[:end])
            feed.refresh(files[-3:])
            text = feed.playlist(init_url, fragment_url)
            playlist = parse_playlist(text)
            entry = playlist.start_entry()
            assert entry is not None, text
            start = feed.fragment(entry.sequence)
            assert start is not None
            assert start.keyframe
            listed = feed.listed()
            edge = listed[-1].end
            lead = edge - start.start
            leads.append(lead)
            if edge - listed[0].start >= 7:  # a GOP and the lead in the window
                assert 2 - 1e-6 <= lead <= 7 + 1e-6, text
                # The newest such keyframe fragment: none later leaves 2 s.
                later = [f for f in listed if f.keyframe and f.start > start.start]
                assert all(edge - f.start < 2 for f in later)
                default_mid_gop += not listed[-3].keyframe
            # From there, every frame decodes, the first a keyframe.
            path = tmp_path / "join.mp4"
            path.write_bytes(
                (feed.init_bytes(start.init) or b"")
                + b"".join(
                    feed.fragment_bytes(f.sequence) or b""
                    for f in listed
                    if f.sequence >= start.sequence
                )
            )
            decoded = decode(path)
            assert decoded.first_is_keyframe
            assert decoded.video_frames == round(lead * FPS)
    assert default_mid_gop >= 10  # without EXT-X-START most joins would start mid-GOP
    assert max(leads) <= 7 + 1e-6


def test_start_fragment_choices() -> None:
    """EXT-X-START: none without keyframes; a keyframe near the edge when the others are too far."""

    def fragments(keyframes: list[bool]) -> list[LiveFragment]:
        return [
            LiveFragment(i, (), float(i), 1.0, 0.0, key, 0, False, 0)
            for i, key in enumerate(keyframes)
        ]

    assert _start_fragment(fragments([False] * 12)) is None
    # Keyframes 12 s and 1 s before the edge: the near one (the far one is too far back).
    chosen = _start_fragment(fragments([True] + [False] * 10 + [True]))
    assert chosen is not None
    assert chosen.sequence == 11
    # Only a keyframe too far back: the player's own choice.
    assert _start_fragment(fragments([True] + [False] * 11)) is None
    # Short GOP: 2 s before the edge, as hls.js would anyway.
    chosen = _start_fragment(fragments([True] * 12))
    assert chosen is not None
    assert chosen.sequence == 10


def test_decode_times_jumping_inside_a_file(clip: bytes, tmp_path: Path) -> None:
    """A jump inside a file (the camera's clock) is cut out of the timeline, with a break."""
    pairs = _pairs(clip)
    head, tail = clip[: pairs[2][0]], clip[pairs[2][0] :]
    movie = movie_of(clip)
    jumped = head + mp4box.shift_fragments(tail, movie.timescales, 10.0, pairs[2][0])
    t0 = float(int(time.time()) - 100)
    feed = LiveFeed(window=100)
    assert feed.refresh([_place(tmp_path, jumped, t0, "r1")]) == 4
    fragments = feed.listed()
    assert [f.discontinuity for f in fragments] == [False, False, True, False]
    assert [f.start for f in fragments] == pytest.approx([0, 1, 2, 3])  # no hole
    assert [f.wall - t0 for f in fragments] == pytest.approx([0, 1, 12, 13])  # dates jump
    assert fragments[2].parts[0].shift == pytest.approx(-10.0)
    path = tmp_path / "played.mp4"
    path.write_bytes(
        clip[: pairs[0][0]] + b"".join(feed.fragment_bytes(s) or b"" for s in range(4))
    )
    runs = track_runs(clip, path.read_bytes()[pairs[0][0] :])
    assert [r[0].decode_time for r in runs] == [i * runs[0][0].duration for i in range(4)]
    assert decode(path).video_frames == 4 * FPS


def test_memory_stays_bounded(clip: bytes, tmp_path: Path) -> None:
    """Old fragments, inits and file states are forgotten as the feed moves on."""
    t0 = float(int(time.time()) - 1000)
    feed = LiveFeed(window=2)
    files = [_place(tmp_path, clip, t0 + 4 * i, f"r{i}") for i in range(40)]  # 40 runs
    for i in range(len(files)):
        feed.refresh(files[max(0, i - 2) : i + 1])
    assert len(feed._files) <= 32
    assert len(feed._fragments) <= 8  # the window and one window after, 1 s each
    assert feed.init_bytes(0) is None
    assert feed.init_bytes(39) is not None
    assert {f.init for f in feed.listed()} <= {38, 39}
    assert feed.listed()[-1].sequence == 40 * 4 - 1


def test_concurrent_refresh_playlist_and_fragments(clip: bytes, tmp_path: Path) -> None:
    """Threads refresh, list and fetch while files grow: consistent answers, no error."""
    pairs = _pairs(clip)
    t0 = float(int(time.time()) - 100)
    feed = LiveFeed(window=3)
    files: list[Path] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for i in range(6):
                path = _place(tmp_path, b"", t0 + 4 * i, "r1")
                files.append(path)
                for _, end in pairs:
                    with path.open("ab") as handle:
                        handle.write(clip[path.stat().st_size : end])
                    feed.refresh(list(files[-2:]))
                    time.sleep(0.005)
        except BaseException as err:  # noqa: BLE001
            errors.append(err)
        finally:
            done.set()

    def reader() -> None:
        try:
            while not done.is_set():
                feed.refresh(list(files[-2:]))
                try:
                    playlist = parse_playlist(feed.playlist(init_url, fragment_url))
                except LiveNotReadyError:
                    continue
                for entry in playlist.entries:
                    data = feed.fragment_bytes(entry.sequence)
                    fragment = feed.fragment(entry.sequence)
                    if data is None:
                        # Only a fragment that expired meanwhile may be missing.
                        assert fragment is None
                        continue
                    assert data[4:8] == b"moof"
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    listed = feed.listed()
    assert listed[-1].sequence == 6 * 4 - 1
    assert [f.start for f in listed] == pytest.approx(
        [float(f.sequence) for f in listed]
    )  # every fragment once, in order, 1 s each


# -- the moof parser ----------------------------------------------------------------------


NON_SYNC = 0x00010000
SYNC = 0x02000000


def _full(kind: bytes, flags: int, body: bytes) -> bytes:
    return box(kind, struct.pack(">I", flags) + body)


def _moov(trex_duration: int, trex_flags: int) -> bytes:
    handler = _full(b"hdlr", 0, struct.pack(">I4s", 0, b"vide") + bytes(12) + b"\0")
    mdhd = _full(b"mdhd", 0, struct.pack(">IIIIHH", 0, 0, 90000, 0, 0, 0))
    tkhd = _full(b"tkhd", 0, struct.pack(">IIII", 0, 0, 7, 0) + bytes(64))
    trak = box(b"trak", tkhd + box(b"mdia", mdhd + handler))
    trex = _full(b"trex", 0, struct.pack(">IIIII", 7, 1, trex_duration, 0, trex_flags))
    return box(b"moov", trak + box(b"mvex", trex))


@pytest.mark.parametrize(
    ("tfhd", "trun", "sync", "duration"),
    [
        # trun first-sample-flags win over the tfhd default
        (_full(b"tfhd", 0x20028, struct.pack(">III", 7, 3000, NON_SYNC)),
         _full(b"trun", 0x005, struct.pack(">IiI", 3, 0, SYNC)), True, 9000),
        # per-sample flags and durations
        (_full(b"tfhd", 0x20000, struct.pack(">I", 7)),
         _full(b"trun", 0x501, struct.pack(">IiIIII", 2, 0, 100, NON_SYNC, 200, SYNC)),
         False, 300),
        # the tfhd default flags
        (_full(b"tfhd", 0x20020, struct.pack(">II", 7, NON_SYNC)),
         _full(b"trun", 0x001, struct.pack(">Ii", 4, 0)), False, 4 * 6000),
        # nothing in the moof: the trex defaults
        (_full(b"tfhd", 0x20000, struct.pack(">I", 7)),
         _full(b"trun", 0x001, struct.pack(">Ii", 4, 0)), True, 4 * 6000),
    ],
    ids=["trun-first-sample-flags", "per-sample", "tfhd-defaults", "trex-defaults"],
)  # fmt: skip
def test_parse_moof_finds_durations_and_sync_samples(
    tfhd: bytes, trun: bytes, sync: bool, duration: int
) -> None:
    movie = mp4box.parse_movie(_moov(6000, 0))
    assert movie.video_track == 7
    assert movie.timescales == {7: 90000}
    assert movie.defaults == {7: (6000, 0)}
    tfdt = _full(b"tfdt", 0x1000000, struct.pack(">Q", 2**33))
    moof = box(b"moof", _full(b"mfhd", 0, struct.pack(">I", 1)) + box(b"traf", tfhd + tfdt + trun))
    (run,) = mp4box.parse_moof(moof, movie)
    assert run.track_id == 7
    assert run.decode_time == 2**33
    assert run.duration == duration
    assert run.starts_with_sync_sample is sync
    with pytest.raises(mp4box.Mp4Error):
        mp4box.parse_moof(moof[:-4], movie)
    short = box(b"moof", box(b"traf", tfhd + _full(b"trun", 0x100, struct.pack(">I", 5))))
    with pytest.raises(mp4box.Mp4Error, match="sample count"):
        mp4box.parse_moof(short, movie)


def test_default_window() -> None:
    assert LiveFeed().window == DEFAULT_WINDOW == 12.0
