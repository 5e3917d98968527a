"""The segment index: schema migration, queries, protection, exports, corruption recovery."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
import sqlite3
import time

import pytest

from custom_components.cctv_nvr.engine.index import SCHEMA_VERSION, Segment, SegmentIndex
from custom_components.cctv_nvr.engine.index.audit import to_csv

T0 = 1_700_000_000.0

# The schema of version 1, verbatim, as shipped before the migration existed.
_V1 = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY, camera TEXT NOT NULL, start_ts REAL NOT NULL, end_ts REAL NOT NULL,
    bytes INTEGER NOT NULL, path TEXT NOT NULL UNIQUE, video_codec TEXT, width INTEGER,
    height INTEGER, fps REAL, audio_codec TEXT, kind TEXT NOT NULL DEFAULT 'continuous',
    protected INTEGER NOT NULL DEFAULT 0, location TEXT NOT NULL DEFAULT 'local',
    cloud_uri TEXT, run_id TEXT
);
CREATE INDEX IF NOT EXISTS segments_camera_start ON segments (camera, start_ts);
CREATE TABLE IF NOT EXISTS recordings (
    id INTEGER PRIMARY KEY, camera TEXT NOT NULL, kind TEXT NOT NULL, label TEXT,
    start_ts REAL NOT NULL, end_ts REAL
);
CREATE INDEX IF NOT EXISTS recordings_camera_start ON recordings (camera, start_ts);
PRAGMA user_version = 1;
"""


def seg(
    camera: str, start: float, end: float, size: int = 1000, name: str | None = None
) -> Segment:
    return Segment(
        camera=camera, path=name or f"{camera}/{start:.3f}.mp4", start=start, end=end, bytes=size
    )


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_fresh_database_is_current(tmp_path: Path) -> None:
    SegmentIndex(tmp_path / "index.db").close()
    assert user_version(tmp_path / "index.db") == SCHEMA_VERSION == 5


def test_migration_v1_to_current_keeps_data(tmp_path: Path) -> None:
    """A schema-1 database (segments, recordings) migrates through 2, 3 and 4 keeping its rows."""
    db = tmp_path / "index.db"
    conn = sqlite3.connect(db)
    conn.executescript(_V1)
    conn.executemany(
        "INSERT INTO segments (camera, start_ts, end_ts, bytes, path, protected, run_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            ("a", T0, T0 + 4, 100, "a/1.mp4", 0, "r"),
            ("a", T0 + 4, T0 + 10, 200, "a/2.mp4", 1, "r"),
            ("b", T0, T0 + 4, 50, "b/1.mp4", 0, None),
        ],
    )
    conn.execute(
        "INSERT INTO recordings (camera, kind, label, start_ts, end_ts) VALUES "
        "('a', 'manual', 'x', ?, ?)",
        (T0, T0 + 5),
    )
    conn.commit()
    conn.close()
    assert user_version(db) == 1

    index = SegmentIndex(db)
    try:
        assert user_version(db) == SCHEMA_VERSION
        segments = index.segments("a", T0, T0 + 100)
        assert [s.path for s in segments] == ["a/1.mp4", "a/2.mp4"]
        assert segments[1].protected
        assert all(s.id is not None for s in segments)
        assert index.camera_stats("a") == (2, 300, T0, T0 + 10)
        assert index.camera_stats("b") == (1, 50, T0, T0 + 4)
        assert index.cameras() == ["a", "b"]
        assert [r.label for r in index.recordings.overlapping("a", T0, T0 + 1)] == ["x"]
        # The new table and the totals triggers work on the migrated file.
        export_id = index.exports.add(
            "a", "clip", T0, T0 + 4, "a/clip.mp4", 10, 4.0, user_id="u1", expires=T0 + 9
        )
        export = index.exports.get(export_id)
        assert export is not None
        assert (export.user_id, export.expires) == ("u1", T0 + 9)
        assert index.audit.add(T0, "u1", "Alice", "a", "watched", T0, T0 + 4) > 0
        assert index.add_segment(seg("a", T0 + 10, T0 + 14, 1))
        assert index.camera_stats("a")[:2] == (3, 301)
    finally:
        index.close()
    # Reopening a current database changes nothing.
    SegmentIndex(db).close()
    assert user_version(db) == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        SegmentIndex(db)


def test_existing_methods_and_ids(index: SegmentIndex) -> None:
    first = seg("cam", T0, T0 + 4)
    assert index.add_segment(first)
    assert not index.add_segment(first)
    assert index.add_segments([first, seg("cam", T0 + 4, T0 + 8)]) == 1
    assert index.known_paths([first.path, "nope"]) == {first.path}
    last = index.last_segment("cam")
    assert last is not None
    assert last.start == T0 + 4
    assert last.id is not None
    assert index.segment_by_id(last.id) == last
    assert index.segment_by_path(last.path) == last
    assert index.segment_by_path("nope") is None
    assert index.segment_by_id(12345) is None
    assert index.first_start("cam") == T0
    assert index.first_start("other") is None
    assert index.camera_stats("other") == (0, 0, None, None)
    assert index.segments("other", 0, T0 * 2) == []


def test_coverage_merges_and_splits(index: SegmentIndex) -> None:
    index.add_segments(
        [
            seg("cam", T0, T0 + 4),
            seg("cam", T0 + 4.5, T0 + 8),  # 0.5 s gap: merged
            seg("cam", T0 + 8, T0 + 12),
            seg("cam", T0 + 20, T0 + 24),  # 8 s gap: a new span
            seg("cam", T0 + 100, T0 + 130),
            seg("other", T0 + 12, T0 + 20),  # another camera never fills a gap
        ]
    )
    assert index.coverage("cam", T0 - 10, T0 + 200) == [
        (T0, T0 + 12),
        (T0 + 20, T0 + 24),
        (T0 + 100, T0 + 130),
    ]
    # Clipped to the window; a long segment starting before the window still counts.
    assert index.coverage("cam", T0 + 2, T0 + 110) == [
        (T0 + 2, T0 + 12),
        (T0 + 20, T0 + 24),
        (T0 + 100, T0 + 110),
    ]
    assert index.coverage("cam", T0 + 110, T0 + 111) == [(T0 + 110, T0 + 111)]
    assert index.coverage("cam", T0, T0 + 30, max_gap=10) == [(T0, T0 + 24)]
    assert index.coverage("cam", T0 + 0.1, T0 + 30, max_gap=0) == [
        (T0 + 0.1, T0 + 4),
        (T0 + 4.5, T0 + 12),
        (T0 + 20, T0 + 24),
    ]
    assert index.coverage("cam", T0 + 30, T0 + 90) == []
    assert index.coverage("nobody", T0, T0 + 90) == []


def test_buckets_and_cameras(index: SegmentIndex) -> None:
    hour = 3600.0
    base = 1_700_000_000 // 3600 * 3600.0
    index.add_segments(
        [
            seg("cam", base + 10, base + 20),
            seg("cam", base + 30, base + 40),
            seg("cam", base + 2 * hour - 5, base + 2 * hour + 5),  # spans two hours
            seg("cam", base + 5 * hour, base + 5 * hour + 1),
            seg("zz", base, base + 1),
        ]
    )
    assert index.bucket_starts("cam", base, base + 24 * hour, 3600) == [
        base,
        base + hour,
        base + 2 * hour,
        base + 5 * hour,
    ]
    assert index.bucket_starts("cam", base + 2 * hour, base + 3 * hour, 3600) == [base + 2 * hour]
    assert index.bucket_starts("cam", base, base + 24 * hour, 86400, origin=base) == [base]
    assert index.bucket_starts("cam", base + hour * 6, base + 24 * hour, 600) == []
    assert index.cameras() == ["cam", "zz"]
    with pytest.raises(ValueError, match="positive"):
        index.bucket_starts("cam", base, base + 1, 0)


def test_protect_and_unprotect(index: SegmentIndex) -> None:
    index.add_segments([seg("cam", T0 + i * 4, T0 + i * 4 + 4) for i in range(10)])
    index.add_segment(seg("other", T0, T0 + 40))
    assert index.protect("cam", T0 + 6, T0 + 13) == 3  # segments 1, 2, 3
    assert index.protect("cam", T0 + 6, T0 + 13) == 0  # already protected
    flags = [s.protected for s in index.segments("cam", T0, T0 + 40)]
    assert flags == [False, True, True, True] + [False] * 6
    assert not index.segments("other", T0, T0 + 40)[0].protected
    assert index.unprotect("cam", T0, T0 + 8.5) == 2
    flags = [s.protected for s in index.segments("cam", T0, T0 + 40)]
    assert flags == [False, False, False, True] + [False] * 6


def test_delete_segments_and_candidates(index: SegmentIndex) -> None:
    index.add_segments([seg("cam", T0 + i * 4, T0 + i * 4 + 4, size=10) for i in range(8)])
    ids = [s.id for s in index.segments("cam", T0, T0 + 100)]
    assert None not in ids
    index.protect("cam", T0, T0 + 1)  # segment 0
    index.exports.add("cam", "clip", T0 + 5, T0 + 6, "clip.mp4", 1, 1.0)  # segment 1
    rec = index.recordings.start("cam", "event", "motion", T0 + 9)  # segment 2
    index.recordings.set_end(rec, T0 + 10)
    person = index.recordings.start("cam", "event", "person", T0 + 17)  # segment 4
    index.recordings.set_end(person, T0 + 18)
    manual = index.recordings.start("cam", "manual", None, T0 + 13)  # segment 3: not kept
    index.recordings.set_end(manual, T0 + 14)

    def starts(**kwargs: object) -> list[float]:
        return [s.start - T0 for s in index.deletion_candidates("cam", **kwargs)]  # type: ignore[arg-type]

    assert starts() == [8, 12, 16, 20, 24, 28]
    assert starts(keep_events_since=T0) == [12, 20, 24, 28]
    assert starts(keep_events_since=T0 + 11) == [8, 12, 20, 24, 28]  # event ended before
    assert starts(ended_before=T0 + 20) == [8, 12, 16]
    index.recordings.start("cam", "event", "open", T0 + 26)  # still open: keeps 24 and 28
    assert starts(keep_events_since=T0 + 11) == [8, 12, 20]
    page = index.deletion_candidates("cam", limit=2)
    assert [s.start - T0 for s in page] == [8, 12]
    last = page[-1]
    assert last.id is not None
    assert starts(after=(last.start, last.id)) == [16, 20, 24, 28]
    assert [s.start - T0 for s in index.deletion_candidates(None, limit=3)] == [8, 12, 16]
    window = index.deletion_candidates("cam", overlapping=(T0 + 3, T0 + 9))
    assert [s.start - T0 for s in window] == [8]
    window = index.deletion_candidates("cam", overlapping=(T0 + 3, T0 + 9), keep_exported=False)
    assert [s.start - T0 for s in window] == [4, 8]
    with pytest.raises(ValueError, match="camera"):
        index.deletion_candidates(None, overlapping=(T0, T0 + 1))

    index.delete_segments([ids[2], ids[3]])
    assert index.camera_stats("cam")[:2] == (6, 60)
    assert index.camera_bytes("cam") == 60
    assert index.segment_by_id(ids[2] or 0) is None
    index.delete_segments([])
    index.delete_segments(s.id for s in index.segments("cam", T0, T0 + 100) if s.id)
    assert index.cameras() == []
    assert index.camera_bytes("cam") == 0


def test_exports(index: SegmentIndex) -> None:
    first = index.exports.add("a", "one", T0, T0 + 10, "a/one.mp4", 123, 10.0, created=T0 + 50)
    second = index.exports.add("b", "two", T0, T0 + 5, "b/two.mp4", 45, None, created=T0 + 60)
    assert [e.id for e in index.exports.newest_first()] == [second, first]
    assert [e.name for e in index.exports.newest_first("a")] == ["one"]
    assert index.exports.newest_first("c") == []
    export = index.exports.get(first)
    assert export is not None
    assert (export.camera, export.start, export.end, export.path, export.bytes) == (
        "a",
        T0,
        T0 + 10,
        "a/one.mp4",
        123,
    )
    assert export.duration == 10.0
    assert export.created == T0 + 50
    assert index.exports.delete(first)
    assert not index.exports.delete(first)
    assert index.exports.get(first) is None
    assert (
        abs(
            (index.exports.get(index.exports.add("a", "n", 0, 1, "p", 0, None)) or export).created
            - time.time()
        )
        < 60
    )


def test_open_or_recover_moves_garbage_aside(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    garbage = b"this is not a database at all" * 1000
    db.write_bytes(garbage)
    index, recovered = SegmentIndex.open_or_recover(db)
    try:
        assert recovered
        assert index.add_segment(seg("cam", T0, T0 + 4))
        assert index.cameras() == ["cam"]
    finally:
        index.close()
    aside = list(tmp_path.glob("index.db.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == garbage  # kept, never deleted
    assert user_version(db) == SCHEMA_VERSION

    # A healthy database opens as it is (also with the integrity check).
    index, recovered = SegmentIndex.open_or_recover(db, quick_check=True)
    try:
        assert not recovered
        assert index.cameras() == ["cam"]
    finally:
        index.close()

    # A second corruption does not overwrite the first one moved aside.
    db.write_bytes(b"\x00garbage" * 4096)
    index, recovered = SegmentIndex.open_or_recover(db)
    index.close()
    assert recovered
    assert len(list(tmp_path.glob("index.db.corrupt-*"))) == 2


def test_open_or_recover_damaged_pages(tmp_path: Path) -> None:
    """A real database whose pages were overwritten is caught by the quick check."""
    db = tmp_path / "index.db"
    index = SegmentIndex(db)
    index.add_segments(
        seg("cam", T0 + i, T0 + i + 1, name=f"cam/{i:06d}-{'x' * 80}.mp4") for i in range(3000)
    )
    index.close()
    data = bytearray(db.read_bytes())
    assert len(data) > 64 * 1024
    data[8192:40960] = b"\xa5" * (40960 - 8192)
    db.write_bytes(bytes(data))
    index, recovered = SegmentIndex.open_or_recover(db, quick_check=True)
    try:
        assert recovered
        assert index.cameras() == []
    finally:
        index.close()
    assert len(list(tmp_path.glob("index.db.corrupt-*"))) == 1


def test_queries_stay_indexed_on_a_large_table(index: SegmentIndex) -> None:
    """Range queries touch only the rows they return (no scan of the camera's history)."""
    count = 100_000
    index.add_segments(seg("cam", T0 + i * 4, T0 + i * 4 + 4, name=f"p{i}") for i in range(count))
    index.add_segments(seg("b", T0 + i * 4, T0 + i * 4 + 4, name=f"b{i}") for i in range(1000))
    end = T0 + count * 4
    started = time.perf_counter()
    for _ in range(50):
        assert index.coverage("cam", end - 3600, end) == [(end - 3600, end)]
        assert len(index.segments("cam", end - 400, end)) == 100
        assert index.first_start("cam") == T0
        assert index.camera_stats("cam") == (count, count * 1000, T0, end)
        assert index.cameras() == ["b", "cam"]
        assert len(index.deletion_candidates("cam", limit=10)) == 10
    assert index.bucket_starts("cam", end - 86400, end, 3600)[-1] == (end - 1) // 3600 * 3600
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, elapsed  # a full scan of 100k rows x 50 would take far longer

    conn = index._conn
    plan = " ".join(
        row[3]
        for row in conn.execute(
            "EXPLAIN QUERY PLAN SELECT start_ts, end_ts FROM segments "
            "WHERE camera = ? AND start_ts >= ? AND start_ts < ? AND end_ts > ? ORDER BY start_ts",
            ("cam", 0, 1, 0),
        )
    )
    assert "USING INDEX segments_camera_start" in plan


def test_recording_ranges_extend_and_reopen(index: SegmentIndex) -> None:
    """Event ranges can be moved, reopened and found again by kind and label."""
    first = index.recordings.start("cam", "event", "motion", T0)
    index.recordings.set_end(first, T0 + 10)
    other = index.recordings.start("cam", "event", "door", T0 + 1)
    index.recordings.set_end(other, T0 + 4)
    manual = index.recordings.start("cam", "manual", None, T0 + 2)
    assert index.recordings.last("cam", "event", "motion", T0 + 9) == index.recordings.get(first)
    assert index.recordings.last("cam", "event", "motion", T0 + 11) is None
    assert index.recordings.last("cam", "manual", None, T0 + 100) == index.recordings.get(manual)
    assert index.recordings.last("other", "event", "motion", 0) is None
    index.recordings.set_end(first, None)
    reopened = index.recordings.get(first)
    assert reopened is not None
    assert reopened.end is None
    index.recordings.set_end(first, T0 + 30)
    assert index.recordings.get(first) == reopened.__class__(
        first, "cam", "event", "motion", T0, T0 + 30
    )
    assert index.recordings.get(9999) is None
    assert [r.id for r in index.recordings.overlapping("cam", T0 + 20, T0 + 25)] == [first, manual]


def test_candidates_by_kind_and_recorded(index: SegmentIndex) -> None:
    """Buffer segments under any recording are kept; other kinds are not candidates."""
    index.add_segments(
        [
            replace(seg("cam", T0, T0 + 2), kind="buffer"),
            replace(seg("cam", T0 + 2, T0 + 4), kind="buffer"),
            seg("cam", T0 + 4, T0 + 6),
        ]
    )
    index.recordings.start("cam", "manual", None, T0 + 3)
    found = index.deletion_candidates("cam", kind="buffer", keep_recorded=True)
    assert [s.start for s in found] == [T0]
    assert [s.start for s in index.deletion_candidates("cam", kind="buffer")] == [T0, T0 + 2]


def test_export_owner_expiry_and_quota(index: SegmentIndex) -> None:
    """Exports remember who made them and when they expire; expired ones are listed."""
    mine = index.exports.add("a", "one", T0, T0 + 4, "a/1.mp4", 1, 4.0, user_id="u", expires=T0)
    index.exports.add("a", "two", T0, T0 + 4, "a/2.mp4", 1, 4.0, user_id="u", expires=T0 + 99)
    index.exports.add("a", "kept", T0, T0 + 4, "a/3.mp4", 1, 4.0)
    assert index.exports.count_by_user("u") == 2
    assert index.exports.count_by_user("other") == 0
    assert [e.id for e in index.exports.expired(T0 + 1)] == [mine]
    assert index.exports.expired(T0 - 1) == []


def test_audit_find_filter_prune_and_csv(index: SegmentIndex) -> None:
    """Audit rows are found by day, user and camera, newest first; pruning and CSV are safe."""
    index.audit.add(T0, "u1", "Alice", "a", "watched", T0 - 60, T0)
    index.audit.add(T0 + 10, "u2", "=cmd|' /C calc'!A0", "b", "exported", None, None, "x")
    index.audit.add(T0 + 20, None, "automation", "a", "protected", T0, T0 + 5)
    everything = index.audit.find(T0, T0 + 30)
    assert [r.action for r in everything] == ["protected", "exported", "watched"]
    assert [r.action for r in index.audit.find(T0, T0 + 30, user_id="u1")] == ["watched"]
    assert [r.action for r in index.audit.find(T0, T0 + 30, camera="a")] == [
        "protected",
        "watched",
    ]
    assert index.audit.find(T0 + 30, T0 + 60) == []
    text = to_csv(everything)
    lines = text.splitlines()
    assert lines[0] == "time,user,user_id,camera,action,from,to,detail"
    assert len(lines) == 4
    assert "'=cmd" in text  # a formula in a user name is not run by a spreadsheet
    assert index.audit.prune("a", T0 + 15) == 1
    assert [r.action for r in index.audit.find(T0, T0 + 30)] == ["protected", "exported"]


def test_recording_delete_and_known_ids(index: SegmentIndex) -> None:
    """A recording range can be deleted (its footage stays); known_ids answers existing rows."""
    assert index.add_segment(seg("cam", T0, T0 + 4))
    (segment,) = index.segments("cam", T0, T0 + 4)
    rec = index.recordings.start("cam", "event", "door", T0)
    assert index.recordings.delete(rec)
    assert not index.recordings.delete(rec)
    assert index.recordings.get(rec) is None
    assert index.segments("cam", T0, T0 + 4) == [segment]
    assert index.known_ids([segment.row_id, 12345]) == {segment.row_id}
    with pytest.raises(ValueError, match="was not read from the index"):
        _ = seg("cam", T0, T0 + 1).row_id
