"""The SQLite segment index.

One database for all cameras. Every method is synchronous and must be called
off the event loop (the Home Assistant side uses the executor). A single
connection guarded by a lock keeps writes ordered; WAL mode keeps readers fast.

Schema history (``PRAGMA user_version``):

1. ``segments`` and ``recordings``.
2. ``exports``; ``camera_totals`` (per-camera count, bytes and longest segment,
   kept by triggers so sizes, camera lists and range bounds never scan
   ``segments``); partial indexes over unprotected segments for retention.

Every range query is bounded on both sides of ``(camera, start_ts)``: the lower
bound is ``start - longest segment of the camera``, so a query touches only the
rows it returns, however many millions the table holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
import logging
import math
from pathlib import Path
import sqlite3
import threading
import time
from typing import Any, Final, Self

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 2
_CHUNK: Final = 500

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    bytes INTEGER NOT NULL,
    path TEXT NOT NULL UNIQUE,
    video_codec TEXT,
    width INTEGER,
    height INTEGER,
    fps REAL,
    audio_codec TEXT,
    kind TEXT NOT NULL DEFAULT 'continuous',
    protected INTEGER NOT NULL DEFAULT 0,
    location TEXT NOT NULL DEFAULT 'local',
    cloud_uri TEXT,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS segments_camera_start ON segments (camera, start_ts);
CREATE TABLE IF NOT EXISTS recordings (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT,
    start_ts REAL NOT NULL,
    end_ts REAL
);
CREATE INDEX IF NOT EXISTS recordings_camera_start ON recordings (camera, start_ts);
"""

_SCHEMA_V2 = """
CREATE TABLE exports (
    id INTEGER PRIMARY KEY,
    camera TEXT NOT NULL,
    name TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    duration REAL,
    created_ts REAL NOT NULL
);
CREATE INDEX exports_camera_start ON exports (camera, start_ts);
CREATE INDEX segments_unprotected_camera_start ON segments (camera, start_ts)
    WHERE protected = 0;
CREATE INDEX segments_unprotected_start ON segments (start_ts) WHERE protected = 0;
CREATE TABLE camera_totals (
    camera TEXT PRIMARY KEY,
    segments INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    max_duration REAL NOT NULL
) WITHOUT ROWID;
INSERT INTO camera_totals (camera, segments, bytes, max_duration)
    SELECT camera, COUNT(*), COALESCE(SUM(bytes), 0), MAX(MAX(end_ts - start_ts), 0)
    FROM segments GROUP BY camera;
CREATE TRIGGER segments_totals_insert AFTER INSERT ON segments BEGIN
    INSERT INTO camera_totals (camera, segments, bytes, max_duration)
        VALUES (NEW.camera, 1, NEW.bytes, MAX(NEW.end_ts - NEW.start_ts, 0))
        ON CONFLICT (camera) DO UPDATE SET
            segments = segments + 1,
            bytes = bytes + excluded.bytes,
            max_duration = MAX(max_duration, excluded.max_duration);
END;
CREATE TRIGGER segments_totals_delete AFTER DELETE ON segments BEGIN
    UPDATE camera_totals SET segments = segments - 1, bytes = bytes - OLD.bytes
        WHERE camera = OLD.camera;
END;
CREATE TRIGGER segments_totals_update
AFTER UPDATE OF camera, bytes, start_ts, end_ts ON segments BEGIN
    UPDATE camera_totals SET segments = segments - 1, bytes = bytes - OLD.bytes
        WHERE camera = OLD.camera;
    INSERT INTO camera_totals (camera, segments, bytes, max_duration)
        VALUES (NEW.camera, 1, NEW.bytes, MAX(NEW.end_ts - NEW.start_ts, 0))
        ON CONFLICT (camera) DO UPDATE SET
            segments = segments + 1,
            bytes = bytes + excluded.bytes,
            max_duration = MAX(max_duration, excluded.max_duration);
END;
"""

# Applying _MIGRATIONS[n] takes a database from user_version n - 1 to n.
_MIGRATIONS: Final = {1: _SCHEMA_V1, 2: _SCHEMA_V2}


@dataclass(frozen=True, slots=True)
class Segment:
    """One finished video segment file."""

    camera: str
    path: str  # relative to the recordings root, with forward slashes
    start: float  # UTC epoch seconds
    end: float
    bytes: int
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio_codec: str | None = None
    kind: str = "continuous"
    protected: bool = False
    run_id: str | None = None
    id: int | None = None  # row id; filled when read from the index

    @property
    def duration(self) -> float:
        """Return the segment duration in seconds."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Recording:
    """A labelled range of a camera's footage (manual or event recording)."""

    id: int
    camera: str
    kind: str
    label: str | None
    start: float
    end: float | None


@dataclass(frozen=True, slots=True)
class Export:
    """A clip exported from a camera's footage, stored under the exports root."""

    id: int
    camera: str
    name: str
    start: float
    end: float
    path: str  # relative to the exports root, with forward slashes
    bytes: int
    duration: float | None
    created: float


_SEGMENT_COLUMNS = (
    "camera, path, start_ts, end_ts, bytes, video_codec, width, height, fps, audio_codec, "
    "kind, protected, run_id"
)
_SEGMENT_READ = _SEGMENT_COLUMNS + ", id"
_SEGMENT_READ_S = ", ".join(f"s.{col.strip()}" for col in _SEGMENT_READ.split(","))
_EXPORT_COLUMNS = "id, camera, name, start_ts, end_ts, path, bytes, duration, created_ts"


def _segment_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Segment:
    return Segment(
        camera=row[0],
        path=row[1],
        start=row[2],
        end=row[3],
        bytes=row[4],
        video_codec=row[5],
        width=row[6],
        height=row[7],
        fps=row[8],
        audio_codec=row[9],
        kind=row[10],
        protected=bool(row[11]),
        run_id=row[12],
        id=row[13] if len(row) > 13 else None,  # noqa: PLR2004
    )


def _segment_values(segment: Segment) -> tuple[Any, ...]:
    return (
        segment.camera,
        segment.path,
        segment.start,
        segment.end,
        segment.bytes,
        segment.video_codec,
        segment.width,
        segment.height,
        segment.fps,
        segment.audio_codec,
        segment.kind,
        int(segment.protected),
        segment.run_id,
    )


def _export_from_row(row: tuple[Any, ...]) -> Export:
    return Export(
        id=row[0],
        camera=row[1],
        name=row[2],
        start=row[3],
        end=row[4],
        path=row[5],
        bytes=row[6],
        duration=row[7],
        created=row[8],
    )


def _chunks[T](items: Sequence[T], size: int = _CHUNK) -> Iterable[Sequence[T]]:
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


class SegmentIndex:
    """Index of segments, recordings and exports, stored in one SQLite file."""

    def __init__(self, db_path: Path) -> None:
        """Open (creating or migrating) the database. Call off the event loop.

        Raises ``sqlite3.DatabaseError`` when the file is not a usable database;
        ``open_or_recover`` handles that case.
        """
        self._path = db_path
        self._lock = threading.Lock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open_or_recover(cls, db_path: Path, *, quick_check: bool = False) -> tuple[Self, bool]:
        """Open the index; move a corrupt file aside and start a fresh one.

        Returns ``(index, recovered)``. With ``recovered`` the caller should
        rebuild the index from the files on disk (``rebuild.rebuild_index``).
        The corrupt file (and its -wal/-shm companions) are renamed to
        ``<name>.corrupt-<UTC timestamp>``, never deleted. ``quick_check`` also
        runs SQLite's ``PRAGMA quick_check`` (linear in the database size).
        """
        try:
            index = cls(db_path)
        except sqlite3.DatabaseError as err:
            _LOGGER.warning("Index %s is unreadable (%s); starting a new one", db_path, err)
        else:
            if not quick_check:
                return index, False
            try:
                with index._lock:
                    result = index._conn.execute("PRAGMA quick_check").fetchone()
                if result is not None and result[0] == "ok":
                    return index, False
                _LOGGER.warning("Index %s failed its integrity check: %s", db_path, result)
            except sqlite3.DatabaseError as err:
                _LOGGER.warning("Index %s failed its integrity check: %s", db_path, err)
            index.close()
        _move_aside(db_path)
        return cls(db_path), True

    @property
    def path(self) -> Path:
        """Return the database file path."""
        return self._path

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"index schema {version} is newer than this version understands")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                if target > 1:
                    _LOGGER.info("Migrating the segment index to schema %d", target)
                try:
                    self._conn.executescript(
                        f"BEGIN IMMEDIATE;\n{_MIGRATIONS[target]}\n"
                        f"PRAGMA user_version = {target};\nCOMMIT;"
                    )
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    # ----------------------------------------------------------------- segments

    def add_segment(self, segment: Segment) -> bool:
        """Insert a segment; return False when its path was already indexed."""
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO segments ({_SEGMENT_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _segment_values(segment),
            )
            return cursor.rowcount == 1

    def add_segments(self, segments: Iterable[Segment]) -> int:
        """Insert many segments in one transaction; return how many were new."""
        rows = [_segment_values(segment) for segment in segments]
        added = 0
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                for row in rows:
                    added += self._conn.execute(
                        f"INSERT OR IGNORE INTO segments ({_SEGMENT_COLUMNS}) "  # noqa: S608
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    ).rowcount
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return added

    def known_paths(self, paths: Iterable[str]) -> set[str]:
        """Return which of the given relative paths are indexed."""
        return set(self.segments_by_paths(paths))

    def segments_by_paths(self, paths: Iterable[str]) -> dict[str, Segment]:
        """Return the indexed segments among the given relative paths, by path."""
        wanted = list(paths)
        found: dict[str, Segment] = {}
        with self._lock:
            for chunk in _chunks(wanted):
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(
                    f"SELECT {_SEGMENT_READ} FROM segments WHERE path IN ({marks})",  # noqa: S608
                    chunk,
                ):
                    found[row[1]] = _segment_from_row(row)
        return found

    def segment_by_path(self, path: str) -> Segment | None:
        """Return the segment stored at a relative path."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_SEGMENT_READ} FROM segments WHERE path = ?",  # noqa: S608
                (path,),
            ).fetchone()
        return _segment_from_row(row) if row else None

    def segment_by_id(self, segment_id: int) -> Segment | None:
        """Return the segment with a row id."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_SEGMENT_READ} FROM segments WHERE id = ?",  # noqa: S608
                (segment_id,),
            ).fetchone()
        return _segment_from_row(row) if row else None

    def _max_duration(self, camera: str) -> float | None:
        """Return the longest segment of a camera (None: no segment ever). Hold the lock."""
        row = self._conn.execute(
            "SELECT max_duration FROM camera_totals WHERE camera = ?", (camera,)
        ).fetchone()
        return float(row[0]) if row else None

    def segments(self, camera: str, start: float, end: float) -> list[Segment]:
        """Return the segments of a camera overlapping [start, end), oldest first."""
        with self._lock:
            longest = self._max_duration(camera)
            if longest is None:
                return []
            rows = self._conn.execute(
                f"SELECT {_SEGMENT_READ} FROM segments "  # noqa: S608
                "WHERE camera = ? AND start_ts >= ? AND start_ts < ? AND end_ts > ? "
                "ORDER BY start_ts",
                (camera, start - longest, end, start),
            ).fetchall()
        return [_segment_from_row(row) for row in rows]

    def last_segment(self, camera: str) -> Segment | None:
        """Return the newest segment of a camera."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_SEGMENT_READ} FROM segments "  # noqa: S608
                "WHERE camera = ? ORDER BY start_ts DESC LIMIT 1",
                (camera,),
            ).fetchone()
        return _segment_from_row(row) if row else None

    def first_start(self, camera: str) -> float | None:
        """Return the start of a camera's oldest segment."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(start_ts) FROM segments WHERE camera = ?", (camera,)
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def cameras(self) -> list[str]:
        """Return the cameras that have at least one indexed segment."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT camera FROM camera_totals WHERE segments > 0 ORDER BY camera"
            ).fetchall()
        return [row[0] for row in rows]

    def camera_bytes(self, camera: str) -> int:
        """Return the bytes of a camera's indexed segments."""
        with self._lock:
            row = self._conn.execute(
                "SELECT bytes FROM camera_totals WHERE camera = ?", (camera,)
            ).fetchone()
        return int(row[0]) if row else 0

    def camera_stats(self, camera: str) -> tuple[int, int, float | None, float | None]:
        """Return (segment count, bytes, oldest start, newest end) of a camera."""
        with self._lock:
            totals = self._conn.execute(
                "SELECT segments, bytes FROM camera_totals WHERE camera = ?", (camera,)
            ).fetchone()
            bounds = self._conn.execute(
                "SELECT (SELECT MIN(start_ts) FROM segments WHERE camera = ?), "
                "(SELECT MAX(end_ts) FROM (SELECT end_ts FROM segments WHERE camera = ? "
                "ORDER BY start_ts DESC LIMIT 16))",
                (camera, camera),
            ).fetchone()
        count, size = (int(totals[0]), int(totals[1])) if totals else (0, 0)
        return count, size, bounds[0], bounds[1]

    def coverage(
        self, camera: str, start: float, end: float, max_gap: float = 1.0
    ) -> list[tuple[float, float]]:
        """Return the continuous spans of footage in [start, end), oldest first.

        Segments separated by at most ``max_gap`` seconds are merged; the spans
        are clipped to [start, end). The gaps are what lies between them.
        """
        spans: list[tuple[float, float]] = []
        with self._lock:
            longest = self._max_duration(camera)
            if longest is None:
                return spans
            cursor = self._conn.execute(
                "SELECT start_ts, end_ts FROM segments "
                "WHERE camera = ? AND start_ts >= ? AND start_ts < ? AND end_ts > ? "
                "ORDER BY start_ts",
                (camera, start - longest, end, start),
            )
            for seg_start, seg_end in cursor:
                lo, hi = max(seg_start, start), min(seg_end, end)
                if spans and lo - spans[-1][1] <= max_gap:
                    if hi > spans[-1][1]:
                        spans[-1] = (spans[-1][0], hi)
                else:
                    spans.append((lo, hi))
        return spans

    def bucket_starts(
        self,
        camera: str,
        start: float,
        end: float,
        bucket_seconds: float,
        origin: float = 0.0,
    ) -> list[float]:
        """Return the starts of the buckets in [start, end) that hold footage.

        Buckets are ``bucket_seconds`` long and aligned on ``origin`` (epoch
        seconds; 0 aligns hours on UTC, pass a local midnight to align days).
        One index seek per bucket with footage: never reads the segments between.
        """
        if bucket_seconds <= 0:
            raise ValueError("bucket_seconds must be positive")
        found: list[float] = []
        with self._lock:
            longest = self._max_duration(camera)
            if longest is None:
                return found
            moment = start
            while moment < end:
                row = self._conn.execute(
                    "SELECT start_ts FROM segments "
                    "WHERE camera = ? AND start_ts >= ? AND start_ts < ? AND end_ts > ? "
                    "ORDER BY start_ts LIMIT 1",
                    (camera, moment - longest, end, moment),
                ).fetchone()
                if row is None:
                    break
                first = max(float(row[0]), moment)
                bucket = origin + math.floor((first - origin) / bucket_seconds) * bucket_seconds
                found.append(bucket)
                moment = bucket + bucket_seconds
        return found

    def hours_with_footage(self, camera: str, start: float, end: float) -> list[float]:
        """Return the starts of the UTC hours in [start, end) that hold footage."""
        return self.bucket_starts(camera, start, end, 3600)

    def protect(self, camera: str, start: float, end: float) -> int:
        """Protect a camera's segments overlapping [start, end); return how many changed."""
        return self._set_protected(camera, start, end, protected=True)

    def unprotect(self, camera: str, start: float, end: float) -> int:
        """Unprotect a camera's segments overlapping [start, end); return how many changed."""
        return self._set_protected(camera, start, end, protected=False)

    def _set_protected(self, camera: str, start: float, end: float, *, protected: bool) -> int:
        with self._lock:
            longest = self._max_duration(camera)
            if longest is None:
                return 0
            cursor = self._conn.execute(
                "UPDATE segments SET protected = ? "
                "WHERE camera = ? AND start_ts >= ? AND start_ts < ? AND end_ts > ? "
                "AND protected = ?",
                (int(protected), camera, start - longest, end, start, int(not protected)),
            )
            return cursor.rowcount

    def delete_segments(self, ids: Iterable[int]) -> None:
        """Delete segment rows (only rows: delete the files first, see retention)."""
        wanted = list(ids)
        if not wanted:
            return
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                for chunk in _chunks(wanted):
                    marks = ",".join("?" * len(chunk))
                    self._conn.execute(
                        f"DELETE FROM segments WHERE id IN ({marks})",  # noqa: S608
                        chunk,
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def deletion_candidates(
        self,
        camera: str | None,
        *,
        after: tuple[float, int] | None = None,
        ended_before: float | None = None,
        keep_events_since: float | None = None,
        overlapping: tuple[float, float] | None = None,
        keep_exported: bool = True,
        kind: str | None = None,
        keep_recorded: bool = False,
        limit: int = _CHUNK,
    ) -> list[Segment]:
        """Return up to ``limit`` deletable local segments, oldest first.

        Deletable: not protected, not overlapping an export of its camera, and
        (with ``keep_events_since``) not overlapping an ``event`` recording
        that is still open or ended at or after that moment. ``camera`` None
        means across all cameras. ``after`` is the (start, id) of the last
        segment of the previous page; ``ended_before`` keeps only segments
        ending at or before that moment; ``overlapping`` (with a camera) only
        segments overlapping that [start, end); ``keep_exported=False`` lets
        segments under an export go too. ``kind`` keeps only segments of that
        kind (e.g. ``buffer``); ``keep_recorded`` keeps segments overlapping any
        labelled recording (manual or event, open or ended). Uses the partial
        indexes over unprotected segments, one page at a time.
        """
        clauses = ["s.protected = 0", "s.location = 'local'"]
        params: list[Any] = []
        if camera is not None:
            clauses.append("s.camera = ?")
            params.append(camera)
        if overlapping is not None:
            if camera is None:
                raise ValueError("overlapping needs a camera")
            with self._lock:
                longest = self._max_duration(camera)
            if longest is None:
                return []
            clauses.append("s.start_ts >= ? AND s.start_ts < ? AND s.end_ts > ?")
            params.extend((overlapping[0] - longest, overlapping[1], overlapping[0]))
        if after is not None:
            clauses.append("s.start_ts >= ? AND (s.start_ts > ? OR s.id > ?)")
            params.extend((after[0], after[0], after[1]))
        if ended_before is not None:
            clauses.append("s.start_ts < ? AND s.end_ts <= ?")
            params.extend((ended_before, ended_before))
        if keep_exported:
            clauses.append(
                "NOT EXISTS (SELECT 1 FROM exports AS e WHERE e.camera = s.camera "
                "AND e.start_ts < s.end_ts AND e.end_ts > s.start_ts)"
            )
        if kind is not None:
            clauses.append("s.kind = ?")
            params.append(kind)
        if keep_recorded:
            clauses.append(
                "NOT EXISTS (SELECT 1 FROM recordings AS r WHERE r.camera = s.camera "
                "AND r.start_ts < s.end_ts AND (r.end_ts IS NULL OR r.end_ts > s.start_ts))"
            )
        if keep_events_since is not None:
            clauses.append(
                "NOT EXISTS (SELECT 1 FROM recordings AS r WHERE r.camera = s.camera "
                "AND r.kind = 'event' AND r.start_ts < s.end_ts "
                "AND (r.end_ts IS NULL OR (r.end_ts > s.start_ts AND r.end_ts >= ?)))"
            )
            params.append(keep_events_since)
        params.append(limit)
        sql = (
            f"SELECT {_SEGMENT_READ_S} FROM segments AS s "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} ORDER BY s.start_ts, s.id LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_segment_from_row(row) for row in rows]

    # --------------------------------------------------------------- recordings

    def start_recording(self, camera: str, kind: str, label: str | None, start: float) -> int:
        """Open a labelled recording range and return its id."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO recordings (camera, kind, label, start_ts) VALUES (?, ?, ?, ?)",
                (camera, kind, label, start),
            )
            return int(cursor.lastrowid or 0)

    def end_recording(self, recording_id: int, end: float) -> None:
        """Close a labelled recording range."""
        with self._lock:
            self._conn.execute(
                "UPDATE recordings SET end_ts = ? WHERE id = ? AND end_ts IS NULL",
                (end, recording_id),
            )

    def set_recording_end(self, recording_id: int, end: float | None) -> None:
        """Move the end of a recording range (None reopens it: a retrigger extends it)."""
        with self._lock:
            self._conn.execute("UPDATE recordings SET end_ts = ? WHERE id = ?", (end, recording_id))

    def get_recording(self, recording_id: int) -> Recording | None:
        """Return one labelled range."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, camera, kind, label, start_ts, end_ts FROM recordings WHERE id = ?",
                (recording_id,),
            ).fetchone()
        return Recording(*row) if row else None

    def last_recording(
        self, camera: str, kind: str, label: str | None, ended_after: float
    ) -> Recording | None:
        """Return the newest range of a kind and label ending at or after a moment (or open)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, camera, kind, label, start_ts, end_ts FROM recordings "
                "WHERE camera = ? AND kind = ? AND label IS ? "
                "AND (end_ts IS NULL OR end_ts >= ?) ORDER BY start_ts DESC LIMIT 1",
                (camera, kind, label, ended_after),
            ).fetchone()
        return Recording(*row) if row else None

    def close_open_recordings(self, camera: str, end: float) -> None:
        """Close ranges left open by a crash or restart."""
        with self._lock:
            self._conn.execute(
                "UPDATE recordings SET end_ts = MAX(start_ts, ?) "
                "WHERE camera = ? AND end_ts IS NULL",
                (end, camera),
            )

    def recordings(self, camera: str, start: float, end: float) -> list[Recording]:
        """Return labelled ranges of a camera overlapping [start, end)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, camera, kind, label, start_ts, end_ts FROM recordings "
                "WHERE camera = ? AND start_ts < ? AND (end_ts IS NULL OR end_ts > ?) "
                "ORDER BY start_ts",
                (camera, end, start),
            ).fetchall()
        return [Recording(*row) for row in rows]

    # ------------------------------------------------------------------ exports

    def add_export(
        self,
        camera: str,
        name: str,
        start: float,
        end: float,
        path: str,
        size: int,
        duration: float | None,
        created: float | None = None,
    ) -> int:
        """Record an exported clip (path relative to the exports root); return its id."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO exports (camera, name, start_ts, end_ts, path, bytes, duration, "
                "created_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    camera,
                    name,
                    start,
                    end,
                    path,
                    size,
                    duration,
                    time.time() if created is None else created,
                ),
            )
            return int(cursor.lastrowid or 0)

    def list_exports(self, camera: str | None = None) -> list[Export]:
        """Return the exports (of one camera, or all), newest first."""
        with self._lock:
            if camera is None:
                rows = self._conn.execute(
                    f"SELECT {_EXPORT_COLUMNS} FROM exports "  # noqa: S608
                    "ORDER BY created_ts DESC, id DESC"
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {_EXPORT_COLUMNS} FROM exports WHERE camera = ? "  # noqa: S608
                    "ORDER BY created_ts DESC, id DESC",
                    (camera,),
                ).fetchall()
        return [_export_from_row(row) for row in rows]

    def get_export(self, export_id: int) -> Export | None:
        """Return one export."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_EXPORT_COLUMNS} FROM exports WHERE id = ?",  # noqa: S608
                (export_id,),
            ).fetchone()
        return _export_from_row(row) if row else None

    def delete_export(self, export_id: int) -> bool:
        """Delete an export's row (the caller removes its file); return whether it existed."""
        with self._lock:
            cursor = self._conn.execute("DELETE FROM exports WHERE id = ?", (export_id,))
            return cursor.rowcount == 1


def _move_aside(db_path: Path) -> Path:
    """Rename a corrupt database (and its WAL files) out of the way; return the new path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = db_path.with_name(f"{db_path.name}.corrupt-{stamp}")
    serial = 1
    while target.exists():
        serial += 1
        target = db_path.with_name(f"{db_path.name}.corrupt-{stamp}-{serial}")
    if db_path.exists():
        db_path.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = db_path.with_name(db_path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    _LOGGER.warning("Moved the corrupt index to %s", target)
    return target
