"""The audit trail: who watched, exported, downloaded, protected or deleted footage.

Also who changed access, and when. Rows name users by id and name; they never carry URLs,
tokens or credentials.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
import io
from typing import Final

from .database import Database

_COLUMNS: Final = "id, ts, user_id, user_name, camera, action, start_ts, end_ts, detail"
MAX_ROWS: Final = 5000  # one answer at most (the panel pages by day)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One thing a user did."""

    id: int
    ts: float
    user_id: str | None
    user_name: str | None
    camera: str | None
    action: str
    start: float | None
    end: float | None
    detail: str | None


class AuditStore:
    """The ``audit`` table (blocking: call off the event loop)."""

    def __init__(self, db: Database) -> None:
        """Use the index's database."""
        self._db = db

    def add(
        self,
        ts: float,
        user_id: str | None,
        user_name: str | None,
        camera: str | None,
        action: str,
        start: float | None = None,
        end: float | None = None,
        detail: str | None = None,
    ) -> int:
        """Record one action; return its id."""
        with self._db.lock:
            cursor = self._db.conn.execute(
                "INSERT INTO audit (ts, user_id, user_name, camera, action, start_ts, end_ts, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ts, user_id, user_name, camera, action, start, end, detail),
            )
            return int(cursor.lastrowid or 0)

    def find(
        self,
        since: float,
        until: float,
        *,
        user_id: str | None = None,
        camera: str | None = None,
        limit: int = MAX_ROWS,
    ) -> list[AuditRecord]:
        """Return the records of [since, until), newest first, optionally of a user/camera."""
        clauses = ["ts >= ?", "ts < ?"]
        params: list[object] = [since, until]
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if camera is not None:
            clauses.append("camera = ?")
            params.append(camera)
        params.append(min(limit, MAX_ROWS))
        with self._db.lock:
            rows = self._db.conn.execute(
                f"SELECT {_COLUMNS} FROM audit WHERE {' AND '.join(clauses)} "  # noqa: S608
                "ORDER BY ts DESC, id DESC LIMIT ?",
                params,
            ).fetchall()
        return [AuditRecord(*row) for row in rows]

    def prune(self, camera: str | None, before: float) -> int:
        """Delete a camera's records older than ``before``; return how many went."""
        with self._db.lock:
            cursor = self._db.conn.execute(
                "DELETE FROM audit WHERE camera IS ? AND ts < ?", (camera, before)
            )
            return cursor.rowcount


def to_csv(records: list[AuditRecord]) -> str:
    """Return records as CSV text (UTC times in ISO 8601), with a header line."""

    def iso(moment: float | None) -> str:
        return "" if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["time", "user", "user_id", "camera", "action", "from", "to", "detail"])
    for record in records:
        writer.writerow(
            [
                iso(record.ts),
                _cell(record.user_name),
                _cell(record.user_id),
                _cell(record.camera),
                record.action,
                iso(record.start),
                iso(record.end),
                _cell(record.detail),
            ]
        )
    return buffer.getvalue()


def _cell(value: str | None) -> str:
    """Return a CSV cell a spreadsheet will not run as a formula."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
