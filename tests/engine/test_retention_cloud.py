"""Cloud-aware retention against real segment files and a real index.

Retention never talks to the bucket (it marks rows and fills the trash the tier empties),
so these tests record verified copies the way the tier does (``index.cloud.record_copy``);
the whole path through a real emulator is in test_cloud.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.cctv_nvr.engine import location
from custom_components.cctv_nvr.engine.index import (
    KIND_EVENT,
    CloudCopy,
    Segment,
    SegmentIndex,
)
from custom_components.cctv_nvr.engine.retention import (
    CameraRetention,
    CloudRetention,
    RetentionPolicy,
    delete_range,
    enforce,
)
from tests.engine.segments_factory import SegmentFactory, files_on_disk

DAY = 86400.0
NOW = 1_700_002_800.0 + 1800


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "rec"


def verify(index: SegmentIndex, segments: list[Segment]) -> None:
    """Record verified copies in the bucket, as the cloud tier does after its CRC32C check."""
    stored = index.segments_by_paths(s.path for s in segments)
    ids = [stored[s.path].row_id for s in segments]
    index.cloud.enqueue_segments(ids)
    for item in index.cloud.due(NOW + DAY, limit=len(ids) + 10):
        if item.item_id in ids:
            path = index.segment_by_id(item.item_id)
            assert path is not None
            assert index.cloud.record_copy(
                item, CloudCopy(f"gs://bkt/{path.path}", item.item_id, "crc==", NOW)
            )


def locations(index: SegmentIndex, segments: list[Segment]) -> list[str | None]:
    stored = index.segments_by_paths(s.path for s in segments)
    return [stored[s.path].location if s.path in stored else None for s in segments]


def test_keep_local_offloads_only_verified_copies(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    old = segment_factory.make_history(root, index, "cam", NOW - 3 * DAY, 4, 2)
    waiting = segment_factory.make_history(root, index, "cam", NOW - 3 * DAY + 60, 3, 2, "r2")
    new = segment_factory.make_history(root, index, "cam", NOW - 3600, 2, 2, "r3")
    verify(index, old + new)
    index.protect("cam", old[0].start, old[0].end)  # protection keeps footage, not a local copy
    policy = RetentionPolicy(cloud=CloudRetention(keep_local_days=1))

    report = enforce(index, root, policy, now=NOW, free_bytes=lambda: 10**12)

    assert report.offloaded_segments == 4
    assert report.offloaded_bytes == sum(s.bytes for s in old)
    assert report.deleted_segments == 0
    assert report.reasons == {"offload_keep_local": 4}
    assert locations(index, old) == ["cloud"] * 4
    assert locations(index, waiting) == ["local"] * 3  # not verified: never touched
    assert locations(index, new) == ["both"] * 2
    assert files_on_disk(root) == {s.path for s in waiting + new}
    assert index.camera_bytes("cam") == sum(s.bytes for s in waiting + new)
    assert index.camera_stats("cam")[0] == 9  # every segment is still footage
    assert index.cloud.cloud_bytes() == sum(s.bytes for s in old + new)
    assert enforce(index, root, policy, now=NOW).offloaded_segments == 0


def test_disk_floor_takes_verified_copies_first(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    """Cloud down, disk at its floor: newer footage already in the cloud goes before any older
    footage that is only local (which waits for its upload)."""
    unverified = segment_factory.make_history(root, index, "a", NOW - 7200, 4, 2)
    verified = segment_factory.make_history(root, index, "b", NOW - 600, 4, 2)
    verify(index, verified)
    size = verified[0].bytes
    used = sum(p.stat().st_size for p in root.rglob("*.mp4"))
    capacity = used + 10 * size
    policy = RetentionPolicy(min_free_bytes=12 * size, cloud=CloudRetention())

    report = enforce(
        index,
        root,
        policy,
        now=NOW,
        free_bytes=lambda: capacity - sum(p.stat().st_size for p in root.rglob("*.mp4")),
    )

    assert report.offloaded_segments >= 2
    assert report.deleted_segments == 0
    assert locations(index, unverified) == ["local"] * 4
    assert locations(index, verified)[: report.offloaded_segments] == ["cloud"] * (
        report.offloaded_segments
    )
    assert not report.still_short
    # With nothing verified left, the floor deletes the oldest local footage as it always did.
    more = RetentionPolicy(min_free_bytes=20 * size, cloud=CloudRetention())
    report = enforce(
        index,
        root,
        more,
        now=NOW,
        free_bytes=lambda: capacity - sum(p.stat().st_size for p in root.rglob("*.mp4")),
    )
    assert locations(index, verified) == ["cloud"] * 4
    assert report.deleted_segments >= 1
    assert report.reasons.get("disk", 0) == report.deleted_segments
    assert locations(index, unverified)[0] is None


def test_without_the_cloud_policy_verified_copies_stay(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    """Cloud tier switched off: its copies are not relied upon, nothing is offloaded."""
    verified = segment_factory.make_history(root, index, "b", NOW - 600, 3, 2)
    verify(index, verified)
    report = enforce(
        index, root, RetentionPolicy(min_free_bytes=10**15), now=NOW, free_bytes=lambda: 0
    )
    assert report.offloaded_segments == 0
    assert report.still_short
    assert locations(index, verified) == ["both"] * 3


def test_cloud_age_deletes_footage_and_trashes_objects(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    old = segment_factory.make_history(root, index, "cam", NOW - 40 * DAY, 6, 2)
    recent = segment_factory.make_history(root, index, "cam", NOW - DAY, 2, 2, "r2")
    unverified_old = segment_factory.make_history(root, index, "x", NOW - 40 * DAY, 2, 2)
    verify(index, old + recent)
    enforce(index, root, RetentionPolicy(cloud=CloudRetention(keep_local_days=30)), now=NOW)
    assert locations(index, old) == ["cloud"] * 6
    # Footage protected, and footage an event covers (kept 60 days), stays in the bucket.
    index.protect("cam", old[0].start, old[0].end)
    event = index.recordings.start("cam", KIND_EVENT, "motion", old[2].start)
    index.recordings.set_end(event, old[2].end)
    policy = RetentionPolicy(
        cameras={"cam": CameraRetention(event_max_age_days=60)},
        cloud=CloudRetention(keep_cloud_days=30),
    )

    report = enforce(index, root, policy, now=NOW)

    assert report.reasons == {"cloud_age": 4}
    assert locations(index, old) == ["cloud", None, "cloud", None, None, None]
    assert locations(index, recent) == ["both"] * 2
    assert locations(index, unverified_old) == ["local"] * 2  # the camera has no age limit
    trash = index.cloud.trash_due(NOW)
    assert sorted(t.uri for t in trash) == sorted(
        f"gs://bkt/{s.path}" for s in (old[1], old[3], old[4], old[5])
    )


def test_size_limit_offloads_first_and_admin_delete_reaches_the_bucket(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory
) -> None:
    verified = segment_factory.make_history(root, index, "cam", NOW - 3600, 4, 2)
    local = segment_factory.make_history(root, index, "cam", NOW - 7200, 2, 2, "r0")
    verify(index, verified)
    size = verified[0].bytes
    limit = sum(s.bytes for s in local) + 2 * size
    policy = RetentionPolicy(
        cameras={"cam": CameraRetention(max_bytes=limit)}, cloud=CloudRetention()
    )

    report = enforce(index, root, policy, now=NOW, free_bytes=lambda: 10**12)

    assert report.deleted_segments == 0
    assert report.offloaded_segments == 2
    assert locations(index, local) == ["local"] * 2
    assert locations(index, verified) == ["cloud", "cloud", "both", "both"]
    assert index.camera_bytes("cam") <= limit
    assert not report.over_quota
    # An administrator's deletion takes footage wherever it is; its objects go to the trash.
    deleted, _ = delete_range(index, root, "cam", NOW - 8000, NOW)
    assert deleted == 6
    assert index.camera_stats("cam")[0] == 0
    assert len(index.cloud.trash_due(NOW)) == 4
    assert files_on_disk(root) == set()


def test_offload_reaches_a_chosen_folder_and_waits_for_an_offline_one(
    root: Path, index: SegmentIndex, segment_factory: SegmentFactory, tmp_path: Path
) -> None:
    """Verified copies leave the folder they were recorded into; an offline folder waits.

    A folder that is offline (its marker gone: a NAS unmounted) keeps its rows local:
    marking them offloaded would leave the files behind on the NAS when it returns.
    """
    nas, unplugged = tmp_path / "nas", tmp_path / "unplugged"
    on_nas = segment_factory.make_history(nas, index, "cam", NOW - 3 * DAY, 2, 2)
    offline = segment_factory.make_history(unplugged, index, "cam", NOW - 3 * DAY + 60, 2, 2, "r2")
    for segments, folder in ((on_nas, nas), (offline, unplugged)):
        stored = index.segments_by_paths(s.path for s in segments)
        for segment in segments:
            assert index.set_segment_root(stored[segment.path].row_id, folder)
    location.claim(nas)
    verify(index, on_nas + offline)
    policy = RetentionPolicy(cloud=CloudRetention(keep_local_days=1))

    report = enforce(index, root, policy, now=NOW, free_bytes=lambda: 10**12)

    assert report.offloaded_segments == 2
    assert locations(index, on_nas) == ["cloud"] * 2
    assert files_on_disk(nas) == set()
    assert locations(index, offline) == ["both"] * 2
    assert files_on_disk(unplugged) == {s.path for s in offline}
    location.claim(unplugged)  # the NAS is back
    assert enforce(index, root, policy, now=NOW).offloaded_segments == 2
    assert files_on_disk(unplugged) == set()
