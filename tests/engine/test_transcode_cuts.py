"""Pieces of H.265 segments cut by time (issue 13: the first frame fast in Chromium).

The plan is pure arithmetic (no file read); every piece is made by real ffmpeg from a real
H.265 file (the recorder's, from the simulator, or one made like it with a keyframe every
2 s, so cuts fall inside a GOP) and read back with PyAV and the integration's own MP4 parser.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import pytest

from custom_components.cctv_nvr.engine import transcode
from custom_components.cctv_nvr.engine.transcode import Renditions, TimePiece, plan_cuts
from tests.engine.helpers import inspect_file
from tests.engine.test_hls import Recorded
from tests.engine.test_transcode import FPS, h265, hevc_clip

__all__ = ["h265"]  # the fixture, used here

AAC_FRAME = 1024 / 16000


def _packets(path: Path, kind: str) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        return sorted(
            float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None
        )


def _video_decode_times(path: Path) -> list[float]:
    """Decode times of a file's video samples, from its moof boxes (tfdt + durations)."""
    file_layout, video, fragments = transcode._fragments(path, samples=True)
    assert video is not None
    scale = file_layout.timescales[video]
    return [ticks / scale for fragment in fragments for ticks in fragment.samples]


def test_plan_cuts_adds_up_to_the_segment() -> None:
    assert plan_cuts(10.0, 2, 4, 1) == [
        TimePiece(0, 2000),
        TimePiece(2000, 6000),
        TimePiece(6000, 10000, last=True),
    ]
    # A remainder of 1 s or more is a piece of its own; a shorter one joins the last.
    assert [p.name for p in plan_cuts(11.0, 2, 4, 1) or []] == [
        "t0-2000",
        "t2000-6000",
        "t6000-10000",
        "t10000-11000",
    ]
    assert [p.name for p in plan_cuts(10.9, 2, 4, 1) or []] == [
        "t0-2000",
        "t2000-6000",
        "t6000-10900",
    ]
    assert plan_cuts(3.0, 2, 4, 1) == [TimePiece(0, 2000), TimePiece(2000, 3000, last=True)]
    assert plan_cuts(2.999, 2, 4, 1) is None  # too short to cut: listed whole
    assert plan_cuts(10.0, 2, 0, 1) is None
    last = TimePiece(6000, 10000, last=True)
    assert (last.start, last.end, last.name) == (6.0, None, "t6000-10000")
    assert TimePiece(2000, 6000).end == 6.0
    for tenths in range(30, 3700, 7):  # up to an hour-long segment
        duration = tenths / 10
        pieces = plan_cuts(duration, 2, 4, 1)
        assert pieces is not None
        assert pieces[0].first_ms == 0
        assert [p.last for p in pieces] == [False] * (len(pieces) - 1) + [True]
        for piece, following in itertools.pairwise(pieces):
            assert piece.stop_ms == following.first_ms
            assert piece.end == following.start
        assert pieces[-1].stop_ms == round(duration * 1000)
        lengths = [p.stop_ms - p.first_ms for p in pieces]
        assert sum(lengths) / 1000 == pytest.approx(duration, abs=1e-9)
        assert lengths[0] == 2000
        assert all(1000 <= n < 5000 for n in lengths[1:])


async def test_time_pieces_hold_every_frame_once_on_the_segment_timeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Cut inside GOPs: each piece H.264 from a keyframe, its frames the source's, no overlap."""
    source = hevc_clip(tmp_path_factory.mktemp("gop"), seconds=7, keyint=2 * FPS)
    pieces = plan_cuts(7.0, 1.0, 1.5, 0.5)
    assert pieces is not None
    assert [p.name for p in pieces] == ["t0-1000", "t1000-2500", "t2500-4000", "t4000-5500",
                                        "t5500-7000"]  # fmt: skip
    renditions = Renditions(tmp_path_factory.mktemp("cache"))
    try:
        paths = [await renditions.segment(source, "clip", piece) for piece in pieces]
        assert await renditions.segment(source, "clip", pieces[1]) == paths[1]  # cached
        assert renditions.status.transcodes == len(pieces)
    finally:
        await renditions.close()
    assert len({p.name for p in paths}) == len(pieces)
    assert all(f".{piece.name}." in path.name for piece, path in zip(pieces, paths, strict=True))
    video = _packets(source, "video")
    audio = _packets(source, "audio")
    decode_times = _video_decode_times(source)
    joined: list[float] = []
    joined_decode: list[float] = []
    joined_audio: list[float] = []
    for piece, path in zip(pieces, paths, strict=True):
        facts = inspect_file(path)
        assert (facts.codec, facts.first_is_keyframe) == ("h264", True)
        assert facts.video_packets == facts.decoded_frames
        times = _packets(path, "video")
        # Its frames: the source's from its start (all from 0 for the first) up to its end.
        expected = [
            t
            for t in video
            if (piece.first_ms == 0 or t >= piece.start - 1e-9)
            and (piece.end is None or t < piece.end - 1e-9)
        ]
        assert times == pytest.approx(expected, abs=1e-4)
        joined += times
        joined_decode += _video_decode_times(path)
        joined_audio += _packets(path, "audio")
        assert _decoder_setup(path) == _decoder_setup(paths[0])  # one EXT-X-MAP serves all
    assert joined == pytest.approx(video, abs=1e-4)  # every frame once, in order
    # Decode times run on across pieces as in the source: no jump, no overlap.
    assert joined_decode == pytest.approx(decode_times, abs=1e-4)
    assert all(b > a for a, b in itertools.pairwise(joined_decode))
    # Audio copied, every packet once (a piece's first may move up to one AAC frame early,
    # onto its first video frame, as the recorder's segments do).
    assert len(joined_audio) == len(audio)
    assert joined_audio == pytest.approx(audio, abs=AAC_FRAME + 1e-3)


def _decoder_setup(path: Path) -> list[tuple[object, ...]]:
    """What a decoder is set up with from the init part (the AAC bit rates in esds differ)."""
    with av.open(str(path)) as container:
        return [
            (s.type, s.codec_context.name, s.codec_context.extradata, s.time_base, s.id)
            for s in container.streams
        ]


async def test_a_seek_into_a_middle_piece_makes_that_piece_alone(
    h265: Recorded, tmp_path: Path
) -> None:
    """The recorder's footage: a middle piece, asked for first, is made from its own keyframe."""
    segment = max(h265.segments, key=lambda s: s.duration)
    source = h265.root / segment.path
    pieces = plan_cuts(segment.duration, 1.0, 1.5, 0.5)
    assert pieces is not None
    assert len(pieces) >= 3
    middle = pieces[len(pieces) // 2]
    video = _packets(source, "video")
    renditions = Renditions(tmp_path / "cache")
    try:
        path = await renditions.segment(source, segment.path, middle)
        status = renditions.status
    finally:
        await renditions.close()
    assert status.transcodes == 1  # nothing before it was made
    facts = inspect_file(path)
    assert (facts.codec, facts.first_is_keyframe) == ("h264", True)
    assert facts.video_packets == facts.decoded_frames > 0
    assert middle.end is not None
    expected = [t for t in video if middle.start - 1e-9 <= t < middle.end - 1e-9]
    assert _packets(path, "video") == pytest.approx(expected, abs=1e-4)
    # Its first decode time is its first frame's on the segment's timeline (the source's).
    assert _video_decode_times(path)[0] == pytest.approx(expected[0], abs=1e-4)


async def test_a_piece_without_frames_or_video_fails(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    source = hevc_clip(tmp_path_factory.mktemp("short"), seconds=2)
    audio_only = tmp_path_factory.mktemp("audio") / "audio.mp4"
    renditions = Renditions(tmp_path_factory.mktemp("cache"))
    try:
        with pytest.raises(transcode.TranscodeError) as err:
            await renditions.segment(source, "clip", TimePiece(5000, 6000, last=True))
        assert err.value.reason == "source_missing"
        audio_only.write_bytes(_strip_video(source))
        with pytest.raises(transcode.TranscodeError) as err:
            await renditions.segment(audio_only, "audio", TimePiece(1000, 2000, last=True))
        assert err.value.reason == "not_fragmented"
        assert renditions.status.failures == 2
    finally:
        await renditions.close()


def _strip_video(source: Path) -> bytes:
    """The source's bytes with its video handler renamed: a file the parser finds no video in."""
    data = source.read_bytes()
    return data.replace(
        b"hdlr\x00\x00\x00\x00\x00\x00\x00\x00vide", b"hdlr\x00\x00\x00\x00\x00\x00\x00\x00xxxx"
    )


async def test_cached_renditions_of_every_kind_live_side_by_side(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Whole segments and keyframe pieces cached before stay usable next to time pieces."""
    source = hevc_clip(tmp_path_factory.mktemp("kinds"), seconds=4)
    cache = tmp_path_factory.mktemp("cache")
    first = Renditions(cache)
    try:
        whole = await first.segment(source, "seg")
        keyframe_piece = (await first.pieces(source, 2))[0]
        by_keyframes = await first.segment(source, "seg", keyframe_piece)
        by_time = await first.segment(source, "seg", TimePiece(0, 2000))
    finally:
        await first.close()
    assert {whole.name.split(".")[2], by_keyframes.name.split(".")[2]} == {"all", "0-2"}
    assert by_time.name.split(".")[2] == "t0-2000"
    again = Renditions(cache)  # a restart: the cache is adopted whole
    try:
        await again.start()
        assert again.status.cache_files == 3
        assert await again.segment(source, "seg") == whole
        assert await again.segment(source, "seg", keyframe_piece) == by_keyframes
        assert await again.segment(source, "seg", TimePiece(0, 2000)) == by_time
        assert (again.status.hits, again.status.transcodes) == (3, 0)
    finally:
        await again.close()
