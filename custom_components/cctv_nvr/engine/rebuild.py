"""Rebuild the segment index from the files on disk.

Used when the index is missing or was found corrupt (``SegmentIndex.open_or_recover``).
Blocking (disk and PyAV); run it in an executor, before the recorders start,
so no growing segment is indexed half-written.

What the files cannot tell is lost: ``protected`` flags, ``kind`` (every
segment comes back as ``continuous``) and the ``recordings``/``exports`` rows
of a database that had to be replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
import logging
from pathlib import Path
import re
import time

from .index import Segment, SegmentIndex
from .layout import SEGMENT_SUFFIX, parse_segment_name, relative
from .media import ProbeError, probe_file

_LOGGER = logging.getLogger(__name__)

_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOUR_RE = re.compile(r"^\d{2}$")
# A file of the same run starting this close to the previous file's end continues it.
_CONTIGUOUS_SECONDS = 2.0
_BATCH = 500


@dataclass(slots=True)
class RebuildReport:
    """What a rebuild found: segment files seen, indexed, already known, unreadable."""

    files: int = 0
    added: int = 0
    skipped: int = 0  # already indexed, too new, or not named like a segment
    unreadable: int = 0  # left on disk, not indexed


def _dirs(parent: Path, pattern: re.Pattern[str]) -> list[Path]:
    if not parent.is_dir():
        return []
    return sorted(p for p in parent.iterdir() if p.is_dir() and pattern.match(p.name))


def _hour_dirs(root: Path, camera: str) -> Iterator[Path]:
    for day in _dirs(root / camera, _DAY_RE):
        yield from _dirs(day, _HOUR_RE)


def _camera_names(root: Path) -> list[str]:
    """Return the directories of root that look like cameras (hold a date directory)."""
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and _dirs(p, _DAY_RE)
    )


def rebuild_index(
    index: SegmentIndex,
    root: Path,
    cameras: Iterable[str] | None = None,
    progress: Callable[[RebuildReport], None] | None = None,
    *,
    min_age: float = 0.0,
) -> RebuildReport:
    """Index every segment file under ``<root>/<camera>/<date>/<hour>/`` not yet indexed.

    Start times come from the file names (whole seconds); a file continuing the
    previous file of the same run (name within 2 s of that file's end) starts
    exactly at that end, so runs stay contiguous. The end is the start plus
    the duration measured by reading the packets. Unreadable files are counted
    and left on disk. Files modified less than ``min_age`` seconds ago are
    skipped (a recorder may still be writing them). ``progress`` is called with
    the running report after each hour directory.
    """
    report = RebuildReport()
    names = _camera_names(root) if cameras is None else list(cameras)
    for camera in names:
        previous: tuple[str | None, float] | None = None  # (run id, end) of the last file
        for directory in _hour_dirs(root, camera):
            previous = _rebuild_hour(index, root, camera, directory, previous, report, min_age)
            if progress is not None:
                progress(report)
    _LOGGER.info(
        "Index rebuilt: %d files, %d added, %d skipped, %d unreadable",
        report.files,
        report.added,
        report.skipped,
        report.unreadable,
    )
    return report


def _rebuild_hour(
    index: SegmentIndex,
    root: Path,
    camera: str,
    directory: Path,
    previous: tuple[str | None, float] | None,
    report: RebuildReport,
    min_age: float,
) -> tuple[str | None, float] | None:
    files = sorted(p for p in directory.iterdir() if p.suffix == SEGMENT_SUFFIX and p.is_file())
    report.files += len(files)
    known = index.segments_by_paths(relative(root, p) for p in files)
    pending: list[Segment] = []
    newest = time.time() - min_age
    for path in files:
        rel = relative(root, path)
        parsed = parse_segment_name(path.name)
        if parsed is None:
            report.skipped += 1
            continue
        name_start, run_id = parsed
        if rel in known:
            report.skipped += 1
            previous = (run_id, known[rel].end)
            continue
        try:
            stat = path.stat()
            if min_age > 0 and stat.st_mtime > newest:
                report.skipped += 1
                continue
            info = probe_file(path, measure=True)
        except ProbeError, OSError:
            info = None
        if info is None or not info.duration:
            _LOGGER.warning("Camera %s: %s is unreadable; left on disk, not indexed", camera, rel)
            report.unreadable += 1
            continue
        start = name_start
        if (
            previous is not None
            and run_id is not None
            and previous[0] == run_id
            and abs(name_start - previous[1]) <= _CONTIGUOUS_SECONDS
        ):
            start = previous[1]
        end = start + info.duration
        pending.append(
            Segment(
                camera=camera,
                path=rel,
                root=str(root),
                start=start,
                end=end,
                bytes=stat.st_size,
                video_codec=info.video_codec,
                width=info.width,
                height=info.height,
                fps=info.fps,
                audio_codec=info.audio_codec,
                run_id=run_id,
            )
        )
        previous = (run_id, end)
        if len(pending) >= _BATCH:
            report.added += index.add_segments(pending)
            pending.clear()
    if pending:
        report.added += index.add_segments(pending)
    return previous
