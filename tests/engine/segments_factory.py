"""Make real fragmented-MP4 segment files quickly, with matching index rows.

One source clip per duration is encoded with ffmpeg once per test session;
segments are copies of it placed at ``<root>/<camera>/<date>/<hour>/<start>Z-<run>.mp4``.
The session fixture ``segment_factory`` (tests/conftest.py) holds one factory for all tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
import shutil
import subprocess

from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.layout import STRFTIME_NAME, hour_dir, relative
from custom_components.cctv_nvr.engine.media import probe_file

FPS = 15


class SegmentFactory:
    """Source clips (one per duration, cached) and histories made of their copies."""

    def __init__(self, cache: Path) -> None:
        self._cache = cache
        self._clips: dict[float, tuple[Path, float]] = {}

    def clip(self, seconds: float) -> tuple[Path, float]:
        """Return a source clip of about ``seconds`` and its measured duration."""
        if seconds not in self._clips:
            path = self._cache / f"clip-{seconds:g}.mp4"
            subprocess.run(
                [
                    "ffmpeg", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}",
                    "-t", f"{seconds:g}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS),
                    "-pix_fmt", "yuv420p",
                    "-movflags", "+frag_keyframe+empty_moov+default_base_moof",
                    str(path),
                ],
                check=True,
                timeout=60,
            )  # fmt: skip
            info = probe_file(path, measure=True)
            assert info.duration
            self._clips[seconds] = (path, info.duration)
        return self._clips[seconds]

    def place(self, root: Path, camera: str, start: float, run_id: str, seconds: float) -> Path:
        """Copy the clip to where a segment starting at ``start`` lives; return the path."""
        source, _ = self.clip(seconds)
        moment = datetime.fromtimestamp(start, UTC)
        directory = hour_dir(root, camera, moment)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{moment.strftime(STRFTIME_NAME)}-{run_id}.mp4"
        shutil.copyfile(source, path)
        return path

    def make_history(
        self,
        root: Path,
        index: SegmentIndex | None,
        camera: str,
        start: float,
        count: int,
        seconds: float,
        run_id: str = "r1",
    ) -> list[Segment]:
        """Make ``count`` contiguous segments from ``start``; index them unless index is None."""
        _, duration = self.clip(seconds)
        segments = []
        moment = start
        for _ in range(count):
            path = self.place(root, camera, moment, run_id, seconds)
            segments.append(
                Segment(
                    camera=camera,
                    path=relative(root, path),
                    start=moment,
                    end=moment + duration,
                    bytes=path.stat().st_size,
                    video_codec="h264",
                    width=320,
                    height=240,
                    fps=float(FPS),
                    run_id=run_id,
                )
            )
            moment += duration
        if index is not None:
            assert index.add_segments(segments) == count
        return segments


def files_on_disk(root: Path) -> set[str]:
    """Return the relative paths of every .mp4 file under root."""
    return {relative(root, path) for path in root.rglob("*.mp4")}


def indexed_paths(index: SegmentIndex) -> set[str]:
    """Return every segment path in the index."""
    paths: set[str] = set()
    for camera in index.cameras():
        paths.update(s.path for s in index.segments(camera, float("-inf"), float("inf")))
    return paths
