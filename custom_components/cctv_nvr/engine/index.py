"""The SQLite segment index.

One database for all cameras. Every method is synchronous and must be called
off the event loop (the Home Assistant side uses the executor). A single
connection guarded by a lock keeps writes ordered; WAL mode keeps readers fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
import sqlite3
import threading
from typing import Any, Final

SCHEMA_VERSION: Final = 1

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


_SEGMENT_COLUMNS = (
    "camera, path, start_ts, end_ts, bytes, video_codec, width, height, fps, audio_codec, "
    "kind, protected, run_id"
)


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
    )


class SegmentIndex:
    """Index of segments and recordings, stored in one SQLite file."""

    def __init__(self, db_path: Path) -> None:
        """Open (creating or migrating) the database. Call off the event loop."""
        self._path = db_path
        self._lock = threading.Lock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    @property
    def path(self) -> Path:
        """Return the database file path."""
        return self._path

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"index schema {version} is newer than this version understands")
            if version < 1:
                self._conn.executescript(_SCHEMA_V1)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    def add_segment(self, segment: Segment) -> bool:
        """Insert a segment; return False when its path was already indexed."""
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT OR IGNORE INTO segments ({_SEGMENT_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                ),
            )
            return cursor.rowcount == 1

    def known_paths(self, paths: Iterable[str]) -> set[str]:
        """Return which of the given relative paths are indexed."""
        wanted = list(paths)
        found: set[str] = set()
        with self._lock:
            for offset in range(0, len(wanted), 500):
                chunk = wanted[offset : offset + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in self._conn.execute(
                        f"SELECT path FROM segments WHERE path IN ({marks})",  # noqa: S608
                        chunk,
                    )
                )
        return found

    def segments(self, camera: str, start: float, end: float) -> list[Segment]:
        """Return the segments of a camera overlapping [start, end), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_SEGMENT_COLUMNS} FROM segments "  # noqa: S608
                "WHERE camera = ? AND start_ts < ? AND end_ts > ? ORDER BY start_ts",
                (camera, end, start),
            ).fetchall()
        return [_segment_from_row(row) for row in rows]

    def last_segment(self, camera: str) -> Segment | None:
        """Return the newest segment of a camera."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_SEGMENT_COLUMNS} FROM segments "  # noqa: S608
                "WHERE camera = ? ORDER BY start_ts DESC LIMIT 1",
                (camera,),
            ).fetchone()
        return _segment_from_row(row) if row else None

    def camera_stats(self, camera: str) -> tuple[int, int, float | None, float | None]:
        """Return (segment count, bytes, oldest start, newest end) of a camera."""
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_ts), MAX(end_ts) "
                "FROM segments WHERE camera = ?",
                (camera,),
            ).fetchone()
        return int(row[0]), int(row[1]), row[2], row[3]

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
