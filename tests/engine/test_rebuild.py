"""Rebuilding the index from the segment files on disk (real files, ffmpeg, PyAV)."""

from __future__ import annotations

from pathlib import Path

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.rebuild import RebuildReport, rebuild_index
from tests.engine.segments_factory import (
    FPS,
    SegmentFactory,
    files_on_disk,
    indexed_paths,
)

# 16 s before a UTC hour boundary, with a fraction: names round down, histories cross hours.
HOUR = 1_700_002_800.0
T0 = HOUR - 16 + 0.4


def drop_database(db: Path) -> None:
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)


def test_rebuild_after_losing_the_database(tmp_path: Path, segment_factory: SegmentFactory) -> None:
    root = tmp_path / "rec"
    db = tmp_path / "index.db"
    index = SegmentIndex(db)
    made = segment_factory.make_history(root, index, "front", T0, 15, 2)
    made += segment_factory.make_history(root, index, "front", T0 + 100, 3, 2, run_id="r2")
    made += segment_factory.make_history(root, index, "back", T0 + 5, 6, 2, run_id="x9")
    index.close()
    drop_database(db)

    index = SegmentIndex(db)
    seen: list[int] = []
    report = rebuild_index(index, root, progress=lambda r: seen.append(r.files))
    try:
        assert report == RebuildReport(files=24, added=24, skipped=0, unreadable=0)
        assert seen
        assert seen[-1] == 24
        assert index.cameras() == ["back", "front"]
        assert indexed_paths(index) == files_on_disk(root) == {s.path for s in made}
        for original in made:
            rebuilt = index.segment_by_path(original.path)
            assert rebuilt is not None
            assert abs(rebuilt.start - original.start) < 1, original.path
            assert abs(rebuilt.duration - original.duration) <= 1 / FPS, original.path
            assert rebuilt.run_id == original.run_id
            assert (rebuilt.video_codec, rebuilt.width, rebuilt.height) == ("h264", 320, 240)
            assert rebuilt.bytes == original.bytes
        # Files of one run follow each other exactly, across the hour boundary.
        front = index.segments("front", T0 - 10, T0 + 40)
        assert len(front) == 15
        assert {s.path.split("/")[2] for s in front} == {"22", "23"}
        assert all(b.start == a.end for a, b in zip(front, front[1:], strict=False))
        spans = index.coverage("front", T0 - 10, T0 + 200)
        assert len(spans) == 2
        assert spans[0] == (front[0].start, front[-1].end)

        # A second pass finds everything indexed already.
        again = rebuild_index(index, root)
        assert again == RebuildReport(files=24, added=0, skipped=24, unreadable=0)
    finally:
        index.close()


def test_rebuild_completes_a_partial_index(tmp_path: Path, segment_factory: SegmentFactory) -> None:
    root = tmp_path / "rec"
    index = SegmentIndex(tmp_path / "index.db")
    try:
        made = segment_factory.make_history(root, None, "cam", T0, 10, 2)
        index.add_segments(made[:4])
        report = rebuild_index(index, root, cameras=["cam"])
        assert (report.added, report.skipped) == (6, 4)
        rebuilt = index.segments("cam", T0 - 10, T0 + 100)
        # The first unindexed file continues the last indexed one exactly.
        assert rebuilt[4].start == made[3].end
        assert all(abs(a.start - b.start) < 1e-6 for a, b in zip(rebuilt, made, strict=True))
    finally:
        index.close()


def test_rebuild_leaves_unreadable_files_on_disk(
    tmp_path: Path, segment_factory: SegmentFactory
) -> None:
    root = tmp_path / "rec"
    index = SegmentIndex(tmp_path / "index.db")
    try:
        made = segment_factory.make_history(root, None, "cam", T0, 3, 2)
        hour = (root / made[0].path).parent
        garbage = hour / "20231114T215000Z-zz.mp4"
        garbage.write_bytes(b"\x00not a video\xff" * 500)
        empty = hour / "20231114T215100Z-zz.mp4"
        empty.write_bytes(b"")
        stray = hour / "notes.mp4"  # not named like a segment
        stray.write_bytes(b"x")
        other = root / "exports" / "clip.mp4"  # not a camera layout: ignored
        other.parent.mkdir(parents=True)
        other.write_bytes(b"x")

        report = rebuild_index(index, root)
        assert report == RebuildReport(files=6, added=3, skipped=1, unreadable=2)
        assert garbage.read_bytes().startswith(b"\x00not a video")
        assert empty.exists()
        assert stray.exists()
        assert other.exists()
        assert indexed_paths(index) == {s.path for s in made}
        assert index.cameras() == ["cam"]
    finally:
        index.close()


def test_recover_a_corrupt_database_then_rebuild(
    tmp_path: Path, segment_factory: SegmentFactory
) -> None:
    root = tmp_path / "rec"
    db = tmp_path / "index.db"
    index = SegmentIndex(db)
    made = segment_factory.make_history(root, index, "cam", T0, 5, 2)
    index.close()
    drop_database(db)
    db.write_bytes(b"garbage" * 2000)

    index, recovered = SegmentIndex.open_or_recover(db)
    try:
        assert recovered
        assert rebuild_index(index, root).added == 5
        assert indexed_paths(index) == {s.path for s in made} == files_on_disk(root)
    finally:
        index.close()
    assert len(list(tmp_path.glob("index.db.corrupt-*"))) == 1


def test_rebuild_skips_files_still_being_written(
    tmp_path: Path, segment_factory: SegmentFactory
) -> None:
    root = tmp_path / "rec"
    index = SegmentIndex(tmp_path / "index.db")
    try:
        segment_factory.make_history(root, None, "cam", T0, 2, 2)
        report = rebuild_index(index, root, min_age=3600)  # the copies were just written
        assert (report.added, report.skipped) == (0, 2)
        assert rebuild_index(index, root).added == 2
        assert rebuild_index(index, tmp_path / "missing") == RebuildReport()
    finally:
        index.close()
