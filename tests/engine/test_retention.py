"""Retention against real segment files and a real index (only free space is injected)."""

from __future__ import annotations

from dataclasses import replace
import os
from pathlib import Path

import pytest

from custom_components.cctv_nvr.engine import retention
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.retention import (
    CameraRetention,
    RetentionPolicy,
    delete_range,
    enforce,
)
from tests.engine.segments_factory import (
    SegmentFactory,
    files_on_disk,
    indexed_paths,
)

DAY = 86400.0
NOW = 1_700_002_800.0 + 1800  # 2023-11-14 23:30 UTC


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "rec"


def assert_in_step(root: Path, index: SegmentIndex) -> None:
    """Every file on disk has its row and every row its file."""
    assert files_on_disk(root) == indexed_paths(index)


def dirs(root: Path, camera: str) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / camera).rglob("*") if p.is_dir()}


class FakeDisk:
    """A filesystem of a fixed capacity holding only what is under root."""

    def __init__(self, root: Path, capacity: int) -> None:
        self.root = root
        self.capacity = capacity
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.capacity - sum(p.stat().st_size for p in self.root.rglob("*.mp4"))


def test_age(root: Path, index: SegmentIndex, segment_factory: SegmentFactory) -> None:
    old = segment_factory.make_history(root, index, "cam", NOW - 3 * DAY, 5, 2)
    new = segment_factory.make_history(root, index, "cam", NOW - DAY, 5, 2, run_id="r2")
    other = segment_factory.make_history(root, index, "other", NOW - 3 * DAY, 3, 2)
    policy = RetentionPolicy(cameras={"cam": CameraRetention(max_age_days=2)})

    report = enforce(index, root, policy, now=NOW, free_bytes=lambda: 10**12)

    assert report.deleted_segments == 5
    assert report.deleted_bytes == sum(s.bytes for s in old)
    assert report.per_camera == {"cam": 5}
    assert report.reasons == {"age": 5}
    assert not report.still_short
    assert_in_step(root, index)
    assert indexed_paths(index) == {s.path for s in new + other}
    # The emptied day (and its hour) went; the camera with no policy kept everything.
    assert dirs(root, "cam") == {"cam/2023-11-13", "cam/2023-11-13/23"}
    assert index.camera_stats("cam")[:2] == (5, sum(s.bytes for s in new))
    # Nothing more to do on a second run.
    assert enforce(index, root, policy, now=NOW).deleted_segments == 0


def test_size(
    root: Path,
    index: SegmentIndex,
    segment_factory: SegmentFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retention, "_BATCH", 3)  # page through candidates
    made = segment_factory.make_history(root, index, "cam", NOW - 7200, 20, 2)
    size = made[0].bytes
    policy = RetentionPolicy(cameras={"cam": CameraRetention(max_bytes=5 * size + size // 2)})

    report = enforce(index, root, policy, now=NOW)

    assert report.deleted_segments == 15
    assert report.reasons == {"size": 15}
    assert report.over_quota == []
    assert_in_step(root, index)
    assert indexed_paths(index) == {s.path for s in made[15:]}
    assert index.camera_bytes("cam") <= 5 * size + size // 2


def test_low_disk_deletes_oldest_across_cameras(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    a = segment_factory.make_history(root, index, "a", NOW - 3000, 6, 2, run_id="ra")
    b = segment_factory.make_history(root, index, "b", NOW - 3001, 6, 2, run_id="rb")
    size = a[0].bytes
    total = sum(s.bytes for s in a + b)
    disk = FakeDisk(root, capacity=total + 2 * size)  # 2 segments' worth free
    policy = RetentionPolicy(cameras={}, min_free_bytes=6 * size)

    report = enforce(index, root, policy, now=NOW, free_bytes=disk)

    assert report.reasons == {"disk": 4}
    assert report.per_camera == {"a": 2, "b": 2}
    assert not report.still_short
    assert disk() >= 6 * size
    assert_in_step(root, index)
    remaining = indexed_paths(index)
    assert remaining == {s.path for s in a[2:] + b[2:]}


def test_protected_exports_and_events_survive(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    made = segment_factory.make_history(root, index, "cam", NOW - 10 * DAY, 12, 2)
    recent = segment_factory.make_history(root, index, "cam", NOW - 60, 2, 2, run_id="r2")
    assert index.protect("cam", made[0].start, made[1].end) == 2
    index.exports.add("cam", "clip", made[3].start + 0.5, made[4].start + 0.5, "clip.mp4", 9, 2.0)
    event = index.recordings.start("cam", "event", "motion", made[6].start + 0.1)
    index.recordings.set_end(event, made[6].end - 0.1)
    manual = index.recordings.start("cam", "manual", None, made[8].start)
    index.recordings.set_end(manual, made[8].end)
    policy = RetentionPolicy(
        cameras={"cam": CameraRetention(max_age_days=1, event_max_age_days=30)}
    )

    report = enforce(index, root, policy, now=NOW)

    kept = {made[i].path for i in (0, 1, 3, 4, 6)} | {s.path for s in recent}
    assert indexed_paths(index) == kept
    assert report.deleted_segments == 7
    assert_in_step(root, index)

    # Once the events' own limit passes, event footage goes; protection and exports stay.
    later = RetentionPolicy(cameras={"cam": CameraRetention(max_age_days=1, event_max_age_days=5)})
    enforce(index, root, later, now=NOW)
    assert indexed_paths(index) == kept - {made[6].path}
    assert_in_step(root, index)

    # Size pressure takes event footage last, and never protected or exported footage.
    index.recordings.set_end(index.recordings.start("cam", "event", "x", recent[0].start), NOW)
    sized = RetentionPolicy(cameras={"cam": CameraRetention(max_bytes=0, event_max_age_days=30)})
    report = enforce(index, root, sized, now=NOW)
    assert indexed_paths(index) == {made[i].path for i in (0, 1, 3, 4)}
    assert report.over_quota == ["cam"]
    assert_in_step(root, index)


def test_still_short_when_everything_is_protected(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    made = segment_factory.make_history(root, index, "cam", NOW - 5000, 4, 2)
    index.protect("cam", made[0].start, made[-1].end)
    disk = FakeDisk(root, capacity=sum(s.bytes for s in made))  # full
    policy = RetentionPolicy(
        cameras={"cam": CameraRetention(max_age_days=0, max_bytes=0)}, min_free_bytes=10**6
    )

    report = enforce(index, root, policy, now=NOW, free_bytes=disk)

    assert report.still_short
    assert report.deleted_segments == 0
    assert report.over_quota == ["cam"]
    assert indexed_paths(index) == {s.path for s in made}
    assert_in_step(root, index)


def test_missing_file_drops_its_row(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    made = segment_factory.make_history(root, index, "cam", NOW - 3 * DAY, 3, 2)
    (root / made[1].path).unlink()
    report = enforce(
        index, root, RetentionPolicy(cameras={"cam": CameraRetention(max_age_days=1)}), now=NOW
    )
    assert report.deleted_segments == 3
    assert indexed_paths(index) == set()
    assert_in_step(root, index)
    assert index.cameras() == []


def test_current_hour_directory_is_kept(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    # Two hours of footage: 22:59:50 .. 23:00:10, now is 23:30.
    made = segment_factory.make_history(root, index, "cam", NOW - 1810, 10, 2)
    assert {s.path.split("/")[2] for s in made} == {"22", "23"}
    report = enforce(
        index, root, RetentionPolicy(cameras={"cam": CameraRetention(max_bytes=0)}), now=NOW
    )
    assert report.deleted_segments == 10
    assert_in_step(root, index)
    assert dirs(root, "cam") == {"cam/2023-11-14", "cam/2023-11-14/23"}
    assert not list((root / "cam/2023-11-14/23").iterdir())


def test_delete_range(root: Path, index: SegmentIndex, segment_factory: SegmentFactory) -> None:
    made = segment_factory.make_history(root, index, "cam", NOW - 3 * DAY, 10, 2)
    other = segment_factory.make_history(root, index, "other", NOW - 3 * DAY, 3, 2)
    index.protect("cam", made[2].start, made[2].end)
    index.exports.add("cam", "clip", made[3].start, made[3].end, "clip.mp4", 1, 2.0)
    count, size = delete_range(index, root, "cam", made[1].start + 0.5, made[5].start + 0.5)
    assert count == 4  # 1, 3, 4, 5: not the protected 2
    assert size == sum(made[i].bytes for i in (1, 3, 4, 5))
    assert indexed_paths(index) == {made[i].path for i in (0, 2, 6, 7, 8, 9)} | {
        s.path for s in other
    }
    assert_in_step(root, index)
    index.unprotect("cam", made[0].start, made[-1].end)
    assert delete_range(index, root, "cam", 0, NOW)[0] == 6
    assert not (root / "cam").exists() or dirs(root, "cam") == set()
    assert_in_step(root, index)


def test_large_history_in_batches(
    root: Path,
    index: SegmentIndex,
    segment_factory: SegmentFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many segments over many hours: deleted page by page, directories cleaned."""
    monkeypatch.setattr(retention, "_BATCH", 50)
    start = NOW - 2 * DAY
    made: list[Segment] = []
    for hour in range(30):  # a few segments in each of 30 hours
        made += segment_factory.make_history(
            root, index, "cam", start + hour * 3600, 8, 2, run_id=f"h{hour}"
        )
    report = enforce(
        index,
        root,
        RetentionPolicy(cameras={"cam": CameraRetention(max_age_days=(2 * DAY - 10 * 3600) / DAY)}),
        now=NOW,
    )
    assert report.deleted_segments == 10 * 8
    assert_in_step(root, index)
    assert len([d for d in dirs(root, "cam") if d.count("/") == 2]) == 20


def test_prune_buffer_keeps_what_recordings_cover(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    """The rolling pre-roll buffer ages out unless a recording, export or protection covers it."""
    made = segment_factory.make_history(root, None, "cam", NOW - 100, 10, 2, run_id="b1")
    buffer = [replace(s, kind="buffer") for s in made[:8]]
    index.add_segments([*buffer, *made[8:]])  # the last two were recorded continuously
    event = index.recordings.start("cam", "event", "motion", buffer[1].start + 0.5)
    index.recordings.set_end(event, buffer[2].start + 0.2)
    index.recordings.start("cam", "manual", None, buffer[7].start + 0.1)  # still open
    index.protect("cam", buffer[4].start, buffer[4].end - 0.1)
    index.exports.add("cam", "clip", buffer[5].start + 0.2, buffer[5].end - 0.2, "c.mp4", 9, 1.0)

    deleted, size = retention.prune_buffer(index, root, "cam", ended_before=made[9].end, now=NOW)

    gone = {buffer[i].path for i in (0, 3, 6)}
    assert deleted == 3
    assert size == sum(buffer[i].bytes for i in (0, 3, 6))
    assert indexed_paths(index) == {s.path for s in made} - gone
    assert_in_step(root, index)
    # Nothing younger than the cut-off goes.
    assert retention.prune_buffer(index, root, "cam", ended_before=buffer[0].end) == (0, 0)


def test_prune_cache(tmp_path: Path) -> None:
    """Cached clips and snapshots older than the cut-off go, with their emptied folders."""
    cache = tmp_path / "events"
    old = cache / "cam" / "1.mp4"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"old")
    os.utime(old, (NOW - 40 * DAY, NOW - 40 * DAY))
    fresh = cache / "other" / "2.jpg"
    fresh.parent.mkdir(parents=True)
    fresh.write_bytes(b"new")
    os.utime(fresh, (NOW, NOW))
    assert retention.prune_cache(cache, NOW - 30 * DAY) == 1
    assert not old.exists()
    assert not old.parent.exists()
    assert fresh.exists()
    assert retention.prune_cache(tmp_path / "missing", NOW) == 0
