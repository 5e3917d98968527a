"""The index's cloud tier: migration to schema 4, the upload queue, copies, totals, trash."""

from __future__ import annotations

from pathlib import Path
import sqlite3

from custom_components.cctv_nvr.engine.index import (
    KIND_EVENT,
    KIND_SEGMENT,
    SCHEMA_VERSION,
    CloudCopy,
    Segment,
    SegmentIndex,
)
from custom_components.cctv_nvr.engine.index.database import _MIGRATIONS

T0 = 1_700_000_000.0


def seg(camera: str, start: float, size: int = 1000) -> Segment:
    return Segment(
        camera=camera, path=f"{camera}/{start:.0f}.mp4", start=start, end=start + 10, bytes=size
    )


def _v3_database(db: Path) -> None:
    """A database at schema 3 with rows, built with the shipped migrations 1-3."""
    conn = sqlite3.connect(db, isolation_level=None)
    for version in (1, 2, 3):
        conn.executescript(
            f"BEGIN;\n{_MIGRATIONS[version]}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
    conn.executemany(
        "INSERT INTO segments (camera, start_ts, end_ts, bytes, path) VALUES (?, ?, ?, ?, ?)",
        [
            ("a", T0, T0 + 10, 100, "a/1.mp4"),
            ("a", T0 + 10, T0 + 20, 200, "a/2.mp4"),
            ("b", T0, T0 + 10, 50, "b/1.mp4"),
        ],
    )
    conn.execute(
        "INSERT INTO exports (camera, name, start_ts, end_ts, path, bytes, created_ts) "
        "VALUES ('a', 'clip', ?, ?, 'a/clip.mp4', 30, ?)",
        (T0, T0 + 5, T0 + 100),
    )
    conn.close()


def test_migration_v3_to_v4_keeps_rows_and_totals(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    _v3_database(db)
    index = SegmentIndex(db)
    try:
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
        assert index.camera_stats("a") == (2, 300, T0, T0 + 20)
        assert index.camera_bytes("b") == 50
        assert index.cloud.cloud_bytes() == 0
        assert index.cloud.totals() == (0, 0)
        segments = index.segments("a", T0, T0 + 100)
        assert [s.location for s in segments] == ["local", "local"]
        assert [e.location for e in index.exports.newest_first()] == ["local"]
        # Everything migrated is queued once, then not again.
        assert index.cloud.enqueue_segments([s.row_id for s in segments], delay=5) == 2
        assert index.cloud.enqueue_segments([s.row_id for s in segments], delay=5) == 0
        assert index.cloud.enqueue_exports() == 1
        assert index.cloud.totals() == (3, 330)
        due = index.cloud.due(T0 + 15)
        assert [(i.kind, i.item_id, i.next_try) for i in due] == [
            (KIND_SEGMENT, segments[0].row_id, T0 + 15)
        ]
    finally:
        index.close()


def test_copy_offload_totals_and_trash(index: SegmentIndex) -> None:
    index.add_segments([seg("a", T0), seg("a", T0 + 10, 500)])
    first, second = index.segments("a", T0, T0 + 100)
    index.cloud.enqueue_segments([first.row_id, second.row_id])
    item = next(i for i in index.cloud.due(T0 + 100) if i.item_id == first.row_id)
    copy = CloudCopy("gs://bkt/a/x.mp4", 7, "AAAAAA==", T0 + 50)
    assert index.cloud.record_copy(item, copy)
    assert index.cloud.segment_copy(first.row_id) == copy
    assert index.cloud.totals() == (1, 500)
    # A verified copy counts both locally and in the cloud until the local file goes.
    assert index.camera_bytes("a") == 1500
    assert index.cloud.cloud_bytes() == 1000
    assert index.cloud.last_verified() == T0 + 50
    assert [c[0] for c in index.cloud.offload_candidates("a")] == [first.row_id]
    assert index.cloud.mark_offloaded([first.row_id]) == 1
    assert index.camera_bytes("a") == 500
    assert index.camera_stats("a")[0] == 2  # still footage: listed and playable
    cloud_only = index.segment_by_id(first.row_id)
    assert cloud_only is not None
    assert (cloud_only.location, cloud_only.cloud_uri, cloud_only.has_local_copy) == (
        "cloud",
        "gs://bkt/a/x.mp4",
        False,
    )
    # Local-only retention never picks a cloud row; an explicit choice can.
    assert [s.row_id for s in index.deletion_candidates("a")] == [second.row_id]
    assert [s.row_id for s in index.deletion_candidates("a", locations=("cloud",))] == [
        first.row_id
    ]
    # Deleting rows: the cloud one's object goes to the trash, the queued one leaves the queue.
    index.delete_segments([first.row_id, second.row_id])
    assert index.cloud.totals() == (0, 0)
    trash = index.cloud.trash_due(T0)
    assert [(t.uri, t.generation, t.bytes) for t in trash] == [("gs://bkt/a/x.mp4", 7, 1000)]
    assert index.cloud.cloud_bytes() == 0
    index.cloud.trash_retry(trash[0].id, T0 + 60, "offline")
    assert index.cloud.trash_due(T0) == []
    assert index.cloud.trash_next_due() == T0 + 60
    index.cloud.trash_done([trash[0].id])
    assert index.cloud.trash_count() == 0


def test_events_scope_and_retry(index: SegmentIndex) -> None:
    index.add_segments([seg("a", T0 + 10 * n) for n in range(6)])
    ids = [s.row_id for s in index.segments("a", T0, T0 + 100)]
    index.recordings.set_end(index.recordings.start("a", KIND_EVENT, "motion", T0 + 15), T0 + 25)
    index.protect("a", T0 + 50, T0 + 51)
    assert index.cloud.unqueued_segments("a", since=None, events_only=True) == [
        ids[1],
        ids[2],
        ids[5],
    ]
    assert index.cloud.unqueued_segments("a", since=T0 + 20, events_only=False) == ids[2:]
    index.cloud.enqueue_segments(ids[:2])
    assert index.cloud.unqueued_segments("a", since=None, events_only=False) == ids[2:]
    item = index.cloud.due(T0 + 100)[0]
    index.cloud.start(item.id, "a/x.mp4")
    index.cloud.set_session(item.id, "a/x.mp4", "http://session")
    index.cloud.retry(item.id, T0 + 500, "network down")
    again = index.cloud.get(item.id)
    assert again is not None
    assert (again.state, again.attempts, again.next_try, again.last_error, again.session_url) == (
        "retry",
        1,
        T0 + 500,
        "network down",
        "http://session",
    )
    assert [i.id for i in index.cloud.due(T0 + 100)] != [item.id]
    assert index.cloud.next_due(exclude=[i.id for i in index.cloud.due(T0 + 100)]) == T0 + 500
    assert index.cloud.segment_ids_overlapping("a", T0 + 12, T0 + 22) == ids[1:3]
