"""H.264 renditions of H.265 footage: real ffmpeg, real recordings of the simulator's H.265 mount.

What a rendition holds (decodes, H.264, the source's timeline), a playlist of renditions played
over HTTP across a segment boundary and a gap, the concurrency limit counted in real ffmpeg
processes, the cache bound, pruning, cancellation, parts made ahead, exports for sharing.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Iterator
from contextlib import contextmanager, suppress
import dataclasses
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import itertools
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import threading
from typing import Self
from urllib.parse import parse_qs, urlparse

import av
import pytest

from custom_components.cctv_nvr.engine import hls, mp4box, transcode
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.transcode import (
    AnyPiece,
    Renditions,
    TranscodeError,
    plan_cuts,
)
from tests.engine.helpers import ffprobe, inspect_file, wait_for
from tests.engine.test_hls import Recorded, recorded
from tests.simulator import CameraSimulator

FPS = 15
FRAME = 1 / FPS


# -- footage -----------------------------------------------------------------


@pytest.fixture
def h265(simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """1080p15 H.265 recorded from the simulator: 3 contiguous 4 s segments, a gap, one more."""
    footage = recorded("h265", simulator, tmp_path_factory)
    assert {s.video_codec for s in footage.segments} == {"hevc"}
    return footage


_CLIPS: dict[str, Path] = {}


def hevc_clip(cache: Path, seconds: int = 6, size: str = "640x360", keyint: int = FPS) -> Path:
    """An H.265 + AAC fragmented MP4 made like the recorder's segments (hvc1, 1 s fragments)."""
    name = f"hevc-{size}-{seconds}s-{keyint}.mp4"
    if name not in _CLIPS:
        path = cache / name
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-y"),
                *("-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}"),
                *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"),
                *("-t", str(seconds), "-pix_fmt", "yuv420p"),
                *("-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1"),
                *("-x265-params", f"keyint={keyint}:min-keyint={keyint}:bframes=0:log-level=error"),
                *("-c:a", "aac", "-ac", "1", "-b:a", "32k", "-video_track_timescale", "90000"),
                *("-movflags", "+frag_keyframe+empty_moov+default_base_moof"),
                *("-frag_duration", "1000000", str(path)),
            ],
            check=True,
            timeout=120,
        )
        _CLIPS[name] = path
    return _CLIPS[name]


@pytest.fixture
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s 640x360 H.265 + AAC segment (made once per session)."""
    if not _CLIPS:
        return hevc_clip(tmp_path_factory.mktemp("hevc"))
    return hevc_clip(next(iter(_CLIPS.values())).parent)


def copies(source: Path, folder: Path, count: int) -> list[Path]:
    """Different segments (paths, keys) with the same content."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"seg{number}.mp4" for number in range(count)]
    for path in paths:
        shutil.copyfile(source, path)
    return paths


def _video_times(path: Path | str, **options: str) -> list[float]:
    with av.open(str(path), options=options or None) as container:
        stream = container.streams.video[0]
        return sorted(
            float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None
        )


# -- real ffmpeg processes ---------------------------------------------------------


def ffmpeg_processes(marker: str) -> dict[int, str]:
    """Running ffmpeg processes whose command line mentions ``marker``: pid -> their input."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            args = Path(entry.path, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone
        if not args or not args[0].endswith(b"ffmpeg") or b"-i" not in args:
            continue  # a zombie has no command line: it no longer runs
        if any(marker.encode() in arg for arg in args):
            found[int(entry.name)] = args[args.index(b"-i") + 1].decode()
    return found


@dataclass
class Watch:
    """Samples the ffmpeg processes of a cache folder every few milliseconds in a thread."""

    marker: str
    most: int = 0
    inputs: dict[int, str] = field(default_factory=dict)  # every pid seen -> its input
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            now = ffmpeg_processes(self.marker)
            self.most = max(self.most, len(now))
            self.inputs.update(now)
            self._stop.wait(0.003)

    @property
    def now(self) -> dict[int, str]:
        return ffmpeg_processes(self.marker)


@contextmanager
def watching(marker: Path) -> Iterator[Watch]:
    watch = Watch(str(marker))
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        watch._stop.set()
        thread.join()


def temporaries(cache: Path) -> list[str]:
    return [p.name for p in cache.iterdir() if p.name.startswith(".")] if cache.exists() else []


# -- detection and choice ---------------------------------------------------------


async def test_detect_finds_libx264_and_says_why_no_hardware() -> None:
    """This machine: ffmpeg lists VAAPI/QSV/NVENC/V4L2 encoders but has no device for them."""
    caps = await transcode.detect()
    assert caps.version is not None
    assert caps.version.startswith("ffmpeg version")
    assert "libx264" in caps.encoders
    assert caps.best == transcode.LIBX264
    assert not caps.best.hardware
    for name in transcode.HARDWARE_ENCODERS:
        assert name in caps.failed  # listed with why it is not used
        if name in caps.encoders and not caps.devices:
            assert caps.failed[name] == "no device"
    data = caps.as_dict()
    assert data["chosen"] == "libx264"
    assert data["hardware"] is False
    json.dumps(data)  # diagnostics can carry it


async def test_detect_without_ffmpeg(tmp_path: Path) -> None:
    caps = await transcode.detect(str(tmp_path / "no-ffmpeg"))
    assert caps.best is None
    assert caps.working == ()
    assert "cannot run ffmpeg" in caps.failed["ffmpeg"]


async def test_detect_reports_a_failing_encoder(tmp_path: Path) -> None:
    """An encoder that fails its test encode is not used, with ffmpeg's reason."""
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *-version*) echo "ffmpeg version fake"; exit 0;; esac\n'
        'case "$*" in *-encoders*) echo " V....D libx264 fake"; exit 0;; esac\n'
        'case "$*" in *-hwaccels*) echo "Hardware acceleration methods:"; exit 0;; esac\n'
        'echo "Unknown encoder libx264" >&2; exit 1\n'
    )
    fake.chmod(0o755)
    caps = await transcode.detect(str(fake))
    assert caps.version == "ffmpeg version fake"
    assert caps.best is None
    assert caps.failed["libx264"] == "Unknown encoder libx264"
    assert caps.failed["h264_vaapi"] == "not in this ffmpeg"


def test_only_h265_for_clients_without_hevc_is_transcoded() -> None:
    assert transcode.wants_rendition("hevc", client_decodes_hevc=False)
    assert not transcode.wants_rendition("hevc", client_decodes_hevc=True)  # served untouched
    assert not transcode.wants_rendition("h264", client_decodes_hevc=False)
    assert not transcode.wants_rendition(None, client_decodes_hevc=False)


# -- what a rendition holds ---------------------------------------------------------


async def test_rendition_is_h264_on_the_source_timeline(h265: Recorded, tmp_path: Path) -> None:
    """Every frame decodes, H.264 (avc1), same frame times and duration, keyframe first."""
    renditions = Renditions(tmp_path / "cache")
    segments = h265.segments
    try:
        paths = [await renditions.segment(h265.root / s.path, s.path) for s in segments]
    finally:
        await renditions.close()
    for segment, path in zip(segments, paths, strict=True):
        source = h265.root / segment.path
        assert path.parent == tmp_path / "cache"
        facts = inspect_file(path)
        before = inspect_file(source, decode=False)
        assert (facts.codec, facts.codec_tag) == ("h264", "avc1")
        assert facts.video_packets == facts.decoded_frames == before.video_packets
        assert facts.first_is_keyframe
        assert facts.first_pts == pytest.approx(0, abs=1e-6)
        assert facts.duration == pytest.approx(before.duration, abs=FRAME)
        assert _video_times(path) == pytest.approx(_video_times(source), abs=1e-4)
        stream = ffprobe(path)["streams"][0]
        assert (stream["width"], stream["height"]) == (1920, 1080)
        assert stream["pix_fmt"] == "yuv420p"
        # Fragments like the recorder's, same track ids and time scales: hls/mp4box work on it.
        layout = mp4box.layout(path)
        assert layout.timescales == mp4box.layout(source).timescales
        kinds = [box.kind for box in mp4box.top_level_boxes(path)]
        assert kinds[:3] == [b"ftyp", b"moov", b"moof"]
        assert kinds.count(b"moof") >= int(segment.duration) - 1
    # A run's renditions share their init part: one EXT-X-MAP per run holds.
    inits = {
        hls.init_bytes(path)
        for segment, path in zip(segments, paths, strict=True)
        if segment.run_id == segments[0].run_id
    }
    assert len(inits) == 1


async def test_rendition_copies_audio(clip: Path, tmp_path: Path) -> None:
    renditions = Renditions(tmp_path / "cache")
    try:
        path = await renditions.segment(clip, "clip")
    finally:
        await renditions.close()

    def audio(file: Path) -> list[tuple[int, int]]:
        with av.open(str(file)) as container:
            stream = container.streams.audio[0]
            assert stream.codec_context.name == "aac"
            return [(p.pts, p.size) for p in container.demux(stream) if p.pts is not None]

    assert audio(path) == audio(clip)  # every packet, same times: copied
    assert inspect_file(path).audio_codec == "aac"
    assert _video_times(path) == pytest.approx(_video_times(clip), abs=1e-4)


async def test_a_large_picture_is_capped(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A portrait picture beyond the cap fits into it, aspect kept, even sizes."""
    source = hevc_clip(tmp_path_factory.mktemp("tall"), seconds=1, size="360x640")
    cap = transcode.Quality(max_width=320, max_height=180)
    renditions = Renditions(tmp_path_factory.mktemp("cache"), quality=cap)
    try:
        path = await renditions.segment(source, "tall")
    finally:
        await renditions.close()
    stream = ffprobe(path)["streams"][0]
    assert (stream["width"], stream["height"]) == (180, 320)


# -- pieces ---------------------------------------------------------------------


def keyframe_fragments(path: Path) -> list[tuple[int, float]]:
    """(index, time) of the fragments whose first video frame is a keyframe, found with PyAV."""
    moofs = [box.offset for box in mp4box.top_level_boxes(path) if box.kind == b"moof"]
    first: dict[int, tuple[bool, float]] = {}
    with av.open(str(path)) as container:
        for packet in container.demux(video=0):
            if packet.pts is not None and packet.pos is not None:
                fragment = bisect.bisect_right(moofs, packet.pos) - 1
                first.setdefault(
                    fragment, (packet.is_keyframe, float(packet.pts * packet.time_base))
                )
    return [(index, time) for index, (key, time) in sorted(first.items()) if key]


async def test_pieces_start_on_keyframe_fragments(
    h265: Recorded, tmp_path_factory: pytest.TempPathFactory
) -> None:
    for segment in h265.segments:
        source = h265.root / segment.path
        fragments = [b.kind for b in mp4box.top_level_boxes(source)].count(b"moof")
        keyframes = keyframe_fragments(source)
        assert keyframes[0] == (0, 0.0)
        # 1 s fragments, a keyframe every second: 4 s segments (a run's last may be shorter)
        assert len(keyframes) >= min(3, int(segment.duration))
        every = transcode.plan_pieces(source, 0)
        assert [p.first for p in every] == [index for index, _ in keyframes]
        assert [p.start for p in every] == pytest.approx([t for _, t in keyframes], abs=1e-6)
        assert [p.stop for p in every] == [p.first for p in every[1:]] + [fragments]
        assert [p.end for p in every] == [p.start for p in every[1:]] + [None]
        # At least 2 s each, cut at the first keyframe fragment 2 s or more after the last cut.
        two = transcode.plan_pieces(source, 2)
        assert len(two) >= min(2, int(segment.duration) - 1)
        for piece, following in itertools.pairwise(two):
            assert following.first == next(
                index for index, time in keyframes if time >= piece.start + 2 - 1e-6
            )
            assert (piece.stop, piece.end) == (following.first, following.start)
        assert [(p.first, p.stop) for p in transcode.plan_pieces(source, 100)] == [(0, fragments)]
    # A keyframe every 2 s with 1 s fragments: a piece can only start every other fragment.
    long_gop = hevc_clip(tmp_path_factory.mktemp("gop"), seconds=6, keyint=2 * FPS)
    pieces = transcode.plan_pieces(long_gop, 0)
    keyframes = _video_times(long_gop)[:: 2 * FPS]  # (the clip's video starts at 0.064)
    assert [p.start for p in pieces] == pytest.approx([0, *keyframes[1:]], abs=1e-6)
    assert all(p.stop - p.first == 2 for p in pieces)
    renditions = Renditions(tmp_path_factory.mktemp("cache"))
    try:
        assert await renditions.pieces(long_gop, 3) == transcode.plan_pieces(long_gop, 3)
        with pytest.raises(TranscodeError) as err:
            await renditions.pieces(long_gop.with_name("gone.mp4"), 2)
        assert err.value.reason == "source_missing"
    finally:
        await renditions.close()


async def test_piece_renditions_keep_the_segment_timeline(
    h265: Recorded, clip: Path, tmp_path: Path
) -> None:
    """Each piece: H.264 from a keyframe, its frames at the segment's times; pieces add up."""
    source = h265.root / h265.segments[0].path
    renditions = Renditions(tmp_path / "cache")
    try:
        whole = await renditions.segment(source, "s")
        pieces = await renditions.pieces(source, 2)
        paths = [await renditions.segment(source, "s", piece) for piece in pieces]
        audio_pieces = await renditions.pieces(clip, 2)
        audio_paths = [await renditions.segment(clip, "clip", piece) for piece in audio_pieces]
        assert renditions.status.transcodes == 1 + len(pieces) + len(audio_pieces)
        assert await renditions.segment(source, "s", pieces[0]) == paths[0]  # cached apart
    finally:
        await renditions.close()
    assert len(pieces) >= 2
    times = _video_times(source)
    joined: list[float] = []
    for piece, path in zip(pieces, paths, strict=True):
        facts = inspect_file(path)
        assert (facts.codec, facts.first_is_keyframe) == ("h264", True)
        assert facts.video_packets == facts.decoded_frames
        assert facts.first_pts == pytest.approx(piece.start, abs=1e-4)
        joined += _video_times(path)
        assert hls.init_bytes(path) == hls.init_bytes(whole)  # one EXT-X-MAP serves all
    assert joined == pytest.approx(times, abs=1e-4)
    # With audio: copied, on the same times (the first packet of a piece may start up to
    # one AAC frame early, moved to the piece's first video frame as the recorder's are).
    with av.open(str(clip)) as container:
        expected_audio = [
            float(p.pts * p.time_base) for p in container.demux(audio=0) if p.pts is not None
        ]
    got_audio = []
    for path in audio_paths:
        with av.open(str(path)) as container:
            got_audio += [
                float(p.pts * p.time_base) for p in container.demux(audio=0) if p.pts is not None
            ]
    assert len(got_audio) == len(expected_audio)
    assert got_audio == pytest.approx(expected_audio, abs=1024 / 16000 + 1e-3)
    assert _video_times(audio_paths[-1])[-1] == pytest.approx(_video_times(clip)[-1], abs=1e-4)


# -- a playlist of renditions, over HTTP ------------------------------------------------


class _Server:
    """A tiny HTTP server doing what the integration's views do, with renditions.

    The playlist is hls.build_playlist over the index's segments (or over their pieces,
    listed as segments of their own); each init or media part is the rendition's bytes
    (hls.init_bytes / hls.media_bytes, a piece's media moved by offset - piece.start),
    made when first asked for; serving a media part asks for the next parts ahead.
    """

    def __init__(
        self,
        renditions: Renditions,
        root: Path,
        parts: list[tuple[Segment, AnyPiece | None]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.renditions = renditions
        self.root = root
        self.parts = parts
        self.loop = loop
        listed = [_as_segment(segment, piece) for segment, piece in parts]

        def media(part: Segment, offset: float) -> str:
            number = listed.index(part)
            piece = parts[number][1]
            return f"/media/{number}.m4s?offset={offset - (piece.start if piece else 0)}"

        self.playlist = hls.build_playlist(
            listed,
            listed[0].start,
            listed[-1].end,
            lambda part: f"/init/{listed.index(part)}.mp4",
            media,
        )
        self.requests: list[str] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/playlist.m3u8"

    def rendition(self, number: int) -> Path:
        segment, piece = self.parts[number]
        coro = self.renditions.segment(self.root / segment.path, segment.path, piece)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=600)

    def ahead(self, number: int) -> None:
        following: list[transcode.Part] = [
            (self.root / segment.path, segment.path, piece)
            for segment, piece in self.parts[number + 1 :]
        ]
        self.loop.call_soon_threadsafe(self.renditions.prefetch, following, "viewer")

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _as_segment(segment: Segment, piece: AnyPiece | None) -> Segment:
    """A piece listed in a playlist as a segment of its own (its stretch of the segment)."""
    if piece is None:
        return segment
    end = segment.end if piece.end is None else segment.start + piece.end
    return dataclasses.replace(segment, start=segment.start + piece.start, end=end)


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, server: _Server, *args: object) -> None:
        self.nvr = server
        super().__init__(*args)  # type: ignore[arg-type]

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.nvr.requests.append(url.path)
        if url.path == "/playlist.m3u8":
            body = self.nvr.playlist.encode()
        elif match := re.fullmatch(r"/init/(\d+)\.mp4", url.path):
            body = hls.init_bytes(self.nvr.rendition(int(match[1])))
        elif match := re.fullmatch(r"/media/(\d+)\.m4s", url.path):
            number = int(match[1])
            offset = float(parse_qs(url.query)["offset"][0])
            body = hls.media_bytes(self.nvr.rendition(number), offset)
            self.nvr.ahead(number)
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTP_HLS = {"allowed_extensions": "ALL"}


@pytest.mark.timeout(900)  # every part transcoded, on a loaded 2-core machine
@pytest.mark.parametrize(
    ("piece_seconds", "cut"),
    [(None, False), (2.0, False), (1.5, True)],
    ids=["segments", "pieces", "cuts"],
)
async def test_playlist_of_renditions_plays_over_http_across_boundary_and_gap(
    h265: Recorded, tmp_path: Path, piece_seconds: float | None, cut: bool
) -> None:
    """Whole segments as parts, 2 s pieces cut at keyframes, or pieces cut by time (1 s
    first, then 1.5 s each: the cuts fall between keyframes); the first part ready sooner."""
    segments = h265.segments
    renditions = Renditions(tmp_path / "cache", max_running=2)
    loop = asyncio.get_running_loop()
    source_times = [_video_times(h265.root / s.path) for s in segments]
    parts: list[tuple[Segment, AnyPiece | None]] = []
    for segment in segments:
        if piece_seconds is None:
            parts.append((segment, None))
        elif cut:
            cuts = plan_cuts(segment.duration, 1.0, piece_seconds, 0.5)
            parts += [(segment, piece) for piece in cuts or [None]]
        else:
            pieces = await renditions.pieces(h265.root / segment.path, piece_seconds)
            parts += [(segment, piece) for piece in pieces]
    # Pieces of about piece_seconds (a run's last segment may be shorter than the others).
    expected = sum(
        max(1, int(segment.duration // piece_seconds)) if piece_seconds else 1
        for segment in segments
    )
    assert len(parts) >= expected - 1
    try:
        with _Server(renditions, h265.root, parts, loop) as server:
            assert server.playlist.count("#EXT-X-DISCONTINUITY") == 1  # the gap
            assert server.playlist.count("#EXT-X-MAP") == 2  # one init per run
            assert server.playlist.count("#EXTINF") == len(parts)
            # ffprobe reads every packet of the playlist, H.264 only.
            out = await asyncio.to_thread(
                subprocess.run,
                [
                    *("ffprobe", "-v", "error", "-allowed_extensions", "ALL", "-count_packets"),
                    *("-show_streams", "-of", "json", server.url),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
            streams = json.loads(out.stdout)["streams"]
            assert [s["codec_name"] for s in streams] == ["h264"]
            assert int(streams[0]["nb_read_packets"]) == sum(map(len, source_times))
            # PyAV decodes it all on one timeline: the playlist time of every frame.
            times = await asyncio.to_thread(_decode_times, server.url)
        status = renditions.status
    finally:
        await renditions.close()
    offsets = [sum(s.duration for s in segments[:i]) for i in range(len(segments))]
    expected = [offset + t for offset, ts in zip(offsets, source_times, strict=True) for t in ts]
    assert times == pytest.approx(expected, abs=1e-3)
    first = 0
    for part in source_times[:-1]:  # every file boundary, the gap included: no jump
        first += len(part)
        assert 0 < times[first] - times[first - 1] <= 1.5 * FRAME
    # Each part transcoded once, though parts were asked for ahead and by two readers.
    assert status.transcodes == len(parts)
    assert status.failures == 0
    assert status.running == status.queued == status.queued_ahead == 0


def _decode_times(url: str) -> list[float]:
    times: list[float] = []
    with av.open(url, options=HTTP_HLS) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        for packet in container.demux(stream):
            for frame in packet.decode():
                assert frame.pts is not None
                times.append(float(frame.pts * frame.time_base))
    return times


# -- bounds: concurrency, cache, prune ----------------------------------------------


async def test_concurrency_limit_holds_and_each_segment_is_made_once(
    clip: Path, tmp_path: Path
) -> None:
    """10 concurrent requests for 6 segments with a limit of 2: never 3 ffmpeg at once."""
    sources = copies(clip, tmp_path / "rec", 6)
    cache = tmp_path / "cache"
    renditions = Renditions(cache, max_running=2)
    wanted = [sources[n % 6] for n in (0, 1, 2, 3, 4, 5, 0, 1, 2, 0)]
    try:
        with watching(cache) as watch:
            paths = await asyncio.gather(*(renditions.segment(s, s.name) for s in wanted))
        status = renditions.status
    finally:
        await renditions.close()
    assert watch.most == 2  # the limit was reached and never passed
    inputs = list(watch.inputs.values())
    assert len(inputs) == len(set(inputs))  # no segment had two ffmpeg
    assert set(inputs) <= {str(s) for s in sources}
    assert status.transcodes == 6
    assert status.misses == 10
    by_source = dict(zip(wanted, paths, strict=True))
    assert len(set(by_source.values())) == 6
    assert all(paths[i] == by_source[s] for i, s in enumerate(wanted))
    assert all(p.is_file() for p in paths)
    assert temporaries(cache) == []


async def test_cache_bound_evicts_the_least_recently_used(clip: Path, tmp_path: Path) -> None:
    a, b, c = copies(clip, tmp_path / "rec", 3)
    cache = tmp_path / "cache"
    probe = Renditions(cache / "probe")
    try:
        size = (await probe.segment(a, "probe")).stat().st_size
    finally:
        await probe.close()
    bound = int(2.5 * size)
    renditions = Renditions(cache, cache_bytes=bound, hold_seconds=0)
    try:
        path_a = await renditions.segment(a, "a")
        path_b = await renditions.segment(b, "b")
        assert await renditions.segment(a, "a") == path_a  # a hit: a is now the most recent
        path_c = await renditions.segment(c, "c")
        status = renditions.status
    finally:
        await renditions.close()
    assert status.transcodes == 3
    assert (status.hits, status.evicted) == (1, 1)
    assert status.cache_bytes <= bound
    assert status.cache_files == 2
    assert path_a.is_file()
    assert path_c.is_file()
    assert not path_b.exists()  # the least recently used went


async def test_restart_adopts_the_cache_and_prune_follows_retention(
    clip: Path, tmp_path: Path, index: SegmentIndex
) -> None:
    a, c = copies(clip, tmp_path / "rec", 2)
    cache = tmp_path / "cache"
    first = Renditions(cache)
    try:
        path_a = await first.segment(a, "a")
        path_c = await first.segment(c, "c")
    finally:
        await first.close()
    # Leftovers of a crash and renditions made with other settings are removed at start.
    (cache / f".{path_a.name}.dead.tmp").write_bytes(b"half")
    stray = cache / re.sub(r"\.[0-9a-f]{8}\.", ".00000000.", path_a.name)
    stray.write_bytes(b"old settings")
    again = Renditions(cache)
    try:
        assert await again.segment(a, "a") == path_a
        assert await again.segment(c, "c") == path_c
        assert again.status.transcodes == 0
        assert again.status.hits == 2
        assert temporaries(cache) == []
        assert not stray.exists()
        # Retention deleted segment c: its rendition goes, a's stays.
        assert await again.prune(["a", "b"]) == 1
        assert not path_c.exists()
        assert path_a.is_file()
        assert again.status.cache_files == 1
        # The same asking the index which of the cached keys are still stored.
        assert await again.prune(index.known_paths) == 1  # "a" is not indexed
        assert not path_a.exists()
        kept = await again.segment(a, "cam/a.mp4")
        index.add_segments([Segment(camera="cam", path="cam/a.mp4", start=0, end=6, bytes=1)])
        assert await again.prune(index.known_paths) == 0
        assert kept.is_file()
    finally:
        await again.close()
    # Other settings make other renditions (never one made with the old settings).
    changed = Renditions(cache, quality=transcode.Quality(preset="veryfast"))
    try:
        assert await changed.segment(a, "a") != path_a
    finally:
        await changed.close()


async def test_recently_used_files_are_held_and_a_changed_source_is_made_again(
    clip: Path, tmp_path: Path
) -> None:
    a, b = copies(clip, tmp_path / "rec", 2)
    renditions = Renditions(tmp_path / "cache", cache_bytes=1, hold_seconds=60)
    try:
        path_a = await renditions.segment(a, "a")
        path_b = await renditions.segment(b, "b")
        assert path_a.is_file()  # over the bound, but just handed out: held
        assert path_b.is_file()
        assert renditions.status.evicted == 0
        # The segment file changed (a repaired tail): a new rendition replaces the old one.
        a.write_bytes(b.read_bytes())
        os.utime(a, ns=(1, 1))
        newer = await renditions.segment(a, "a")
        assert newer != path_a
        assert not path_a.exists()
        assert renditions.status.transcodes == 3
    finally:
        await renditions.close()


# -- cancel, close, failures ---------------------------------------------------------


async def test_cancel_kills_ffmpeg_and_leaves_nothing(h265: Recorded, tmp_path: Path) -> None:
    source = h265.root / h265.segments[0].path
    cache = tmp_path / "cache"
    renditions = Renditions(cache)
    try:
        request = asyncio.create_task(renditions.segment(source, "s"))
        await wait_for(lambda: ffmpeg_processes(str(cache)), 60, 0.005)
        (pid,) = ffmpeg_processes(str(cache))
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await wait_for(lambda: not ffmpeg_processes(str(cache)), 2, 0.01)
        await wait_for(lambda: renditions.status.running == 0, 2, 0.01)
        assert not Path(f"/proc/{pid}/cmdline").exists() or not ffmpeg_processes(str(cache))
        assert temporaries(cache) == []
        assert renditions.status.transcodes == 0
        assert renditions.status.cache_files == 0
    finally:
        await renditions.close()


async def test_one_of_two_viewers_leaving_keeps_the_transcode(
    h265: Recorded, tmp_path: Path
) -> None:
    source = h265.root / h265.segments[0].path
    renditions = Renditions(tmp_path / "cache")
    try:
        stays = asyncio.create_task(renditions.segment(source, "s"))
        leaves = asyncio.create_task(renditions.segment(source, "s"))
        await wait_for(lambda: renditions.status.running == 1, 30, 0.005)
        leaves.cancel()
        path = await stays
        assert inspect_file(path, decode=False).video_packets > 0
        assert renditions.status.transcodes == 1
    finally:
        await renditions.close()


async def test_close_stops_everything(h265: Recorded, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    renditions = Renditions(cache, max_running=1)
    sources = [h265.root / s.path for s in h265.segments[:2]]
    requests = [asyncio.create_task(renditions.segment(s, s.name)) for s in sources]
    await wait_for(lambda: ffmpeg_processes(str(cache)), 60, 0.005)
    await renditions.close()
    for request in requests:
        with pytest.raises(TranscodeError) as err:
            await request
        assert err.value.reason == "closed"
    assert not ffmpeg_processes(str(cache))
    assert temporaries(cache) == []
    with pytest.raises(TranscodeError):
        await renditions.segment(sources[0], "again")


async def test_failures_are_reported_and_not_cached(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    renditions = Renditions(cache)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 4096)
    try:
        with pytest.raises(TranscodeError) as missing:
            await renditions.segment(tmp_path / "gone.mp4", "gone")
        assert missing.value.reason == "source_missing"
        with pytest.raises(TranscodeError) as broken:
            await renditions.segment(junk, "junk")
        assert broken.value.reason == "ffmpeg_failed"
        assert renditions.status.failures == 1
        assert renditions.status.cache_files == 0
        assert temporaries(cache) == []
    finally:
        await renditions.close()
    no_ffmpeg = Renditions(cache, ffmpeg=str(tmp_path / "no-ffmpeg"))
    try:
        with pytest.raises(TranscodeError) as err:
            await no_ffmpeg.segment(junk, "junk")
        assert err.value.reason == "ffmpeg_missing"
    finally:
        await no_ffmpeg.close()


async def test_a_stalled_ffmpeg_is_stopped(tmp_path: Path) -> None:
    """ffmpeg waiting forever on its input (a pipe nobody writes: a hung network share)."""
    fifo = tmp_path / "hung.mp4"
    os.mkfifo(fifo)
    cache = tmp_path / "cache"
    renditions = Renditions(cache, stall_timeout=1.0)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TranscodeError) as err:
            await renditions.segment(fifo, "hung")
        assert err.value.reason == "stalled"
        assert asyncio.get_running_loop().time() - started < 20
        assert not ffmpeg_processes(str(cache))
        assert temporaries(cache) == []
    finally:
        await renditions.close()
    with pytest.raises(TranscodeError) as export_err:
        await transcode.export_h264(fifo, tmp_path / "out" / "x.mp4", stall_timeout=1.0)
    assert export_err.value.reason == "stalled"
    assert list((tmp_path / "out").iterdir()) == []


# -- parts made ahead of the playhead ---------------------------------------------------


async def test_prefetch_makes_the_next_parts_and_a_viewer_goes_first(
    h265: Recorded, tmp_path: Path
) -> None:
    """With one slot, a part made ahead is stopped for a part a viewer waits for, then resumed."""
    first, second, third = (h265.root / s.path for s in h265.segments[:3])
    cache = tmp_path / "cache"
    renditions = Renditions(cache, max_running=1, prefetch_ahead=2)
    try:
        renditions.prefetch([(first, "1"), (second, "2"), (third, "3")], "viewer")
        await wait_for(lambda: ffmpeg_processes(str(cache)), 60, 0.005)
        assert list(ffmpeg_processes(str(cache)).values()) == [str(first)]
        assert renditions.status.running_ahead == 1
        assert renditions.status.queued_ahead == 1  # two ahead, not three
        seek = await renditions.segment(third, "3")  # the viewer seeks to the third part
        status = renditions.status
        assert status.preempted == 1
        assert status.transcodes == 1  # the viewer's part came first
        assert seek.is_file()
        await wait_for(lambda: renditions.status.transcodes == 3, 240, 0.05)
        assert renditions.status.running == renditions.status.queued_ahead == 0
        hits = renditions.status.hits
        await renditions.segment(first, "1")
        await renditions.segment(second, "2")
        assert renditions.status.hits == hits + 2  # made ahead: served from the cache
        assert renditions.status.transcodes == 3
    finally:
        await renditions.close()


async def test_a_new_prefetch_supersedes_the_old(h265: Recorded, tmp_path: Path) -> None:
    """The viewer moved on: the old parts' ffmpeg is stopped, the new parts are made."""
    first, second, third = (h265.root / s.path for s in h265.segments[:3])
    cache = tmp_path / "cache"
    renditions = Renditions(cache, max_running=1, prefetch_ahead=2)
    try:
        renditions.prefetch([(first, "1"), (second, "2")], "viewer")
        await wait_for(lambda: ffmpeg_processes(str(cache)), 60, 0.005)
        (old,) = ffmpeg_processes(str(cache))
        renditions.prefetch([(third, "3")], "viewer")
        await wait_for(lambda: old not in ffmpeg_processes(str(cache)), 5, 0.01)
        await wait_for(lambda: renditions.status.transcodes == 1, 240, 0.05)
        await wait_for(lambda: renditions.status.running == 0, 30, 0.01)
        assert renditions.status.queued_ahead == 0
        assert renditions.status.cache_files == 1
        hits = renditions.status.hits
        await renditions.segment(third, "3")
        assert renditions.status.hits == hits + 1
        # Another viewer's parts are not touched by this one's.
        renditions.prefetch([(first, "1")], "other")
        renditions.cancel_prefetch("viewer")
        await wait_for(lambda: renditions.status.transcodes == 2, 240, 0.05)
        assert temporaries(cache) == []
    finally:
        await renditions.close()


async def test_a_part_dropped_as_a_viewer_asks_for_it_is_made(
    h265: Recorded, tmp_path: Path
) -> None:
    """The player moved on (its parts ahead dropped) and came straight back to one of them."""
    first = h265.root / h265.segments[0].path
    cache = tmp_path / "cache"
    renditions = Renditions(cache, max_running=1)
    try:
        renditions.prefetch([(first, "1")], "viewer")
        await wait_for(lambda: ffmpeg_processes(str(cache)), 60, 0.005)
        (dropped,) = ffmpeg_processes(str(cache))
        renditions.cancel_prefetch("viewer")
        path = await renditions.segment(first, "1")
        assert dropped not in ffmpeg_processes(str(cache))
        facts = inspect_file(path)
        assert facts.decoded_frames == inspect_file(first, decode=False).video_packets
        status = renditions.status
        assert (status.transcodes, status.failures, status.running) == (1, 0, 0)
        assert temporaries(cache) == []
    finally:
        await renditions.close()


# -- exports for sharing -------------------------------------------------------------


async def test_export_h264_for_sharing(clip: Path, tmp_path: Path) -> None:
    """An "as recorded" H.265 export re-encoded: H.264 faststart MP4, audio kept, progress."""
    as_recorded = tmp_path / "as-recorded.mp4"
    listing = tmp_path / "list.txt"
    listing.write_text(f"file '{clip}'\nfile '{clip}'\n")
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing)),
            *("-c", "copy", "-tag:v", "hvc1", "-movflags", "+faststart", str(as_recorded)),
        ],
        check=True,
        timeout=60,
    )
    out = tmp_path / "exports" / "shared.mp4"
    seen: list[float] = []
    result = await transcode.export_h264(as_recorded, out, progress=seen.append)
    assert result.path == out
    assert result.bytes == out.stat().st_size
    expected = inspect_file(as_recorded, decode=False)
    facts = inspect_file(out)
    assert (facts.codec, facts.codec_tag, facts.audio_codec) == ("h264", "avc1", "aac")
    assert facts.decoded_frames == expected.video_packets
    assert facts.duration == pytest.approx(expected.duration, abs=FRAME)
    assert result.duration == pytest.approx(facts.duration, abs=FRAME)
    kinds = [box.kind for box in mp4box.top_level_boxes(out)]
    assert kinds.index(b"moov") < kinds.index(b"mdat")  # faststart: plays while downloading
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(expected.duration, abs=0.5)
    assert sorted(p.name for p in out.parent.iterdir()) == ["shared.mp4"]

    with pytest.raises(TranscodeError) as err:
        await transcode.export_h264(tmp_path / "list.txt", tmp_path / "bad.mp4")
    assert err.value.reason == "ffmpeg_failed"
    assert not any(p.name.endswith((".part", "bad.mp4")) for p in tmp_path.iterdir())


async def test_export_h264_cancelled_leaves_nothing(h265: Recorded, tmp_path: Path) -> None:
    source = h265.root / h265.segments[0].path
    out = tmp_path / "out" / "shared.mp4"
    export = asyncio.create_task(transcode.export_h264(source, out))
    await wait_for(lambda: ffmpeg_processes(str(out.parent)), 60, 0.005)
    export.cancel()
    with suppress(asyncio.CancelledError):
        await export
    assert export.cancelled()
    assert not ffmpeg_processes(str(out.parent))
    assert list(out.parent.iterdir()) == []
