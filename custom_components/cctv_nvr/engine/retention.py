"""Retention: delete old footage by age, by size and when the disk runs low.

Pure engine code, blocking (disk and SQLite): the Home Assistant side calls
``enforce`` from an executor, e.g. every few minutes.

Rules, in order:

1. Per camera, age: unprotected segments that ended more than ``max_age_days``
   ago are deleted. With ``event_max_age_days``, segments overlapping an
   ``event`` recording (see ``index.recordings``) that ended less
   than that long ago, or is still open, are kept, so events can outlive the
   continuous footage around them.
2. Per camera, size: oldest unprotected segments first until the camera's
   footage is at most ``max_bytes``; footage kept for events goes last.
3. Globally, free space: while the filesystem of the root has less than
   ``min_free_bytes`` free, the oldest unprotected segment of any camera is
   deleted (event footage included: a full disk stops every recording).
   When nothing deletable remains, ``still_short`` is set so the caller can
   raise a repair issue.

With the cloud tier (``RetentionPolicy.cloud``), before those rules:

0. Cloud age: footage in the bucket (``both`` or ``cloud``) that ended more than
   ``keep_cloud_days`` ago goes: its local file if any, and its row; deleting the row
   queues the object for deletion from the bucket (``cloud_trash``, emptied by the
   tier). Protected footage, footage under an export and footage kept for events
   (``event_max_age_days``) stay, as in rule 1.
0b. Keep local: local copies of footage verified in the bucket (``both``: CRC32C
   compared, generation recorded) that ended more than ``keep_local_days`` ago are
   deleted; the row stays (``cloud``), the footage plays from the bucket. This is
   only a copy going, so it applies to protected and exported footage too.

and in rules 2 and 3, verified local copies go first (oldest first), before any
footage that exists only locally. Nothing unverified is ever deleted because of the
cloud: rules 0b, 2 and 3 offload only ``both`` rows, and rules 1-3 delete only
footage that is only local, as without the cloud tier.

Never deleted (rules 1-3): protected segments, segments overlapping an export of their
camera, and segments not stored locally. Files go first, then their rows, one
batch at a time; a file already missing just drops its row, a file that cannot
be removed keeps its row. Hour and day directories emptied are removed, except
those of the current hour.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
import logging
from pathlib import Path, PurePosixPath
import shutil
import time

from . import location
from .index import (
    LOCATION_BOTH,
    LOCATION_CLOUD,
    LOCATION_LOCAL,
    SEGMENT_BUFFER,
    Segment,
    SegmentIndex,
)
from .layout import hour_dir

_LOGGER = logging.getLogger(__name__)

_BATCH = 500
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class CameraRetention:
    """Retention limits of one camera; None means no limit."""

    max_age_days: float | None = None
    max_bytes: int | None = None
    event_max_age_days: float | None = None  # keep event footage this long (see module doc)


@dataclass(frozen=True, slots=True)
class CloudRetention:
    """How long footage stays once the cloud tier holds it; None means no limit."""

    keep_local_days: float | None = None  # local copies of verified footage go after this
    keep_cloud_days: float | None = None  # footage in the bucket goes after this


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Retention limits of every camera plus the free space to keep on the disk."""

    cameras: dict[str, CameraRetention] = field(default_factory=dict)
    min_free_bytes: int | None = None
    cloud: CloudRetention | None = None  # the cloud tier is on (see the module doc)


@dataclass(slots=True)
class RetentionReport:
    """What one ``enforce`` run deleted."""

    deleted_segments: int = 0
    deleted_bytes: int = 0
    per_camera: dict[str, int] = field(default_factory=dict)  # segments deleted
    per_camera_bytes: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # "age" / "size" / "disk" -> segments
    still_short: bool = False  # free space still below min_free_bytes, nothing left to delete
    over_quota: list[str] = field(default_factory=list)  # cameras still above max_bytes
    failed: int = 0  # files that could not be removed (kept, with their rows)
    offloaded_segments: int = 0  # local copies deleted, footage kept in the bucket
    offloaded_bytes: int = 0


def disk_free_bytes(path: Path) -> int:
    """Return the free bytes of the filesystem holding path (or its nearest existing parent)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return shutil.disk_usage(path).free


def enforce(
    index: SegmentIndex,
    root: Path,
    policy: RetentionPolicy,
    now: float | None = None,
    free_bytes: Callable[[], int] | None = None,
) -> RetentionReport:
    """Apply a retention policy to the segments under root (see the module doc).

    ``free_bytes`` returns the free space of root's filesystem; it defaults to
    ``shutil.disk_usage`` and is the injection point for tests.
    """
    sweeper = _Sweeper(index, root, time.time() if now is None else now)
    cloud = policy.cloud
    if cloud is not None:
        _cloud_rules(sweeper, policy, cloud)
    for camera, limits in policy.cameras.items():
        keep_events = (
            None
            if limits.event_max_age_days is None
            else sweeper.now - limits.event_max_age_days * _DAY
        )
        if limits.max_age_days is not None:
            sweeper.sweep(
                camera,
                "age",
                ended_before=sweeper.now - limits.max_age_days * _DAY,
                keep_events_since=keep_events,
            )
        if limits.max_bytes is not None:
            excess = index.camera_bytes(camera) - limits.max_bytes
            if excess > 0 and cloud is not None:
                excess -= sweeper.offload(camera, "size", need_bytes=excess)
            if excess > 0:
                excess -= sweeper.sweep(
                    camera, "size", need_bytes=excess, keep_events_since=keep_events
                )
            if excess > 0 and keep_events is not None:
                excess -= sweeper.sweep(camera, "size", need_bytes=excess)
            if excess > 0:
                sweeper.report.over_quota.append(camera)
    if policy.min_free_bytes is not None:
        measure = free_bytes if free_bytes is not None else lambda: disk_free_bytes(root)
        if cloud is not None:
            sweeper.offload_for_space(policy.min_free_bytes, measure)
        sweeper.free_space(policy.min_free_bytes, measure, device=_device(root))
        _free_other_disks(sweeper, policy.min_free_bytes)
    sweeper.remove_empty_dirs()
    report = sweeper.report
    if report.deleted_segments or report.still_short or report.offloaded_segments:
        _LOGGER.info(
            "Retention deleted %d segments (%d bytes) and %d local copies of footage in the "
            "cloud (%d bytes): %s%s",
            report.deleted_segments,
            report.deleted_bytes,
            report.offloaded_segments,
            report.offloaded_bytes,
            report.reasons,
            "; still short of free space" if report.still_short else "",
        )
    return report


def _device(path: Path) -> int | None:
    """Return the filesystem (st_dev) of a folder, None when it is not there."""
    try:
        return path.stat().st_dev
    except OSError:
        return None


def _free_other_disks(sweeper: _Sweeper, min_free: int) -> None:
    """Keep the floor on each other recordings folder's own disk, with its own footage.

    Deleting a NAS's footage frees nothing on the local disk (and the reverse), so each
    filesystem is swept for its own segments only; an offline folder is left alone.
    """
    done = {_device(sweeper.root)}
    for folder in map(Path, sweeper.index.roots()):
        device = _device(folder)
        if device in done or not location.present(folder):
            continue
        done.add(device)
        sweeper.free_space(min_free, partial(disk_free_bytes, folder), device=device)


def _cloud_rules(sweeper: _Sweeper, policy: RetentionPolicy, cloud: CloudRetention) -> None:
    """Rules 0 and 0b: footage past its time in the bucket, local copies past theirs."""
    if cloud.keep_cloud_days is not None:
        ended_before = sweeper.now - cloud.keep_cloud_days * _DAY
        for camera in sweeper.index.cameras():
            limits = policy.cameras.get(camera, CameraRetention())
            keep_events = (
                None
                if limits.event_max_age_days is None
                else sweeper.now - limits.event_max_age_days * _DAY
            )
            sweeper.sweep(
                camera,
                "cloud_age",
                ended_before=ended_before,
                keep_events_since=keep_events,
                locations=(LOCATION_BOTH, LOCATION_CLOUD),
            )
    if cloud.keep_local_days is not None:
        sweeper.offload(None, "keep_local", ended_before=sweeper.now - cloud.keep_local_days * _DAY)


def delete_range(
    index: SegmentIndex, root: Path, camera: str, start: float, end: float
) -> tuple[int, int]:
    """Delete a camera's unprotected segments overlapping [start, end), files then rows.

    An explicit deletion (admin service): protected segments stay (unprotect
    them first); segments under an export go (the export is its own file).
    Returns (segments deleted, bytes deleted).
    """
    sweeper = _Sweeper(index, root, time.time())
    sweeper.sweep(
        camera,
        "manual",
        overlapping=(start, end),
        keep_exported=False,
        locations=(LOCATION_LOCAL, LOCATION_BOTH, LOCATION_CLOUD),
    )
    sweeper.remove_empty_dirs()
    return sweeper.report.deleted_segments, sweeper.report.deleted_bytes


def prune_buffer(
    index: SegmentIndex,
    root: Path,
    camera: str,
    ended_before: float,
    now: float | None = None,
    since: float | None = None,
) -> tuple[int, int]:
    """Delete a camera's rolling pre-roll buffer that aged out, files then rows.

    Only segments of kind ``buffer`` (recorded while continuous recording was
    off, so that an event can start with pre-roll) ending at or before
    ``ended_before`` go, and none that a labelled recording (manual or event),
    an export or protection covers. ``since`` skips segments starting before it
    (the caller prunes often: only the newest part of the index is looked at).
    Returns (segments deleted, bytes deleted).
    """
    sweeper = _Sweeper(index, root, time.time() if now is None else now)
    sweeper.sweep(
        camera,
        SEGMENT_BUFFER,
        ended_before=ended_before,
        kind=SEGMENT_BUFFER,
        keep_recorded=True,
        after=None if since is None else (since, 0),
    )
    sweeper.remove_empty_dirs()
    return sweeper.report.deleted_segments, sweeper.report.deleted_bytes


def prune_cache(directory: Path, older_than: float) -> int:
    """Delete cached files (event clips and snapshots) last written before a moment.

    Caches are rebuilt on demand, so this only bounds their size. Returns how
    many files went; emptied sub-directories are removed.
    """
    removed = 0
    if not directory.is_dir():
        return removed
    for path in sorted(directory.rglob("*"), reverse=True):
        try:
            if path.is_dir():
                path.rmdir()  # only when empty
            elif path.stat().st_mtime < older_than:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def prune_thumbnails(index: SegmentIndex, directory: Path, max_files: int) -> int:
    """Bound the thumbnail cache: drop thumbnails of deleted segments, then the oldest.

    Thumbnails are ``<directory>/<camera>/<segment id>.jpg``; event clips and snapshots
    (``<directory>/events/<camera>/<event id>-...``) go when their event or footage does.
    Returns how many files went.
    """
    if not directory.is_dir():
        return 0
    removed = 0
    kept: list[tuple[float, Path]] = []
    for camera_dir in (p for p in directory.iterdir() if p.is_dir() and p.name != "events"):
        files = {p: p.stem for p in camera_dir.glob("*.jpg")}
        known = index.known_ids(int(stem) for stem in files.values() if stem.isdigit())
        for path, stem in files.items():
            if not stem.isdigit() or int(stem) not in known:
                removed += _unlink(path)
            else:
                with contextlib.suppress(OSError):
                    kept.append((path.stat().st_mtime, path))
    kept.sort()
    for _mtime, path in kept[: max(0, len(kept) - max_files)]:
        removed += _unlink(path)
    events = directory / "events"
    for path in events.glob("*/*") if events.is_dir() else ():
        if _stale_event_file(index, path):
            removed += _unlink(path)
    return removed


def _stale_event_file(index: SegmentIndex, path: Path) -> bool:
    """Return True when a cached event file's event or footage is gone.

    Snapshots are ``<event>-<segment>.jpg``, clips ``<event>-<first>-<last>-<count>-<ms>.mp4``
    (segment ids): the file goes with its event or with any segment its name holds.
    """
    parts = path.stem.split("-")
    named = parts[1:2] if path.suffix == ".jpg" else parts[1:3]
    if not all(part.isdigit() for part in (parts[0], *named)):
        return True
    if index.recordings.get(int(parts[0])) is None:
        return True
    ids = [int(part) for part in named]
    return len(index.known_ids(ids)) < len(set(ids))


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except OSError:
        return 0
    return 1


class _Sweeper:
    """Deletes pages of candidate segments, files first, and remembers emptied dirs."""

    def __init__(self, index: SegmentIndex, root: Path, now: float) -> None:
        self.index = index
        self.root = root
        self._present: dict[Path, bool] = {}
        self._devices: dict[Path, int | None] = {}
        self.now = now
        self.report = RetentionReport()
        self._touched: set[tuple[str, Path]] = set()  # (camera, hour dir)

    def sweep(
        self,
        camera: str,
        reason: str,
        *,
        ended_before: float | None = None,
        keep_events_since: float | None = None,
        need_bytes: int | None = None,
        overlapping: tuple[float, float] | None = None,
        keep_exported: bool = True,
        kind: str | None = None,
        keep_recorded: bool = False,
        after: tuple[float, int] | None = None,
        locations: tuple[str, ...] = (LOCATION_LOCAL,),
    ) -> int:
        """Delete candidates of a camera oldest first; stop once need_bytes (row bytes) went."""
        freed = 0
        while need_bytes is None or freed < need_bytes:
            page = self.index.deletion_candidates(
                camera,
                after=after,
                ended_before=ended_before,
                keep_events_since=keep_events_since,
                overlapping=overlapping,
                keep_exported=keep_exported,
                kind=kind,
                keep_recorded=keep_recorded,
                locations=locations,
                limit=_BATCH,
            )
            if not page:
                break
            if need_bytes is not None:
                page = _prefix_for(page, need_bytes - freed)
            after = (page[-1].start, page[-1].id or 0)
            freed += self.delete(page, reason)
        return freed

    def free_space(
        self, min_free: int, measure: Callable[[], int], device: int | None = None
    ) -> None:
        """Delete the oldest deletable segments of any camera until min_free bytes are free.

        With ``device`` only segments stored on that filesystem (st_dev of their root).
        """
        after: tuple[float, int] | None = None
        while (free := measure()) < min_free:
            raw = self.index.deletion_candidates(None, after=after, limit=_BATCH)
            page = [s for s in raw if device is None or self._device(s) == device]
            if raw and not page:
                after = (raw[-1].start, raw[-1].id or 0)
                continue
            if not page:
                self.report.still_short = True
                _LOGGER.warning(
                    "Only %d bytes free (want %d) and no deletable footage is left", free, min_free
                )
                return
            page = _prefix_for(page, min_free - free)
            after = (page[-1].start, page[-1].id or 0)
            self.delete(page, "disk")

    def offload(
        self,
        camera: str | None,
        reason: str,
        *,
        ended_before: float | None = None,
        need_bytes: int | None = None,
    ) -> int:
        """Delete local copies of footage verified in the bucket, oldest first; return bytes."""
        freed = 0
        after: tuple[float, int] | None = None
        while need_bytes is None or freed < need_bytes:
            page = self.index.cloud.offload_candidates(
                camera, ended_before=ended_before, after=after, limit=_BATCH
            )
            if not page:
                break
            if need_bytes is not None:
                page = _prefix_rows(page, need_bytes - freed)
            after = (page[-1][3], page[-1][0])
            freed += self._offload_rows(page, reason)
        return freed

    def offload_for_space(self, min_free: int, measure: Callable[[], int]) -> None:
        """Delete verified local copies, oldest first, until min_free bytes are free."""
        after: tuple[float, int] | None = None
        while (free := measure()) < min_free:
            page = self.index.cloud.offload_candidates(None, after=after, limit=_BATCH)
            if not page:
                return
            page = _prefix_rows(page, min_free - free)
            after = (page[-1][3], page[-1][0])
            self._offload_rows(page, "disk")

    def _offload_rows(self, rows: list[tuple[int, str, str, float, int]], reason: str) -> int:
        gone: list[int] = []
        size = 0
        for row_id, camera, relative_path, _start, row_bytes in rows:
            path = self._local_path(row_id, relative_path)
            if path is None:
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as err:
                _LOGGER.warning("Cannot delete %s: %s", relative_path, err)
                self.report.failed += 1
                continue
            gone.append(row_id)
            size += row_bytes
            self._touched.add((camera, path.parent))
        self.index.cloud.mark_offloaded(gone)
        self.report.offloaded_segments += len(gone)
        self.report.offloaded_bytes += size
        key = f"offload_{reason}"
        self.report.reasons[key] = self.report.reasons.get(key, 0) + len(gone)
        return size

    def _local_path(self, row_id: int, relative_path: str) -> Path | None:
        """Return the local copy's file in its own recordings folder.

        None: not to be deleted now (a path outside its folder, or a folder that is offline:
        its file cannot be deleted, and marking it offloaded would leave it behind).
        """
        relative = PurePosixPath(relative_path)
        if relative.is_absolute() or ".." in relative.parts:
            _LOGGER.warning("Not deleting %s: outside the recordings root", relative_path)
            self.report.failed += 1
            return None
        segment = self.index.segment_by_id(row_id)
        root = self.root if segment is None else segment.root_path(self.root)
        if root != self.root and not self._root_present(root):
            return None
        return root / relative

    def _device(self, segment: Segment) -> int | None:
        root = segment.root_path(self.root)
        if root not in self._devices:
            self._devices[root] = _device(root)
        return self._devices[root]

    def _root_present(self, root: Path) -> bool:
        if root not in self._present:
            self._present[root] = location.present(root)
        return self._present[root]

    def delete(self, batch: list[Segment], reason: str) -> int:
        """Remove the files, then the rows of those gone; return the bytes of the rows."""
        gone: list[Segment] = []
        for segment in batch:
            if not segment.has_local_copy:
                gone.append(segment)  # only in the bucket: the row's delete trashes the object
                continue
            relative = PurePosixPath(segment.path)
            if relative.is_absolute() or ".." in relative.parts:
                _LOGGER.warning("Not deleting %s: outside the recordings root", segment.path)
                self.report.failed += 1
                continue
            root = segment.root_path(self.root)
            if root != self.root and not self._root_present(root):
                continue  # its folder is offline (a NAS off): the row stays for its return
            path = root / relative
            try:
                path.unlink()
            except FileNotFoundError:
                _LOGGER.debug("Segment %s was already gone; dropping its row", segment.path)
            except OSError as err:
                _LOGGER.warning("Cannot delete %s: %s", segment.path, err)
                self.report.failed += 1
                continue
            gone.append(segment)
            self._touched.add((segment.camera, path.parent))
        self.index.delete_segments(segment.id for segment in gone if segment.id is not None)
        size = sum(segment.bytes for segment in gone)
        report = self.report
        report.deleted_segments += len(gone)
        report.deleted_bytes += size
        report.reasons[reason] = report.reasons.get(reason, 0) + len(gone)
        for segment in gone:
            report.per_camera[segment.camera] = report.per_camera.get(segment.camera, 0) + 1
            report.per_camera_bytes[segment.camera] = (
                report.per_camera_bytes.get(segment.camera, 0) + segment.bytes
            )
        return size

    def remove_empty_dirs(self) -> None:
        """Remove the hour directories emptied (and then their day), not the current hour's."""
        moment = datetime.fromtimestamp(self.now, UTC)
        root = self.root.resolve()
        for camera, directory in sorted(self._touched, key=lambda item: str(item[1])):
            current = hour_dir(self.root, camera, moment)
            camera_dir = (self.root / camera).resolve()
            for candidate in (directory, directory.parent):
                resolved = candidate.resolve()
                if (
                    candidate in (current, current.parent)
                    or resolved in (root, camera_dir)
                    or not resolved.is_relative_to(camera_dir)
                ):
                    break
                try:
                    candidate.rmdir()
                except FileNotFoundError:
                    continue
                except OSError:
                    break  # not empty (or already gone): keep its parent too


def _prefix_rows(
    page: list[tuple[int, str, str, float, int]], need: int
) -> list[tuple[int, str, str, float, int]]:
    """Return the oldest rows of a page whose bytes reach need (at least one)."""
    total = 0
    for position, row in enumerate(page):
        total += row[4]
        if total >= need:
            return page[: position + 1]
    return page


def _prefix_for(page: list[Segment], need: int) -> list[Segment]:
    """Return the oldest segments of a page whose bytes reach need (at least one)."""
    total = 0
    for position, segment in enumerate(page):
        total += segment.bytes
        if total >= need:
            return page[: position + 1]
    return page
