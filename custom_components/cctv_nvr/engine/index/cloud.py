"""The cloud tier's part of the index: the upload queue, verified copies, the bucket's trash.

- ``cloud_queue``: what waits to be uploaded (a segment or an export), persisted so it
  survives restarts and crashes: its state, attempts, when it may next be tried, the
  last error, and the object name and resumable session of an upload under way.
- The ``cloud_*`` columns of ``segments`` and ``exports``: the verified copy in the
  bucket (uri, generation, crc32c, when verified) and ``location``
  (``local`` / ``both`` / ``cloud``, see ``segments``).
- ``cloud_trash``: objects still to delete from the bucket. Triggers fill it whenever
  a segment or export row with a cloud copy is deleted, by any path (retention, an
  administrator's deletion, an export removed), so no object is ever forgotten.

Blocking (SQLite): call off the event loop. ``CloudIndex`` is ``SegmentIndex.cloud``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import time
from typing import Any, Final

from .database import Database, chunks
from .recordings import KIND_EVENT

KIND_SEGMENT: Final = "segment"
KIND_EXPORT: Final = "export"

STATE_WAITING: Final = "waiting"  # not tried yet (or its delay after recording runs)
STATE_UPLOADING: Final = "uploading"  # a worker has it (persisted: a crash resumes it)
STATE_RETRY: Final = "retry"  # failed; next_try says when it goes again

_QUEUE_COLUMNS: Final = (
    "id, kind, item_id, camera, bytes, state, attempts, next_try, last_error, object_name, "
    "session_url, enqueued_ts"
)
_PAGE: Final = 2000


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One upload waiting in (or taken from) the queue."""

    id: int
    kind: str  # KIND_SEGMENT / KIND_EXPORT
    item_id: int  # the segment's or export's row id
    camera: str
    bytes: int
    state: str
    attempts: int
    next_try: float
    last_error: str | None
    object_name: str | None  # set once an upload started (suffixed after a 412 with other bytes)
    session_url: str | None = None  # a resumable upload's session (a capability: never logged)
    enqueued: float = 0.0


@dataclass(frozen=True, slots=True)
class CloudCopy:
    """A verified copy in the bucket."""

    uri: str  # gs://bucket/object
    generation: int
    crc32c: str  # base64 of the big-endian CRC32C, as GCS reports it
    verified: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class TrashItem:
    """An object to delete from the bucket (its row is gone)."""

    id: int
    uri: str
    generation: int | None
    bytes: int
    attempts: int


def _item(row: tuple[Any, ...]) -> QueueItem:
    return QueueItem(*row)


class CloudIndex:
    """The cloud tier's tables (blocking: call off the event loop)."""

    def __init__(self, db: Database) -> None:
        """Use the index's database."""
        self._db = db

    # -- enqueueing -------------------------------------------------------------------

    def enqueue_segments(self, ids: Sequence[int], delay: float = 0.0) -> int:
        """Queue local segments for upload, each due ``delay`` s after it ended.

        Segments already queued, already in the bucket or gone are skipped.
        Returns how many were queued.
        """
        added = 0
        now = time.time()
        with self._db.transaction() as conn:
            for chunk in chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                added += conn.execute(
                    "INSERT OR IGNORE INTO cloud_queue "  # noqa: S608
                    "(kind, item_id, camera, bytes, next_try, enqueued_ts) "
                    "SELECT ?, id, camera, bytes, end_ts + ?, ? FROM segments "
                    f"WHERE id IN ({marks}) AND location = 'local'",
                    (KIND_SEGMENT, delay, now, *chunk),
                ).rowcount
        return added

    def enqueue_exports(self, ids: Sequence[int] | None = None, delay: float = 0.0) -> int:
        """Queue local exports (the given ones, or all not yet in the bucket) for upload."""
        now = time.time()
        where = "location = 'local'"
        params: list[Any] = [KIND_EXPORT, delay, now]
        if ids is not None:
            if not ids:
                return 0
            where += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        with self._db.transaction() as conn:
            return int(
                conn.execute(
                    "INSERT OR IGNORE INTO cloud_queue "  # noqa: S608
                    "(kind, item_id, camera, bytes, next_try, enqueued_ts) "
                    f"SELECT ?, id, camera, bytes, created_ts + ?, ? FROM exports WHERE {where}",
                    params,
                ).rowcount
            )

    def unqueued_segments(
        self,
        camera: str,
        *,
        since: float | None,
        events_only: bool,
        after_id: int = 0,
        limit: int = _PAGE,
    ) -> list[int]:
        """Return ids of a camera's local segments not queued yet, by id.

        ``since`` only those starting at or after it; ``events_only`` only those
        protected or overlapping an event recording (open or ended).
        """
        clauses = ["s.camera = ?", "s.location = 'local'", "s.id > ?"]
        params: list[Any] = [camera, after_id]
        if since is not None:
            clauses.append("s.start_ts >= ?")
            params.append(since)
        if events_only:
            clauses.append(
                "(s.protected = 1 OR EXISTS (SELECT 1 FROM recordings AS r "
                "WHERE r.camera = s.camera AND r.kind = ? AND r.start_ts < s.end_ts "
                "AND (r.end_ts IS NULL OR r.end_ts > s.start_ts)))"
            )
            params.append(KIND_EVENT)
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM cloud_queue AS q WHERE q.kind = 'segment' "
            "AND q.item_id = s.id)"
        )
        params.append(limit)
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT s.id FROM segments AS s WHERE {' AND '.join(clauses)} "  # noqa: S608
                "ORDER BY s.id LIMIT ?",
                params,
            ).fetchall()
        return [int(row[0]) for row in rows]

    def segment_ids_overlapping(self, camera: str, start: float, end: float) -> list[int]:
        """Return the ids of a camera's local segments overlapping [start, end)."""
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT max_duration FROM camera_totals WHERE camera = ?", (camera,)
            ).fetchone()
            if row is None:
                return []
            rows = self._db.conn.execute(
                "SELECT id FROM segments WHERE camera = ? AND start_ts >= ? AND start_ts < ? "
                "AND end_ts > ? AND location = 'local'",
                (camera, start - float(row[0]), end, start),
            ).fetchall()
        return [int(r[0]) for r in rows]

    # -- the queue --------------------------------------------------------------------

    def due(self, now: float, exclude: Iterable[int] = (), limit: int = 16) -> list[QueueItem]:
        """Return up to ``limit`` queue items due at ``now``, oldest due first."""
        skip = list(exclude)
        marks = ",".join("?" * len(skip))
        extra = f" AND id NOT IN ({marks})" if skip else ""
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {_QUEUE_COLUMNS} FROM cloud_queue "  # noqa: S608
                f"WHERE next_try <= ?{extra} ORDER BY next_try, id LIMIT ?",
                (now, *skip, limit),
            ).fetchall()
        return [_item(row) for row in rows]

    def next_due(self, exclude: Iterable[int] = ()) -> float | None:
        """Return when the next queue item (not among ``exclude``) becomes due."""
        skip = list(exclude)
        marks = ",".join("?" * len(skip))
        extra = f"WHERE id NOT IN ({marks}) " if skip else ""
        with self._db.lock:
            row = self._db.conn.execute(
                f"SELECT next_try FROM cloud_queue {extra}"  # noqa: S608
                "ORDER BY next_try, id LIMIT 1",
                skip,
            ).fetchone()
        return None if row is None else float(row[0])

    def get(self, queue_id: int) -> QueueItem | None:
        """Return one queue item."""
        with self._db.lock:
            row = self._db.conn.execute(
                f"SELECT {_QUEUE_COLUMNS} FROM cloud_queue WHERE id = ?",  # noqa: S608
                (queue_id,),
            ).fetchone()
        return _item(row) if row else None

    def items(self, limit: int = 100) -> list[QueueItem]:
        """Return the first ``limit`` queue items, oldest due first (diagnostics)."""
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {_QUEUE_COLUMNS} FROM cloud_queue "  # noqa: S608
                "ORDER BY next_try, id LIMIT ?",
                (limit,),
            ).fetchall()
        return [_item(row) for row in rows]

    def start(self, queue_id: int, object_name: str) -> None:
        """Mark an item as being uploaded under ``object_name``."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE cloud_queue SET state = ?, object_name = ? WHERE id = ?",
                (STATE_UPLOADING, object_name, queue_id),
            )

    def set_session(self, queue_id: int, object_name: str, session_url: str | None) -> None:
        """Remember the resumable session of an upload (None: start a new one next time)."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE cloud_queue SET object_name = ?, session_url = ? WHERE id = ?",
                (object_name, session_url, queue_id),
            )

    def retry(
        self, queue_id: int, next_try: float, error: str, *, count_attempt: bool = True
    ) -> None:
        """Put an item back, due at ``next_try``, with the error that stopped it."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE cloud_queue SET state = ?, next_try = ?, last_error = ?, "
                "attempts = attempts + ? WHERE id = ?",
                (STATE_RETRY, next_try, error, int(count_attempt), queue_id),
            )

    def drop(self, queue_id: int) -> None:
        """Remove an item from the queue (its footage went, or it needs no upload)."""
        with self._db.lock:
            self._db.conn.execute("DELETE FROM cloud_queue WHERE id = ?", (queue_id,))

    def totals(self) -> tuple[int, int]:
        """Return (items, bytes) waiting in the queue (kept by triggers: no scan)."""
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT items, bytes FROM cloud_queue_totals WHERE id = 1"
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    # -- verified copies ----------------------------------------------------------------

    def record_copy(self, item: QueueItem, copy: CloudCopy) -> bool:
        """Record a verified copy and take the item off the queue, in one transaction.

        The row becomes ``both`` (its local copy may now go, per retention). False when
        the row is gone or no longer local (the queue item is dropped all the same).
        """
        table = "segments" if item.kind == KIND_SEGMENT else "exports"
        with self._db.transaction() as conn:
            changed = conn.execute(
                f"UPDATE {table} SET location = 'both', cloud_uri = ?, "  # noqa: S608
                "cloud_generation = ?, cloud_crc32c = ?, cloud_ts = ? "
                "WHERE id = ? AND location = 'local'",
                (copy.uri, copy.generation, copy.crc32c, copy.verified, item.item_id),
            ).rowcount
            conn.execute("DELETE FROM cloud_queue WHERE id = ?", (item.id,))
        return changed == 1

    def segment_copy(self, segment_id: int) -> CloudCopy | None:
        """Return a segment's verified copy in the bucket."""
        return self._copy("segments", segment_id)

    def export_copy(self, export_id: int) -> CloudCopy | None:
        """Return an export's verified copy in the bucket."""
        return self._copy("exports", export_id)

    def _copy(self, table: str, row_id: int) -> CloudCopy | None:
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT cloud_uri, cloud_generation, cloud_crc32c, cloud_ts "  # noqa: S608
                f"FROM {table} WHERE id = ? AND location != 'local'",
                (row_id,),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return CloudCopy(row[0], int(row[1] or 0), row[2] or "", float(row[3] or 0.0))

    def export_location(self, export_id: int) -> str | None:
        """Return where an export's bytes are (None: no such export)."""
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT location FROM exports WHERE id = ?", (export_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def offload_candidates(
        self,
        camera: str | None,
        *,
        ended_before: float | None = None,
        after: tuple[float, int] | None = None,
        limit: int = 500,
    ) -> list[tuple[int, str, str, float, int]]:
        """Return (id, camera, path, start, bytes) of verified local copies, oldest first.

        These are segments whose bytes are also verified in the bucket (``both``):
        their local file may go without losing footage.
        """
        clauses = ["location = 'both'"]
        params: list[Any] = []
        if camera is not None:
            clauses.append("camera = ?")
            params.append(camera)
        if ended_before is not None:
            clauses.append("start_ts < ? AND end_ts <= ?")
            params.extend((ended_before, ended_before))
        if after is not None:
            clauses.append("start_ts >= ? AND (start_ts > ? OR id > ?)")
            params.extend((after[0], after[0], after[1]))
        params.append(limit)
        with self._db.lock:
            rows = self._db.conn.execute(
                "SELECT id, camera, path, start_ts, bytes FROM segments "  # noqa: S608
                f"WHERE {' AND '.join(clauses)} ORDER BY start_ts, id LIMIT ?",
                params,
            ).fetchall()
        return [(int(r[0]), r[1], r[2], float(r[3]), int(r[4])) for r in rows]

    def mark_offloaded(self, ids: Iterable[int]) -> int:
        """Mark verified segments as bucket-only (their local file is gone)."""
        changed = 0
        with self._db.transaction() as conn:
            for chunk in chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                changed += conn.execute(
                    f"UPDATE segments SET location = 'cloud' "  # noqa: S608
                    f"WHERE id IN ({marks}) AND location = 'both'",
                    chunk,
                ).rowcount
        return changed

    def cloud_bytes(self) -> int:
        """Return the bytes of every verified copy in the bucket (segments and exports)."""
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT COALESCE((SELECT SUM(cloud_bytes) FROM camera_totals), 0) + "
                "COALESCE((SELECT SUM(bytes) FROM exports WHERE location != 'local'), 0)"
            ).fetchone()
        return int(row[0])

    def last_verified(self) -> float | None:
        """Return about when the newest verified upload happened (newest footage's copies)."""
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT MAX(ts) FROM (SELECT cloud_ts AS ts FROM (SELECT cloud_ts FROM segments "
                "WHERE location != 'local' ORDER BY start_ts DESC LIMIT 1000) "
                "UNION ALL SELECT MAX(cloud_ts) FROM exports WHERE location != 'local')"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    # -- found again by listing the bucket ----------------------------------------------

    def adopt_segment(self, segment_id: int, copy: CloudCopy, *, local: bool) -> bool:
        """Record a copy found in the bucket on an existing row (``both`` or ``cloud``)."""
        with self._db.lock:
            cursor = self._db.conn.execute(
                "UPDATE segments SET location = ?, cloud_uri = ?, cloud_generation = ?, "
                "cloud_crc32c = ?, cloud_ts = ? WHERE id = ? AND location = 'local'",
                (
                    "both" if local else "cloud",
                    copy.uri,
                    copy.generation,
                    copy.crc32c,
                    copy.verified,
                    segment_id,
                ),
            )
            if cursor.rowcount:
                self._db.conn.execute(
                    "DELETE FROM cloud_queue WHERE kind = 'segment' AND item_id = ?",
                    (segment_id,),
                )
            return cursor.rowcount == 1

    def cloud_uris(self, uris: Sequence[str]) -> set[str]:
        """Return which of the given object uris some segment or export row records."""
        found: set[str] = set()
        with self._db.lock:
            for chunk in chunks(list(uris)):
                marks = ",".join("?" * len(chunk))
                for table in ("segments", "exports"):
                    found.update(
                        row[0]
                        for row in self._db.conn.execute(
                            f"SELECT cloud_uri FROM {table} "  # noqa: S608
                            f"WHERE cloud_uri IN ({marks})",
                            chunk,
                        )
                    )
        return found

    def add_cloud_export(
        self,
        values: tuple[str, str, float, float, str, int, float | None, float],
        copy: CloudCopy,
    ) -> int:
        """Insert an export row found only in the bucket; return its id."""
        with self._db.lock:
            cursor = self._db.conn.execute(
                "INSERT INTO exports (camera, name, start_ts, end_ts, path, bytes, duration, "
                "created_ts, location, cloud_uri, cloud_generation, cloud_crc32c, cloud_ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'cloud', ?, ?, ?, ?)",
                (*values, copy.uri, copy.generation, copy.crc32c, copy.verified),
            )
            return int(cursor.lastrowid or 0)

    # -- the bucket's trash -------------------------------------------------------------

    def trash_due(self, now: float, limit: int = 100) -> list[TrashItem]:
        """Return objects due for deletion from the bucket."""
        with self._db.lock:
            rows = self._db.conn.execute(
                "SELECT id, uri, generation, bytes, attempts FROM cloud_trash "
                "WHERE next_try <= ? ORDER BY next_try, id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [TrashItem(*row) for row in rows]

    def trash_next_due(self) -> float | None:
        """Return when the next object is due for deletion."""
        with self._db.lock:
            row = self._db.conn.execute("SELECT MIN(next_try) FROM cloud_trash").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def trash_done(self, ids: Iterable[int]) -> None:
        """Forget trash items whose objects are gone from the bucket."""
        with self._db.transaction() as conn:
            for chunk in chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM cloud_trash WHERE id IN ({marks})", chunk)  # noqa: S608

    def trash_retry(self, trash_id: int, next_try: float, error: str) -> None:
        """Try deleting an object again later."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE cloud_trash SET attempts = attempts + 1, next_try = ?, last_error = ? "
                "WHERE id = ?",
                (next_try, error, trash_id),
            )

    def trash_count(self) -> int:
        """Return how many objects wait to be deleted from the bucket."""
        with self._db.lock:
            row = self._db.conn.execute("SELECT COUNT(*) FROM cloud_trash").fetchone()
        return int(row[0])
