"""Error and rare paths of the export, with real fragmented-MP4 files and real processes."""

from __future__ import annotations

import asyncio
from pathlib import Path
import shutil

import av
import pytest

from custom_components.cctv_nvr.engine.export import (
    ExportError,
    concat_list,
    export_range,
    plan_parts,
)
from custom_components.cctv_nvr.engine.index import Segment
from tests.engine.helpers import inspect_file, run_ffmpeg
from tests.engine.segments_factory import FPS, SegmentFactory

T0 = 1_700_002_800.0
FRAME = 1 / FPS


def _one_segment(factory: SegmentFactory, root: Path, seconds: float = 2) -> Segment:
    """Place one real segment of about ``seconds`` at T0 under root."""
    (segment,) = factory.make_history(root, None, "front", T0, 1, seconds)
    return segment


def _keyframes(path: Path) -> list[float]:
    """Return the times of the video keyframes of a file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(
            float(p.pts * p.time_base)
            for p in container.demux(stream)
            if p.pts is not None and p.is_keyframe
        )


def _pids_mentioning(text: str) -> list[int]:
    """Return the ids of the live processes whose command line contains text."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def test_start_in_first_gop_needs_no_inpoint(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """A start inside the first GOP snaps to the file's first keyframe: no inpoint at all."""
    root = tmp_path / "rec"
    segment = _one_segment(segment_factory, root)
    assert _keyframes(root / segment.path)[0] == pytest.approx(0.0, abs=1e-3)

    (part,) = plan_parts([segment], root, segment.start + 0.5, segment.end)

    assert part.inpoint is None
    assert part.outpoint is None
    assert part.duration == pytest.approx(segment.duration)
    assert "inpoint" not in concat_list([part])


def test_start_in_last_frame_seeks_to_last_keyframe(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """A start past the last packet reads the whole file and keeps its last keyframe."""
    root = tmp_path / "rec"
    segment = _one_segment(segment_factory, root)
    last_keyframe = _keyframes(root / segment.path)[-1]
    assert last_keyframe > FRAME  # the clip holds more than one GOP

    start = segment.end - 0.01  # inside the last frame: no packet starts after it
    (part,) = plan_parts([segment], root, start, segment.end)

    assert part.inpoint == pytest.approx(last_keyframe, abs=1e-6)
    assert part.outpoint is None
    assert part.duration == pytest.approx(segment.duration - last_keyframe)


async def test_export_from_last_gop(segment_factory: SegmentFactory, tmp_path: Path) -> None:
    """Exporting from the last frame yields just the last GOP of the segment."""
    root = tmp_path / "rec"
    segment = _one_segment(segment_factory, root)
    last_keyframe = _keyframes(root / segment.path)[-1]
    out = tmp_path / "out" / "tail.mp4"

    result = await export_range([segment], root, segment.end - 0.01, segment.end, out)

    assert out.is_file()
    expected = segment.duration - last_keyframe
    assert result.duration == pytest.approx(expected, abs=FRAME)
    assert inspect_file(out, decode=False).duration == pytest.approx(expected, abs=FRAME)


def _audio_only_segment(root: Path) -> Segment:
    """Encode a real fragmented MP4 holding an AAC track and no video at all."""
    path = root / "front" / "audio-only.mp4"
    path.parent.mkdir(parents=True)
    run_ffmpeg(
        *("-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", "-c:a", "aac"),
        *("-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(path)),
    )
    return Segment(
        camera="front",
        path="front/audio-only.mp4",
        start=T0,
        end=T0 + 2,
        bytes=path.stat().st_size,
        audio_codec="aac",
    )


async def test_segment_without_video_track(tmp_path: Path) -> None:
    """No video track: no keyframe search is possible, so the part starts at the file start.

    The remux itself then fails (the export maps the first video stream) with a clear
    reason and nothing left behind.
    """
    root = tmp_path / "rec"
    segment = _audio_only_segment(root)

    (part,) = plan_parts([segment], root, segment.start + 1.2, segment.end)

    assert part.inpoint is None
    assert part.duration == pytest.approx(segment.duration)

    out_dir = tmp_path / "out"
    with pytest.raises(ExportError) as err:
        await export_range([segment], root, segment.start + 1.2, segment.end, out_dir / "a.mp4")
    assert err.value.reason == "ffmpeg_failed"
    assert sorted(p.name for p in out_dir.iterdir()) == []


async def test_segment_path_with_line_break_is_refused(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """A line break in a path cannot be written into an ffconcat script: refused cleanly."""
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
    parts = plan_parts([segment], root, segment.start, segment.end)
    assert len(parts) == 1  # the file itself is readable

    with pytest.raises(ExportError) as err:
        concat_list(parts)
    assert err.value.reason == "ffmpeg_failed"
    assert "line break" in str(err.value)

    out_dir = tmp_path / "out"
    with pytest.raises(ExportError) as err:
        await export_range(
            [segment], root, segment.start, segment.end, out_dir / "x.mp4", method="remux"
        )
    assert err.value.reason == "ffmpeg_failed"
    assert "line break" in str(err.value)
    assert sorted(p.name for p in out_dir.iterdir()) == []


async def test_ffmpeg_succeeding_without_output(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """A tool that exits 0 but writes nothing (here /usr/bin/true) is a failed export."""
    true = shutil.which("true")
    assert true is not None
    root = tmp_path / "rec"
    segment = _one_segment(segment_factory, root)
    out = tmp_path / "out" / "clip.mp4"

    with pytest.raises(ExportError) as err:
        await export_range(
            [segment], root, segment.start, segment.end, out, ffmpeg=true, method="remux"
        )

    assert err.value.reason == "ffmpeg_failed"
    assert str(err.value) == "ffmpeg wrote no file"
    assert sorted(p.name for p in out.parent.iterdir()) == []


async def test_cancelled_export_kills_ffmpeg(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """Cancelling an export while ffmpeg runs kills ffmpeg and leaves no file behind.

    The real ffmpeg runs with ``-re`` (read the input at its native rate), so the
    remux of ~6 s of footage lasts ~6 s: long enough to cancel it mid-way.
    """
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    root = tmp_path / "rec"
    segments = segment_factory.make_history(root, None, "front", T0, 3, 2)
    tools = tmp_path / "tools"
    tools.mkdir()
    slow = tools / "slow-ffmpeg"
    slow.write_text(f'#!/bin/sh\nexec {ffmpeg} -re "$@"\n')
    slow.chmod(0o755)
    out_dir = tmp_path / "out"
    out = out_dir / "clip.mp4"

    task = asyncio.create_task(
        export_range(
            segments,
            root,
            segments[0].start,
            segments[-1].end,
            out,
            ffmpeg=str(slow),
            method="remux",
        )
    )
    # Wait until ffmpeg has opened its output: it is then well inside the remux.
    for _ in range(800):
        if out_dir.is_dir() and list(out_dir.glob(".clip.mp4.*.part")):
            break
        assert not task.done(), "the export ended before it could be cancelled"
        await asyncio.sleep(0.025)
    else:
        pytest.fail("ffmpeg never created its output")
    (concat,) = out_dir.glob(".clip.mp4.*.ffconcat")
    pids = _pids_mentioning(str(concat))
    assert pids, "ffmpeg is running"
    assert not task.done()

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert sorted(p.name for p in out_dir.iterdir()) == []
    assert _pids_mentioning(str(concat)) == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), "ffmpeg was killed and reaped"


async def test_unreadable_segments_are_skipped(
    segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """A missing file and a file that is no fragmented MP4 are left out of the export."""
    root = tmp_path / "rec"
    good = _one_segment(segment_factory, root)
    missing = Segment(
        camera="front", path="front/gone.mp4", start=good.end, end=good.end + 2, bytes=1
    )
    garbage_path = root / "front" / "garbage.mp4"
    garbage_path.write_bytes(b"\0\0\0\x10junkjunk" * 64)
    garbage = Segment(
        camera="front",
        path="front/garbage.mp4",
        start=missing.end,
        end=missing.end + 2,
        bytes=garbage_path.stat().st_size,
    )

    parts = plan_parts([garbage, good, missing], root, good.start, garbage.end)

    assert [part.path for part in parts] == [root / good.path]
    assert parts[0].outpoint is None  # the last readable part is whole
    out = tmp_path / "out" / "clip.mp4"
    result = await export_range([good, missing, garbage], root, good.start, garbage.end, out)
    assert result.duration == pytest.approx(good.duration, abs=FRAME)

    with pytest.raises(ExportError) as err:
        plan_parts([missing, garbage], root, missing.start, garbage.end)
    assert err.value.reason == "no_footage"
