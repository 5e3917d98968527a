"""HLS playlists over recorded segments: seamless playback without re-encoding."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
from pathlib import Path
import re
import struct
import subprocess
import time

import av
import pytest

from custom_components.cctv_nvr.engine import hls, mp4box
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.recorder import Recorder, RecorderConfig
from tests.engine.helpers import inspect_file
from tests.simulator import CameraSimulator

FPS = 15
FRAME = 1 / FPS
HLS_OPTIONS = {"allowed_extensions": "ALL", "protocol_whitelist": "file,crypto,data"}


@dataclass
class Recorded:
    """Footage of one simulator mount: a run of ≥ 3 segments, a gap, then ≥ 1 more."""

    root: Path
    segments: list[Segment]


_RECORDED: dict[str, Recorded] = {}


async def _record(sim: CameraSimulator, root: Path, mount: str) -> list[Segment]:
    index = SegmentIndex(root / "index.db")
    try:
        for wanted in (3, 1):
            seen: list[Segment] = []
            config = RecorderConfig(
                camera=mount, root=root, url=sim.url(mount), segment_seconds=4, fps_hint=FPS
            )
            recorder = Recorder(config, index, on_segment=seen.append)
            await recorder.start()
            try:
                deadline = time.monotonic() + 40
                while len(seen) < wanted:
                    assert time.monotonic() < deadline, f"{mount}: no segments recorded"
                    await asyncio.sleep(0.2)
            finally:
                await recorder.stop()
            await asyncio.sleep(2.5)  # the gap between the two runs
        return index.segments(mount, 0, time.time() + 60)
    finally:
        index.close()


def recorded(mount: str, sim: CameraSimulator, factory: pytest.TempPathFactory) -> Recorded:
    """Record (once per test session) two runs of a simulator mount."""
    if mount not in _RECORDED:
        root = factory.mktemp(f"rec-{mount}")
        segments = asyncio.run(_record(sim, root, mount))
        _RECORDED[mount] = Recorded(root, segments)
    return _RECORDED[mount]


@pytest.fixture(params=["audio", "h265"])
def footage(
    request: pytest.FixtureRequest,
    simulator: CameraSimulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Recorded:
    """H.264 with AAC audio, and H.265 (hvc1)."""
    return recorded(request.param, simulator, tmp_path_factory)


@dataclass
class Materialized:
    playlist: Path
    text: str
    offsets: list[float]  # offset handed to url_for_media, per listed segment
    listed: list[Segment]


def materialize(
    segments: list[Segment], root: Path, out: Path, start: float, end: float
) -> Materialized:
    """Build a playlist whose URLs are local files holding the bytes the view would serve."""
    out.mkdir(parents=True, exist_ok=True)
    offsets: list[float] = []
    listed: list[Segment] = []
    inits: list[str] = []

    def url_for_init(segment: Segment) -> str:
        name = f"init{len(inits)}.mp4"
        (out / name).write_bytes(hls.init_bytes(root / segment.path))
        inits.append(name)
        return name

    def url_for_media(segment: Segment, offset: float) -> str:
        name = f"media{len(offsets)}.m4s"
        (out / name).write_bytes(hls.media_bytes(root / segment.path, offset))
        offsets.append(offset)
        listed.append(segment)
        return name

    text = hls.build_playlist(segments, start, end, url_for_init, url_for_media)
    playlist = out / "playlist.m3u8"
    playlist.write_text(text)
    return Materialized(playlist, text, offsets, listed)


def _ffprobe_json(*args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", *args, "-of", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout)


def _video_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(
            float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None
        )


def test_recorded_footage_has_a_gap(footage: Recorded) -> None:
    segments = footage.segments
    assert len(segments) >= 4
    gaps = [b.start - a.end for a, b in zip(segments, segments[1:], strict=False)]
    assert sum(gap > 1 for gap in gaps) == 1
    assert gaps.index(max(gaps)) >= 2  # ≥ 3 contiguous segments before the gap
    assert all(abs(gap) < FRAME for gap in gaps if gap < 1)


def _check_playlist(made: Materialized, segments: list[Segment]) -> None:
    """The playlist's tags, durations, dates and media offsets."""
    text = made.text
    lines = text.splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-PLAYLIST-TYPE:VOD"]
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in lines
    assert lines[-1] == "#EXT-X-ENDLIST"
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    assert text.count("#EXT-X-MAP:") == 2
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))  # type: ignore[union-attr]
    extinf = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", text)]
    assert extinf == pytest.approx([s.duration for s in segments], abs=1e-6)
    assert all(round(d) <= target for d in extinf)
    dates = re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", text)
    assert dates == [hls.program_date_time(s.start) for s in segments]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", dates[0])
    # Offsets: the playlist timeline (sum of the EXTINF before each segment).
    expected = [sum(s.duration for s in segments[:i]) for i in range(len(segments))]
    assert made.offsets == pytest.approx(expected, abs=1e-5)


def test_playlist_plays_seamlessly(footage: Recorded, tmp_path: Path) -> None:
    """ffprobe, PyAV and ffmpeg read the whole playlist as one continuous timeline."""
    segments = footage.segments
    made = materialize(segments, footage.root, tmp_path / "hls", 0, time.time() + 60)
    codec = segments[0].video_codec
    assert made.listed == segments

    _check_playlist(made, segments)

    source = [inspect_file(footage.root / s.path, decode=False) for s in segments]
    packets = sum(f.video_packets for f in source)
    footage_seconds = sum(s.duration for s in segments)

    # (a) ffprobe reads the playlist: every packet, right codec, hvc1 kept.
    probe = _ffprobe_json(
        "-allowed_extensions",
        "ALL",
        "-protocol_whitelist",
        "file,crypto,data",
        "-count_packets",
        "-show_streams",
        "-show_format",
        str(made.playlist),
    )
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == codec
    assert int(video["nb_read_packets"]) == packets
    if codec == "hevc":
        assert video["codec_tag_string"] == "hvc1"
    assert (video["width"], video["height"]) == (segments[0].width, segments[0].height)
    if segments[0].audio_codec:
        assert any(s["codec_type"] == "audio" for s in probe["streams"])

    # (b) PyAV decodes it all: frame count, strictly increasing pts, no jumps.
    times: list[float] = []
    with av.open(str(made.playlist), options=HLS_OPTIONS) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            for frame in packet.decode():
                assert frame.pts is not None
                times.append(float(frame.pts * frame.time_base))
    assert len(times) == packets
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(steps) > 0, "pts must strictly increase"
    # Every frame sits exactly at its file's offset plus its time inside the file...
    expected_times = [
        offset + t
        for segment, offset in zip(segments, made.offsets, strict=True)
        for t in _video_times(footage.root / segment.path)
    ]
    assert times == pytest.approx(expected_times, abs=1e-3)
    # ...so where one file hands over to the next the timeline runs on without a jump
    # (within a run, and across the gap, which the playlist timeline leaves out).
    first = 0
    for facts in source[:-1]:
        first += facts.video_packets
        step = times[first] - times[first - 1]
        assert 0 < step <= 1.5 * FRAME, f"jump of {step:.3f} s between files"

    # (c) ffmpeg copies the playlist into one MP4 holding all the footage.
    out = tmp_path / "copy.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            *("-allowed_extensions", "ALL", "-protocol_whitelist", "file,crypto,data"),
            "-i",
            str(made.playlist),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-y",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    copied = _ffprobe_json("-show_streams", str(out))["streams"][0]
    assert float(copied["duration"]) == pytest.approx(footage_seconds, abs=1.5 * FRAME)
    assert int(copied["nb_frames"]) == packets
    if codec == "hevc":
        assert copied["codec_tag_string"] == "hvc1"


def test_playlist_range_selects_overlapping_segments(footage: Recorded, tmp_path: Path) -> None:
    segments = footage.segments
    # From the middle of the second segment to the middle of the third: both, whole.
    start = segments[1].start + 1
    end = segments[2].start + 1
    made = materialize(segments, footage.root, tmp_path / "part", start, end)
    assert made.listed == segments[1:3]
    assert made.offsets == pytest.approx([0, segments[1].duration], abs=1e-5)
    assert "#EXT-X-DISCONTINUITY" not in made.text
    with av.open(str(made.playlist), options=HLS_OPTIONS) as container:
        stream = container.streams.video[0]
        frames = sum(len(p.decode()) for p in container.demux(stream))
    assert frames == sum(
        inspect_file(footage.root / s.path, decode=False).video_packets for s in segments[1:3]
    )


def _seg(start: float, end: float, **kw: object) -> Segment:
    fields: dict[str, object] = {
        "camera": "cam",
        "path": f"cam/{start:.0f}.mp4",
        "start": start,
        "end": end,
        "bytes": 1,
        "video_codec": "h264",
        "width": 1920,
        "height": 1080,
        "fps": 15.0,
        "run_id": "a",
    }
    fields.update(kw)
    return Segment(**fields)  # type: ignore[arg-type]


def test_playlist_markers_and_offsets() -> None:
    """MAP at the start, gaps, run and codec changes; DISCONTINUITY at gaps and codec changes."""
    base = 1_800_000_000.0
    segments = [
        _seg(base, base + 4),
        _seg(base + 4, base + 8),
        _seg(base + 8.3, base + 12),  # 0.3 s hole: within max_gap, same init
        _seg(base + 20, base + 24, run_id="b"),  # gap
        _seg(base + 24, base + 28, run_id="c"),  # new run, contiguous: new MAP only
        _seg(base + 28, base + 32.5, run_id="c", width=1280, height=720),  # format change
    ]
    calls: list[tuple[str, float]] = []

    def media(segment: Segment, offset: float) -> str:
        calls.append((segment.path, offset))
        return f"m/{segment.path}?o={offset}"

    text = hls.build_playlist(
        list(reversed(segments)), base, base + 100, lambda s: f"i/{s.path}", media
    )
    lines = text.splitlines()
    assert [c[1] for c in calls] == pytest.approx([0, 4, 8, 11.7, 15.7, 19.7])
    assert "#EXT-X-TARGETDURATION:5" in lines
    assert text.count("#EXT-X-DISCONTINUITY") == 2
    maps = [line for line in lines if line.startswith("#EXT-X-MAP")]
    assert maps == [f'#EXT-X-MAP:URI="i/{segments[i].path}"' for i in (0, 3, 4, 5)]
    # The discontinuity precedes the MAP of the segment after the gap.
    gap_at = lines.index(maps[1])
    assert lines[gap_at - 1] == "#EXT-X-DISCONTINUITY"
    assert lines[lines.index(maps[2]) - 1] != "#EXT-X-DISCONTINUITY"
    assert "#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:20.000Z" in lines
    assert "#EXTINF:3.700000," in lines

    # Only the segments overlapping the range, and their own timeline from 0.
    calls.clear()
    hls.build_playlist(segments, base + 9, base + 21, lambda _: "i", media)
    assert calls == [(segments[2].path, 0.0), (segments[3].path, 3.7)]
    with pytest.raises(hls.EmptyPlaylistError):
        hls.build_playlist(segments, base + 13, base + 19, lambda _: "i", media)


def test_program_date_time_is_utc_with_milliseconds() -> None:
    assert hls.program_date_time(0.5) == "1970-01-01T00:00:00.500Z"
    assert hls.program_date_time(1_800_000_000.1239) == "2027-01-15T08:00:00.123Z"


# --- mp4box ---------------------------------------------------------------


def _tfdts(data: bytes) -> list[tuple[int, int, int]]:
    """Return (track id, version, decode time) of every traf/tfdt of a media part."""
    found = []
    for moof in mp4box.iter_boxes(data):
        if moof.kind != b"moof":
            continue
        for traf in mp4box.iter_boxes(data, moof.body, moof.end):
            if traf.kind != b"traf":
                continue
            track = 0
            for child in mp4box.iter_boxes(data, traf.body, traf.end):
                if child.kind == b"tfhd":
                    track = struct.unpack_from(">I", data, child.body + 4)[0]
                if child.kind == b"tfdt":
                    version = data[child.body]
                    fmt = ">Q" if version else ">I"
                    found.append((track, version, struct.unpack_from(fmt, data, child.body + 4)[0]))
    return found


def test_layout_and_shift_of_a_real_segment(
    simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    footage = recorded("audio", simulator, tmp_path_factory)
    path = footage.root / footage.segments[1].path
    data = path.read_bytes()
    lay = mp4box.layout(path)
    kinds = [b.kind for b in mp4box.top_level_boxes(path)]
    assert kinds[:2] == [b"ftyp", b"moov"]
    assert kinds[2] == b"moof"
    assert lay.init_end == data.index(b"moof") - 4
    assert lay.media_end == len(data)
    assert lay.timescales == {1: 90000, 2: 16000}
    assert hls.init_bytes(path) + hls.media_bytes(path, 0) == data

    shifted = mp4box.shifted_media(path, lay, 12.5)
    original = data[lay.init_end :]
    assert len(shifted) == len(original)
    before, after = _tfdts(original), _tfdts(shifted)
    assert len(after) == len(before) > 2
    for (track, version, value), (track2, version2, value2) in zip(before, after, strict=True):
        assert (track2, version2) == (track, version)
        assert value2 - value == round(12.5 * lay.timescales[track])
    # Nothing but the tfdt values changed.
    changed = [i for i, (a, b) in enumerate(zip(original, shifted, strict=True)) if a != b]
    tfdt_bodies = [
        range(box.body, box.end)
        for moof in mp4box.iter_boxes(original)
        if moof.kind == b"moof"
        for traf in mp4box.iter_boxes(original, moof.body, moof.end)
        if traf.kind == b"traf"
        for box in mp4box.iter_boxes(original, traf.body, traf.end)
        if box.kind == b"tfdt"
    ]
    assert changed
    assert all(any(i in body for body in tfdt_bodies) for i in changed)

    # A tail cut short by a crash is left out of the media part.
    cut = tmp_path_factory.mktemp("cut") / "cut.mp4"
    cut.write_bytes(data[: len(data) - 1000])
    assert mp4box.layout(cut).media_end < len(data) - 1000


def _downgrade_tfdt(media: bytes) -> bytes:
    """Rewrite every version-1 tfdt as version 0 (moof shrinks, trun offsets follow)."""
    out = bytearray()
    for moof in mp4box.iter_boxes(media):
        if moof.kind != b"moof":
            out += media[moof.offset : moof.end]
            continue
        body = bytearray()
        truns: list[int] = []
        for child in mp4box.iter_boxes(media, moof.body, moof.end):
            if child.kind != b"traf":
                body += media[child.offset : child.end]
                continue
            traf = bytearray(media[child.offset : child.body])
            for box in mp4box.iter_boxes(media, child.body, child.end):
                raw = media[box.offset : box.end]
                if box.kind == b"tfdt" and raw[8] == 1:
                    value = struct.unpack_from(">Q", raw, 12)[0]
                    raw = struct.pack(">I4sB3sI", 16, b"tfdt", 0, raw[9:12], value)
                if box.kind == b"trun":
                    truns.append(len(body) + len(traf) + 16)
                traf += raw
            struct.pack_into(">I", traf, 0, len(traf))
            body += traf
        shrink = moof.size - 8 - len(body)
        for pos in truns:
            value = struct.unpack_from(">i", body, pos)[0]
            struct.pack_into(">i", body, pos, value - shrink)
        out += struct.pack(">I4s", 8 + len(body), b"moof") + body
    return bytes(out)


def test_version0_tfdt_overflow_becomes_version1(
    simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A shift past 2^32 ticks rewrites tfdt as version 1; the file still plays right."""
    footage = recorded("audio", simulator, tmp_path_factory)
    path = footage.root / footage.segments[1].path
    lay = mp4box.layout(path)
    work = tmp_path_factory.mktemp("v0")
    v0_media = _downgrade_tfdt(mp4box.read_media(path, lay))
    assert {v for _, v, _ in _tfdts(v0_media)} == {0}
    v0_file = work / "v0.mp4"
    v0_file.write_bytes(mp4box.read_init(path, lay) + v0_media)
    reference = inspect_file(path, decode=False)
    assert inspect_file(v0_file, decode=False).video_packets == reference.video_packets

    offset = 14 * 3600.0  # 14 h * 90 kHz > 2^32
    small = mp4box.shift_fragments(v0_media, lay.timescales, 60.0)
    assert {v for _, v, _ in _tfdts(small)} == {0}
    big = mp4box.shift_fragments(v0_media, lay.timescales, offset)
    tfdts = _tfdts(big)
    assert {(t, v) for t, v, _ in tfdts if t == 1} == {(1, 1)}  # video overflowed
    assert {(t, v) for t, v, _ in tfdts if t == 2} == {(2, 0)}  # 16 kHz audio still fits
    shifted = work / "shifted.mp4"
    shifted.write_bytes(mp4box.read_init(path, lay) + big)
    facts = inspect_file(shifted)
    assert facts.video_packets == facts.decoded_frames == reference.video_packets
    assert facts.first_pts == pytest.approx(offset, abs=1e-3)
    assert facts.duration == pytest.approx(reference.duration, abs=1e-3)


def test_not_fragmented_is_refused(tmp_path: Path) -> None:
    flat = tmp_path / "flat.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=5"),
            *("-t", "1", "-c:v", "mpeg4", "-y", str(flat)),
        ],
        check=True,
        timeout=60,
    )
    with pytest.raises(mp4box.Mp4Error):
        mp4box.layout(flat)
    assert mp4box.movie_duration(flat) == pytest.approx(1.0, abs=0.05)
    assert mp4box.video_duration(flat) == pytest.approx(1.0, abs=0.05)
