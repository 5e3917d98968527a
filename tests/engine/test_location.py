"""Recordings locations: the index knows each segment's root; folder checks; moving footage."""

from __future__ import annotations

import os
from pathlib import Path
import sqlite3

import pytest

from custom_components.cctv_nvr.engine import location, retention
from custom_components.cctv_nvr.engine.index import SCHEMA_VERSION, Segment, SegmentIndex
from custom_components.cctv_nvr.engine.index.database import _MIGRATIONS
from custom_components.cctv_nvr.engine.rebuild import rebuild_index
from custom_components.cctv_nvr.engine.retention import (
    CameraRetention,
    RetentionPolicy,
    delete_range,
    enforce,
)
from tests.engine.segments_factory import SegmentFactory

T0 = 1_700_000_000.0


def seg(path: str, start: float, root: Path | None = None, size: int = 4) -> Segment:
    return Segment(
        camera="cam",
        path=path,
        start=start,
        end=start + 10,
        bytes=size,
        root=None if root is None else str(root),
    )


def _write(root: Path, relative: str, data: bytes = b"abcd") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_migration_v4_to_v5_keeps_rows_on_the_default_root(tmp_path: Path) -> None:
    """A schema-4 database migrates: its rows mean the default root, new rows know theirs."""
    db = tmp_path / "index.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for version in (1, 2, 3, 4):
        conn.executescript(
            f"BEGIN;\n{_MIGRATIONS[version]}\nPRAGMA user_version = {version};\nCOMMIT;"
        )
    conn.execute(
        "INSERT INTO segments (camera, start_ts, end_ts, bytes, path) "
        "VALUES ('cam', ?, ?, 4, 'cam/old.mp4')",
        (T0, T0 + 10),
    )
    conn.close()
    index = SegmentIndex(db)
    try:
        check = sqlite3.connect(db)
        try:
            assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
        finally:
            check.close()
        default = tmp_path / "recordings"
        index.default_root = default
        nas = tmp_path / "nas"
        assert index.add_segment(seg("cam/new.mp4", T0 + 10, nas))
        assert index.add_segment(seg("cam/local.mp4", T0 + 20, default))  # default: NULL
        old, new, local = index.segments("cam", T0, T0 + 100)
        assert old.root is None
        assert old.file(default) == default / "cam/old.mp4"
        assert new.root == str(nas)
        assert new.file(default) == nas / "cam/new.mp4"
        assert local.root is None
        assert index.roots() == [str(nas)]
        assert index.count_not_in_root("cam", nas) == (2, 8)
        assert index.count_not_in_root("cam", default) == (1, 4)
        assert [s.path for s in index.segments_not_in_root("cam", default)] == ["cam/new.mp4"]
        by_path = index.segments_by_paths(["cam/new.mp4"])
        assert by_path["cam/new.mp4"].root == str(nas)
        assert index.segment_by_id(new.row_id) == new
        assert index.set_segment_root(new.row_id, None)
        assert index.segment_by_id(new.row_id).root is None  # type: ignore[union-attr]
        assert index.roots() == []
    finally:
        index.close()


def test_check_folder_errors(tmp_path: Path) -> None:
    default = tmp_path / "recordings"
    (default / "other").mkdir(parents=True)
    storage = tmp_path / ".storage"
    storage.mkdir()
    good = tmp_path / "good"
    good.mkdir()

    def check(folder: str, free: int = 0) -> str | None:
        return location.check_folder(
            folder,
            min_free_bytes=free,
            camera_folders=[default / "other"],
            forbidden=[storage],
        )

    assert check("relative/path") == location.ERROR_NOT_ABSOLUTE
    assert check(str(tmp_path / "missing")) == location.ERROR_MISSING
    assert check(str(default / "other")) == location.ERROR_CAMERA_FOLDER
    assert check(str(default / "other" / "deeper")) == location.ERROR_CAMERA_FOLDER
    assert check(str(storage / "x")) == location.ERROR_FORBIDDEN
    assert check(str(good), free=2**62) == location.ERROR_LOW_SPACE
    assert check(str(good)) is None
    assert list(good.iterdir()) == []  # the probe file is gone
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder proves nothing then
        good.chmod(0o500)
        try:
            assert check(str(good)) == location.ERROR_NOT_WRITABLE
        finally:
            good.chmod(0o700)


def test_check_folder_not_writable_on_a_read_only_mount(tmp_path: Path) -> None:
    """A read-only filesystem refuses the probe even to root (needs mount: skipped without)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.system(f"mount -t tmpfs -o ro none {folder} 2>/dev/null") != 0:  # noqa: S605
        pytest.skip("mounting is not permitted here (needs root in a mount namespace)")
    try:
        assert (
            location.check_folder(str(folder), min_free_bytes=0, camera_folders=[], forbidden=[])
            == location.ERROR_NOT_WRITABLE
        )
        assert not location.present(folder)
    finally:
        os.system(f"umount {folder}")  # noqa: S605


def test_claim_and_present(tmp_path: Path) -> None:
    folder = tmp_path / "nas"
    assert not location.present(folder)
    folder.mkdir()
    assert not location.present(folder)  # a bare mount point has no marker
    location.claim(folder)
    location.claim(folder)  # idempotent
    assert location.present(folder)


def test_move_segments_moves_files_and_rows(tmp_path: Path) -> None:
    default = tmp_path / "recordings"
    target = tmp_path / "nas"
    target.mkdir()
    index = SegmentIndex(tmp_path / "index.db")
    index.default_root = default
    try:
        for n in range(5):
            _write(default, f"cam/2023-11-14/22/{n}.mp4", bytes([n]) * (n + 1))
            index.add_segment(seg(f"cam/2023-11-14/22/{n}.mp4", T0 + 10 * n, size=n + 1))
        # An interrupted earlier move: a complete copy at the target, row not yet updated.
        _write(target, "cam/2023-11-14/22/0.mp4", b"\x00")
        # A partial copy (different size): copied again.
        _write(target, "cam/2023-11-14/22/1.mp4", b"x")
        # A row whose file is gone (its root offline): left as it is.
        index.add_segment(seg("cam/2023-11-14/22/gone.mp4", T0 + 100))
        seen: list[int] = []
        report = location.move_segments(
            index, default, "cam", target, progress=lambda r: seen.append(r.moved)
        )
        assert (report.total, report.moved, report.missing, report.failed) == (6, 5, 1, 0)
        assert report.moved_bytes == 15
        assert seen == [1, 2, 3, 4, 5, 5]
        for segment in index.segments("cam", T0, T0 + 60):
            assert segment.root == str(target)
            assert segment.file(default).read_bytes() == bytes([int(segment.path[-5])]) * (
                int(segment.path[-5]) + 1
            )
            assert not (default / segment.path).exists()
        assert not list(target.rglob("*.part"))
        # Moving back to the default root stores NULL roots again.
        report = location.move_segments(index, default, "cam", default)
        assert report.moved == 5
        assert index.roots() == []
        # Cancelled before anything: nothing moves.
        report = location.move_segments(index, default, "cam", target, cancelled=lambda: True)
        assert report.moved == 0
    finally:
        index.close()


def test_move_failure_is_counted_and_skipped(tmp_path: Path) -> None:
    default = tmp_path / "recordings"
    target = tmp_path / "nas"
    target.mkdir()
    (target / "cam").write_text("a file where the camera folder should be")
    index = SegmentIndex(tmp_path / "index.db")
    index.default_root = default
    try:
        _write(default, "cam/a.mp4")
        index.add_segment(seg("cam/a.mp4", T0))
        index.add_segment(seg("../escape.mp4", T0 + 10))
        report = location.move_segments(index, default, "cam", target)
        assert (report.moved, report.failed, report.missing) == (0, 1, 1)
        assert (default / "cam/a.mp4").exists()
        assert index.segments("cam", T0, T0 + 5)[0].root is None
    finally:
        index.close()


def test_rebuild_and_retention_use_each_root(
    tmp_path: Path, segment_factory: SegmentFactory
) -> None:
    """Rebuild indexes a folder with its root; retention deletes there, not on an offline one."""
    default = tmp_path / "recordings"
    nas = tmp_path / "nas"
    scratch = SegmentIndex(tmp_path / "scratch.db")
    made = segment_factory.make_history(nas, scratch, "cam", T0, 2, 2)
    scratch.close()
    index = SegmentIndex(tmp_path / "index.db")
    index.default_root = default
    try:
        report = rebuild_index(index, nas, min_age=0)
        assert report.added == len(made) == 2
        segments = index.segments("cam", 0, 2e9)
        assert {s.root for s in segments} == {str(nas)}
        # The NAS is offline (no marker): retention keeps the rows for its return.
        assert delete_range(index, default, "cam", 0, 2e9)[0] == 0
        assert len(index.segments("cam", 0, 2e9)) == 2
        location.claim(nas)
        assert delete_range(index, default, "cam", 0, 2e9)[0] == 2
        assert not any((nas / s.path).exists() for s in segments)
    finally:
        index.close()


def test_move_resumes_after_the_source_went_and_stops_when_cancelled(tmp_path: Path) -> None:
    default = tmp_path / "recordings"
    target = tmp_path / "nas"
    index = SegmentIndex(tmp_path / "index.db")
    index.default_root = default
    try:
        # Copied and the source deleted, but the row not updated yet (interrupted).
        _write(target, "cam/a.mp4")
        index.add_segment(seg("cam/a.mp4", T0))
        _write(default, "cam/b.mp4")
        index.add_segment(seg("cam/b.mp4", T0 + 10))
        calls: list[int] = []

        def cancelled() -> bool:
            calls.append(1)
            return len(calls) > 2  # the loop's check, then a.mp4's; b.mp4's says stop

        report = location.move_segments(index, default, "cam", target, cancelled=cancelled)
        assert report.moved == 1  # a.mp4's row only; cancelled before b.mp4
        first, second = index.segments("cam", T0, T0 + 60)
        assert first.root == str(target)
        assert second.root is None
        assert (default / "cam/b.mp4").is_file()
    finally:
        index.close()


def test_rescue_strays_from_a_bare_mount_point(tmp_path: Path) -> None:
    """Files written into a bare mount point (indexed or not) move to the fallback."""
    default = tmp_path / "recordings"
    bare = tmp_path / "nas"
    index = SegmentIndex(tmp_path / "index.db")
    index.default_root = default
    try:
        assert location.rescue_strays(index, default, "cam", bare, default, since=0) == 0
        indexed = _write(bare, "cam/d/h/1.mp4")
        index.add_segment(seg("cam/d/h/1.mp4", T0, bare))
        _write(bare, "cam/d/h/2.mp4")  # finished, not indexed yet
        old = _write(bare, "cam/d/h/0.mp4")  # older than the last check: the NAS's own
        os.utime(old, (T0, T0))
        _write(default, "cam/d/h/3.mp4")
        index.add_segment(seg("cam/d/h/3.mp4", T0 + 30))
        _write(bare, "cam/d/h/3.mp4")  # same path as a default-root row: not ours
        _write(default, "cam/e", b"a file where a folder should be")
        _write(bare, "cam/e/h/5.mp4")  # cannot be moved: its folder cannot be made
        moved = location.rescue_strays(index, default, "cam", bare, default, since=T0 + 1)
        assert moved == 2
        assert not indexed.exists()
        assert (default / "cam/d/h/1.mp4").is_file()
        assert (default / "cam/d/h/2.mp4").is_file()
        assert old.is_file()
        assert index.segment_by_path("cam/d/h/1.mp4").root is None  # type: ignore[union-attr]
    finally:
        index.close()


def test_free_space_floor_is_kept_per_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A NAS (a small tmpfs) low on space loses its own oldest footage, never the local disk's.

    Needs mount (root in a mount namespace); skipped without.
    """
    default = tmp_path / "recordings"
    nas = tmp_path / "nas"
    nas.mkdir()
    if os.system(f"mount -t tmpfs -o size=8m none {nas} 2>/dev/null") != 0:  # noqa: S605
        pytest.skip("mounting is not permitted here (needs root in a mount namespace)")
    index = SegmentIndex(tmp_path / "index.db")
    index.default_root = default
    try:
        location.claim(nas)
        for n in range(6):  # 6 MiB on the 8 MiB NAS, interleaved with local footage
            rel = f"cam/n{n}.mp4"
            _write(nas, rel, b"\0" * 2**20)
            index.add_segment(seg(rel, T0 + 20 * n, nas, size=2**20))
            rel = f"cam/l{n}.mp4"
            _write(default, rel, b"\0" * 1000)
            index.add_segment(seg(rel, T0 + 20 * n + 10, size=1000))
        floor = 4 * 2**20  # the NAS has about 2 MiB free: the oldest NAS files go
        report = enforce(
            index,
            default,
            RetentionPolicy(cameras={"cam": CameraRetention()}, min_free_bytes=floor),
            free_bytes=lambda: 2**40,  # the local disk has plenty
        )
        left = index.segments("cam", 0, 2e9)
        assert sum(s.root is None for s in left) == 6  # no local footage went
        assert report.reasons == {"disk": report.deleted_segments}
        assert 2 <= report.deleted_segments < 6
        assert next(s.path for s in left if s.root) == f"cam/n{report.deleted_segments}.mp4"
        # The local disk low: only local footage goes (the NAS's does not help it), even
        # when a page of candidates holds only the NAS's.
        monkeypatch.setattr(retention, "_BATCH", 1)
        before_nas = sum(1 for s in left if s.root)

        def local_free() -> int:  # short until only two local files are left
            local = sum(s.root is None for s in index.segments("cam", 0, 2e9))
            return 0 if local > 2 else 2**40

        enforce(
            index,
            default,
            RetentionPolicy(cameras={"cam": CameraRetention()}, min_free_bytes=1),
            free_bytes=local_free,
        )
        left = index.segments("cam", 0, 2e9)
        assert sum(1 for s in left if s.root) == before_nas
        assert sum(s.root is None for s in left) == 2
        # A folder that is gone and the NAS offline (no marker): neither is swept.
        index.add_segment(seg("cam/g.mp4", T0 + 500, tmp_path / "gone"))
        (nas / location.MARKER).unlink()
        report = enforce(
            index,
            default,
            RetentionPolicy(cameras={"cam": CameraRetention()}, min_free_bytes=2**40),
            free_bytes=lambda: 2**40,
        )
        assert report.deleted_segments == 0
    finally:
        index.close()
        os.system(f"umount -l {nas}")  # noqa: S605
