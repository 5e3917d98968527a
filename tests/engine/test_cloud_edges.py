"""Edges of the cloud tier: validation, items it cannot upload, the trash, reading back, rebuilds.

Like ``test_cloud.py`` these run against the real GCS emulator (fake-gcs-server). Where
an answer the emulator never gives is needed (a 503, a 403, a resumable session answering
429 or garbage), a tiny loopback HTTP server of ours (``StubServer``) answers with it:
the requests still go through google-cloud-storage and ``requests`` over a real socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import logging
import os
from pathlib import Path
import threading
import time

from google.cloud import storage
import pytest

from custom_components.cctv_nvr.engine.cloud import (
    CloudConfig,
    CloudState,
    CloudTier,
    StorageClass,
    UploadScope,
    lifecycle_warnings,
)
from custom_components.cctv_nvr.engine.gcs import (
    Bucket,
    BucketError,
    ErrorKind,
    _MultipartBody,
    crc32c_of,
    split_uri,
)
from custom_components.cctv_nvr.engine.index import (
    KIND_EXPORT,
    KIND_SEGMENT,
    CloudCopy,
    Segment,
    SegmentIndex,
)
from custom_components.cctv_nvr.engine.retention import delete_range
from tests.engine.helpers import free_port, wait_for
from tests.engine.test_cloud import (
    BUCKET,
    KIB,
    T0,
    client,
    config,
    drained,
    make_segments,
    objects,
    start,
    token_server,
)
from tests.gcs_emulator import FakeGcs, TokenServer, make_key, running_gcs

__all__ = ["token_server"]  # a fixture of test_cloud.py, used here


@pytest.fixture
def gcs(tmp_path: Path) -> Iterator[FakeGcs]:
    with running_gcs(tmp_path / "gcs", BUCKET) as server:
        yield server


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "rec"


@pytest.fixture
async def tiers() -> AsyncIterator[list[CloudTier]]:
    started: list[CloudTier] = []
    yield started
    for tier in started:
        await tier.stop()


# -- a loopback server answering what the emulator never does ----------------------------


class _StubHandler(BaseHTTPRequestHandler):
    server: _StubHTTPServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.command, self.rfile.read(length) if length else b""))
        time.sleep(self.server.delay)
        status, body = self.server.by_method.get(
            self.command, (self.server.status, self.server.body)
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


class _StubHTTPServer(ThreadingHTTPServer):
    status: int
    body: bytes
    delay: float
    seen: list[tuple[str, bytes]]
    by_method: dict[str, tuple[int, bytes]]


class StubServer:
    """Answers every request with ``status`` and ``body`` after ``delay`` seconds."""

    def __init__(self) -> None:
        self._server = _StubHTTPServer(("127.0.0.1", 0), _StubHandler)
        self._server.status = 200
        self._server.body = b"{}"
        self._server.delay = 0.0
        self._server.seen = []
        self._server.by_method = {}
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def seen(self) -> list[tuple[str, bytes]]:
        return self._server.seen

    def answer(self, status: int, body: bytes = b"{}", delay: float = 0.0) -> None:
        self._server.status = status
        self._server.body = body
        self._server.delay = delay

    def answer_method(self, method: str, status: int, body: bytes = b"{}") -> None:
        """Answer requests of one method so (the others as ``answer`` says)."""
        self._server.by_method[method] = (status, body)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer()
    yield server
    server.close()


def add_cloud_only(index: SegmentIndex, path: str, start: float, copy: CloudCopy) -> None:
    """Index a 10 s segment of camera "cam" whose only copy is ``copy`` (in a bucket)."""
    index.add_segment(Segment("cam", path, start, start + 10, 10))
    row = index.segment_by_path(path)
    assert row is not None
    assert index.cloud.adopt_segment(row.row_id, copy, local=False)


def metadata_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "_fetch_background" in t.name and t.is_alive()]


def error_of(call: object) -> BucketError:
    assert callable(call)
    with pytest.raises(BucketError) as caught:
        call()
    return caught.value


# -- settings --------------------------------------------------------------------------


def test_config_validation_and_billing_warning() -> None:
    with pytest.raises(ValueError, match="bucket name"):
        CloudConfig("")
    with pytest.raises(ValueError, match="workers"):
        CloudConfig("b", workers=0)
    with pytest.raises(ValueError, match="bandwidth"):
        CloudConfig("b", bandwidth_bytes_per_second=0)
    # No cloud retention with a cold class: deletions by anyone else are billed in full.
    warnings = lifecycle_warnings(CloudConfig("b", storage_class=StorageClass.ARCHIVE))
    assert len(warnings) == 1
    assert "before 365 days" in warnings[0]
    assert (
        lifecycle_warnings(
            CloudConfig("b", storage_class=StorageClass.NEARLINE, keep_cloud_days=60)
        )
        == []
    )


# -- gcs.Bucket against answers the emulator does not give -------------------------------


def test_bucket_sorts_http_answers_into_kinds(stub: StubServer) -> None:
    bucket = Bucket("b", None, emulator_host=stub.url, timeout=10)
    for status, kind in (
        (503, ErrorKind.NETWORK),
        (400, ErrorKind.REJECTED),
        (403, ErrorKind.AUTH),
        (401, ErrorKind.AUTH),
    ):
        stub.answer(status, b'{"error": {"code": %d, "message": "no"}}' % status)
        assert error_of(bucket.check).kind == kind, status

    session = f"{stub.url}/upload?upload_id=SECRET-SESSION-ID"
    for status, kind in (
        (401, ErrorKind.AUTH),
        (410, ErrorKind.SESSION_GONE),
        (412, ErrorKind.CONFLICT),
        (429, ErrorKind.NETWORK),
        (408, ErrorKind.NETWORK),
        (502, ErrorKind.NETWORK),
        (400, ErrorKind.REJECTED),
    ):
        stub.answer(status, b"refused " + session.encode())
        err = error_of(lambda: bucket.send_chunk(session, b"x" * 10, 0, 20))
        assert err.kind == kind, status
        assert f"HTTP {status}" in str(err)
        assert "SECRET-SESSION-ID" not in str(err)
    # A finished session whose answer is not an object resource.
    stub.answer(200, b"this is not json")
    assert error_of(lambda: bucket.query_session(session, 20)).kind == ErrorKind.REJECTED
    stub.answer(200, b'{"no": "name"}')
    assert error_of(lambda: bucket.query_session(session, 20)).kind == ErrorKind.REJECTED
    # 308 without a Range: nothing committed yet.
    stub.answer(308, b"")
    assert bucket.query_session(session, 20) == 0

    # Abandoning a session is best effort: a live server gets the DELETE, a dead one is ignored.
    stub.seen.clear()
    stub.answer(204, b"")
    bucket.cancel_session(session)
    assert [method for method, _ in stub.seen] == ["DELETE"]
    bucket.cancel_session(f"http://127.0.0.1:{free_port()}/upload?upload_id=x")
    err = error_of(lambda: bucket.send_chunk(f"http://127.0.0.1:{free_port()}/u", b"x", 0, 1))
    assert err.kind == ErrorKind.NETWORK


def test_bucket_needs_a_key_outside_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    err = error_of(lambda: Bucket("b", None))
    assert err.kind == ErrorKind.AUTH
    assert "no service account key" in str(err)
    with pytest.raises(ValueError, match="not a gs://"):
        split_uri("gs://bucket-only")
    with pytest.raises(ValueError, match="not a gs://"):
        split_uri("s3://b/o")


def test_unreachable_token_endpoint_is_a_network_failure(gcs: FakeGcs) -> None:
    key = make_key("nvr@test.iam.gserviceaccount.com", f"http://127.0.0.1:{free_port()}/token")
    err = error_of(Bucket(BUCKET, key, emulator_host=gcs.url, timeout=5).check)
    assert err.kind == ErrorKind.NETWORK
    assert key["private_key"] not in str(err)


def test_bucket_delete_close_and_storage_class(gcs: FakeGcs) -> None:
    bucket = Bucket(BUCKET, None, emulator_host=gcs.url, timeout=10)
    assert bucket.delete("never-there.mp4", None) is False
    info = bucket.upload_small("a.mp4", b"abc", crc32c_of(b"abc"), {"k": "v"}, "NEARLINE")
    assert info.storage_class == "NEARLINE"
    assert client(gcs).bucket(BUCKET).get_blob("a.mp4").storage_class == "NEARLINE"
    # A resumable session takes the class too (fake-gcs-server stores STANDARD whatever
    # the session asked for: only the object's arrival is checked here).
    session = bucket.start_resumable("r.mp4", 3, {}, "COLDLINE")
    done = bucket.send_chunk(session, b"abc", 0, 3, crc32c_of(b"abc"))
    assert not isinstance(done, int)
    assert (done.name, done.size, done.crc32c) == ("r.mp4", 3, crc32c_of(b"abc"))
    # Closing drops this thread's client and session; the next call opens new ones.
    bucket.close()
    bucket.close()  # nothing left to close
    assert bucket.info("a.mp4") is not None
    assert bucket.delete("a.mp4", info.generation) is True
    assert bucket.info("a.mp4") is None


def test_small_upload_is_one_multipart_request(gcs: FakeGcs) -> None:
    """Sent by hand (not google-cloud-storage's copying body): GCS gets the same object."""
    bucket = Bucket(BUCKET, None, emulator_host=gcs.url, timeout=10)
    data = os.urandom(300 * KIB)
    info = bucket.upload_small("m/a.mp4", data, crc32c_of(data), {"cctv-camera": "cam"})
    assert (info.name, info.size, info.crc32c) == ("m/a.mp4", len(data), crc32c_of(data))
    assert info.metadata == {"cctv-camera": "cam"}
    blob = client(gcs).bucket(BUCKET).get_blob("m/a.mp4")
    assert blob.download_as_bytes() == data
    assert blob.content_type == "video/mp4"
    # Create-only: the name is taken now.
    err = error_of(lambda: bucket.upload_small("m/a.mp4", b"x", crc32c_of(b"x"), {}))
    assert err.kind == ErrorKind.CONFLICT
    missing = Bucket("no-such-bucket", None, emulator_host=gcs.url, timeout=10)
    err = error_of(lambda: missing.upload_small("a.mp4", b"abc", crc32c_of(b"abc"), {}))
    assert err.kind == ErrorKind.BUCKET_MISSING
    stopped = Bucket(BUCKET, None, emulator_host=f"http://127.0.0.1:{free_port()}", timeout=5)
    err = error_of(lambda: stopped.upload_small("a.mp4", b"abc", crc32c_of(b"abc"), {}))
    assert err.kind == ErrorKind.NETWORK


def test_multipart_body_does_not_copy_the_data_and_can_be_sent_again() -> None:
    data = os.urandom(64 * KIB)
    body = _MultipartBody("B", {"name": "a", "contentType": "video/mp4"}, data)
    first = [bytes(piece) for piece in body]
    assert first == [bytes(piece) for piece in body]  # iterating again starts over
    assert len(body) == sum(len(piece) for piece in first)
    pieces = list(body)
    assert isinstance(pieces[1], memoryview)
    assert pieces[1].obj is data  # the caller's bytes, not a copy
    text = b"".join(first)
    assert text.startswith(b"--B\r\ncontent-type: application/json")
    assert (
        b'{"name": "a", "contentType": "video/mp4"}\r\n--B\r\ncontent-type: video/mp4\r\n\r\n'
        in text
    )
    assert text.endswith(data + b"\r\n--B--")


def test_small_upload_is_sent_whole_again_after_a_token_refresh(
    stub: StubServer, token_server: TokenServer
) -> None:
    """A 401 makes google-auth refresh the token and resend: the body goes again, whole.

    The stub answers 401 every time (the emulator never does); the bodies it saw are compared.
    """
    key = make_key("nvr@test.iam.gserviceaccount.com", token_server.url)
    bucket = Bucket("b", key, emulator_host=stub.url, timeout=10)
    stub.answer(401, b'{"error": {"code": 401, "message": "token expired"}}')
    data = os.urandom(32 * KIB)
    err = error_of(lambda: bucket.upload_small("a.mp4", data, crc32c_of(data), {}))
    assert err.kind == ErrorKind.AUTH
    posts = [body for method, body in stub.seen if method == "POST"]
    assert len(posts) >= 2  # sent, refused, token refreshed, sent again
    assert all(body == posts[0] for body in posts)
    assert data in posts[0]
    # The CRC32C travels in the resource, for GCS to check the bytes against.
    assert f'"crc32c": "{crc32c_of(data)}"'.encode() in posts[0]
    assert key["private_key"] not in str(err)
    # An answer that is not an object resource is refused, not trusted.
    anonymous = Bucket("b", None, emulator_host=stub.url, timeout=10)
    stub.answer(200, b"this is not json")
    err = error_of(lambda: anonymous.upload_small("a.mp4", data, crc32c_of(data), {}))
    assert err.kind == ErrorKind.REJECTED


# -- the tier's life cycle and enqueueing -------------------------------------------------


async def test_not_started_and_started_twice(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    tier = CloudTier(config(gcs), index, root)
    with pytest.raises(RuntimeError, match="start the tier first"):
        await tier.check()
    with pytest.raises(RuntimeError, match="not running"):
        await tier.scan()
    await start(tiers, tier)
    tasks = len(tier._tasks)
    await tier.start()  # already running: nothing new
    assert len(tier._tasks) == tasks
    assert await tier.check() == CloudState.IDLE


async def test_enqueue_range_exports_and_scopes(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tmp_path: Path, tiers: list[CloudTier]
) -> None:
    segments, _ = make_segments(root, index, 4, 8 * KIB)
    exports = tmp_path / "exports"
    (exports / "cam").mkdir(parents=True)
    (exports / "cam" / "e.mp4").write_bytes(os.urandom(4 * KIB))
    export_id = index.exports.add("cam", "e", T0, T0 + 20, "cam/e.mp4", 4 * KIB, 20.0)

    only_exports = await start(
        tiers,
        CloudTier(config(gcs, upload=UploadScope.EXPORTS, scan_interval=600), index, root, exports),
    )
    assert await only_exports.enqueue_range("cam", T0, T0 + 100) == 0
    await wait_for(lambda: drained(only_exports, 1), 30)
    assert await only_exports.scan() == 0  # exports only, and that one is done
    assert list(objects(gcs)) == ["exports/cam/e.mp4"]
    assert index.cloud.export_location(export_id) == "both"
    await only_exports.stop()

    # Events scope: the scan queues no footage (none is event footage); the calls below do.
    tier = await start(
        tiers, CloudTier(config(gcs, upload=UploadScope.EVENTS), index, root, exports)
    )
    # A segment as the recorder reports it (no id) that the index does not hold.
    ghost = Segment("cam", "cam/never-indexed.mp4", T0, T0 + 10, 100)
    assert not await tier.enqueue_segment(ghost, event=True)
    # As the recorder reports an indexed one: found by its path.
    assert await tier.enqueue_segment(replace_id(segments[0]), event=True)
    assert await tier.enqueue_range("cam", segments[1].start, segments[2].end - 1) == 2
    await wait_for(lambda: drained(tier, 3), 30)
    assert await tier.enqueue_range("cam", T0, T0 + 100) == 1  # only the last one was left
    await wait_for(lambda: drained(tier, 4), 30)
    assert sorted(objects(gcs)) == sorted(["exports/cam/e.mp4", *(s.path for s in segments)])


def replace_id(segment: Segment) -> Segment:
    return Segment(segment.camera, segment.path, segment.start, segment.end, segment.bytes)


async def test_items_with_nothing_to_upload_are_dropped(
    gcs: FakeGcs,
    index: SegmentIndex,
    root: Path,
    tiers: list[CloudTier],
    caplog: pytest.LogCaptureFixture,
) -> None:
    segments, _ = make_segments(root, index, 2, 8 * KIB)
    (root / segments[0].path).unlink()  # the file went before its upload
    index.add_segment(Segment("cam", "../outside.mp4", T0 + 500, T0 + 510, 10))
    outside = index.segment_by_path("../outside.mp4")
    assert outside is not None
    (root.parent / "outside.mp4").write_bytes(b"0123456789")
    index.cloud.enqueue_segments([segments[0].row_id, segments[1].row_id, outside.row_id])
    caplog.set_level(logging.WARNING)

    # No exports root: an export cannot be found, whatever its row says.
    tier = await start(tiers, CloudTier(config(gcs, scan_interval=600), index, root))
    await wait_for(lambda: drained(tier, 1), 30)
    export_id = index.exports.add("cam", "e", T0, T0 + 20, "cam/e.mp4", 10, 20.0)
    assert await tier.enqueue_export(export_id)  # after the scan at start; the next is far off
    await wait_for(lambda: index.cloud.items() == [], 30)
    await tier.refresh_status()
    assert tier.status.verified == 1
    assert list(objects(gcs)) == [segments[1].path]
    assert index.cloud.export_location(export_id) == "local"
    assert index.segment_by_id(segments[0].row_id).location == "local"  # type: ignore[union-attr]
    assert "the file is gone" in caplog.text
    assert "outside its root" in caplog.text


async def test_ten_names_taken_fails_the_item(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    segments, data = make_segments(root, index, 1, 4 * KIB)
    name = segments[0].path
    stem = name.removesuffix(".mp4")
    bucket = client(gcs).bucket(BUCKET)
    taken = [name, *(f"{stem}~{n}.mp4" for n in range(1, 10))]
    for number, other in enumerate(taken):
        bucket.blob(other).upload_from_string(b"other bytes %d" % number)
    tier = await start(
        tiers, CloudTier(config(gcs, backoff_initial=600, backoff_max=600), index, root)
    )
    await wait_for(lambda: "are taken" in (tier.status.last_error or ""), 30)
    assert sorted(objects(gcs)) == sorted(taken)  # nothing overwritten, nothing adopted
    [item] = index.cloud.items()
    assert item.attempts == 1
    assert item.next_try > time.time() + 60
    assert index.segment_by_id(segments[0].row_id).location == "local"  # type: ignore[union-attr]
    assert data[name] not in [blob.download_as_bytes() for blob in objects(gcs).values()]


async def test_a_remembered_session_that_finished_short_is_refused(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    segments, data = make_segments(root, index, 1, 700 * KIB)
    name = segments[0].path
    body = data[name]
    # An earlier run opened a session and sent its first chunk before it stopped.
    bucket = Bucket(BUCKET, None, emulator_host=gcs.url, timeout=10)
    session = bucket.start_resumable(name, len(body), {})
    assert bucket.send_chunk(session, body[: 256 * KIB], 0, len(body)) == 256 * KIB
    index.cloud.enqueue_segments([segments[0].row_id])
    [item] = index.cloud.items()
    index.cloud.set_session(item.id, name, session)

    # fake-gcs-server answers the status query by finishing the object with what it has:
    # verification must refuse those 256 KiB, delete them and send the whole file again.
    tier = await start(tiers, CloudTier(config(gcs, resumable_bytes=512 * KIB), index, root))
    await wait_for(lambda: drained(tier, 1), 30)
    assert "checksum mismatch" in (tier.status.last_error or "")
    assert tier.status.uploaded_bytes == len(body)
    blob = objects(gcs)[name]
    assert blob.download_as_bytes() == body
    copy = index.cloud.segment_copy(segments[0].row_id)
    assert copy is not None
    assert copy.crc32c == crc32c_of(body) == blob.crc32c
    assert copy.generation == blob.generation


# -- failures of the whole tier -----------------------------------------------------------


async def test_probe_without_items_finds_the_bucket_back(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    tier = await start(tiers, CloudTier(config(gcs, bucket="later"), index, root))
    await wait_for(lambda: tier.status.state == CloudState.BUCKET_MISSING, 30)
    assert tier.status.failing_since is not None
    gcs.create_bucket("later")
    await wait_for(lambda: tier.status.state == CloudState.IDLE, 30)  # a probe found it
    assert tier.status.failing_since is None
    assert tier.status.queue_items == 0


async def test_unusable_key_has_no_bucket(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    tier = await start(tiers, CloudTier(config(gcs, key={"type": "nonsense"}), index, root))
    assert tier.status.state == CloudState.AUTH_FAILED
    assert await tier.empty_trash() == 0
    with pytest.raises(BucketError) as caught:
        await tier.read(f"gs://{BUCKET}/x.mp4")
    assert caught.value.kind == ErrorKind.AUTH
    assert "not usable" in str(caught.value)


async def test_stop_does_not_wait_for_a_hung_request(
    stub: StubServer,
    index: SegmentIndex,
    root: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub.answer(200, b'{"name": "b"}')
    tier = CloudTier(
        CloudConfig("b", emulator_host=stub.url, scan_interval=600, timeout=30), index, root
    )
    await tier.start()
    assert tier.status.state == CloudState.IDLE
    stub.answer(200, b'{"name": "b"}', delay=6.0)
    hung = asyncio.create_task(tier.check())
    await wait_for(lambda: len(stub.seen) >= 2, 30, 0.02)
    began = time.monotonic()
    await tier.stop(timeout=0.2)
    assert time.monotonic() - began < 5.0
    assert tier.status.state == CloudState.STOPPED
    assert "still running" in caplog.text
    assert await hung == CloudState.STOPPED  # the request ended on its own, after the stop


# -- the trash ------------------------------------------------------------------------------


async def test_trash_survives_bad_uris_vanished_objects_and_an_outage(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    segments, _ = make_segments(root, index, 3, 8 * KIB)
    tier = await start(tiers, CloudTier(config(gcs, scan_interval=600), index, root))
    await wait_for(lambda: drained(tier, 3), 30)
    client(gcs).bucket(BUCKET).blob(segments[1].path).delete()  # deleted by someone else
    add_cloud_only(index, "cam/odd.mp4", T0 + 900, CloudCopy("s3://x/y", 1, "AAAAAA==", T0))
    delete_range(index, root, "cam", T0, T0 + 1000)
    assert index.cloud.trash_count() == 4

    gcs.stop()  # the bucket cannot be reached: only the uri that is not ours is forgotten
    assert await tier.empty_trash() == 1
    assert index.cloud.trash_count() == 3
    waiting = index.cloud.trash_due(time.time() + 3600)
    assert [item.attempts for item in waiting] == [1, 1, 1]

    gcs.start()
    await asyncio.sleep(0.5)  # past the retry's backoff (0.2 s)
    assert await tier.empty_trash() == 3  # the vanished one counts as gone
    assert index.cloud.trash_count() == 0
    assert objects(gcs) == {}
    # google-cloud-storage fetched the bucket's metadata in threads of its own while the
    # emulator was down (retrying); let them end before the lingering-thread check.
    await wait_for(lambda: not metadata_threads(), 120)


async def test_trash_leaves_an_object_written_over_by_someone_else(
    stub: StubServer,
    index: SegmentIndex,
    root: Path,
    tiers: list[CloudTier],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A delete of our generation answered 412: the name holds another one, not ours.

    GCS answers 412 when ``ifGenerationMatch`` names a generation that is no longer the
    live one; fake-gcs-server deletes whatever is there (it ignores that precondition on
    deletes), so this one answer comes from a stub server.
    """
    caplog.set_level(logging.INFO, "custom_components.cctv_nvr.engine.cloud")
    add_cloud_only(index, "cam/x.mp4", T0, CloudCopy("gs://b/nvr/cam/x.mp4", 7, "AAAAAA==", T0))
    delete_range(index, root, "cam", T0, T0 + 100)
    assert index.cloud.trash_count() == 1
    stub.answer(200, b'{"name": "b"}')
    stub.answer_method("DELETE", 412, b'{"error": {"code": 412, "message": "conditionNotMet"}}')
    await start(
        tiers, CloudTier(CloudConfig("b", emulator_host=stub.url, scan_interval=600), index, root)
    )
    await wait_for(lambda: index.cloud.trash_count() == 0, 30, 0.02)  # done, not retried
    assert [method for method, _ in stub.seen].count("DELETE") == 1
    assert "another generation holds its name" in caplog.text


# -- reading back and the bucket's settings --------------------------------------------------


async def test_reading_back_edges_and_lifecycle(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tmp_path: Path, tiers: list[CloudTier]
) -> None:
    segments, data = make_segments(root, index, 1, 8 * KIB)
    tier = await start(tiers, CloudTier(config(gcs, prefix="nvr/"), index, root))
    await wait_for(lambda: drained(tier, 1), 30)
    uri = f"gs://{BUCKET}/nvr/{segments[0].path}"
    with pytest.raises(ValueError, match="another bucket"):
        await tier.read(f"gs://elsewhere/nvr/{segments[0].path}")
    with pytest.raises(ValueError, match="not a gs://"):
        await tier.read("https://example.invalid/x")
    assert [chunk async for chunk in tier.stream(f"gs://{BUCKET}/nvr/missing.mp4")] == []
    streamed = [chunk async for chunk in tier.stream(uri, chunk=3 * KIB)]
    assert [len(chunk) for chunk in streamed] == [3 * KIB, 3 * KIB, 2 * KIB]
    assert b"".join(streamed) == data[segments[0].path]
    dest = tmp_path / "fetched" / "x.mp4"
    with pytest.raises(BucketError, match="checksum mismatch") as mismatch:
        await tier.fetch(uri, dest, crc32c=crc32c_of(b"other"))
    assert mismatch.value.kind == ErrorKind.REJECTED
    assert not dest.exists()
    assert await tier.fetch(uri, dest, crc32c=crc32c_of(data[segments[0].path])) == dest
    assert dest.read_bytes() == data[segments[0].path]


async def test_lifecycle_rules_reach_the_bucket(
    stub: StubServer, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    # fake-gcs-server accepts a lifecycle but does not keep it: read what was sent instead.
    stub.answer(200, b'{"name": "b"}')
    cfg = CloudConfig(
        "b",
        emulator_host=stub.url,
        prefix="nvr/",
        storage_class=StorageClass.COLDLINE,
        keep_cloud_days=30,
        scan_interval=600,
    )
    cold = await start(tiers, CloudTier(cfg, index, root))
    stub.seen.clear()
    warnings = await cold.apply_lifecycle(delete_after_days=400)
    assert len(warnings) == 1
    assert "90 days" in warnings[0]
    [patch] = [json.loads(body) for method, body in stub.seen if method == "PATCH"]
    rules = patch["lifecycle"]["rule"]
    assert [rule["action"]["type"] for rule in rules] == [
        "AbortIncompleteMultipartUpload",
        "Delete",
    ]
    assert rules[1]["condition"]["age"] == 400
    assert rules[1]["condition"]["matchesPrefix"] == ["nvr/"]


# -- found again by listing the bucket --------------------------------------------------------


def put(gcs: FakeGcs, name: str, body: bytes, metadata: dict[str, str]) -> storage.Blob:
    blob = client(gcs).bucket(BUCKET).blob(name)
    blob.metadata = metadata
    blob.upload_from_string(body)
    return blob


def segment_meta(path: str, start: float, **extra: str) -> dict[str, str]:
    return {
        "cctv-kind": KIND_SEGMENT,
        "cctv-camera": "cam",
        "cctv-path": path,
        "cctv-start": repr(start),
        "cctv-end": repr(start + 10),
        **extra,
    }


async def test_rebuild_sorts_what_the_bucket_holds(
    gcs: FakeGcs, index: SegmentIndex, root: Path, tiers: list[CloudTier]
) -> None:
    put(gcs, "stray.txt", b"not ours", {})
    put(gcs, "bad-start.mp4", b"x", segment_meta("cam/bad.mp4", T0) | {"cctv-start": "soon"})
    put(gcs, "other-kind.mp4", b"x", segment_meta("cam/other.mp4", T0) | {"cctv-kind": "thumb"})
    put(
        gcs,
        "exports/cam/e.mp4",
        b"export bytes",
        segment_meta("cam/e.mp4", T0)
        | {"cctv-kind": KIND_EXPORT, "cctv-name": "Door", "cctv-duration": "n/a"},
    )
    put(
        gcs,
        "exports/cam/known.mp4",
        b"known",
        segment_meta("cam/known.mp4", T0) | {"cctv-kind": KIND_EXPORT},
    )
    index.exports.add("cam", "known", T0, T0 + 10, "cam/known.mp4", 5, 10.0)
    # Footage only in the bucket, with metadata that does not parse.
    put(gcs, "cam/new.mp4", b"new", segment_meta("cam/new.mp4", T0 + 100, **{"cctv-width": "wide"}))
    # Local rows: file gone, other bytes, same bytes, and one already in the cloud.
    rows = {}
    for number, path in enumerate(
        ["cam/gone.mp4", "cam/differs.mp4", "cam/same.mp4", "cam/up.mp4"]
    ):
        start_ts = T0 + 200 + 10 * number
        index.add_segment(Segment("cam", path, start_ts, start_ts + 10, 4))
        rows[path] = index.segment_by_path(path)
        put(gcs, path, b"SAME", segment_meta(path, start_ts))
    (root / "cam").mkdir(parents=True)
    (root / "cam" / "differs.mp4").write_bytes(b"DIFF")
    (root / "cam" / "same.mp4").write_bytes(b"SAME")
    (root / "cam" / "up.mp4").write_bytes(b"SAME")
    up = rows["cam/up.mp4"]
    assert up is not None
    index.cloud.adopt_segment(up.row_id, CloudCopy("gs://old/cam/up.mp4", 1, "x", T0), local=True)

    tier = await start(tiers, CloudTier(config(gcs, scan_interval=600, workers=1), index, root))
    report = await tier.rebuild_from_bucket()
    assert report.objects == 10
    assert (report.segments_added, report.segments_adopted, report.exports_added) == (1, 2, 1)
    assert report.skipped == 6

    locations = {path: index.segment_by_path(path).location for path in rows}  # type: ignore[union-attr]
    assert locations == {
        "cam/gone.mp4": "cloud",
        "cam/differs.mp4": "local",
        "cam/same.mp4": "both",
        "cam/up.mp4": "both",
    }
    new = index.segment_by_path("cam/new.mp4")
    assert new is not None
    assert (new.location, new.width, new.kind, new.bytes) == ("cloud", None, "continuous", 3)
    assert index.segment_by_path("cam/bad.mp4") is None
    assert index.segment_by_path("cam/other.mp4") is None
    exports = {e.path: e for e in index.exports.newest_first("cam")}
    assert exports["cam/e.mp4"].name == "Door"
    assert exports["cam/e.mp4"].duration is None
    assert exports["cam/e.mp4"].location == "cloud"
    assert exports["cam/known.mp4"].location == "local"
