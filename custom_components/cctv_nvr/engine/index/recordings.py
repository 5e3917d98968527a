"""Labelled recording ranges of a camera: manual recordings and event recordings.

A range is a row in ``recordings`` with a start and (once it ends) an end; the footage
is the camera's segments overlapping it. Retention keeps event footage for its own
time (see ``retention``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .database import Database

KIND_MANUAL: Final = "manual"
KIND_EVENT: Final = "event"

_COLUMNS: Final = "id, camera, kind, label, start_ts, end_ts"


@dataclass(frozen=True, slots=True)
class Recording:
    """A labelled range of a camera's footage (manual or event recording)."""

    id: int
    camera: str
    kind: str
    label: str | None
    start: float
    end: float | None


class RecordingStore:
    """The ``recordings`` table (blocking: call off the event loop)."""

    def __init__(self, db: Database) -> None:
        """Use the index's database."""
        self._db = db

    def start(self, camera: str, kind: str, label: str | None, start: float) -> int:
        """Open a labelled recording range and return its id."""
        with self._db.lock:
            cursor = self._db.conn.execute(
                "INSERT INTO recordings (camera, kind, label, start_ts) VALUES (?, ?, ?, ?)",
                (camera, kind, label, start),
            )
            return int(cursor.lastrowid or 0)

    def set_end(self, recording_id: int, end: float | None) -> None:
        """Move the end of a recording range (None reopens it: a retrigger extends it)."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE recordings SET end_ts = ? WHERE id = ?", (end, recording_id)
            )

    def delete(self, recording_id: int) -> bool:
        """Delete a range (its footage stays); return whether it existed."""
        with self._db.lock:
            cursor = self._db.conn.execute("DELETE FROM recordings WHERE id = ?", (recording_id,))
            return cursor.rowcount == 1

    def get(self, recording_id: int) -> Recording | None:
        """Return one labelled range."""
        with self._db.lock:
            row = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM recordings WHERE id = ?",  # noqa: S608
                (recording_id,),
            ).fetchone()
        return Recording(*row) if row else None

    def last(
        self, camera: str, kind: str, label: str | None, ended_after: float
    ) -> Recording | None:
        """Return the newest range of a kind and label ending at or after a moment (or open)."""
        with self._db.lock:
            row = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM recordings "  # noqa: S608
                "WHERE camera = ? AND kind = ? AND label IS ? "
                "AND (end_ts IS NULL OR end_ts >= ?) ORDER BY start_ts DESC LIMIT 1",
                (camera, kind, label, ended_after),
            ).fetchone()
        return Recording(*row) if row else None

    def close_open(self, camera: str, end: float) -> None:
        """Close ranges left open by a crash or restart."""
        with self._db.lock:
            self._db.conn.execute(
                "UPDATE recordings SET end_ts = MAX(start_ts, ?) "
                "WHERE camera = ? AND end_ts IS NULL",
                (end, camera),
            )

    def overlapping(self, camera: str, start: float, end: float) -> list[Recording]:
        """Return labelled ranges of a camera overlapping [start, end), oldest first."""
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM recordings "  # noqa: S608
                "WHERE camera = ? AND start_ts < ? AND (end_ts IS NULL OR end_ts > ?) "
                "ORDER BY start_ts",
                (camera, end, start),
            ).fetchall()
        return [Recording(*row) for row in rows]
