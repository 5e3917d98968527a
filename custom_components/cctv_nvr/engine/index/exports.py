"""Exported clips: rows of the ``exports`` table and their files under the exports root.

Segments overlapping an export of their camera are kept by retention, so an export
never loses the footage it was made from while it exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import time
from typing import Any, Final

from .database import Database

_COLUMNS: Final = (
    "id, camera, name, start_ts, end_ts, path, bytes, duration, created_ts, user_id, expires_ts, "
    "location"
)


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
    user_id: str | None = None  # who made it (None: an automation or an administrator's service)
    expires: float | None = None  # when retention deletes it (None: kept until deleted)
    location: str = "local"  # local / both / cloud, as for segments (see index.cloud)


def _from_row(row: tuple[Any, ...]) -> Export:
    return Export(*row)


class ExportStore:
    """The ``exports`` table (blocking: call off the event loop)."""

    def __init__(self, db: Database) -> None:
        """Use the index's database."""
        self._db = db

    def add(
        self,
        camera: str,
        name: str,
        start: float,
        end: float,
        path: str,
        size: int,
        duration: float | None,
        created: float | None = None,
        *,
        user_id: str | None = None,
        expires: float | None = None,
    ) -> int:
        """Record an exported clip (path relative to the exports root); return its id."""
        with self._db.lock:
            cursor = self._db.conn.execute(
                "INSERT INTO exports (camera, name, start_ts, end_ts, path, bytes, duration, "
                "created_ts, user_id, expires_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    camera,
                    name,
                    start,
                    end,
                    path,
                    size,
                    duration,
                    time.time() if created is None else created,
                    user_id,
                    expires,
                ),
            )
            return int(cursor.lastrowid or 0)

    def count_by_user(self, user_id: str) -> int:
        """Return how many exports a user has stored."""
        with self._db.lock:
            row = self._db.conn.execute(
                "SELECT COUNT(*) FROM exports WHERE user_id = ?", (user_id,)
            ).fetchone()
        return int(row[0])

    def expired(self, now: float) -> list[Export]:
        """Return the exports whose expiry has passed."""
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM exports "  # noqa: S608
                "WHERE expires_ts IS NOT NULL AND expires_ts <= ?",
                (now,),
            ).fetchall()
        return [_from_row(row) for row in rows]

    def newest_first(self, camera: str | None = None) -> list[Export]:
        """Return the exports (of one camera, or all), newest first."""
        where, params = ("WHERE camera = ? ", (camera,)) if camera is not None else ("", ())
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM exports {where}"  # noqa: S608
                "ORDER BY created_ts DESC, id DESC",
                params,
            ).fetchall()
        return [_from_row(row) for row in rows]

    def get(self, export_id: int) -> Export | None:
        """Return one export."""
        with self._db.lock:
            row = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM exports WHERE id = ?",  # noqa: S608
                (export_id,),
            ).fetchone()
        return _from_row(row) if row else None

    def delete(self, export_id: int) -> bool:
        """Delete an export's row only (``remove`` deletes the file too)."""
        with self._db.lock:
            cursor = self._db.conn.execute("DELETE FROM exports WHERE id = ?", (export_id,))
            return cursor.rowcount == 1

    def remove(self, root: Path, export_id: int) -> bool:
        """Delete an export's file (under ``root``) and row; False if there is no such export.

        A copy in the bucket is queued for deletion by the row's delete (``cloud_trash``).
        """
        export = self.get(export_id)
        if export is None:
            return False
        path = (root / export.path).resolve()
        if path.is_relative_to(root.resolve()):
            path.unlink(missing_ok=True)
        return self.delete(export_id)
