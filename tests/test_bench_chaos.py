"""The chaos soak's footage check tells frames lost before both recorders from ours.

Real files made by a real ffmpeg, decoded by the bench's own strict check (no soak runs here:
it takes minutes and eight simulators).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
import subprocess

import pytest

from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from scripts.benchmarks.chaos import (
    SEGMENT_SECONDS,
    Camera,
    Soak,
    bare_damaged,
    bare_files,
    check_index,
    decode_check,
)


def _record(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc2=size=320x240:rate=15", "-t", "4", "-c:v", "libx264", "-g", "15",
         "-bf", "0", "-pix_fmt", "yuv420p", "-y", str(path)],
        check=True,
    )  # fmt: skip


def _damage(path: Path) -> None:
    """Overwrite bytes in the middle of the media data: frames there no longer decode."""
    data = bytearray(path.read_bytes())
    middle = data.index(b"mdat") + (len(data) - data.index(b"mdat")) // 2
    data[middle : middle + 4000] = bytes(4000)
    path.write_bytes(bytes(data))


def test_bare_recording_of_the_same_moment_decides(tmp_path: Path) -> None:
    folder = tmp_path / "bare" / "cam1" / "run000"
    clean = folder / "20261201T100000.mp4"
    broken = folder / "20261201T100010.mp4"
    _record(clean)
    _record(broken)
    _damage(broken)
    (folder / "not-a-moment.mp4").write_bytes(b"")  # ignored: no time in its name
    assert decode_check(clean)
    assert not decode_check(broken)

    files = bare_files(tmp_path, "cam1")
    ten = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC).timestamp()
    assert [moment for moment, _ in files] == [ten, ten + SEGMENT_SECONDS]
    # Our file at 10:00:02-10:00:06 overlaps only the clean bare file: the loss is ours.
    assert not bare_damaged(files, ten + 2, ten + 6)
    # At 10:00:13-10:00:17 the bare recording is damaged too: lost before both recorders.
    assert bare_damaged(files, ten + 13, ten + 17)
    # Nothing recorded by the bare ffmpeg then: nothing to blame upstream.
    assert not bare_damaged(files, ten + 100, ten + 104)


@pytest.mark.parametrize(
    ("mount", "offset", "wrong"),
    [
        ("sub", 0.6, False),
        ("sub", -1.8, False),
        ("sub", -9.3, True),  # the run placed a freeze too early (the chaos soak's cam0)
        ("sub", 4.2, True),
        ("longgop", 4.2, False),  # the run's first keyframe came 4 s after the file opened
        ("longgop", -2.5, True),
    ],
)
def test_index_start_far_from_the_file_name_is_a_problem(
    tmp_path: Path, mount: str, offset: float, wrong: bool
) -> None:
    """A row placed seconds away from when its file was opened fails the index check."""
    rel = "cam0/2026-12-01/12/20261201T122641Z-2ce9.mp4"
    _record(tmp_path / "rec" / rel)
    named = datetime(2026, 12, 1, 12, 26, 41, tzinfo=UTC).timestamp()
    index = SegmentIndex(tmp_path / "index.db")
    try:
        start = named + offset
        index.add_segment(Segment("cam0", rel, start, start + 4.0, 1, "h264"))
        # Only the camera's name and mount are used by the check: no simulator runs here.
        soak = Soak(tmp_path, [Camera("cam0", mount, "tcp", None)], index)  # type: ignore[arg-type]
        problems, start_delta, length_delta = check_index(soak)
    finally:
        index.close()
    assert start_delta == pytest.approx(abs(offset), abs=0.01)
    assert length_delta == pytest.approx(0.0, abs=0.01)
    assert bool(problems) == wrong, problems
    if wrong:
        worst = f"(worst {Path(rel).name} {offset:+.1f} s)"
        assert problems == [f"cam0: 1 rows start too far from the rebuild's {worst}"]
