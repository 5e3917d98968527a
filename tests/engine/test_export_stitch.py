"""The stitched export: stored fragments copied into one ordinary MP4, checked with real tools.

Every output is read back by ffprobe (no error output, packet counts, durations), by
``ffmpeg -c copy`` (a clean read), and decoded frame by frame with PyAV. Sources are the
simulator's recordings (H.264 + AAC, H.265), the segment factory's clips, and files that
ffmpeg's segment muxer writes the way the recorder does (B-frames, other fragment layouts).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
import csv
from dataclasses import replace
import hashlib
import json
from pathlib import Path
import shutil
import struct
import subprocess
import time

import av
import pytest

from custom_components.cctv_nvr.engine import export as export_module, mp4box
from custom_components.cctv_nvr.engine.export import ExportError, export_range
from custom_components.cctv_nvr.engine.index import Segment
from tests.engine.helpers import box, mounted_tmpfs, run_ffmpeg
from tests.engine.segments_factory import SegmentFactory
from tests.engine.test_hls import Recorded, recorded
from tests.simulator import CameraSimulator

FPS = 15
FRAME = 1 / FPS
T0 = 1_700_002_800.0
RECORDER_MOVFLAGS = "+frag_keyframe+empty_moov+default_base_moof"


@pytest.fixture
def h264(simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """H.264 + AAC: a run of ≥ 3 segments, a gap, then ≥ 1 more (shared with test_hls)."""
    return recorded("audio", simulator, tmp_path_factory)


@pytest.fixture
def h265(simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded("h265", simulator, tmp_path_factory)


# What the tools say about a file.


def _probe(path: Path) -> dict:
    """ffprobe's streams (with packet counts) and format; it must print no error."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-count_packets", "-show_streams", "-show_format"),
            *("-of", "json", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stderr == "", out.stderr
    return json.loads(out.stdout)


def _stream(probe: dict, kind: str) -> dict:
    return next(s for s in probe["streams"] if s["codec_type"] == kind)


def _reads_cleanly(path: Path) -> None:
    """`ffmpeg -i out.mp4 -c copy -f mp4 /dev/null` reads every packet without a word."""
    out = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-c", "copy"),
            *("-f", "mp4", "-y", "/dev/null"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr


def _packets(path: Path, kind: str) -> list[tuple[float, float, bool, bytes]]:
    """(pts, duration, keyframe, sha256 of the data) of a stream's packets, in decode order."""
    with av.open(str(path)) as container:
        streams = container.streams.video if kind == "video" else container.streams.audio
        if not streams:
            return []
        return [
            (
                float(p.pts * p.time_base),
                float((p.duration or 0) * p.time_base),
                bool(p.is_keyframe),
                hashlib.sha256(bytes(p)).digest(),
            )
            for p in container.demux(streams[0])
            if p.pts is not None and p.size
        ]


def _decoded_frames(path: Path) -> tuple[int, int]:
    """Decode every packet of the file; return (video frames, audio frames)."""
    video = audio = 0
    with av.open(str(path)) as container:
        for packet in container.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    video += 1
                else:
                    audio += 1
    return video, audio


def _all(data: bytes, node: mp4box.Box) -> list[mp4box.Box]:
    """A box and every box inside it, depth first."""
    found = [node]
    if node.kind in {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}:
        for child in mp4box.iter_boxes(data, node.body, node.end):
            found += _all(data, child)
    return found


def _kinds(data: bytes, node: mp4box.Box) -> list[bytes]:
    return [b.kind for b in _all(data, node)]


def _assert_faststart(path: Path) -> None:
    """An ordinary MP4 with its moov first: ftyp, moov, mdat, nothing else."""
    assert [b.kind for b in mp4box.top_level_boxes(path)] == [b"ftyp", b"moov", b"mdat"]


def _plays(path: Path, duration: float, frames: int) -> None:
    """The checks every stitched export passes."""
    _assert_faststart(path)
    probe = _probe(path)
    video = _stream(probe, "video")
    assert int(video["nb_read_packets"]) == frames
    assert float(video["start_time"]) == 0
    assert float(video["duration"]) == pytest.approx(duration, abs=1e-3)
    _reads_cleanly(path)
    assert _decoded_frames(path)[0] == frames


def _copies(
    factory_clip: Path, root: Path, count: int, run_id: str = "r1", duration: float | None = None
) -> list[Segment]:
    """Place ``count`` contiguous copies of a clip as segments from T0."""
    if duration is None:
        duration = max(pts + length for pts, length, *_ in _packets(factory_clip, "video"))
    segments = []
    for number in range(count):
        relative = f"front/{run_id}-{number:03d}.mp4"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(factory_clip, root / relative)
        start = T0 + number * duration
        segments.append(
            Segment(
                camera="front",
                path=relative,
                start=start,
                end=start + duration,
                bytes=factory_clip.stat().st_size,
                video_codec="h264",
                run_id=run_id,
            )
        )
    return segments


# The simulator's footage.


async def test_everything_with_its_gap_is_stitched(h264: Recorded, tmp_path: Path) -> None:
    """The whole footage (two runs and the gap between them): every frame and audio frame."""
    segments = h264.segments
    out = tmp_path / "all.mp4"
    result = await export_range(segments, h264.root, segments[0].start, segments[-1].end, out)

    assert result.method == "stitched"
    assert result.bytes == out.stat().st_size
    expected = sum(s.duration for s in segments)
    assert result.duration == pytest.approx(expected, abs=FRAME)
    sources = [h264.root / s.path for s in segments]
    frames = sum(len(_packets(path, "video")) for path in sources)
    _plays(out, result.duration, frames)
    # Every sample's bytes are the source's, in order.
    assert [p[3] for p in _packets(out, "video")] == [
        p[3] for path in sources for p in _packets(path, "video")
    ]
    source_audio = [p[3] for path in sources for p in _packets(path, "audio")]
    exported_audio = [p[3] for p in _packets(out, "audio")]
    # Audio another file's audio already covers is left out: at most one frame a file.
    assert len(source_audio) - len(segments) <= len(exported_audio) <= len(source_audio)
    assert set(exported_audio) <= set(source_audio)
    assert _decoded_frames(out)[1] == len(exported_audio)
    probe = _probe(out)
    assert float(probe["format"]["duration"]) == pytest.approx(expected, abs=0.1)


def _audio_steps_off_boundaries(
    audio: list[tuple[float, float, bool, bytes]], boundaries: list[float], frame: float
) -> list[float]:
    """Times where the audio does not step by exactly one frame, away from run boundaries."""
    odd = []
    for (a, *_), (b, *_) in zip(audio, audio[1:], strict=False):
        if abs(b - a - frame) > 1e-3 and all(abs(b - edge) > 2 * frame for edge in boundaries):
            odd.append(a)
    return odd


@pytest.mark.parametrize(("cut_start", "cut_end"), [(0.0, 0.0), (1.5, 1.7)])
async def test_audio_stays_in_sync(
    h264: Recorded, tmp_path: Path, cut_start: float, cut_end: float
) -> None:
    """Audio starts and ends with the video, and every file's audio keeps its own times.

    Within a recording run the audio steps by exactly one AAC frame from file to file
    (no gap, no overlap, no drift); each file's audio frames sit where that file put
    them relative to its video.
    """
    segments = h264.segments
    start, end = segments[0].start + cut_start, segments[-1].end - cut_end
    out = tmp_path / "sync.mp4"
    result = await export_range(segments, h264.root, start, end, out)
    assert result.method == "stitched"

    video = _packets(out, "video")
    audio = _packets(out, "audio")
    frame = Counter(round(p[1], 6) for p in audio).most_common(1)[0][0]
    assert frame == pytest.approx(1024 / int(_stream(_probe(out), "audio")["sample_rate"]))
    video_start = min(p[0] for p in video)
    video_end = max(p[0] + p[1] for p in video)
    assert video_start == 0
    assert video_end == pytest.approx(result.duration, abs=1e-3)
    assert 0 <= audio[0][0] - video_start <= frame
    assert abs(audio[-1][0] + audio[-1][1] - video_end) <= frame
    # Where each run starts on the export's timeline.
    keyframe = 0.0
    if cut_start:
        first = h264.root / segments[0].path
        keyframe = max(p[0] for p in _packets(first, "video") if p[2] and p[0] <= cut_start)
    offsets, at = [], -keyframe
    for segment in segments:
        offsets.append(at)
        at += segment.duration
    boundaries = [
        offsets[n] for n in range(1, len(segments)) if segments[n].run_id != segments[n - 1].run_id
    ]
    assert boundaries, "the footage holds two runs"
    assert _audio_steps_off_boundaries(audio, boundaries, frame) == []
    # Each file's audio frames (after its first, which ffmpeg moves to 0) are where the
    # file says, moved by the file's place on the export's timeline, and by less than a
    # frame where the recorder's ffmpeg started the file's audio at its time 0 (the recorder
    # uses avoid_negative_ts=disabled) so that it continues the previous file's audio.
    exported = {round(pts * 1000): digest for pts, _, _, digest in audio}
    checked = 0
    for segment, offset in zip(segments, offsets, strict=True):
        packets = [
            (pts, digest)
            for pts, _, _, digest in _packets(h264.root / segment.path, "audio")[1:]
            if frame < pts + offset < video_end - 2 * frame
        ]
        if not packets:
            continue
        late = round((packets[0][0] + offset) * 1000)
        # the file's place: the shift (ms, less than a frame either way) its audio was moved by
        shifts = [
            ms
            for ms in range(-round(frame * 1000) + 1, round(frame * 1000))
            if all(
                digest in {exported.get(round((pts + offset) * 1000) + ms + d) for d in (-1, 0, 1)}
                for pts, digest in packets
            )
        ]
        assert shifts, f"the audio of {segment.path} is not where the file says ({late} ms)"
        checked += len(packets)
    assert checked >= len(audio) - 3 * len(segments)


async def test_h265_is_stitched_as_hvc1(h265: Recorded, tmp_path: Path) -> None:
    segments = h265.segments
    out = tmp_path / "h265.mp4"
    result = await export_range(segments, h265.root, segments[0].start + 2.2, segments[-1].end, out)
    assert result.method == "stitched"
    assert result.video_codec == "hevc"
    first = _packets(h265.root / segments[0].path, "video")
    keyframe = max(p[0] for p in first if p[2] and p[0] <= 2.2)
    frames = sum(p[0] >= keyframe for p in first) + sum(
        len(_packets(h265.root / s.path, "video")) for s in segments[1:]
    )
    assert result.duration == pytest.approx(sum(s.duration for s in segments) - keyframe, abs=FRAME)
    assert _stream(_probe(out), "video")["codec_tag_string"] == "hvc1"
    assert int(_stream(_probe(out), "video")["nb_read_packets"]) == frames
    _assert_faststart(out)
    _reads_cleanly(out)


# Where fragments and keyframes do not line up.


def _clip(tmp_path: Path, name: str, *args: str, movflags: str = RECORDER_MOVFLAGS) -> Path:
    """Encode a 6 s 320x240 15 fps clip with a 440 Hz tone into a fragmented MP4."""
    path = tmp_path / name
    run_ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *args,
        *("-movflags", movflags, str(path)),
    )
    return path


async def test_fragment_starting_mid_gop(tmp_path: Path) -> None:
    """1 s fragments of 2 s GOPs: a start inside a GOP goes back to its keyframe.

    Half the fragments begin with a frame that is no keyframe; starting there would
    open the export on a frame that cannot be decoded.
    """
    clip = _clip(tmp_path, "gop2.mp4", "-g", "30", "-frag_duration", "1000000")
    file_layout = mp4box.layout(clip)
    tracks = mp4box.track_defaults(mp4box.moov_bytes(clip, file_layout))
    video_id = next(t.track_id for t in tracks.values() if t.handler == b"vide")
    runs = [r for r in mp4box.sample_runs(clip, file_layout, tracks) if r.track_id == video_id]
    assert any(run.flags[0] & mp4box.SAMPLE_NON_SYNC for run in runs), "a fragment opens mid-GOP"
    root = tmp_path / "rec"
    segments = _copies(clip, root, 2)
    source = _packets(clip, "video")
    for first, moment in ((0, 1.5), (1, 3.5)):
        out = tmp_path / f"mid-{first}.mp4"
        start = segments[first].start + moment
        result = await export_range(segments, root, start, segments[1].end, out)
        keyframe = max(p[0] for p in source if p[2] and p[0] <= moment)
        assert moment - keyframe > 1  # the GOP's keyframe, a whole fragment back
        frames = sum(p[0] >= keyframe for p in source) + (len(source) if first == 0 else 0)
        assert result.method == "stitched"
        expected = segments[1].end - segments[first].start - keyframe
        assert result.duration == pytest.approx(expected, abs=FRAME)
        exported = _packets(out, "video")
        assert exported[0][2], "the export opens on a keyframe"
        _plays(out, result.duration, frames)


async def test_b_frames_and_a_run_of_segments(tmp_path: Path) -> None:
    """B-frames (an edit list) and 44.1 kHz audio in segments cut by ffmpeg's segment muxer.

    The segments are written as the recorder writes them (``-f segment
    -reset_timestamps 1``, fragmented MP4, segment list); the export starts
    mid-segment and ends mid-segment.
    """
    directory = tmp_path / "rec" / "front"
    directory.mkdir(parents=True)
    run_ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}"),
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "13"),
        *("-c:v", "libx264", "-preset", "veryfast", "-g", str(FPS), "-bf", "2"),
        *("-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "segment", "-segment_time", "4"),
        *("-reset_timestamps", "1", "-segment_format", "mp4", "-segment_format_options"),
        f"movflags={RECORDER_MOVFLAGS}:frag_duration=1000000",
        *("-segment_list", str(tmp_path / "list.csv"), "-segment_list_type", "csv"),
        str(directory / "s%03d.mp4"),
    )
    with (tmp_path / "list.csv").open() as handle:
        rows = list(csv.reader(handle))
    segments = [
        Segment(
            camera="front",
            path=f"front/{name}",
            start=T0 + float(a),
            end=T0 + float(b),
            bytes=(directory / name).stat().st_size,
            video_codec="h264",
            run_id="r1",
        )
        for name, a, b in rows
    ]
    assert len(segments) >= 3
    root = tmp_path / "rec"
    first = _packets(root / segments[0].path, "video")
    assert any(b[0] < a[0] for a, b in zip(first, first[1:], strict=False)), "B-frames"
    start, end = segments[0].start + 1.5, segments[2].start + 2.5
    out = tmp_path / "bframes.mp4"
    result = await export_range(segments, root, start, end, out)

    assert result.method == "stitched"
    keyframe = max(p[0] for p in first if p[2] and p[0] <= 1.5)
    expected = segments[0].duration - keyframe + segments[1].duration + 2.5
    assert result.duration == pytest.approx(expected, abs=FRAME)
    shown = (
        sum(p[0] >= keyframe for p in first)
        + len(_packets(root / segments[1].path, "video"))
        + sum(p[0] < 2.5 for p in _packets(root / segments[2].path, "video"))
    )
    probe = _probe(out)
    video = _stream(probe, "video")
    assert float(video["start_time"]) == 0
    assert float(video["duration"]) == pytest.approx(expected, abs=FRAME)
    # The last frames decoded before the end may be shown after it: kept so that the
    # frames before the end decode, and hidden by the edit list.
    assert shown <= int(video["nb_read_packets"]) <= shown + 2
    _reads_cleanly(out)
    _assert_faststart(out)
    audio = _packets(out, "audio")
    assert 0 <= audio[0][0] <= 1024 / 44100
    assert abs(audio[-1][0] + audio[-1][1] - result.duration) <= 1024 / 44100
    assert _decoded_frames(out)[0] >= shown


@pytest.mark.parametrize(
    "movflags",
    [
        "+frag_keyframe+empty_moov",  # explicit base data offsets in every tfhd
        "+frag_keyframe+empty_moov+omit_tfhd_offset",  # implicit: after the previous traf
        "+frag_keyframe+empty_moov+default_base_moof+separate_moof",  # a moof per track
    ],
)
async def test_other_fragment_layouts(tmp_path: Path, movflags: str) -> None:
    """Fragments laid out differently give the same export, sample for sample."""
    reference = _clip(tmp_path, "reference.mp4", "-g", str(FPS))
    other = _clip(tmp_path, "other.mp4", "-g", str(FPS), movflags=movflags)
    outputs = []
    for clip in (reference, other):
        root = tmp_path / clip.stem
        segments = _copies(clip, root, 3)
        out = tmp_path / f"{clip.stem}-export.mp4"
        result = await export_range(segments, root, segments[0].start, segments[-1].end, out)
        assert result.method == "stitched"
        _plays(out, result.duration, 3 * len(_packets(clip, "video")))
        outputs.append(out)
    for kind in ("video", "audio"):
        ours, theirs = (_packets(out, kind) for out in outputs)
        assert [p[3] for p in theirs] == [p[3] for p in ours]
        assert [round(p[0], 4) for p in theirs] == [round(p[0], 4) for p in ours]


# Where stitching does not apply.


async def test_another_timescale_in_the_next_run_is_stitched(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """Same codec configuration, another track timescale: the samples are rescaled.

    (ffmpeg's concat demuxer cannot do this: it needs one time base for all files.)
    """
    clip, _ = segment_factory.clip(2)
    rescaled = tmp_path / "rescaled.mp4"
    run_ffmpeg(  # the factory's clip, encoded again onto a 90 kHz track
        *("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}", "-t", "2"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p"),
        *("-video_track_timescale", "90000", "-movflags", RECORDER_MOVFLAGS, str(rescaled)),
    )
    a, b = mp4box.layout(clip), mp4box.layout(rescaled)
    assert a.codec_digest == b.codec_digest
    assert a.timescales != b.timescales
    root = tmp_path / "rec"
    first = _copies(clip, root, 2, "r1")
    second = [
        replace(s, start=s.start + first[-1].end - T0 + 5, end=s.end + first[-1].end - T0 + 5)
        for s in _copies(rescaled, root, 2, "r2")
    ]
    out = tmp_path / "rescaled-export.mp4"

    result = await export_range(first + second, root, first[0].start + 1.2, second[-1].end, out)

    assert result.method == "stitched"
    keyframe = max(p[0] for p in _packets(clip, "video") if p[2] and p[0] <= 1.2)
    expected = sum(s.duration for s in first + second) - keyframe
    assert result.duration == pytest.approx(expected, abs=FRAME)
    source = _packets(clip, "video")
    frames = (
        sum(p[0] >= keyframe for p in source) + len(source) + 2 * len(_packets(rescaled, "video"))
    )
    _plays(out, result.duration, frames)
    times = [p[0] for p in _packets(out, "video")]
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(abs(step - FRAME) for step in steps) < 1e-3  # one frame apart, run to run


async def test_extra_tracks_fall_back_to_the_remux(tmp_path: Path) -> None:
    """Two audio tracks: stitching takes one video and one audio track, so the remux runs.

    The remux keeps the first video and the first audio track and says it ran.
    (A change of codec, parameter sets or resolution inside the range is refused by
    both ways: ``mixed_formats``.)
    """
    clip = _clip(
        tmp_path, "two-audio.mp4", "-g", str(FPS), "-map", "0:v", "-map", "1:a", "-map", "1:a"
    )
    assert len(_probe(clip)["streams"]) == 3
    root = tmp_path / "rec"
    segments = _copies(clip, root, 2)
    out = tmp_path / "out" / "remuxed.mp4"

    result = await export_range(segments, root, segments[0].start, segments[-1].end, out)

    assert result.method == "remux"
    assert result.duration == pytest.approx(sum(s.duration for s in segments), abs=FRAME)
    probe = _probe(out)
    assert [s["codec_type"] for s in probe["streams"]] == ["video", "audio"]
    assert int(_stream(probe, "video")["nb_read_packets"]) == 2 * len(_packets(clip, "video"))
    assert sorted(p.name for p in out.parent.iterdir()) == ["remuxed.mp4"]


def _edited(clip: Path, path: Path, kind: bytes, edit: Callable[[bytearray, int], None]) -> Path:
    """Copy a clip with ``edit(data, body)`` applied in place to its first box of ``kind``.

    The box is found inside the moov or the first moof (depth first); the edit keeps
    every size, so the file stays a well-formed box tree.
    """
    data = bytearray(clip.read_bytes())
    containers = {b"moov", b"mvex", b"moof", b"traf"}

    def find(start: int, end: int) -> mp4box.Box | None:
        for node in mp4box.iter_boxes(bytes(data), start, end):
            if node.kind == kind:
                return node
            if node.kind in containers and (found := find(node.body, node.end)):
                return found
        return None

    found = find(0, len(data))
    assert found is not None
    edit(data, found.body)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("kind", "edit", "message", "remux"),
    [
        # tfhd: version/flags(4) track_ID(4)
        (b"tfhd", lambda d, b: struct.pack_into(">I", d, b + 4, 9), "unknown track 9", False),
        # trex: version/flags(4) track_ID(4) default_sample_description_index(4)
        (b"trex", lambda d, b: struct.pack_into(">I", d, b + 8, 2), "sample description", True),
        # trun: version/flags(4) sample_count(4) data_offset(4)
        (b"trun", lambda d, b: struct.pack_into(">I", d, b + 4, 10_000), "too short", False),
        (b"trun", lambda d, b: struct.pack_into(">i", d, b + 8, 2**30), "outside the", True),
        (b"trun", lambda d, b: struct.pack_into(">i", d, b + 8, 0), "outside the", True),
    ],
)
async def test_fragments_stitching_cannot_follow(
    segment_factory: SegmentFactory,
    tmp_path: Path,
    kind: bytes,
    edit: Callable[[bytearray, int], None],
    message: str,
    remux: bool,
) -> None:
    """Fragment headers the stitcher cannot follow: mp4box says why, the remux is tried.

    ffmpeg copes with some of these files (the export is then a remux) and refuses
    the others (the export fails as a remux fails, leaving nothing).
    """
    clip, _ = segment_factory.clip(2)
    broken = _edited(clip, tmp_path / "broken.mp4", kind, edit)
    file_layout = mp4box.layout(broken)
    tracks = mp4box.track_defaults(mp4box.moov_bytes(broken, file_layout))
    with pytest.raises(mp4box.Mp4Error, match=message):
        mp4box.sample_runs(broken, file_layout, tracks)
    root = tmp_path / "rec"
    segments = _copies(broken, root, 1, duration=2)
    out = tmp_path / "out" / "clip.mp4"
    if remux:
        result = await export_range(segments, root, segments[0].start, segments[0].end, out)
        assert result.method == "remux"
    else:
        with pytest.raises(ExportError) as err:
            await export_range(segments, root, segments[0].start, segments[0].end, out)
        assert err.value.reason == "ffmpeg_failed"
        assert "Invalid data" in str(err.value)  # ffmpeg ran and refused the file
        assert list(out.parent.iterdir()) == []


async def test_codec_change_is_refused(h264: Recorded, h265: Recorded, tmp_path: Path) -> None:
    """H.264 then H.265: neither way can put them in one MP4; nothing is written."""
    root = tmp_path / "mixed"
    a, b = h264.segments[0], h265.segments[1]
    for segment, source in ((a, h264.root), (b, h265.root)):
        (root / segment.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / segment.path, root / segment.path)
    moved = replace(b, start=a.end, end=a.end + b.duration)
    out = tmp_path / "exports" / "x.mp4"
    for method in ("auto", "remux"):
        with pytest.raises(ExportError) as err:
            await export_range([a, moved], root, a.start, moved.end, out, method=method)
        assert err.value.reason == "mixed_formats"
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


async def test_line_break_in_a_path_is_no_problem_for_stitching(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """No ffconcat script: a path the remux refuses is stitched."""
    root = tmp_path / "rec"
    source, duration = segment_factory.clip(2)
    relative = "front/bad\nname/seg.mp4"
    (root / relative).parent.mkdir(parents=True)
    shutil.copyfile(source, root / relative)
    segment = Segment(
        camera="front",
        path=relative,
        start=T0,
        end=T0 + duration,
        bytes=(root / relative).stat().st_size,
        video_codec="h264",
    )
    out = tmp_path / "out" / "x.mp4"
    result = await export_range([segment], root, segment.start, segment.end, out)
    assert result.method == "stitched"
    _plays(out, result.duration, len(_packets(source, "video")))


# Large files, cancellation, timeouts and full disks.


async def test_layout_past_4_gib(
    h264: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 4 GiB: 64-bit chunk offsets, a 64-bit mdat size, version-1 headers.

    Writing 4 GiB in a unit test is too slow, so the 32-bit limit of the writer is
    lowered to 1000 for this test: every field that would overflow takes its wide
    form, and the real tools read the file back.
    """
    monkeypatch.setattr(export_module, "_MAX_U32", 1000)
    segments = h264.segments[:3]
    out = tmp_path / "wide.mp4"
    result = await export_range(segments, h264.root, segments[0].start + 1.2, segments[2].end, out)
    assert result.method == "stitched"
    tops = mp4box.top_level_boxes(out)
    assert [b.kind for b in tops] == [b"ftyp", b"moov", b"mdat"]
    assert tops[2].header == 16  # size 1, then a 64-bit size
    with out.open("rb") as handle:
        handle.seek(tops[1].offset)
        moov = handle.read(tops[1].size)
    kinds = _kinds(moov, mp4box.iter_boxes(moov)[0])
    assert kinds.count(b"co64") == 2  # video and audio
    assert b"stco" not in kinds
    for kind in (b"mvhd", b"tkhd", b"mdhd"):
        found = [b for b in _all(moov, mp4box.iter_boxes(moov)[0]) if b.kind == kind]
        assert found
        assert all(moov[b.body] == 1 for b in found), kind  # version 1: 64-bit times
    first = _packets(h264.root / segments[0].path, "video")
    keyframe = max(p[0] for p in first if p[2] and p[0] <= 1.2)
    frames = sum(p[0] >= keyframe for p in first) + sum(
        len(_packets(h264.root / s.path, "video")) for s in segments[1:]
    )
    _plays(out, result.duration, frames)
    expected = sum(s.duration for s in segments) - keyframe
    assert result.duration == pytest.approx(expected, abs=FRAME)


def _with_huge_frame(clip: Path, path: Path, size: int) -> None:
    """Copy a clip and append one more fragment: a single video sample of ``size`` bytes.

    The sample is a hole in a sparse file (zeros, no disk space): the export has that
    many bytes to copy, which takes long enough to cancel it in the middle.
    """
    shutil.copyfile(clip, path)
    file_layout = mp4box.layout(path)
    tracks = mp4box.track_defaults(mp4box.moov_bytes(path, file_layout))
    video = next(t for t in tracks.values() if t.handler == b"vide")
    runs = [
        r for r in mp4box.sample_runs(path, file_layout, tracks) if r.track_id == video.track_id
    ]
    decode = runs[-1].decode_time + sum(runs[-1].durations)

    def moof(data_offset: int) -> bytes:
        # trun flags: data offset, first sample flags (a keyframe), duration and size
        trun = box(b"trun", struct.pack(">IIiIII", 0x305, 1, data_offset, 0x02000000, 1024, size))
        tfhd = box(b"tfhd", struct.pack(">II", 0x020000, video.track_id))
        tfdt = box(b"tfdt", struct.pack(">IQ", 0x01000000, decode))
        mfhd = box(b"mfhd", struct.pack(">II", 0, 99))
        return box(b"moof", mfhd + box(b"traf", tfhd + tfdt + trun))

    fragment = moof(len(moof(0)) + 8)
    with path.open("r+b") as handle:
        handle.seek(file_layout.media_end)
        handle.truncate()
        handle.write(fragment + struct.pack(">I4s", 8 + size, b"mdat"))
        handle.truncate(handle.tell() + size)


async def test_cancelled_stitch_stops_and_leaves_nothing(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """Cancelling mid-copy stops the worker within a copy chunk; no file is left behind."""
    root = tmp_path / "rec"
    (segment,) = _copies(segment_factory.clip(2)[0], root, 1)
    _with_huge_frame(segment_factory.clip(2)[0], root / segment.path, 2**30)
    out_dir = tmp_path / "out"
    out = out_dir / "clip.mp4"

    task = asyncio.create_task(export_range([segment], root, segment.start, segment.end, out))
    for _ in range(2000):
        parts = list(out_dir.glob(".clip.mp4.*.part")) if out_dir.is_dir() else []
        if parts and parts[0].stat().st_size > 0:
            break
        assert not task.done(), "the export ended before it could be cancelled"
        await asyncio.sleep(0.002)
    else:
        pytest.fail("the export never started writing")
    assert parts[0].stat().st_size < 2**30
    cancelled = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled < 2.0
    assert list(out_dir.iterdir()) == []
    await asyncio.sleep(0.2)  # the worker has ended: nothing reappears
    assert list(out_dir.iterdir()) == []


async def test_stitch_timeout_leaves_nothing(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    root = tmp_path / "rec"
    (segment,) = _copies(segment_factory.clip(2)[0], root, 1)
    _with_huge_frame(segment_factory.clip(2)[0], root / segment.path, 2**30)
    out = tmp_path / "out" / "clip.mp4"
    with pytest.raises(ExportError) as err:
        await export_range([segment], root, segment.start, segment.end, out, timeout=0.05)
    assert err.value.reason == "timeout"
    assert list(out.parent.iterdir()) == []


async def test_full_disk_and_another_filesystem(h264: Recorded, tmp_path: Path) -> None:
    """Writing to a small tmpfs: what fits is exported, what does not fails cleanly.

    The output lies on another filesystem than the segments, where copy_file_range
    may refuse to copy: the export then copies through user space.
    """
    mount = tmp_path / "small"
    mount.mkdir()
    segments = h264.segments[:3]
    needed = sum((h264.root / s.path).stat().st_size for s in segments)
    with mounted_tmpfs(mount, needed + 2**20):
        out = mount / "fits.mp4"
        result = await export_range(segments, h264.root, segments[0].start, segments[2].end, out)
        assert result.method == "stitched"
        frames = sum(len(_packets(h264.root / s.path, "video")) for s in segments)
        _plays(out, result.duration, frames)
        with pytest.raises(ExportError) as err:
            await export_range(
                segments, h264.root, segments[0].start, segments[2].end, mount / "full.mp4"
            )
        assert err.value.reason == "write_failed"
        assert sorted(p.name for p in mount.iterdir()) == ["fits.mp4"]


# A browser.


def test_chromium_plays_the_export(h264: Recorded, tmp_path: Path) -> None:
    """Chromium plays the stitched file to its end, video and audio, with the right length."""
    from playwright.sync_api import sync_playwright

    segments = h264.segments
    out = tmp_path / "clip.mp4"
    result = asyncio.run(
        export_range(segments, h264.root, segments[0].start + 1.5, segments[-1].end, out)
    )
    assert result.method == "stitched"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is required for the browser tests (apt-get install chromium)")
    page_html = (
        '<!doctype html><video id="v" muted playsinline src="/clip.mp4"></video><script>'
        "const v = document.getElementById('v'); window.ended = false;"
        "v.addEventListener('ended', () => { window.ended = true; });"
        "v.addEventListener('loadedmetadata', () => { v.currentTime = v.duration - 3; v.play(); });"
        "</script>"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_page()
            page.route(
                "http://cctv.test/page.html",
                lambda route: route.fulfill(body=page_html, content_type="text/html"),
            )
            page.route(
                "http://cctv.test/clip.mp4",
                lambda route: route.fulfill(path=str(out), content_type="video/mp4"),
            )
            page.goto("http://cctv.test/page.html")
            page.wait_for_function(
                "window.ended || document.getElementById('v').error !== null", timeout=60_000
            )
            state = page.evaluate(
                "(() => { const v = document.getElementById('v'); return {"
                "error: v.error && v.error.message, duration: v.duration, width: v.videoWidth,"
                "frames: v.webkitDecodedFrameCount, audio: v.webkitAudioDecodedByteCount}; })()"
            )
        finally:
            browser.close()
    assert state["error"] is None
    assert state["duration"] == pytest.approx(result.duration, abs=0.1)
    assert state["width"] == 1920
    assert state["frames"] > 0
    assert state["audio"] > 0
