"""Where segments live on disk: <root>/<camera>/<YYYY-MM-DD>/<HH>/<start>Z-<run>.mp4 (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
import re

SEGMENT_SUFFIX = ".mp4"
# ffmpeg's strftime pattern for segment files; ffmpeg runs with TZ=UTC.
STRFTIME_NAME = "%Y%m%dT%H%M%SZ"
_NAME_RE = re.compile(r"^(\d{8}T\d{6})Z(?:-([0-9a-z]+))?\.mp4$")


def hour_dir(root: Path, camera: str, moment: datetime) -> Path:
    """Return the directory of a camera's segments for the UTC hour of moment."""
    utc = moment.astimezone(UTC)
    return root / camera / utc.strftime("%Y-%m-%d") / utc.strftime("%H")


def hour_dirs(root: Path, camera: str, start: float, end: float) -> list[Path]:
    """Return the hour directories covering [start, end] (epoch seconds), oldest first."""
    current = datetime.fromtimestamp(start, UTC).replace(minute=0, second=0, microsecond=0)
    last = datetime.fromtimestamp(end, UTC)
    dirs = []
    while current <= last:
        dirs.append(hour_dir(root, camera, current))
        current += timedelta(hours=1)
    return dirs


def segment_template(root: Path, camera: str, run_id: str) -> str:
    """Return the ffmpeg output template (strftime) for one recording run."""
    return str(root / camera / "%Y-%m-%d" / "%H" / f"{STRFTIME_NAME}-{run_id}{SEGMENT_SUFFIX}")


def parse_segment_name(name: str) -> tuple[float, str | None] | None:
    """Return (start epoch seconds, run id) encoded in a segment file name."""
    match = _NAME_RE.match(name)
    if not match:
        return None
    moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return moment.timestamp(), match.group(2)


def segment_dir_for_name(root: Path, camera: str, name: str) -> Path | None:
    """Return the hour directory a segment file name belongs in."""
    parsed = parse_segment_name(name)
    if parsed is None:
        return None
    return hour_dir(root, camera, datetime.fromtimestamp(parsed[0], UTC))


def relative(root: Path, path: Path) -> str:
    """Return a path relative to the recordings root, with forward slashes."""
    return path.relative_to(root).as_posix()
