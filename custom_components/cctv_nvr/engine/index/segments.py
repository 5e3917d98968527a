"""Segments: the finished video files of every camera, and the index that holds them all.

``SegmentIndex`` is the index: it opens the database (``database``) and answers
questions about segments; its ``recordings`` and ``exports`` hold the labelled
ranges and the exported clips, its ``cloud`` the upload queue and the copies in the
bucket. Every method is synchronous and must be called off
the event loop (the Home Assistant side uses the executor).

Every range query is bounded on both sides of ``(camera, start_ts)``: the lower
bound is ``start - longest segment of the camera``, so a query touches only the
rows it returns, however many millions the table holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import logging
import math
from pathlib import Path
import sqlite3
from typing import Any, Final, Self

from .audit import AuditStore
from .cloud import CloudIndex
from .database import CHUNK, Database, chunks, move_aside
from .exports import ExportStore
from .recordings import KIND_EVENT, RecordingStore

_LOGGER = logging.getLogger(__name__)

# Segment kinds: footage of continuous recording, or of the rolling pre-roll buffer
# (deleted as it ages unless a labelled recording covers it).
SEGMENT_CONTINUOUS: Final = "continuous"
SEGMENT_BUFFER: Final = "buffer"

# Where a segment's (or export's) bytes are: only on the local disk, on the disk and
# verified in the bucket (crc32c compared, generation recorded), or only in the bucket.
LOCATION_LOCAL: Final = "local"
LOCATION_BOTH: Final = "both"
LOCATION_CLOUD: Final = "cloud"


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
    location: str = "local"  # local / both (verified in the bucket too) / cloud (bucket only)
    cloud_uri: str | None = None  # gs://bucket/object once verified in the bucket
    # The recordings folder (absolute) the path is relative to; None: the installation
    # default root (``SegmentIndex.default_root``), what every older row means.
    root: str | None = None

    def file(self, default_root: Path) -> Path:
        """Return the segment's file: its own root (or the default root) joined with path."""
        return (default_root if self.root is None else Path(self.root)) / self.path

    def root_path(self, default_root: Path) -> Path:
        """Return the recordings folder the segment's path is relative to."""
        return default_root if self.root is None else Path(self.root)

    @property
    def has_local_copy(self) -> bool:
        """Return True when the file is on the local disk."""
        return self.location != LOCATION_CLOUD

    @property
    def duration(self) -> float:
        """Return the segment duration in seconds."""
        return self.end - self.start

    @property
    def row_id(self) -> int:
        """Return the row id of a segment read from the index."""
        if self.id is None:
            raise ValueError(f"segment {self.path} was not read from the index")
        return self.id


_SEGMENT_COLUMNS = (
    "camera, path, start_ts, end_ts, bytes, video_codec, width, height, fps, audio_codec, "
    "kind, protected, run_id"
)
_SEGMENT_INSERT = _SEGMENT_COLUMNS + ", root_id"
_SEGMENT_STORED = _SEGMENT_COLUMNS + ", id, location, cloud_uri"
# The root's path comes from ``roots`` (a primary-key lookup per row; NULL: the default).
_ROOT_OF = ", (SELECT r.path FROM roots AS r WHERE r.id = {}.root_id)"
_SEGMENT_READ = _SEGMENT_STORED + _ROOT_OF.format("segments")
_SEGMENT_READ_S = ", ".join(
    f"s.{col.strip()}" for col in _SEGMENT_STORED.split(",")
) + _ROOT_OF.format("s")


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
        location=row[14] if len(row) > 14 else LOCATION_LOCAL,  # noqa: PLR2004
        cloud_uri=row[15] if len(row) > 15 else None,  # noqa: PLR2004
        root=row[16] if len(row) > 16 else None,  # noqa: PLR2004
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


class SegmentIndex:
    """Index of segments (and, through ``recordings`` and ``exports``, of the rest)."""

    def __init__(self, db_path: Path) -> None:
        """Open (creating or migrating) the database. Call off the event loop.

        Raises ``sqlite3.DatabaseError`` when the file is not a usable database;
        ``open_or_recover`` handles that case.
        """
        self._db = Database(db_path)
        self._conn = self._db.conn
        self._lock = self._db.lock
        self.recordings = RecordingStore(self._db)
        self.exports = ExportStore(self._db)
        self.audit = AuditStore(self._db)
        self.cloud = CloudIndex(self._db)
        # The installation default recordings folder: rows under it store NULL as root.
        self.default_root: Path | None = None
        self._root_ids: dict[str, int] = {}

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
                result = index._db.quick_check()
                if result == "ok":
                    return index, False
                _LOGGER.warning("Index %s failed its integrity check: %s", db_path, result)
            except sqlite3.DatabaseError as err:
                _LOGGER.warning("Index %s failed its integrity check: %s", db_path, err)
            index.close()
        move_aside(db_path)
        return cls(db_path), True

    @property
    def path(self) -> Path:
        """Return the database file path."""
        return self._db.path

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add_segment(self, segment: Segment) -> bool:
        """Insert a segment; return False when its path was already indexed."""
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO segments ({_SEGMENT_INSERT}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_segment_values(segment), self._root_id(segment.root)),
            )
            return cursor.rowcount == 1

    def add_segments(self, segments: Iterable[Segment]) -> int:
        """Insert many segments in one transaction; return how many were new."""
        wanted = list(segments)
        added = 0
        with self._db.transaction() as conn:
            for segment in wanted:
                added += conn.execute(
                    f"INSERT OR IGNORE INTO segments ({_SEGMENT_INSERT}) "  # noqa: S608
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*_segment_values(segment), self._root_id(segment.root)),
                ).rowcount
        return added

    def _root_id(self, root: str | Path | None) -> int | None:
        """Return the id of a recordings folder in ``roots`` (added if new). Hold the lock.

        None (stored as NULL) for the installation default root, so rows stay right
        when the default root itself moves (a restored backup in another place).
        """
        if root is None or (self.default_root is not None and Path(root) == self.default_root):
            return None
        text = str(root)
        cached = self._root_ids.get(text)
        if cached is not None:
            return cached
        self._conn.execute("INSERT OR IGNORE INTO roots (path) VALUES (?)", (text,))
        row = self._conn.execute("SELECT id FROM roots WHERE path = ?", (text,)).fetchone()
        self._root_ids[text] = int(row[0])
        return self._root_ids[text]

    def set_segment_root(self, segment_id: int, root: str | Path | None) -> bool:
        """Point a segment's row at another recordings folder (its file moved there)."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE segments SET root_id = ? WHERE id = ?", (self._root_id(root), segment_id)
            )
            return cursor.rowcount == 1

    def segments_not_in_root(
        self, camera: str, root: str | Path | None, limit: int = CHUNK
    ) -> list[Segment]:
        """Return up to ``limit`` local segments of a camera outside a folder, oldest first."""
        with self._lock:
            root_id = self._root_id(root)
            rows = self._conn.execute(
                f"SELECT {_SEGMENT_READ} FROM segments "  # noqa: S608
                "WHERE camera = ? AND root_id IS NOT ? AND location != 'cloud' "
                "ORDER BY start_ts LIMIT ?",
                (camera, root_id, limit),
            ).fetchall()
        return [_segment_from_row(row) for row in rows]

    def count_not_in_root(self, camera: str, root: str | Path | None) -> tuple[int, int]:
        """Return (segments, bytes) of a camera's local footage stored outside a folder."""
        with self._lock:
            root_id = self._root_id(root)
            row = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM segments "
                "WHERE camera = ? AND root_id IS NOT ? AND location != 'cloud'",
                (camera, root_id),
            ).fetchone()
        return int(row[0]), int(row[1])

    def roots(self) -> list[str]:
        """Return the recordings folders (other than the default) that hold segments."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT path FROM roots AS r WHERE EXISTS "
                "(SELECT 1 FROM segments AS s WHERE s.root_id = r.id) ORDER BY path"
            ).fetchall()
        return [row[0] for row in rows]

    def shorten_segment(self, path: str, end: float, size: int) -> bool:
        """Set a segment's end and size after its file lost a cut tail; False if unknown."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE segments SET end_ts = ?, bytes = ? WHERE path = ?", (end, size, path)
            )
            return cursor.rowcount == 1

    def known_paths(self, paths: Iterable[str]) -> set[str]:
        """Return which of the given relative paths are indexed."""
        return set(self.segments_by_paths(paths))

    def segments_by_paths(self, paths: Iterable[str]) -> dict[str, Segment]:
        """Return the indexed segments among the given relative paths, by path."""
        wanted = list(paths)
        found: dict[str, Segment] = {}
        with self._lock:
            for chunk in chunks(wanted):
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

    def known_ids(self, ids: Iterable[int]) -> set[int]:
        """Return which of the given segment row ids exist."""
        wanted = list(ids)
        found: set[int] = set()
        with self._lock:
            for chunk in chunks(wanted):
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in self._conn.execute(
                        f"SELECT id FROM segments WHERE id IN ({marks})",  # noqa: S608
                        chunk,
                    )
                )
        return found

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
        with self._db.transaction() as conn:
            for chunk in chunks(wanted):
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"DELETE FROM segments WHERE id IN ({marks})",  # noqa: S608
                    chunk,
                )

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
        locations: tuple[str, ...] = (LOCATION_LOCAL,),
        limit: int = CHUNK,
    ) -> list[Segment]:
        """Return up to ``limit`` deletable segments (local only by default), oldest first.

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
        indexes over unprotected segments, one page at a time. ``locations``
        widens the choice to segments with a copy in the bucket (``both``,
        ``cloud``): deleting such a row also queues its object for deletion
        from the bucket (``cloud_trash``).
        """
        marks = ",".join("?" * len(locations))
        clauses = ["s.protected = 0", f"s.location IN ({marks})"]
        params: list[Any] = list(locations)
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
                "AND r.kind = ? AND r.start_ts < s.end_ts "
                "AND (r.end_ts IS NULL OR (r.end_ts > s.start_ts AND r.end_ts >= ?)))"
            )
            params.extend((KIND_EVENT, keep_events_since))
        params.append(limit)
        sql = (
            f"SELECT {_SEGMENT_READ_S} FROM segments AS s "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} ORDER BY s.start_ts, s.id LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_segment_from_row(row) for row in rows]
