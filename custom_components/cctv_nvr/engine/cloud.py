"""The cloud tier: footage uploaded to a Google Cloud Storage bucket, verified, then offloaded.

``CloudTier`` runs on the event loop and never blocks it. The uploads themselves (reading,
summing and sending the files) run in a child process at a lower priority
(``uploader.Uploader``): their Python holds no lock Home Assistant's loop waits on (the
GIL). Every other bucket call (``gcs``: checks, conflicts, reading back, the trash) and
every index call runs in the tier's own thread pool of ``workers + 1`` threads, so Home
Assistant's executor is never used, let alone starved.

What it does:

- **Queue** (``index.cloud``): persisted in the index, so it survives restarts and
  crashes. Segments are queued when they are indexed (``enqueue_segment``, with the
  delay after recording) and by a periodic scan of what the upload scope covers
  (``UploadScope``: all footage, or event and protected footage, and exports).
- **Workers** (``workers`` of them) take due items. Small files go in one create-only
  request (``if_generation_match=0``); big ones (``resumable_bytes`` and more) through
  a resumable session, one chunk per uploader request, the session URL persisted so an upload
  resumes where it stopped after a crash (an expired session starts over).
- **412** (an object of that name exists: an earlier upload whose answer was lost):
  the object's CRC32C and size are compared with the local file's; equal, it is
  adopted; different, the file goes up under a suffixed name (``name~1.mp4``).
- **Verification**: the CRC32C GCS reports must equal the local file's (computed from
  the bytes read; read again when the file changed during the upload) and the size
  must match; only then are the generation, CRC32C and time recorded and the row
  marked ``both``, which is what lets retention delete the local copy. A mismatch
  deletes that object generation, keeps the local copy and tries again later.
- **Errors**: an item's own failure backs it off (``backoff_initial`` doubling up to
  ``backoff_max``); a failure of the whole tier (network, ``auth``, missing bucket)
  pauses every worker with the same capped backoff and one probe at a time, and shows
  in ``status`` (the Home Assistant side raises repair issues and reauth from it).
  Nothing is deleted locally on any error.
- **Bandwidth cap**: a token bucket shared by the workers, waited on the event loop.
- **Trash**: objects of rows deleted by anything (retention, an administrator, an
  export removed) are deleted from the bucket (that generation only), with retries.
- **Reading back**: ``signed_url`` (short-lived V4, after the caller's access check),
  ``read``/``stream`` for a view that streams, ``fetch`` into a local file for
  exports and thumbnails of footage only in the cloud.
- **Index lost**: ``rebuild_from_bucket`` lists the bucket and finds the footage again
  from each object's metadata.

google-cloud-storage is imported by ``start``, in the pool; nothing imports it at module
load, so Home Assistant pays nothing for the tier while it is off.

Never logged, shown or put in ``status``: the service account key, tokens, signatures,
resumable session URLs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
import contextlib
from dataclasses import dataclass, field, replace
from enum import StrEnum
import functools
import importlib
import logging
import os
from pathlib import Path, PurePosixPath
import time
from typing import TYPE_CHECKING, Any, Final

from . import uploader as _uploader
from .index import (
    KIND_EXPORT,
    KIND_SEGMENT,
    CloudCopy,
    Export,
    QueueItem,
    Segment,
    SegmentIndex,
)

if TYPE_CHECKING:
    from .gcs import Bucket, ObjectInfo

_LOGGER = logging.getLogger(__name__)

MIB: Final = 1024 * 1024
CHUNK_ALIGN: Final = 256 * 1024  # resumable chunks are multiples of 256 KiB
MAX_SUFFIX: Final = 9  # names tried after a 412 with other bytes: name~1 ... name~9
RATE_WINDOW: Final = 30.0  # seconds the upload rate is averaged over
META_PREFIX: Final = "cctv-"
# Minimum storage durations (days) GCS bills for, by storage class.
MIN_STORAGE_DAYS: Final = {"NEARLINE": 30, "COLDLINE": 90, "ARCHIVE": 365}


class UploadScope(StrEnum):
    """What goes to the bucket."""

    ALL = "all"  # all footage and exports
    EVENTS = "events"  # footage of event recordings, protected footage, and exports
    EXPORTS = "exports"  # exports only


class StorageClass(StrEnum):
    """GCS storage classes an object can be written with."""

    STANDARD = "STANDARD"
    NEARLINE = "NEARLINE"
    COLDLINE = "COLDLINE"
    ARCHIVE = "ARCHIVE"


class CloudState(StrEnum):
    """How the tier is doing (the Home Assistant side maps these to sensors and repairs)."""

    STOPPED = "stopped"
    IDLE = "idle"  # nothing due
    UPLOADING = "uploading"
    OFFLINE = "offline"  # the bucket cannot be reached; retrying with backoff
    AUTH_FAILED = "auth_failed"  # the key is malformed, revoked or lacks permission: reauth
    BUCKET_MISSING = "bucket_missing"


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """The cloud tier's settings (the Home Assistant side builds it from options)."""

    bucket: str
    key: Mapping[str, Any] | None = field(default=None, repr=False)  # service account JSON
    prefix: str = ""  # object names start with it (e.g. "nvr/")
    upload: UploadScope = UploadScope.ALL
    delay_seconds: float = 0.0  # after a segment ended, before it may go up
    bandwidth_bytes_per_second: float | None = None  # None: no cap
    storage_class: StorageClass | None = None  # None: the bucket's default
    keep_local_days: float | None = None  # local copies of verified footage go after this
    keep_cloud_days: float | None = None  # footage in the bucket goes after this
    workers: int = 2
    emulator_host: str | None = field(
        default_factory=lambda: os.environ.get("STORAGE_EMULATOR_HOST")
    )
    chunk_bytes: int = 8 * MIB  # resumable chunk (a multiple of 256 KiB)
    resumable_bytes: int = 8 * MIB  # files this big or bigger go resumable
    backoff_initial: float = 2.0
    backoff_max: float = 300.0
    timeout: float = 60.0  # per HTTP request
    scan_interval: float = 60.0  # how often the scope is scanned and the trash emptied
    signed_url_seconds: int = 300

    def __post_init__(self) -> None:
        """Check the values that would make the tier misbehave."""
        if not self.bucket:
            raise ValueError("a bucket name is required")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.chunk_bytes < CHUNK_ALIGN or self.chunk_bytes % CHUNK_ALIGN:
            raise ValueError("chunk_bytes must be a positive multiple of 256 KiB")
        if self.bandwidth_bytes_per_second is not None and self.bandwidth_bytes_per_second <= 0:
            raise ValueError("the bandwidth cap must be positive")


@dataclass(frozen=True, slots=True)
class CloudStatus:
    """A snapshot for entities and diagnostics (no secrets in it)."""

    state: CloudState
    queue_items: int = 0
    queue_bytes: int = 0  # bytes waiting
    last_verified: float | None = None  # epoch seconds of the newest verified upload
    upload_rate: float = 0.0  # bytes/s over the last RATE_WINDOW seconds
    cloud_bytes: int = 0  # footage and exports verified in the bucket
    trash_items: int = 0  # objects still to delete from the bucket
    uploading: int = 0  # items being uploaded now
    verified: int = 0  # uploads verified since start
    uploaded_bytes: int = 0  # bytes sent since start
    last_error: str | None = None
    failing_since: float | None = None  # epoch seconds; None while healthy


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """What listing the bucket found again."""

    objects: int = 0
    segments_added: int = 0  # rows made for footage only in the bucket
    segments_adopted: int = 0  # local rows whose file matched an object
    exports_added: int = 0
    skipped: int = 0  # known already, or not ours


class TokenBucket:
    """A bandwidth cap: ``reserve`` says how long to wait before sending n bytes.

    Debt is allowed (a chunk bigger than the burst waits for its whole cost), so the
    average rate is exactly the cap. Used on the event loop only.
    """

    def __init__(self, rate: float, burst: float) -> None:
        """Start full."""
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = time.monotonic()

    def reserve(self, amount: int) -> float:
        """Take ``amount`` tokens; return the seconds to wait before using them."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= amount
        return max(0.0, -self._tokens / self.rate)


def lifecycle_warnings(config: CloudConfig) -> list[str]:
    """Return warnings about GCS's minimum storage durations for these settings."""
    warnings: list[str] = []
    minimum = MIN_STORAGE_DAYS.get(str(config.storage_class or ""))
    if minimum is not None and config.keep_cloud_days is not None:
        if config.keep_cloud_days < minimum:
            warnings.append(
                f"{config.storage_class} objects are billed for at least {minimum} days; "
                f"footage kept {config.keep_cloud_days:g} days in the bucket is billed as if "
                f"kept {minimum} days"
            )
    elif minimum is not None:
        warnings.append(
            f"{config.storage_class} objects deleted before {minimum} days "
            "(by an administrator or a retention change) are billed for the full time"
        )
    return warnings


def colder_warnings(
    config: CloudConfig, colder_class: StorageClass | str, colder_after_days: float
) -> list[str]:
    """Return warnings about a rule moving objects to ``colder_class`` after some days."""
    order = list(StorageClass)
    target = StorageClass(str(colder_class))
    written = StorageClass(str(config.storage_class or StorageClass.STANDARD))
    if order.index(target) <= order.index(written):
        return [f"objects written as {written} are not moved to {target}: it is not colder"]
    minimum = MIN_STORAGE_DAYS[str(target)]
    if config.keep_cloud_days is not None and config.keep_cloud_days < colder_after_days + minimum:
        return [
            (
                f"footage moved to {target} after {colder_after_days:g} days and deleted after "
                f"{config.keep_cloud_days:g} days is billed as if kept "
                f"{colder_after_days + minimum:g} days ({target}: {minimum} days minimum)"
            )
        ]
    return []


def lifecycle_rules(
    config: CloudConfig,
    *,
    delete_after_days: float | None,
    colder_after_days: float | None = None,
    colder_class: StorageClass | str | None = None,
) -> list[dict[str, Any]]:
    """Return lifecycle rules for the bucket: abort stale uploads, optionally colder, delete.

    ``colder_after_days`` moves objects of warmer classes to ``colder_class`` (GCS's
    ``SetStorageClass``): old footage costs less to keep, more to read back.
    ``delete_after_days`` is a safety net behind the tier's own cloud retention; it
    deletes protected footage and exports too, so it should be well beyond
    ``keep_cloud_days``.
    """
    condition: dict[str, Any] = {}
    if config.prefix:
        condition["matchesPrefix"] = [config.prefix]
    rules: list[dict[str, Any]] = [
        {"action": {"type": "AbortIncompleteMultipartUpload"}, "condition": {"age": 7, **condition}}
    ]
    if colder_after_days is not None and colder_class:
        order = list(StorageClass)
        target = StorageClass(str(colder_class))
        rules.append(
            {
                "action": {"type": "SetStorageClass", "storageClass": str(target)},
                "condition": {
                    "age": max(1, int(colder_after_days)),
                    "matchesStorageClass": [str(c) for c in order[: order.index(target)]],
                    **condition,
                },
            }
        )
    if delete_after_days is not None:
        rules.append(
            {
                "action": {"type": "Delete"},
                "condition": {"age": max(1, int(delete_after_days)), **condition},
            }
        )
    return rules


async def probe_bucket(config: CloudConfig) -> tuple[CloudState, str | None]:
    """Try a key and a bucket once (a config flow's check); return (state, scrubbed error).

    Runs in a thread of its own (``asyncio.to_thread``); IDLE means usable.
    """

    def probe() -> tuple[CloudState, str | None]:
        from .gcs import Bucket, BucketError, ErrorKind  # noqa: PLC0415

        try:
            Bucket(
                config.bucket,
                config.key,
                emulator_host=config.emulator_host,
                timeout=config.timeout,
            ).check()
        except BucketError as err:
            state = {
                ErrorKind.AUTH: CloudState.AUTH_FAILED,
                ErrorKind.BUCKET_MISSING: CloudState.BUCKET_MISSING,
            }.get(err.kind, CloudState.OFFLINE)
            return state, str(err)
        return CloudState.IDLE, None

    return await asyncio.to_thread(probe)


def _next_name(name: str) -> str:
    """Return the next name to try after a 412 with other bytes: a.mp4 -> a~1.mp4 -> a~2.mp4."""
    path = PurePosixPath(name)
    head, mark, tail = path.stem.rpartition("~")
    if mark and tail.isdigit():
        return str(path.with_name(f"{head}~{int(tail) + 1}{path.suffix}"))
    return str(path.with_name(f"{path.stem}~1{path.suffix}"))


def _segment_metadata(segment: Segment) -> dict[str, str]:
    values: dict[str, object] = {
        "kind": KIND_SEGMENT,
        "camera": segment.camera,
        "path": segment.path,
        "start": repr(segment.start),
        "end": repr(segment.end),
        "segment-kind": segment.kind,
        "video-codec": segment.video_codec,
        "width": segment.width,
        "height": segment.height,
        "fps": segment.fps,
        "audio-codec": segment.audio_codec,
        "run": segment.run_id,
    }
    return {META_PREFIX + key: str(value) for key, value in values.items() if value is not None}


def _export_metadata(export: Export) -> dict[str, str]:
    values: dict[str, object] = {
        "kind": KIND_EXPORT,
        "camera": export.camera,
        "path": export.path,
        "name": export.name,
        "start": repr(export.start),
        "end": repr(export.end),
        "duration": export.duration,
        "created": repr(export.created),
    }
    return {META_PREFIX + key: str(value) for key, value in values.items() if value is not None}


def _meta(info: ObjectInfo, key: str) -> str | None:
    return info.metadata.get(META_PREFIX + key)


def _float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def _file_crc(path: Path) -> str:
    """Return the CRC32C of a whole file, as GCS writes it (the uploader's reader)."""
    from .gcs import crc32c_text  # noqa: PLC0415  (google libraries load in the pool, lazily)

    return crc32c_text(_uploader.crc_extend(0, path, 0, None)[0])


class _ItemFailedError(Exception):
    """Raised when an item failed on its own (not the whole tier): back it off and go on."""


@dataclass(slots=True)
class _Upload:
    """What a worker knows about the file it uploads."""

    item: QueueItem
    path: Path
    size: int
    mtime_ns: int
    metadata: dict[str, str]
    object_name: str


class CloudTier:
    """Uploads footage to a bucket, verifies it and reads it back (see the module doc).

    Use from the event loop: ``await start()``, ``enqueue_*`` as footage is indexed,
    ``status`` for entities, ``await stop()``. Every blocking call runs in the tier's
    own thread pool.
    """

    def __init__(
        self,
        config: CloudConfig,
        index: SegmentIndex,
        root: Path,
        exports_root: Path | None = None,
        *,
        on_status: Callable[[CloudStatus], None] | None = None,
    ) -> None:
        """Prepare the tier (nothing runs until ``start``)."""
        self.config = config
        self._index = index
        self._root = root
        self._exports_root = exports_root
        self._on_status = on_status
        self._pool: ThreadPoolExecutor | None = None
        self._bucket: Bucket | None = None
        self._uploader = _uploader.Uploader(config.workers)
        self._tasks: list[asyncio.Task[Any]] = []
        self._wake_gen = 0  # bumped by _notify; a worker that saw an older one does not sleep
        self._waiters: set[asyncio.Event] = set()
        self._claimed: set[int] = set()
        self._progress: dict[int, int] = {}  # queue id -> bytes sent of the current upload
        self._limiter = (
            None
            if config.bandwidth_bytes_per_second is None
            else TokenBucket(
                config.bandwidth_bytes_per_second,
                max(float(config.chunk_bytes), config.bandwidth_bytes_per_second),
            )
        )
        self._state = CloudState.STOPPED
        self._failing_kind: CloudState | None = None
        self._failures = 0
        self._blocked_until = 0.0
        self._probe_busy = False
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._sent: deque[tuple[float, int]] = deque()
        self._verified = 0
        self._uploaded_bytes = 0
        self._last_verified: float | None = None
        self._totals = (0, 0, 0, 0)  # queue items, queue bytes, cloud bytes, trash items
        self._status = CloudStatus(CloudState.STOPPED)
        self._status_dirty = asyncio.Event()
        self._scan_since: dict[str, float | None] = {}
        self._stopping = False

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the bucket (in the pool) and start the workers, the scanner and the status.

        A bad key or a missing bucket does not raise: ``status`` says so and the workers
        wait, with backoff, for it to be fixed (``update_key`` after a reauth).
        """
        if self._tasks:
            return
        self._stopping = False
        self._pool = ThreadPoolExecutor(
            max_workers=self.config.workers + 1,
            # Not niced: these threads hold the GIL in short stretches, and one the
            # scheduler kept waiting would keep Home Assistant's loop waiting with it
            # (the uploads, which take the CPU, run in the uploader process).
            thread_name_prefix="cctv_nvr_cloud",
        )
        # google-cloud-storage is imported here, in the pool (it takes a while): the
        # ``from .gcs import`` lines elsewhere then only look it up.
        await self._run(importlib.import_module, f"{__package__}.gcs")
        self._last_verified = await self._run(self._index.cloud.last_verified)
        self._state = CloudState.IDLE
        await self._open_bucket(self.config.key)
        self._tasks = [
            asyncio.create_task(self._worker(n), name=f"cctv_nvr cloud worker {n}")
            for n in range(self.config.workers)
        ]
        if self._bucket is not None:
            self._tasks.append(
                asyncio.create_task(self._uploader.start(), name="cctv_nvr cloud uploader start")
            )
        self._tasks.append(asyncio.create_task(self._scanner(), name="cctv_nvr cloud scanner"))
        self._tasks.append(asyncio.create_task(self._status_loop(), name="cctv_nvr cloud status"))
        await self._refresh_status()

    async def stop(self, timeout: float = 15.0) -> None:
        """Stop every task; uploads under way resume from the queue on the next start.

        A request already sent is not cut: the pool's threads are waited for (in a
        helper thread) up to ``timeout`` seconds, then left to end on their own.
        """
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(asyncio.to_thread(pool.shutdown, True, cancel_futures=True)),
                    timeout,
                )
            except TimeoutError:
                _LOGGER.warning("Cloud uploads still running after %g s; not waiting", timeout)
        await self._uploader.stop(min(timeout, _uploader.STOP_SECONDS))
        self._claimed.clear()
        self._progress.clear()
        self._state = CloudState.STOPPED
        self._status = CloudStatus(CloudState.STOPPED)

    async def update_key(self, key: Mapping[str, Any] | None) -> CloudState:
        """Use a new service account key (after a reauth); retry at once. Returns the state."""
        self._failing_kind = None
        self._failures = 0
        self._blocked_until = 0.0
        self._failing_since = None
        self._last_error = None
        await self._open_bucket(key)
        self._notify()
        self._status_dirty.set()
        return self._failing_kind or self._state

    async def _open_bucket(self, key: Mapping[str, Any] | None) -> None:
        from .gcs import BucketError  # noqa: PLC0415

        try:
            self._bucket = await self._run(self._make_bucket, key)
        except BucketError as err:
            self._bucket = None
            self._fail(CloudState.AUTH_FAILED, str(err))
            return
        await self._uploader.open(
            self.config.bucket,
            key,
            emulator_host=self._bucket.emulator_host,
            timeout=self.config.timeout,
        )
        await self._check_bucket()

    def _make_bucket(self, key: Mapping[str, Any] | None) -> Bucket:
        from .gcs import Bucket  # noqa: PLC0415

        return Bucket(
            self.config.bucket,
            key,
            emulator_host=self.config.emulator_host,
            timeout=self.config.timeout,
        )

    async def _check_bucket(self) -> None:
        from .gcs import BucketError  # noqa: PLC0415

        if self._bucket is None:
            return
        try:
            await self._run(self._bucket.check)
        except BucketError as err:
            self._fail_from(err)
        else:
            self._recovered()

    async def check(self) -> CloudState:
        """Try the key and the bucket now (e.g. for a config flow); return the state."""
        if self._pool is None:
            raise RuntimeError("start the tier first")
        await self._check_bucket()
        return self._failing_kind or self._state

    # -- blocking work in the pool ------------------------------------------------------

    async def _run[T](self, func: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            raise RuntimeError("the cloud tier is not running")
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, functools.partial(func, *args)
        )

    # -- enqueueing (from the Home Assistant side, on the loop) --------------------------

    def _wants_footage(self, *, event: bool) -> bool:
        scope = self.config.upload
        return scope == UploadScope.ALL or (scope == UploadScope.EVENTS and event)

    async def enqueue_segment(self, segment: Segment, *, event: bool = False) -> bool:
        """Queue a segment just indexed, if the scope wants it (``event``: it is event footage).

        Called on the loop (e.g. from the coordinator's ``on_segment``). Event footage in
        the ``events`` scope is also found by the periodic scan and by ``enqueue_range``.
        """
        if not self._wants_footage(event=event or segment.protected):
            return False
        segment_id = segment.id
        if segment_id is None:  # as the recorder reports it: found by its path
            stored = await self._run(self._index.segment_by_path, segment.path)
            if stored is None or stored.id is None:
                return False
            segment_id = stored.id
        added = await self._run(
            self._index.cloud.enqueue_segments, [segment_id], self.config.delay_seconds
        )
        self._queued(added)
        return added > 0

    async def enqueue_range(self, camera: str, start: float, end: float) -> int:
        """Queue a camera's footage overlapping [start, end) (an event saved, footage protected)."""
        if self.config.upload == UploadScope.EXPORTS:
            return 0
        ids = await self._run(self._index.cloud.segment_ids_overlapping, camera, start, end)
        added = await self._run(self._index.cloud.enqueue_segments, ids, self.config.delay_seconds)
        self._queued(added)
        return added

    async def enqueue_export(self, export_id: int) -> bool:
        """Queue an export just written (every scope uploads exports)."""
        added = await self._run(self._index.cloud.enqueue_exports, [export_id], 0.0)
        self._queued(added)
        return added > 0

    def _queued(self, added: int) -> None:
        if added:
            self._notify()
            self._status_dirty.set()

    async def scan(self) -> int:
        """Queue what the scope covers and is not queued yet; return how many were queued.

        The first scan looks at all footage; later ones at footage starting after the
        previous scan, less an hour (events end after their segments are indexed).
        """
        added = await self._run(self._scan_blocking, time.time())
        self._queued(added)
        return added

    def _scan_blocking(self, now: float) -> int:
        cloud = self._index.cloud
        added = cloud.enqueue_exports(None, 0.0)
        if self.config.upload == UploadScope.EXPORTS:
            return added
        events_only = self.config.upload == UploadScope.EVENTS
        for camera in self._index.cameras():
            since = self._scan_since.get(camera)
            after = 0
            while ids := cloud.unqueued_segments(
                camera, since=since, events_only=events_only, after_id=after
            ):
                added += cloud.enqueue_segments(ids, self.config.delay_seconds)
                after = ids[-1]
            self._scan_since[camera] = now - 3600.0 - self.config.delay_seconds
        return added

    # -- status -------------------------------------------------------------------------

    @property
    def status(self) -> CloudStatus:
        """The latest snapshot (refreshed within a second of any change)."""
        return self._status

    def _rate(self) -> float:
        now = time.monotonic()
        while self._sent and self._sent[0][0] < now - RATE_WINDOW:
            self._sent.popleft()
        if not self._sent:
            return 0.0
        return sum(size for _, size in self._sent) / RATE_WINDOW

    def _totals_blocking(self) -> tuple[int, int, int, int]:
        cloud = self._index.cloud
        items, size = cloud.totals()
        return items, size, cloud.cloud_bytes(), cloud.trash_count()

    async def refresh_status(self) -> CloudStatus:
        """Refresh the snapshot now (e.g. after retention deleted footage) and return it."""
        await self._refresh_status()
        return self._status

    async def _refresh_status(self) -> None:
        if self._pool is not None:
            self._totals = await self._run(self._totals_blocking)
        items, size, cloud_bytes, trash = self._totals
        state = self._failing_kind or self._state
        if state in (CloudState.IDLE, CloudState.UPLOADING):
            state = CloudState.UPLOADING if self._claimed else CloudState.IDLE
        self._status = CloudStatus(
            state=state,
            queue_items=items,
            queue_bytes=size,
            last_verified=self._last_verified,
            upload_rate=self._rate(),
            cloud_bytes=cloud_bytes,
            trash_items=trash,
            uploading=len(self._claimed),
            verified=self._verified,
            uploaded_bytes=self._uploaded_bytes,
            last_error=self._last_error,
            failing_since=self._failing_since,
        )
        if self._on_status is not None:
            self._on_status(self._status)

    async def _status_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_dirty.wait(), timeout=5.0)
            self._status_dirty.clear()
            try:
                await self._refresh_status()
                await self._uploader.stop_if_idle()
            except Exception:
                _LOGGER.exception("Cloud status refresh failed")
            await asyncio.sleep(0.5)

    # -- failures -----------------------------------------------------------------------

    def _fail(self, state: CloudState, message: str) -> None:
        if self._failing_kind is None:
            self._failing_since = time.time()
            _LOGGER.warning("Cloud uploads paused (%s): %s", state, message)
        self._failing_kind = state
        self._failures += 1
        self._last_error = message
        delay = min(
            self.config.backoff_max, self.config.backoff_initial * 2.0 ** (self._failures - 1)
        )
        self._blocked_until = time.monotonic() + delay
        self._status_dirty.set()

    def _fail_from(self, err: Exception) -> None:
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        state = CloudState.OFFLINE
        if isinstance(err, BucketError) and err.kind == ErrorKind.AUTH:
            state = CloudState.AUTH_FAILED
        elif isinstance(err, BucketError) and err.kind == ErrorKind.BUCKET_MISSING:
            state = CloudState.BUCKET_MISSING
        self._fail(state, str(err))

    def _recovered(self) -> None:
        self._status_dirty.set()
        if self._failing_kind is None:
            return
        _LOGGER.info("Cloud uploads resumed")
        self._failing_kind = None
        self._failures = 0
        self._blocked_until = 0.0
        self._failing_since = None
        self._notify()

    def _backoff(self, attempts: int) -> float:
        return min(self.config.backoff_max, self.config.backoff_initial * 2.0**attempts)

    # -- workers ------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every waiting worker (new items, a recovery, a new key)."""
        self._wake_gen += 1
        for event in self._waiters:
            event.set()

    async def _wait(self, seconds: float, generation: int) -> None:
        """Sleep up to ``seconds`` unless woken (or already woken since ``generation``)."""
        if generation != self._wake_gen:
            return
        event = asyncio.Event()
        self._waiters.add(event)
        try:
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(event)

    async def _gate(self) -> bool:
        """Wait while the tier is failing; return True when this worker is the probe."""
        while self._failing_kind is not None:
            generation = self._wake_gen
            now = time.monotonic()
            if now >= self._blocked_until and not self._probe_busy and self._bucket is not None:
                self._probe_busy = True
                return True
            await self._wait(min(1.0, max(0.05, self._blocked_until - now)), generation)
        return False

    async def _worker(self, number: int) -> None:
        while not self._stopping:
            probe = await self._gate()
            generation = self._wake_gen
            try:
                claimed = await self._claim()
                if claimed is None:
                    if probe:
                        # Nothing due to probe with: a bucket check decides.
                        await self._check_bucket()
                        continue
                    wait = await self._run(self._index.cloud.next_due, list(self._claimed))
                    delay = self.config.scan_interval if wait is None else wait - time.time()
                    await self._wait(min(self.config.scan_interval, max(0.05, delay)), generation)
                    continue
                item, upload = claimed
                try:
                    await self._process(item, upload)
                finally:
                    self._claimed.discard(item.id)
                    self._progress.pop(item.id, None)
                    self._status_dirty.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("Cloud worker %d failed; going on", number)
                await asyncio.sleep(1.0)
            finally:
                if probe:
                    self._probe_busy = False

    async def _claim(self) -> tuple[QueueItem, _Upload | None] | None:
        """Take the next due item and find its file: one pool call (each is a hand-over)."""
        found = await self._run(self._claim_blocking, time.time(), list(self._claimed))
        if found is None or found[0].id in self._claimed:
            return None
        self._claimed.add(found[0].id)
        return found

    def _claim_blocking(
        self, now: float, exclude: list[int]
    ) -> tuple[QueueItem, _Upload | None] | None:
        items = self._index.cloud.due(now, exclude, 1)
        return (items[0], self._prepare(items[0])) if items else None

    async def _process(self, item: QueueItem, upload: _Upload | None) -> None:
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        try:
            if upload is None:
                await self._run(self._index.cloud.drop, item.id)
                return
            await self._upload(upload)
        except _ItemFailedError as err:
            message = str(err)
            _LOGGER.warning("Cloud upload of queue item %d failed: %s", item.id, message)
            self._last_error = message
            await self._run(
                self._index.cloud.retry,
                item.id,
                time.time() + self._backoff(item.attempts),
                message,
            )
        except BucketError as err:
            if err.kind in (ErrorKind.REJECTED, ErrorKind.CONFLICT, ErrorKind.SESSION_GONE):
                _LOGGER.warning("Cloud upload of queue item %d refused: %s", item.id, err)
                self._last_error = str(err)
                await self._run(
                    self._index.cloud.retry,
                    item.id,
                    time.time() + self._backoff(item.attempts),
                    str(err),
                )
                return
            # The whole tier is failing: the item keeps its place (and its session).
            await self._run(
                functools.partial(
                    self._index.cloud.retry, item.id, item.next_try, str(err), count_attempt=False
                )
            )
            self._fail_from(err)
        else:
            self._recovered()

    def _prepare(self, item: QueueItem) -> _Upload | None:
        """Find the item's file and metadata; None when there is nothing to upload."""
        if item.kind == KIND_SEGMENT:
            segment = self._index.segment_by_id(item.item_id)
            if segment is None or segment.location != "local":
                return None
            path = segment.file(self._root)  # its own recordings folder
            metadata = _segment_metadata(segment)
            name = self.config.prefix + segment.path
        else:
            export = self._index.exports.get(item.item_id)
            if export is None or export.location != "local" or self._exports_root is None:
                return None
            path = self._exports_root / PurePosixPath(export.path)
            metadata = _export_metadata(export)
            name = f"{self.config.prefix}exports/{export.path}"
        if ".." in PurePosixPath(path).parts:
            _LOGGER.warning("Not uploading %s: outside its root", path)
            return None
        try:
            stat = path.stat()
        except FileNotFoundError:
            _LOGGER.warning("Not uploading %s: the file is gone", path.name)
            return None
        object_name = item.object_name or name
        self._index.cloud.start(item.id, object_name)
        return _Upload(item, path, stat.st_size, stat.st_mtime_ns, metadata, object_name)

    async def _throttle(self, amount: int) -> None:
        if self._limiter is not None:
            delay = self._limiter.reserve(amount)
            if delay > 0:
                await asyncio.sleep(delay)

    def _count_sent(self, item_id: int, amount: int) -> None:
        self._sent.append((time.monotonic(), amount))
        self._uploaded_bytes += amount
        self._progress[item_id] = self._progress.get(item_id, 0) + amount
        self._status_dirty.set()

    async def _upload(self, upload: _Upload) -> None:
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        for _ in range(MAX_SUFFIX + 1):
            try:
                if upload.size >= self.config.resumable_bytes:
                    info, crc = await self._send_resumable(upload)
                else:
                    info, crc = await self._send_small(upload)
            except BucketError as err:
                if err.kind != ErrorKind.CONFLICT:
                    raise
                adopted = await self._run(self._resolve_conflict, upload)
                if adopted is None:
                    continue  # a new name: upload again
                info, crc = adopted
            await self._verify(upload, info, crc)
            return
        raise _ItemFailedError(f"{MAX_SUFFIX} names of {upload.object_name} are taken")

    async def _call(self, op: str, **args: Any) -> Any:
        """Ask the uploader process; a failure of the file alone fails the item."""
        try:
            return await self._uploader.call(op, **args)
        except _uploader.UploaderError as err:
            if err.kind == _uploader.ITEM:
                raise _ItemFailedError(str(err)) from None
            raise

    async def _send_small(self, upload: _Upload) -> tuple[ObjectInfo, str]:
        """Read, sum and send a small file in one request of the uploader process."""
        from .gcs import ObjectInfo  # noqa: PLC0415

        self._require_bucket()
        await self._throttle(upload.size)
        answer = await self._call(
            "small",
            path=str(upload.path),
            name=upload.object_name,
            metadata=upload.metadata,
            storage_class=self.config.storage_class,
        )
        upload.size = int(answer["size"])
        self._count_sent(upload.item.id, upload.size)
        return ObjectInfo(**answer["info"]), str(answer["crc"])

    def _require_bucket(self) -> Bucket:
        if self._bucket is None:
            from .gcs import BucketError, ErrorKind  # noqa: PLC0415

            raise BucketError(ErrorKind.AUTH, self._last_error or "no usable key")
        return self._bucket

    @staticmethod
    def _object_or_offset(answer: Any) -> ObjectInfo | int:
        from .gcs import ObjectInfo  # noqa: PLC0415

        return answer if isinstance(answer, int) else ObjectInfo(**answer)

    async def _send_resumable(self, upload: _Upload) -> tuple[ObjectInfo, str]:
        """Send a big file through a resumable session, one chunk per uploader request.

        The CRC32C runs on in the uploader as [value, bytes summed]; it goes with the last
        chunk, and is summed again from the file when GCS kept less than was sent.
        """
        from .gcs import BucketError, ErrorKind, crc32c_text  # noqa: PLC0415

        self._require_bucket()
        item_id = upload.item.id
        opened = await self._open_session(upload)
        if not isinstance(opened, tuple):
            # Finished before the crash: verify what the bucket holds.
            return opened, await self._run(_file_crc, upload.path)
        session, offset = opened
        crc = [0, 0]
        if offset:
            crc = await self._call("crc", path=str(upload.path), length=offset)
        while True:
            length = min(self.config.chunk_bytes, upload.size - offset)
            await self._throttle(length)
            try:
                sent = await self._call(
                    "chunk",
                    session=session,
                    path=str(upload.path),
                    offset=offset,
                    length=length,
                    size=upload.size,
                    crc=crc,
                )
            except BucketError as err:
                if err.kind == ErrorKind.SESSION_GONE:
                    await self._run(
                        self._index.cloud.set_session, item_id, upload.object_name, None
                    )
                raise
            self._count_sent(item_id, int(sent["sent"]))
            crc = sent["crc"]
            answer = self._object_or_offset(sent["answer"])
            if not isinstance(answer, int):
                return answer, crc32c_text(int(crc[0]))
            if answer < crc[1]:
                # GCS kept less than was sent: sum the kept prefix again.
                crc = await self._call("crc", path=str(upload.path), length=answer)
            offset = answer

    async def _open_session(self, upload: _Upload) -> tuple[str, int] | ObjectInfo:
        """Return (session URL, offset to send from), or the object when it was finished.

        A session remembered in the queue is asked how far it got; an expired one (or
        none) is replaced by a new create-only session.
        """
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        item = upload.item
        if item.session_url is not None and item.object_name == upload.object_name:
            try:
                answer = self._object_or_offset(
                    await self._call("query", session=item.session_url, size=upload.size)
                )
            except BucketError as err:
                if err.kind not in (ErrorKind.SESSION_GONE, ErrorKind.REJECTED):
                    raise
            else:
                return (item.session_url, answer) if isinstance(answer, int) else answer
        # Create-only: an existing object answers 412 (GCS checks at the start and the
        # end of a session; an emulator may check neither, hence the look first).
        if await self._call("info", name=upload.object_name) is not None:
            raise BucketError(ErrorKind.CONFLICT, f"{upload.object_name} exists")
        session = str(
            await self._call(
                "start",
                name=upload.object_name,
                size=upload.size,
                metadata=upload.metadata,
                storage_class=self.config.storage_class,
            )
        )
        await self._run(self._index.cloud.set_session, item.id, upload.object_name, session)
        return session, 0

    def _resolve_conflict(self, upload: _Upload) -> tuple[ObjectInfo, str] | None:
        """Adopt the object holding the name when it has our bytes, else pick the next name."""
        bucket = self._require_bucket()
        existing = bucket.info(upload.object_name)
        if existing is None:
            return None  # deleted meanwhile: the same name is free again
        if existing.size == upload.size:
            crc = _file_crc(upload.path)
            if existing.crc32c == crc:
                _LOGGER.debug("%s was already in the bucket; adopted", upload.object_name)
                return existing, crc
        candidate = _next_name(upload.object_name)
        _LOGGER.info(
            "%s holds other bytes in the bucket; uploading as %s", upload.object_name, candidate
        )
        upload.object_name = candidate
        self._index.cloud.set_session(upload.item.id, candidate, None)
        upload.item = replace(upload.item, object_name=candidate, session_url=None)
        return None

    async def _verify(self, upload: _Upload, info: ObjectInfo, crc: str) -> None:
        bucket = self._require_bucket()
        copy = await self._run(self._check_and_record, upload, info, crc, bucket.uri(info.name))
        if isinstance(copy, str):
            await self._run(bucket.delete, info.name, info.generation)
            await self._run(self._index.cloud.set_session, upload.item.id, upload.object_name, None)
            raise _ItemFailedError(copy)
        self._verified += 1
        self._last_verified = copy.verified
        self._status_dirty.set()

    def _check_and_record(
        self, upload: _Upload, info: ObjectInfo, crc: str, uri: str
    ) -> CloudCopy | str:
        """Compare the bucket's object with the file; record the copy when they are equal.

        One pool call. Returns the copy recorded, or the mismatch (the local copy kept).
        """
        local_crc = crc
        stat = upload.path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (upload.size, upload.mtime_ns):
            local_crc = _file_crc(upload.path)
            upload.size = stat.st_size
        if info.crc32c != local_crc or info.size != upload.size:
            return (
                f"checksum mismatch for {info.name}: bucket crc32c {info.crc32c} "
                f"({info.size} bytes), local {local_crc} ({upload.size} bytes); "
                "local copy kept, uploading again"
            )
        copy = CloudCopy(uri, info.generation, info.crc32c, time.time())
        self._index.cloud.record_copy(upload.item, copy)
        return copy

    # -- the scanner and the trash ------------------------------------------------------

    async def _scanner(self) -> None:
        while not self._stopping:
            try:
                await self.scan()
                if self._failing_kind is None:
                    await self.empty_trash()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("Cloud scan failed; trying again later")
            await asyncio.sleep(self.config.scan_interval)

    async def empty_trash(self, limit: int = 200) -> int:
        """Delete the objects of deleted rows from the bucket; return how many went.

        Only the generation we uploaded is deleted. A 412 means the name now holds another
        generation (someone wrote over ours): that object is not ours to delete, so the
        trash item is done (in a bucket with object versioning, ours stays as a noncurrent
        version for the bucket's own rules).
        """
        from .gcs import BucketError, ErrorKind, split_uri  # noqa: PLC0415

        bucket = self._bucket
        if bucket is None:
            return 0
        items = await self._run(self._index.cloud.trash_due, time.time(), limit)
        done: list[int] = []
        for trash in items:
            try:
                _, name = split_uri(trash.uri)
                await self._run(bucket.delete, name, trash.generation)
            except ValueError:
                done.append(trash.id)
            except BucketError as err:
                if err.kind == ErrorKind.CONFLICT:
                    _LOGGER.info("Not deleting %s: another generation holds its name", trash.uri)
                    done.append(trash.id)
                    continue
                await self._run(
                    self._index.cloud.trash_retry,
                    trash.id,
                    time.time() + self._backoff(trash.attempts),
                    str(err),
                )
            else:
                done.append(trash.id)
        if done:
            await self._run(self._index.cloud.trash_done, done)
            self._status_dirty.set()
        return len(done)

    # -- reading back -------------------------------------------------------------------

    def _name_of(self, uri: str) -> str:
        from .gcs import split_uri  # noqa: PLC0415

        bucket, name = split_uri(uri)
        if bucket != self.config.bucket:
            raise ValueError("the object is in another bucket")
        return name

    async def signed_url(self, uri: str, seconds: int | None = None) -> str | None:
        """Return a short-lived V4 signed GET URL of an object (None: no key to sign with).

        Call only after the caller's access check; never log the URL.
        """
        bucket = self._require_bucket()
        return await self._run(
            bucket.signed_url, self._name_of(uri), seconds or self.config.signed_url_seconds
        )

    async def read(self, uri: str, start: int = 0, end: int | None = None) -> bytes:
        """Return bytes [start, end] (inclusive) of an object."""
        bucket = self._require_bucket()
        return await self._run(bucket.read, self._name_of(uri), start, end)

    async def stream(
        self, uri: str, start: int = 0, end: int | None = None, chunk: int = MIB
    ) -> AsyncIterator[bytes]:
        """Yield an object's bytes [start, end] in chunks (for a view that streams it)."""
        bucket = self._require_bucket()
        name = self._name_of(uri)
        if end is None:
            info = await self._run(bucket.info, name)
            if info is None:
                return
            end = info.size - 1
        position = start
        while position <= end:
            last = min(end, position + chunk - 1)
            data = await self._run(bucket.read, name, position, last)
            if not data:
                return
            yield data
            position += len(data)

    async def fetch(self, uri: str, dest: Path, crc32c: str | None = None) -> Path:
        """Download an object into a local file (checked against ``crc32c`` when given).

        Raises ``BucketError`` (``REJECTED`` when the bytes read are not the ones uploaded).
        """
        bucket = self._require_bucket()
        name = self._name_of(uri)

        def download() -> Path:
            from .gcs import BucketError, ErrorKind, crc32c_of  # noqa: PLC0415

            data = bucket.read(name)
            if crc32c is not None and crc32c_of(data) != crc32c:
                raise BucketError(ErrorKind.REJECTED, f"checksum mismatch reading {name}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_name(dest.name + ".part")
            partial.write_bytes(data)
            partial.replace(dest)
            return dest

        return await self._run(download)

    # -- the bucket's settings ----------------------------------------------------------

    async def apply_lifecycle(
        self,
        *,
        delete_after_days: float | None = None,
        colder_after_days: float | None = None,
        colder_class: StorageClass | str | None = None,
    ) -> list[str]:
        """Set lifecycle rules on the bucket; return the warnings that apply to the settings."""
        bucket = self._require_bucket()
        rules = lifecycle_rules(
            self.config,
            delete_after_days=delete_after_days,
            colder_after_days=colder_after_days,
            colder_class=colder_class,
        )
        await self._run(bucket.set_lifecycle, rules)
        warnings = lifecycle_warnings(self.config)
        if colder_after_days is not None and colder_class:
            warnings += colder_warnings(self.config, colder_class, colder_after_days)
        return warnings

    # -- found again by listing the bucket ----------------------------------------------

    async def rebuild_from_bucket(self) -> RebuildReport:
        """List the bucket and record the footage and exports it holds (index lost or rebuilt).

        Objects with our metadata whose uri no row records: a local row of the same path
        whose file has the same CRC32C becomes ``both``; one without its file becomes
        ``cloud``; footage without a row gets one (``cloud``). Exports likewise.
        """
        bucket = self._require_bucket()
        report = await self._run(self._rebuild_blocking, bucket)
        self._status_dirty.set()
        return report

    def _rebuild_blocking(self, bucket: Bucket) -> RebuildReport:
        counts = {"objects": 0, "added": 0, "adopted": 0, "exports": 0, "skipped": 0}
        page: list[ObjectInfo] = []

        def flush() -> None:
            known = self._index.cloud.cloud_uris([bucket.uri(info.name) for info in page])
            for info in page:
                if bucket.uri(info.name) in known:
                    counts["skipped"] += 1
                else:
                    counts[self._rebuild_one(bucket, info)] += 1
            page.clear()

        for info in bucket.objects(self.config.prefix):
            counts["objects"] += 1
            page.append(info)
            if len(page) >= 500:  # noqa: PLR2004
                flush()
        flush()
        return RebuildReport(
            objects=counts["objects"],
            segments_added=counts["added"],
            segments_adopted=counts["adopted"],
            exports_added=counts["exports"],
            skipped=counts["skipped"],
        )

    def _rebuild_one(self, bucket: Bucket, info: ObjectInfo) -> str:
        copy = CloudCopy(bucket.uri(info.name), info.generation, info.crc32c, time.time())
        path = _meta(info, "path")
        camera = _meta(info, "camera")
        start, end = _float(_meta(info, "start")), _float(_meta(info, "end"))
        if path is None or camera is None or start is None or end is None:
            return "skipped"
        if _meta(info, "kind") == KIND_EXPORT:
            return self._rebuild_export(info, copy, camera, path, (start, end))
        if _meta(info, "kind") != KIND_SEGMENT:
            return "skipped"
        return self._rebuild_segment(info, copy, camera, path, (start, end))

    def _rebuild_export(
        self, info: ObjectInfo, copy: CloudCopy, camera: str, path: str, span: tuple[float, float]
    ) -> str:
        if any(e.path == path for e in self._index.exports.newest_first(camera)):
            return "skipped"
        self._index.cloud.add_cloud_export(
            (
                camera,
                _meta(info, "name") or path,
                span[0],
                span[1],
                path,
                info.size,
                _float(_meta(info, "duration")),
                _float(_meta(info, "created")) or time.time(),
            ),
            copy,
        )
        return "exports"

    def _rebuild_segment(
        self, info: ObjectInfo, copy: CloudCopy, camera: str, path: str, span: tuple[float, float]
    ) -> str:
        row = self._index.segment_by_path(path)
        if row is not None:
            if row.location != "local" or row.id is None:
                return "skipped"
            local = row.file(self._root)
            try:
                same = local.stat().st_size == info.size and _file_crc(local) == info.crc32c
            except FileNotFoundError:
                same = None
            if same is False:
                return "skipped"  # other bytes locally: they go up under a suffixed name
            self._index.cloud.adopt_segment(row.id, copy, local=same is True)
            return "adopted"
        segment = Segment(
            camera=camera,
            path=path,
            start=span[0],
            end=span[1],
            bytes=info.size,
            video_codec=_meta(info, "video-codec"),
            width=_int(_meta(info, "width")),
            height=_int(_meta(info, "height")),
            fps=_float(_meta(info, "fps")),
            audio_codec=_meta(info, "audio-codec"),
            kind=_meta(info, "segment-kind") or "continuous",
            run_id=_meta(info, "run"),
        )
        self._index.add_segment(segment)
        added = self._index.segment_by_path(path)
        if added is None or added.id is None:
            return "skipped"
        self._index.cloud.adopt_segment(added.id, copy, local=False)
        return "added"
