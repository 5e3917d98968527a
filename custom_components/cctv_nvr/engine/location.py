"""Recordings locations: checking a folder, knowing it is still there, moving footage into it.

A camera may record into any folder (a media folder, a NAS mount) instead of the
installation default ``<config>/cctv_nvr/recordings``. Each segment row knows the root
its path is relative to (index schema 5), so footage stays playable where it was
written whatever the camera's folder is now.

A chosen folder gets a marker file (``MARKER``) when it is validated. The folder is
*present* while the marker is there and the folder is writable: a NAS switched off or
an unmounted share leaves an empty (often still writable) mount-point directory
behind, which has no marker, so recording never writes into the bare mount point,
where the files would be hidden once the share is mounted again.

Moving footage (``move_segments``) is one file at a time: copy to ``<name>.part`` in
the target, fsync, rename, fsync the directory, point the row at the new root, then
delete the source. Interrupted anywhere, every row still names a root holding a
complete copy, and running the move again finishes it (a complete copy already at the
target is taken as is). Everything here blocks: call it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
import logging
import os
from pathlib import Path, PurePosixPath
import shutil
import uuid

from .index import Segment, SegmentIndex

_LOGGER = logging.getLogger(__name__)

MARKER = ".cctv_nvr_location"
_PROBE = ".cctv_nvr_probe"
_COPY_CHUNK = 4 * 2**20

# Why a folder cannot hold recordings (each a translation key of the options flow).
ERROR_NOT_ABSOLUTE = "folder_not_absolute"
ERROR_MISSING = "folder_missing"
ERROR_NOT_WRITABLE = "folder_not_writable"
ERROR_LOW_SPACE = "folder_low_space"
ERROR_CAMERA_FOLDER = "folder_inside_camera"
ERROR_FORBIDDEN = "folder_forbidden"


def check_folder(
    folder: str,
    *,
    min_free_bytes: int,
    camera_folders: Iterable[Path],
    forbidden: Iterable[Path],
) -> str | None:
    """Return why ``folder`` cannot hold recordings (an ``ERROR_*`` key), or None.

    It must be absolute, an existing directory, writable (a probe file is written and
    removed), have more than ``min_free_bytes`` free, not lie inside (or be) another
    camera's folder (``camera_folders``: ``<root>/<camera>`` of the other cameras),
    and not lie inside a ``forbidden`` folder (Home Assistant's ``.storage``).
    """
    path = Path(folder)
    if not path.is_absolute():
        return ERROR_NOT_ABSOLUTE
    resolved = path.resolve()
    for places, error in ((camera_folders, ERROR_CAMERA_FOLDER), (forbidden, ERROR_FORBIDDEN)):
        if any(resolved.is_relative_to(place.resolve()) for place in places):
            return error
    return _access_error(path, min_free_bytes)


def _access_error(path: Path, min_free_bytes: int) -> str | None:
    """Return why an absolute, well placed folder cannot be written (or None)."""
    if not path.is_dir():
        return ERROR_MISSING
    probe = path / f"{_PROBE}-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"cctv_nvr")
        probe.unlink()
    except OSError:
        return ERROR_NOT_WRITABLE
    stat = os.statvfs(path)
    return ERROR_LOW_SPACE if stat.f_bavail * stat.f_frsize <= min_free_bytes else None


def claim(folder: Path) -> None:
    """Write the marker that tells this folder is really there (not a bare mount point)."""
    marker = folder / MARKER
    if not marker.exists():
        marker.write_text(
            "This folder holds CCTV NVR recordings. Keep this file: without it the folder "
            "counts as missing (a share that is not mounted).\n",
            encoding="utf-8",
        )


def present(folder: Path) -> bool:
    """Return True when a claimed folder is there and writable (see the module doc)."""
    return (folder / MARKER).is_file() and os.access(folder, os.W_OK | os.X_OK)


@dataclass(slots=True)
class MoveReport:
    """What a move did."""

    moved: int = 0
    moved_bytes: int = 0
    missing: int = 0  # rows whose file was not found (their root offline): left as they are
    failed: int = 0
    total: int = 0
    total_bytes: int = 0


def _safe(relative: str) -> PurePosixPath | None:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts:
        return None
    return path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_segment(index: SegmentIndex, default_root: Path, segment: Segment, target: Path) -> bool:
    """Move one segment's file into ``target`` (see the module doc); False if not moved."""
    relative = _safe(segment.path)
    if relative is None or segment.id is None:
        return False
    source = segment.file(default_root)
    destination = target / relative
    size = None
    if destination.is_file() and source.is_file():
        size = destination.stat().st_size
        if size != source.stat().st_size:
            size = None  # a partial copy from an older attempt: copy again
    elif destination.is_file():
        size = destination.stat().st_size  # moved before; the row was not updated yet
    if size is None:
        if not source.is_file():
            return False
        destination.parent.mkdir(parents=True, exist_ok=True)
        part = destination.with_name(destination.name + ".part")
        with source.open("rb") as reader, part.open("wb") as writer:
            shutil.copyfileobj(reader, writer, _COPY_CHUNK)
            writer.flush()
            os.fsync(writer.fileno())
        part.replace(destination)
        _fsync_dir(destination.parent)
    index.set_segment_root(segment.id, target)
    if source != destination:
        source.unlink(missing_ok=True)
    return True


def move_segments(
    index: SegmentIndex,
    default_root: Path,
    camera: str,
    target: Path,
    *,
    progress: Callable[[MoveReport], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> MoveReport:
    """Move every local segment of a camera stored outside ``target`` into it."""
    total, total_bytes = index.count_not_in_root(camera, target)
    report = MoveReport(total=total, total_bytes=total_bytes)
    skipped: set[int] = set()
    while not cancelled():
        batch = [
            segment
            for segment in index.segments_not_in_root(camera, target, limit=len(skipped) + 100)
            if segment.row_id not in skipped
        ]
        if not batch:
            break
        for segment in batch:
            if cancelled():
                break
            try:
                done = move_segment(index, default_root, segment, target)
            except OSError as err:
                _LOGGER.warning("Cannot move %s to %s: %s", segment.path, target, err)
                report.failed += 1
                skipped.add(segment.row_id)
                continue
            if done:
                report.moved += 1
                report.moved_bytes += segment.bytes
            else:
                report.missing += 1
                skipped.add(segment.row_id)
            if progress is not None:
                progress(report)
    return report


def rescue_strays(
    index: SegmentIndex,
    default_root: Path,
    camera: str,
    bare: Path,
    target: Path,
    *,
    since: float,
) -> int:
    """Move segment files written into a vanished folder's bare mount point to ``target``.

    Only files modified at or after ``since`` (when the folder was last seen) count:
    the rest is the folder's own footage, should its marker alone have gone. Indexed
    files move with their rows; the others are moved for the next start to index.
    """
    moved = 0
    camera_dir = bare / camera
    if not camera_dir.is_dir():
        return 0
    for path in sorted(camera_dir.rglob("*.mp4")):
        try:
            if path.stat().st_mtime < since:
                continue
            relative = path.relative_to(bare).as_posix()
            segment = index.segment_by_path(relative)
            if segment is not None and segment.root_path(default_root) == bare:
                moved += move_segment(index, default_root, segment, target)
            elif segment is None:
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, destination)
                moved += 1
        except OSError as err:
            _LOGGER.warning("Cannot move %s out of %s: %s", path, bare, err)
    return moved
