"""The index database: one SQLite file for all cameras, its schema and its migrations.

Schema history (``PRAGMA user_version``):

1. ``segments`` and ``recordings``.
2. ``exports``; ``camera_totals`` (per-camera count, bytes and longest segment,
   kept by triggers so sizes, camera lists and range bounds never scan
   ``segments``); partial indexes over unprotected segments for retention.
3. ``exports.user_id`` (who made it) and ``expires_ts`` (when it goes); ``audit``
   (who watched, exported, downloaded, protected, deleted footage or changed grants).
4. The cloud tier: where a segment's or export's bytes are (``location``: ``local``,
   ``both`` once verified in the bucket, ``cloud`` once the local copy went) with the
   object's ``cloud_uri``, ``cloud_generation``, ``cloud_crc32c`` and ``cloud_ts``;
   ``camera_totals.bytes`` counts local copies only and ``cloud_bytes`` the verified
   cloud copies; the persisted upload queue ``cloud_queue`` (its totals kept by triggers
   in ``cloud_queue_totals``); ``cloud_trash``, the objects still to delete from the
   bucket, filled by triggers whenever a row with a cloud copy is deleted.
5. Recordings locations: ``roots`` (one row per recordings folder other than the
   installation default) and ``segments.root_id`` (NULL: the installation default
   root, which is what every older row means, so old databases need no rewrite).
   A segment's file is ``<its root>/<path>``; ``path`` stays unique across roots.

One connection, guarded by a lock, is shared by the segment, recording and export
tables (``Database``); WAL mode keeps readers fast. Everything here blocks: call it
off the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
import logging
from pathlib import Path
import sqlite3
import threading
from typing import Final

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 5
CHUNK: Final = 500  # rows per statement when a list of ids or paths is bound

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

_SCHEMA_V3 = """
ALTER TABLE exports ADD COLUMN user_id TEXT;
ALTER TABLE exports ADD COLUMN expires_ts REAL;
CREATE INDEX exports_user ON exports (user_id);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    user_id TEXT,
    user_name TEXT,
    camera TEXT,
    action TEXT NOT NULL,
    start_ts REAL,
    end_ts REAL,
    detail TEXT
);
CREATE INDEX audit_ts ON audit (ts);
CREATE INDEX audit_camera_ts ON audit (camera, ts);
CREATE INDEX audit_user_ts ON audit (user_id, ts);
"""

_SCHEMA_V4 = """
ALTER TABLE segments ADD COLUMN cloud_generation INTEGER;
ALTER TABLE segments ADD COLUMN cloud_crc32c TEXT;
ALTER TABLE segments ADD COLUMN cloud_ts REAL;
CREATE INDEX segments_cloud_start ON segments (start_ts) WHERE location != 'local';
ALTER TABLE exports ADD COLUMN location TEXT NOT NULL DEFAULT 'local';
ALTER TABLE exports ADD COLUMN cloud_uri TEXT;
ALTER TABLE exports ADD COLUMN cloud_generation INTEGER;
ALTER TABLE exports ADD COLUMN cloud_crc32c TEXT;
ALTER TABLE exports ADD COLUMN cloud_ts REAL;
ALTER TABLE camera_totals ADD COLUMN cloud_bytes INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER segments_totals_insert;
DROP TRIGGER segments_totals_delete;
DROP TRIGGER segments_totals_update;
CREATE TRIGGER segments_totals_insert AFTER INSERT ON segments BEGIN
    INSERT INTO camera_totals (camera, segments, bytes, max_duration, cloud_bytes)
        VALUES (
            NEW.camera, 1, IIF(NEW.location = 'cloud', 0, NEW.bytes),
            MAX(NEW.end_ts - NEW.start_ts, 0), IIF(NEW.location = 'local', 0, NEW.bytes)
        )
        ON CONFLICT (camera) DO UPDATE SET
            segments = segments + 1,
            bytes = bytes + excluded.bytes,
            cloud_bytes = cloud_bytes + excluded.cloud_bytes,
            max_duration = MAX(max_duration, excluded.max_duration);
END;
CREATE TRIGGER segments_totals_delete AFTER DELETE ON segments BEGIN
    UPDATE camera_totals SET
        segments = segments - 1,
        bytes = bytes - IIF(OLD.location = 'cloud', 0, OLD.bytes),
        cloud_bytes = cloud_bytes - IIF(OLD.location = 'local', 0, OLD.bytes)
        WHERE camera = OLD.camera;
END;
CREATE TRIGGER segments_totals_update
AFTER UPDATE OF camera, bytes, start_ts, end_ts, location ON segments BEGIN
    UPDATE camera_totals SET
        segments = segments - 1,
        bytes = bytes - IIF(OLD.location = 'cloud', 0, OLD.bytes),
        cloud_bytes = cloud_bytes - IIF(OLD.location = 'local', 0, OLD.bytes)
        WHERE camera = OLD.camera;
    INSERT INTO camera_totals (camera, segments, bytes, max_duration, cloud_bytes)
        VALUES (
            NEW.camera, 1, IIF(NEW.location = 'cloud', 0, NEW.bytes),
            MAX(NEW.end_ts - NEW.start_ts, 0), IIF(NEW.location = 'local', 0, NEW.bytes)
        )
        ON CONFLICT (camera) DO UPDATE SET
            segments = segments + 1,
            bytes = bytes + excluded.bytes,
            cloud_bytes = cloud_bytes + excluded.cloud_bytes,
            max_duration = MAX(max_duration, excluded.max_duration);
END;
UPDATE camera_totals SET
    bytes = COALESCE((SELECT SUM(bytes) FROM segments AS s
        WHERE s.camera = camera_totals.camera AND s.location != 'cloud'), 0),
    cloud_bytes = COALESCE((SELECT SUM(bytes) FROM segments AS s
        WHERE s.camera = camera_totals.camera AND s.location != 'local'), 0);
CREATE TABLE cloud_queue (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    camera TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    last_error TEXT,
    object_name TEXT,
    session_url TEXT,
    enqueued_ts REAL NOT NULL,
    UNIQUE (kind, item_id)
);
CREATE INDEX cloud_queue_next ON cloud_queue (next_try, id);
CREATE TABLE cloud_queue_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    items INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
INSERT INTO cloud_queue_totals (id, items, bytes) VALUES (1, 0, 0);
CREATE TRIGGER cloud_queue_totals_insert AFTER INSERT ON cloud_queue BEGIN
    UPDATE cloud_queue_totals SET items = items + 1, bytes = bytes + NEW.bytes WHERE id = 1;
END;
CREATE TRIGGER cloud_queue_totals_delete AFTER DELETE ON cloud_queue BEGIN
    UPDATE cloud_queue_totals SET items = items - 1, bytes = bytes - OLD.bytes WHERE id = 1;
END;
CREATE TRIGGER cloud_queue_totals_update AFTER UPDATE OF bytes ON cloud_queue BEGIN
    UPDATE cloud_queue_totals SET bytes = bytes - OLD.bytes + NEW.bytes WHERE id = 1;
END;
CREATE TABLE cloud_trash (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL,
    generation INTEGER,
    bytes INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TRIGGER segments_cloud_forget AFTER DELETE ON segments BEGIN
    DELETE FROM cloud_queue WHERE kind = 'segment' AND item_id = OLD.id;
    INSERT INTO cloud_trash (uri, generation, bytes)
        SELECT OLD.cloud_uri, OLD.cloud_generation, OLD.bytes
        WHERE OLD.cloud_uri IS NOT NULL AND OLD.location != 'local';
END;
CREATE TRIGGER exports_cloud_forget AFTER DELETE ON exports BEGIN
    DELETE FROM cloud_queue WHERE kind = 'export' AND item_id = OLD.id;
    INSERT INTO cloud_trash (uri, generation, bytes)
        SELECT OLD.cloud_uri, OLD.cloud_generation, OLD.bytes
        WHERE OLD.cloud_uri IS NOT NULL AND OLD.location != 'local';
END;
"""

_SCHEMA_V5 = """
CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);
ALTER TABLE segments ADD COLUMN root_id INTEGER REFERENCES roots (id);
CREATE INDEX segments_root ON segments (root_id, camera) WHERE root_id IS NOT NULL;
"""

# Applying _MIGRATIONS[n] takes a database from user_version n - 1 to n.
_MIGRATIONS: Final = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4, 5: _SCHEMA_V5}


def chunks[T](items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    """Split a list into slices small enough to bind in one statement."""
    for offset in range(0, len(items), size):
        yield items[offset : offset + size]


class Database:
    """The index's SQLite connection and the lock that orders its use."""

    def __init__(self, db_path: Path) -> None:
        """Open (creating or migrating) the database. Call off the event loop.

        Raises ``sqlite3.DatabaseError`` when the file is not a usable database.
        """
        self.path = db_path
        self.lock = threading.Lock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def _migrate(self) -> None:
        with self.lock:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"index schema {version} is newer than this version understands")
            for target in range(version + 1, SCHEMA_VERSION + 1):
                if target > 1:
                    _LOGGER.info("Migrating the segment index to schema %d", target)
                try:
                    self.conn.executescript(
                        f"BEGIN IMMEDIATE;\n{_MIGRATIONS[target]}\n"
                        f"PRAGMA user_version = {target};\nCOMMIT;"
                    )
                except BaseException:
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run the block in one transaction (rolled back on error)."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    def quick_check(self) -> str | None:
        """Run SQLite's ``PRAGMA quick_check``; return its first line ("ok" when sound)."""
        with self.lock:
            row = self.conn.execute("PRAGMA quick_check").fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.conn.close()


def move_aside(db_path: Path) -> Path:
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
