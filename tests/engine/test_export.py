"""Export of a time range to one faststart MP4 (stitched from the segments; remuxed on request)."""

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path
import shutil
import subprocess

import av
import pytest

from custom_components.cctv_nvr.engine import mp4box
from custom_components.cctv_nvr.engine.export import ExportError, export_range
from tests.engine.test_hls import Recorded, recorded
from tests.simulator import CameraSimulator

FPS = 15
FRAME = 1 / FPS


@pytest.fixture
def h264(simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """H.264 + AAC: a run of ≥ 3 segments, a gap, then ≥ 1 more (shared with test_hls)."""
    return recorded("audio", simulator, tmp_path_factory)


@pytest.fixture
def h265(simulator: CameraSimulator, tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return recorded("h265", simulator, tmp_path_factory)


def _streams(path: Path) -> list[dict]:
    out = subprocess.run(
        [
            *("ffprobe", "-v", "error", "-show_data_hash", "sha256", "-show_streams"),
            *("-show_format", "-of", "json", str(path)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout)["streams"]


def _video_times(path: Path, keyframes_only: bool = False) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.pts is not None and (p.is_keyframe or not keyframes_only)
        )


def _same_codec(source: Path, export: Path) -> None:
    """No re-encode: the exported streams carry the source's exact codec configuration."""
    keys = ("codec_name", "codec_tag_string", "profile", "width", "height", "extradata_hash")
    src, out = _streams(source), _streams(export)
    for kind in ("video", "audio"):
        a = [s for s in src if s["codec_type"] == kind]
        b = [s for s in out if s["codec_type"] == kind]
        assert len(a) == len(b), kind
        for x, y in zip(a, b, strict=True):
            assert {k: x.get(k) for k in keys} == {k: y.get(k) for k in keys}, kind
    assert next(s for s in src if s["codec_type"] == "video").get("extradata_hash")


def _assert_faststart(path: Path) -> None:
    kinds = [box.kind for box in mp4box.top_level_boxes(path)]
    assert b"moov" in kinds
    assert b"mdat" in kinds
    assert kinds.index(b"moov") < kinds.index(b"mdat"), kinds
    assert b"moof" not in kinds


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_export_mid_segment_range_over_three_segments(h264: Recorded, tmp_path: Path) -> None:
    """Starts at the keyframe at or before start, ends at end; every frame copied."""
    segments = h264.segments[:3]
    first, middle, last = (h264.root / s.path for s in segments)
    start = segments[0].start + 1.5
    end = segments[2].start + 2.5
    out = tmp_path / "exports" / "clip.mp4"

    result = await export_range(h264.segments, h264.root, start, end, out)

    assert result.path == out
    assert out.is_file()
    assert result.bytes == out.stat().st_size
    assert result.video_codec == "h264"
    assert _leftovers(out.parent) == ["clip.mp4"]
    keyframe = max(t for t in _video_times(first, keyframes_only=True) if t <= 1.5 + 1e-3)
    assert 1.5 - 1.0 - FRAME <= keyframe <= 1.5  # GOP 1 s
    expected = (segments[0].duration - keyframe) + segments[1].duration + 2.5
    assert result.duration == pytest.approx(expected, abs=FRAME)
    frames = (
        sum(t >= keyframe - 1e-3 for t in _video_times(first))
        + len(_video_times(middle))
        + sum(t < 2.5 for t in _video_times(last))
    )
    exported = _video_times(out)
    assert len(exported) == frames
    assert exported[0] == pytest.approx(0, abs=0.1)
    steps = [b - a for a, b in zip(exported, exported[1:], strict=False)]
    assert min(steps) > 0
    with av.open(str(out)) as container:
        assert container.streams.audio, "audio is exported too"
        video = container.streams.video[0]
        assert sum(len(p.decode()) for p in container.demux(video)) == frames
    _same_codec(first, out)
    _assert_faststart(out)


async def test_export_skips_gaps(h264: Recorded, tmp_path: Path) -> None:
    """A range over the whole footage: the gap is skipped, every recorded frame kept."""
    segments = h264.segments
    out = tmp_path / "all.mp4"
    result = await export_range(segments, h264.root, segments[0].start, segments[-1].end, out)
    assert result.duration == pytest.approx(sum(s.duration for s in segments), abs=FRAME)
    exported = _video_times(out)
    assert len(exported) == sum(len(_video_times(h264.root / s.path)) for s in segments)
    # The gap is no hole in the file: the next run follows on the last frame.
    steps = [b - a for a, b in zip(exported, exported[1:], strict=False)]
    assert min(steps) > 0
    run_end = sum(s.duration for s in segments if s.run_id == segments[0].run_id)
    after = min(t for t in exported if t >= run_end - FRAME / 2)
    assert after == pytest.approx(run_end, abs=FRAME)
    _assert_faststart(out)


async def test_export_h265_keeps_hvc1(h265: Recorded, tmp_path: Path) -> None:
    segments = h265.segments[:3]
    out = tmp_path / "h265.mp4"
    result = await export_range(segments, h265.root, segments[0].start, segments[2].end, out)
    assert result.video_codec == "hevc"
    assert result.duration == pytest.approx(sum(s.duration for s in segments), abs=FRAME)
    stream = next(s for s in _streams(out) if s["codec_type"] == "video")
    assert stream["codec_tag_string"] == "hvc1"
    _same_codec(h265.root / segments[0].path, out)
    _assert_faststart(out)


async def test_export_of_no_footage(h264: Recorded, tmp_path: Path) -> None:
    segments = h264.segments
    gap = next(
        (a.end, b.start) for a, b in zip(segments, segments[1:], strict=False) if b.start > a.end
    )
    out = tmp_path / "exports" / "none.mp4"
    for start, end in (
        (gap[0] + 0.1, gap[1] - 0.1),  # inside the gap
        (segments[0].start - 100, segments[0].start - 50),  # before everything
        (segments[1].end, segments[1].start),  # empty range
    ):
        with pytest.raises(ExportError) as err:
            await export_range(segments, h264.root, start, end, out)
        assert err.value.reason == "no_footage"
    with pytest.raises(ExportError) as err:
        await export_range([], h264.root, 0, 1e10, out)
    assert err.value.reason == "no_footage"
    assert not out.parent.exists() or _leftovers(out.parent) == []


async def test_export_refuses_mixed_formats(h264: Recorded, h265: Recorded, tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    a, b = h264.segments[0], h265.segments[1]
    for segment in (a, b):
        (root / segment.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy((h264.root if segment is a else h265.root) / segment.path, root / segment.path)
    moved = replace(b, start=a.end, end=a.end + 4)
    out = tmp_path / "exports" / "x.mp4"
    with pytest.raises(ExportError) as err:
        await export_range([a, moved], root, a.start, moved.end, out)
    assert err.value.reason == "mixed_formats"
    assert not out.exists()


def _fake_ffmpeg(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / name
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)
    return str(script)


async def test_export_failures_leave_nothing(h264: Recorded, tmp_path: Path) -> None:
    """ffmpeg failing, missing or hanging: a clear reason and no file left behind."""
    segments = h264.segments[:2]
    span = (segments[0].start, segments[1].end)
    out_dir = tmp_path / "out"
    out = out_dir / "clip.mp4"
    tools = tmp_path / "tools"
    tools.mkdir()
    # Writes half a file to its output (the last argument), then fails.
    failing = _fake_ffmpeg(
        tools, "failing", 'for last; do :; done; echo partial > "$last"; echo boom >&2; exit 1'
    )
    with pytest.raises(ExportError) as err:
        await export_range(segments, h264.root, *span, out, ffmpeg=failing, method="remux")
    assert err.value.reason == "ffmpeg_failed"
    assert "boom" in str(err.value)
    assert _leftovers(out_dir) == []

    with pytest.raises(ExportError) as err:
        await export_range(
            segments, h264.root, *span, out, ffmpeg=str(tools / "missing"), method="remux"
        )
    assert err.value.reason == "ffmpeg_failed"
    assert _leftovers(out_dir) == []

    hanging = _fake_ffmpeg(
        tools, "hanging", 'for last; do :; done; echo partial > "$last"; exec sleep 30'
    )
    with pytest.raises(ExportError) as err:
        await export_range(
            segments, h264.root, *span, out, ffmpeg=hanging, timeout=1.0, method="remux"
        )
    assert err.value.reason == "timeout"
    assert _leftovers(out_dir) == []

    # A successful export, then a failing one must not touch it.
    await export_range(segments, h264.root, *span, out)
    assert _leftovers(out_dir) == ["clip.mp4"]

    # An existing export is replaced atomically only on success.
    before = out.read_bytes()
    with pytest.raises(ExportError):
        await export_range(segments, h264.root, *span, out, ffmpeg=failing, method="remux")
    assert out.read_bytes() == before
    assert _leftovers(out_dir) == ["clip.mp4"]
