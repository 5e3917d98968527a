"""The cloud tier against a real GCS emulator (fake-gcs-server on a free loopback port).

No mock anywhere: the point of these tests is how the tier behaves against a real
server — preconditions answered 412, resumable sessions, generations and CRC32C as GCS
reports them, a server that disappears mid-upload and comes back, a missing bucket.
A mock would only replay our own idea of those answers. The one stand-in is Google's
OAuth token endpoint (``tests.gcs_emulator.TokenServer``), which this machine cannot
reach: keys made here name it as their ``token_uri``, and it refuses revoked keys with
the ``invalid_grant`` Google sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
import functools
import hashlib
import logging
import os
from pathlib import Path
import threading
import time
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
import google_crc32c
import pytest
import requests

from custom_components.cctv_nvr.engine import location
from custom_components.cctv_nvr.engine.cloud import (
    CloudConfig,
    CloudState,
    CloudTier,
    StorageClass,
    UploadScope,
    colder_warnings,
    lifecycle_rules,
    lifecycle_warnings,
    probe_bucket,
)
from custom_components.cctv_nvr.engine.gcs import crc32c_of
from custom_components.cctv_nvr.engine.index import KIND_EVENT, Segment, SegmentIndex
from custom_components.cctv_nvr.engine.retention import (
    CloudRetention,
    RetentionPolicy,
    delete_range,
    enforce,
)
from tests.engine.helpers import wait_for
from tests.gcs_emulator import FakeGcs, TokenServer, make_key, running_gcs

BUCKET = "footage"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
KIB = 1024


@pytest.fixture
def gcs(tmp_path: Path) -> Iterator[FakeGcs]:
    with running_gcs(tmp_path / "gcs", BUCKET) as server:
        yield server


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "rec"


def client(gcs: FakeGcs) -> storage.Client:
    return storage.Client(
        project="test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs.url},
    )


def objects(gcs: FakeGcs) -> dict[str, storage.Blob]:
    return {blob.name: blob for blob in client(gcs).list_blobs(BUCKET)}


def config(gcs: FakeGcs, **changes: object) -> CloudConfig:
    values: dict[str, object] = {
        "bucket": BUCKET,
        "emulator_host": gcs.url,
        "backoff_initial": 0.2,
        "backoff_max": 1.0,
        "scan_interval": 0.5,
        "timeout": 10.0,
        "chunk_bytes": 256 * KIB,
        "resumable_bytes": 1024 * KIB,
    }
    values.update(changes)
    return CloudConfig(**values)  # type: ignore[arg-type]


def make_segments(
    root: Path,
    index: SegmentIndex,
    count: int,
    size: int,
    *,
    camera: str = "cam",
    start: float = T0,
) -> tuple[list[Segment], dict[str, bytes]]:
    """Index ``count`` segment files of random bytes; return them (with ids) and their bytes."""
    made: list[Segment] = []
    data: dict[str, bytes] = {}
    for number in range(count):
        moment = start + 10 * number
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(moment))
        relative = f"{camera}/{time.strftime('%Y-%m-%d/%H', time.gmtime(moment))}/{stamp}-r1.mp4"
        body = os.urandom(size)
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(body)
        data[relative] = body
        made.append(
            Segment(
                camera,
                relative,
                moment,
                moment + 10,
                size,
                video_codec="h264",
                width=640,
                height=360,
                fps=15.0,
                run_id="r1",
            )
        )
    index.add_segments(made)
    stored = index.segments_by_paths(s.path for s in made)
    return [stored[s.path] for s in made], data


@pytest.fixture
async def tiers() -> AsyncIterator[list[CloudTier]]:
    """Tiers a test starts; each is stopped at the end (threads included)."""
    started: list[CloudTier] = []
    yield started
    for tier in started:
        await tier.stop()


async def start(tiers: list[CloudTier], tier: CloudTier) -> CloudTier:
    tiers.append(tier)
    await tier.start()
    return tier


async def start_slowly(
    tiers: list[CloudTier], gcs: FakeGcs, index: SegmentIndex, root: Path, **changes: object
) -> CloudTier:
    """Start a tier capped at 384 KiB/s and wait until its first upload has begun.

    A file of 1.5 MiB then takes seconds to go up: a test can change it under the upload.
    """
    tier = await start(
        tiers,
        CloudTier(config(gcs, bandwidth_bytes_per_second=384 * KIB, **changes), index, root),
    )
    await wait_for(lambda: tier.status.uploaded_bytes > 0, 20, 0.02)
    return tier


def drained(tier: CloudTier, verified: int) -> bool:
    status = tier.status
    return status.queue_items == 0 and status.verified >= verified


async def test_upload_verify_then_local_copy_goes(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    small, data = make_segments(root, index, 6, 40 * KIB)
    # The big one was recorded into a chosen folder (a NAS): it goes up from there.
    nas = root.parent / "nas"
    big, big_data = make_segments(nas, index, 1, 1536 * KIB, start=T0 + 100)  # resumable
    assert index.set_segment_root(big[0].row_id, nas)
    location.claim(nas)
    data |= big_data
    seen: list[CloudState] = []
    tier = await start(
        tiers,
        CloudTier(config(gcs), index, root, on_status=lambda status: seen.append(status.state)),
    )
    await wait_for(lambda: drained(tier, 7), 30)

    stored = objects(gcs)
    assert set(stored) == set(data)
    for segment in [*small, *big]:
        row = index.segment_by_id(segment.row_id)
        copy = index.cloud.segment_copy(segment.row_id)
        assert row is not None
        assert copy is not None
        assert row.location == "both"
        blob = stored[segment.path]
        assert copy.uri == f"gs://{BUCKET}/{segment.path}" == row.cloud_uri
        assert copy.generation == blob.generation
        assert copy.crc32c == blob.crc32c == crc32c_of(data[segment.path])
        assert blob.download_as_bytes() == data[segment.path]
        assert blob.metadata["cctv-camera"] == "cam"
        assert float(blob.metadata["cctv-start"]) == segment.start
    status = tier.status
    total = sum(len(body) for body in data.values())
    assert status.cloud_bytes == total
    assert status.uploaded_bytes == total
    assert status.last_verified is not None
    assert status.upload_rate > 0
    assert status.state == CloudState.IDLE
    assert seen
    assert seen[-1] == CloudState.IDLE
    # Verified: retention may now delete the local copies; the footage stays listed.
    report = enforce(
        index, root, RetentionPolicy(cloud=CloudRetention(keep_local_days=0)), now=T0 + 10**6
    )
    assert report.offloaded_segments == 7
    assert not any(root.rglob("*.mp4"))
    assert not any(nas.rglob("*.mp4"))
    assert index.camera_stats("cam")[0] == 7
    # ... and is read back from the bucket: whole, in ranges, streamed, fetched.
    uri = f"gs://{BUCKET}/{big[0].path}"
    assert await tier.read(uri) == big_data[big[0].path]
    assert await tier.read(uri, 10, 19) == big_data[big[0].path][10:20]
    streamed = b"".join([chunk async for chunk in tier.stream(uri, chunk=300 * KIB)])
    assert streamed == big_data[big[0].path]
    fetched = await tier.fetch(
        uri, root.parent / "cache" / "x.mp4", crc32c=big[0] and crc32c_of(big_data[big[0].path])
    )
    assert fetched.read_bytes() == big_data[big[0].path]


async def test_412_adopts_same_bytes_and_suffixes_other_bytes(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    """An object already at the name: an earlier upload whose answer was lost is adopted;
    other bytes are kept and ours go up under the next free name."""
    segments, data = make_segments(root, index, 3, 30 * KIB)
    big, big_data = make_segments(root, index, 1, 1100 * KIB, start=T0 + 100)
    bucket = client(gcs).bucket(BUCKET)
    same = bucket.blob(segments[0].path)
    same.upload_from_string(data[segments[0].path])
    other = bucket.blob(segments[1].path)
    other.upload_from_string(b"someone else's bytes")
    taken = bucket.blob(segments[2].path.replace(".mp4", "~1.mp4"))
    taken.upload_from_string(b"a name taken too")
    bucket.blob(segments[2].path).upload_from_string(b"and the first one")
    bucket.blob(big[0].path).upload_from_string(b"not the big file")  # the resumable path

    tier = await start(tiers, CloudTier(config(gcs), index, root))
    await wait_for(lambda: drained(tier, 4), 30)

    first = index.cloud.segment_copy(segments[0].row_id)
    assert first is not None
    assert first.generation == same.generation  # adopted, not uploaded again
    second = index.cloud.segment_copy(segments[1].row_id)
    third = index.cloud.segment_copy(segments[2].row_id)
    fourth = index.cloud.segment_copy(big[0].row_id)
    assert second is not None
    assert third is not None
    assert fourth is not None
    assert second.uri == f"gs://{BUCKET}/{segments[1].path.replace('.mp4', '~1.mp4')}"
    assert third.uri == f"gs://{BUCKET}/{segments[2].path.replace('.mp4', '~2.mp4')}"
    assert fourth.uri == f"gs://{BUCKET}/{big[0].path.replace('.mp4', '~1.mp4')}"
    stored = objects(gcs)
    assert stored[segments[1].path].download_as_bytes() == b"someone else's bytes"
    assert stored[segments[1].path].generation == other.generation
    assert (
        stored[segments[1].path.replace(".mp4", "~1.mp4")].download_as_bytes()
        == (data[segments[1].path])
    )
    assert (
        stored[big[0].path.replace(".mp4", "~1.mp4")].download_as_bytes() == (big_data[big[0].path])
    )
    assert len(stored) == 8  # 5 objects put there by others + 3 of ours (one was adopted)


async def test_emulator_stopped_mid_upload_and_started_again(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    segments, data = make_segments(root, index, 1, 2048 * KIB)
    tier = await start(
        tiers, CloudTier(config(gcs, bandwidth_bytes_per_second=400 * KIB), index, root)
    )
    await wait_for(lambda: tier.status.uploaded_bytes > 0, 20, 0.02)
    assert tier.status.state == CloudState.UPLOADING
    assert tier.status.uploading == 1
    gcs.stop()  # mid-upload: about a fifth of the file has gone
    await wait_for(lambda: tier.status.state == CloudState.OFFLINE, 30, 0.05)
    assert tier.status.failing_since is not None
    assert tier.status.last_error
    # Cloud down: nothing unverified goes because of the cloud; the queue grows.
    report = enforce(
        index,
        root,
        RetentionPolicy(cloud=CloudRetention(keep_local_days=0, keep_cloud_days=0)),
        now=T0 + 10**6,
    )
    assert report.offloaded_segments == report.deleted_segments == 0
    assert (root / segments[0].path).exists()
    more, more_data = make_segments(root, index, 3, 20 * KIB, start=T0 + 100)
    for segment in more:  # as the recorder reports them: without their row id
        assert await tier.enqueue_segment(replace(segment, id=None))
    await wait_for(lambda: tier.status.queue_items == 4, 10, 0.05)
    assert tier.status.queue_bytes == 2048 * KIB + 3 * 20 * KIB
    assert tier.status.state == CloudState.OFFLINE

    gcs.start()  # same port, same objects
    await wait_for(lambda: drained(tier, 4), 60)
    stored = objects(gcs)
    for segment in [*segments, *more]:
        body = (data | more_data)[segment.path]
        assert stored[segment.path].download_as_bytes() == body
        row = index.segment_by_id(segment.row_id)
        assert row is not None
        assert row.location == "both"
    assert tier.status.state == CloudState.IDLE
    assert tier.status.failing_since is None


async def test_restart_with_a_full_queue(
    gcs: FakeGcs, tmp_path: Path, root: Path, tiers: list[CloudTier]
) -> None:
    """Home Assistant stops with a backlog and an upload half done; after a restart (index
    reopened, a new tier) the queue drains and every object is whole."""
    gcs.stop()
    db = tmp_path / "index.db"
    index = SegmentIndex(db)
    segments, data = make_segments(root, index, 12, 30 * KIB)
    big, big_data = make_segments(root, index, 1, 1536 * KIB, start=T0 + 200)
    tier = CloudTier(config(gcs, bandwidth_bytes_per_second=512 * KIB), index, root)
    await tier.start()
    await wait_for(lambda: tier.status.queue_items == 13, 10, 0.05)
    assert tier.status.state == CloudState.OFFLINE
    gcs.start()
    # Let some uploads happen, then stop in the middle of the big one.
    await wait_for(lambda: any(item.session_url for item in index.cloud.items()), 30, 0.02)
    await tier.stop()
    assert tier.status.state == CloudState.STOPPED
    left = index.cloud.totals()[0]
    assert left >= 1
    index.close()

    index = SegmentIndex(db)
    try:
        assert index.cloud.totals()[0] == left
        tier = await start(tiers, CloudTier(config(gcs), index, root))
        await wait_for(lambda: drained(tier, left), 60)
        stored = objects(gcs)
        for segment in [*segments, *big]:
            row = index.segment_by_id(segment.row_id)
            assert row is not None
            assert row.location == "both"
            assert row.cloud_uri == f"gs://{BUCKET}/{segment.path}"
            assert stored[segment.path].download_as_bytes() == (data | big_data)[segment.path]
        assert len(stored) == 13
        await tier.stop()
    finally:
        index.close()


async def test_checksum_mismatch_keeps_the_local_copy_and_uploads_again(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    segments, _ = make_segments(root, index, 1, 1536 * KIB)
    path = root / segments[0].path
    tier = await start_slowly(tiers, gcs, index, root)
    # The file changes under the upload (its first chunk already sent).
    with path.open("r+b") as file:
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 0xFF]))
    changed = path.read_bytes()
    await wait_for(lambda: "checksum mismatch" in (tier.status.last_error or ""), 30, 0.05)
    assert path.exists()
    row = index.segment_by_id(segments[0].row_id)
    assert row is not None
    assert row.location == "local"  # not verified: nothing may delete it
    await wait_for(lambda: drained(tier, 1), 60)
    copy = index.cloud.segment_copy(segments[0].row_id)
    assert copy is not None
    assert copy.crc32c == crc32c_of(changed)
    stored = objects(gcs)
    assert list(stored) == [segments[0].path]  # the bad generation was deleted
    assert stored[segments[0].path].download_as_bytes() == changed
    assert stored[segments[0].path].generation == copy.generation
    item_attempts = tier.status.verified
    assert item_attempts == 1


async def test_a_file_that_shrinks_under_its_upload_fails_that_item_only(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    """The uploader process reads a chunk short: the item backs off, the tier goes on."""
    segments, _ = make_segments(root, index, 2, 1536 * KIB)
    path = root / segments[0].path
    tier = await start_slowly(tiers, gcs, index, root, workers=1)
    with path.open("r+b") as file:
        file.truncate(300 * KIB)  # the first chunk is sent; the next ones are not there
    await wait_for(lambda: "shrank during its upload" in (tier.status.last_error or ""), 30, 0.05)
    assert tier.status.state != CloudState.OFFLINE  # the item failed, not the tier
    await wait_for(lambda: drained(tier, 2), 60)
    copy = index.cloud.segment_copy(segments[0].row_id)
    assert copy is not None
    assert copy.crc32c == crc32c_of(path.read_bytes())  # what is there now went up
    assert objects(gcs)[segments[0].path].size == 300 * KIB


async def test_bad_key(
    gcs: FakeGcs,
    index: SegmentIndex,
    root: Path,
    tiers: list[CloudTier],
    token_server: TokenServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A malformed key and a revoked key stop uploads (auth_failed), keep the queue and every
    local file, and never show the key; a new key resumes."""
    caplog.set_level(logging.DEBUG)
    segments, _ = make_segments(root, index, 3, 20 * KIB)
    good = make_key("nvr@test.iam.gserviceaccount.com", token_server.url)
    malformed = {
        **good,
        "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    }
    tier = await start(tiers, CloudTier(config(gcs, key=malformed), index, root))
    assert tier.status.state == CloudState.AUTH_FAILED
    assert await tier.check() == CloudState.AUTH_FAILED
    # Queued by the scanner (in the pool), shown by the status task: waited for, not slept on
    # (a fixed second was too short beside a busy CPU).
    await wait_for(lambda: tier.status.queue_items == 3, 30, 0.05)
    await asyncio.sleep(0.5)  # a worker that would upload had its chance
    assert objects(gcs) == {}

    revoked = make_key("old@test.iam.gserviceaccount.com", token_server.url)
    token_server.revoke("old@test.iam.gserviceaccount.com")
    assert await tier.update_key(revoked) == CloudState.AUTH_FAILED
    await wait_for(lambda: "invalid_grant" in (tier.status.last_error or ""), 30, 0.05)
    await asyncio.sleep(0.5)
    assert tier.status.state == CloudState.AUTH_FAILED
    assert objects(gcs) == {}
    assert all((root / s.path).exists() for s in segments)

    assert await tier.update_key(good) in (CloudState.IDLE, CloudState.UPLOADING)
    await wait_for(lambda: drained(tier, 3), 30)
    assert len(objects(gcs)) == 3
    assert token_server.requests >= 2
    secrets = [good["private_key"], revoked["private_key"], good["private_key_id"], "not a key"]
    shown = [caplog.text, repr(tier.status), repr(tier.config)]
    for secret in secrets:
        for text in shown:
            assert secret.strip().splitlines()[-2 if "KEY" in secret else 0] not in text
    assert "ya29." not in caplog.text


async def test_missing_bucket(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    make_segments(root, index, 2, 20 * KIB)
    assert (await probe_bucket(config(gcs, bucket="not-there-yet")))[0] == (
        CloudState.BUCKET_MISSING
    )
    assert await probe_bucket(config(gcs)) == (CloudState.IDLE, None)
    tier = await start(tiers, CloudTier(config(gcs, bucket="not-there-yet"), index, root))
    assert tier.status.state == CloudState.BUCKET_MISSING
    await wait_for(lambda: tier.status.queue_items == 2, 30, 0.05)  # queued by the scanner
    assert tier.status.state == CloudState.BUCKET_MISSING
    gcs.create_bucket("not-there-yet")
    await wait_for(lambda: drained(tier, 2), 30)
    assert len(list(client(gcs).list_blobs("not-there-yet"))) == 2


async def test_scope_delay_cap_exports_and_the_environment(
    gcs: FakeGcs,
    index: SegmentIndex,
    root: Path,
    tmp_path: Path,
    tiers: list[CloudTier],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # STORAGE_EMULATOR_HOST is honoured as google-cloud-storage honours it.
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    segments, _ = make_segments(root, index, 5, 20 * KIB)
    event = index.recordings.start("cam", KIND_EVENT, "motion", segments[1].start + 1)
    index.recordings.set_end(event, segments[1].end - 1)
    index.protect("cam", segments[3].start, segments[3].start + 1)
    exports = tmp_path / "exports"
    (exports / "cam").mkdir(parents=True)
    (exports / "cam" / "clip.mp4").write_bytes(os.urandom(10 * KIB))
    export_id = index.exports.add("cam", "clip", T0, T0 + 30, "cam/clip.mp4", 10 * KIB, 30.0)
    cfg = CloudConfig(
        BUCKET,
        upload=UploadScope.EVENTS,
        prefix="nvr/",
        delay_seconds=1.5,
        scan_interval=0.5,
        bandwidth_bytes_per_second=200 * KIB,
        chunk_bytes=256 * KIB,
    )
    assert cfg.emulator_host == gcs.url
    tier = await start(tiers, CloudTier(cfg, index, root, exports))
    await wait_for(lambda: drained(tier, 3), 30)
    assert sorted(objects(gcs)) == sorted(
        ["nvr/exports/cam/clip.mp4", f"nvr/{segments[1].path}", f"nvr/{segments[3].path}"]
    )
    assert index.cloud.export_location(export_id) == "both"
    # A new segment waits its delay after recording; the cap holds its rate.
    now = time.time()
    fresh, _ = make_segments(root, index, 1, 600 * KIB, start=now - 10)
    began = time.monotonic()
    assert await tier.enqueue_segment(fresh[0], event=True)
    assert (await tier.refresh_status()).queue_items == 1  # within its delay (1.5 s)
    await wait_for(lambda: drained(tier, 4), 30, 0.05)
    took = time.monotonic() - began
    assert took >= 1.5 + (600 - 256) / 200 * 0.8  # the delay, then the bytes beyond the burst
    assert not await tier.enqueue_segment(segments[0])  # continuous footage: not in scope


async def test_listing_the_bucket_finds_the_footage_again(
    gcs: FakeGcs, tmp_path: Path, root: Path, tiers: list[CloudTier]
) -> None:
    db = tmp_path / "index.db"
    index = SegmentIndex(db)
    segments, data = make_segments(root, index, 4, 20 * KIB)
    tier = await start(tiers, CloudTier(config(gcs), index, root))
    await wait_for(lambda: drained(tier, 4), 30)
    await tier.stop()
    enforce(
        index,
        root,
        RetentionPolicy(cloud=CloudRetention(keep_local_days=0)),
        now=segments[1].end + 1,
    )
    assert [index.segment_by_id(s.row_id).location for s in segments] == [  # type: ignore[union-attr]
        "cloud",
        "cloud",
        "both",
        "both",
    ]
    index.close()
    db.unlink()

    index = SegmentIndex(db)  # lost: only the files left on disk come back from a rebuild
    try:
        for segment in segments[2:]:
            index.add_segment(
                Segment(segment.camera, segment.path, segment.start, segment.end, segment.bytes)
            )
        tier = await start(tiers, CloudTier(config(gcs), index, root))
        report = await tier.rebuild_from_bucket()
        assert (report.objects, report.segments_added, report.segments_adopted) == (4, 2, 2)
        rows = index.segments("cam", T0, T0 + 100)
        assert [row.location for row in rows] == ["cloud", "cloud", "both", "both"]
        assert (rows[0].video_codec, rows[0].width, rows[0].fps, rows[0].run_id) == (
            "h264",
            640,
            15.0,
            "r1",
        )
        assert rows[0].end == segments[0].end
        assert await tier.read(rows[0].cloud_uri or "") == data[segments[0].path]
        again = await tier.rebuild_from_bucket()
        assert (again.segments_added, again.segments_adopted, again.skipped) == (0, 0, 4)
        assert await tier.scan() == 0  # nothing to upload again
        await tier.stop()
    finally:
        index.close()


async def test_deleted_footage_leaves_the_bucket(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    segments, _ = make_segments(root, index, 3, 20 * KIB)
    tier = await start(tiers, CloudTier(config(gcs), index, root))
    await wait_for(lambda: drained(tier, 3), 30)
    deleted, _ = delete_range(index, root, "cam", segments[0].start, segments[1].end)
    assert deleted == 2
    assert await tier.empty_trash() == 2
    assert list(objects(gcs)) == [segments[2].path]
    await tier.refresh_status()
    assert tier.status.trash_items == 0
    assert tier.status.cloud_bytes == 20 * KIB


async def test_signed_urls_and_bounded_threads(
    gcs: FakeGcs,
    index: SegmentIndex,
    root: Path,
    tiers: list[CloudTier],
    token_server: TokenServer,
) -> None:
    segments, data = make_segments(root, index, 30, 10 * KIB)
    key = make_key("nvr@test.iam.gserviceaccount.com", token_server.url)
    tier = await start(tiers, CloudTier(config(gcs, key=key, workers=3), index, root))
    peak = 0
    while not drained(tier, 30):
        threads = [t for t in threading.enumerate() if t.name.startswith("cctv_nvr_cloud")]
        peak = max(peak, len(threads))
        await asyncio.sleep(0.01)
    assert 1 <= peak <= 4  # workers + 1
    uri = f"gs://{BUCKET}/{segments[0].path}"
    url = await tier.signed_url(uri, 60)
    assert url is not None
    assert url.startswith(gcs.url)
    assert "X-Goog-Algorithm=GOOG4-RSA-SHA256" in url
    assert "X-Goog-Expires=60" in url
    assert "X-Goog-Signature=" in url
    assert_v4_signature(url, key)
    # fake-gcs-server serves the path-style URL a signed URL names when asked as GCS.
    answer = await asyncio.to_thread(
        functools.partial(requests.get, url, headers={"Host": "storage.googleapis.com"}, timeout=10)
    )
    assert answer.status_code == 200
    assert answer.content == data[segments[0].path]
    anonymous = await start(tiers, CloudTier(config(gcs), index, root))
    assert await anonymous.signed_url(uri) is None  # no key: the view streams instead


def assert_v4_signature(url: str, key: dict[str, str]) -> None:
    """Check a V4 signed URL's signature with the key's public half (the emulator does not)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    signature = dict(query)["X-Goog-Signature"]
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(query)
        if k != "X-Goog-Signature"
    )
    canonical = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    fields = dict(query)
    scope = fields["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [
            "GOOG4-RSA-SHA256",
            fields["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    private = serialization.load_pem_private_key(key["private_key"].encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    private.public_key().verify(  # raises InvalidSignature when wrong
        bytes.fromhex(signature), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    assert fields["X-Goog-Credential"].startswith(key["client_email"] + "/")


def test_config_and_lifecycle_helpers() -> None:
    key = {"private_key": "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n"}
    cfg = CloudConfig(
        "b", key=key, storage_class=StorageClass.COLDLINE, keep_cloud_days=30, prefix="nvr/"
    )
    assert "secret" not in repr(cfg)
    warnings = lifecycle_warnings(cfg)
    assert len(warnings) == 1
    assert "90 days" in warnings[0]
    assert lifecycle_warnings(CloudConfig("b", storage_class=StorageClass.STANDARD)) == []
    rules = lifecycle_rules(cfg, delete_after_days=400)
    assert rules[-1] == {
        "action": {"type": "Delete"},
        "condition": {"age": 400, "matchesPrefix": ["nvr/"]},
    }
    rules = lifecycle_rules(
        cfg, delete_after_days=None, colder_after_days=30, colder_class=StorageClass.ARCHIVE
    )
    assert rules[-1] == {
        "action": {"type": "SetStorageClass", "storageClass": "ARCHIVE"},
        "condition": {
            "age": 30,
            "matchesStorageClass": ["STANDARD", "NEARLINE", "COLDLINE"],
            "matchesPrefix": ["nvr/"],
        },
    }
    assert colder_warnings(cfg, StorageClass.NEARLINE, 30) == [
        "objects written as COLDLINE are not moved to NEARLINE: it is not colder"
    ]
    assert colder_warnings(cfg, "ARCHIVE", 30) == [
        (
            "footage moved to ARCHIVE after 30 days and deleted after 30 days is billed as if "
            "kept 395 days (ARCHIVE: 365 days minimum)"
        )
    ]
    forever = CloudConfig("b")  # written in the bucket's default class, kept in the cloud
    assert colder_warnings(forever, StorageClass.COLDLINE, 30) == []
    with pytest.raises(ValueError, match="256 KiB"):
        CloudConfig("b", chunk_bytes=1000)
    assert google_crc32c.value(b"") == 0
