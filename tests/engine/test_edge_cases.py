"""Error paths of the box reader, the media probe and deletion: odd files, unsafe rows.

No mocks: real bytes on disk (some made by real ffmpeg), a real SQLite index, real
file-system errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
import socket
import struct
import threading
import time

import av
import pytest

from custom_components.cctv_nvr.engine import media
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.media import (
    ProbeError,
    last_keyframe_jpeg,
    probe_file,
    probe_url,
)
from custom_components.cctv_nvr.engine.mp4box import (
    iter_boxes,
    leading_parameter_sets,
    top_level_boxes,
)
from custom_components.cctv_nvr.engine.retention import delete_range
from custom_components.cctv_nvr.engine.rtsp import RtspBusyError, describe
from tests.engine.helpers import box, large_box, run_ffmpeg
from tests.simulator import CameraSimulator


def test_iter_boxes_large_to_end_and_broken() -> None:
    """64-bit sizes are read, size 0 runs to the end, a broken box ends the list."""
    data = box(b"ftyp", b"isom") + large_box(b"mdat", b"x" * 20) + box(b"free", b"")
    kinds = [(b.kind, b.size, b.header) for b in iter_boxes(data)]
    assert kinds == [(b"ftyp", 12, 8), (b"mdat", 36, 16), (b"free", 8, 8)]
    to_end = box(b"ftyp", b"isom") + struct.pack(">I4s", 0, b"mdat") + b"y" * 10
    assert [(b.kind, b.size) for b in iter_boxes(to_end)] == [(b"ftyp", 12), (b"mdat", 18)]
    # A declared size beyond the data, a size smaller than its header, a cut 64-bit header.
    assert [b.kind for b in iter_boxes(box(b"ftyp", b"") + struct.pack(">I4s", 99, b"moof"))] == [
        b"ftyp"
    ]
    assert iter_boxes(struct.pack(">I4s", 4, b"moof") + b"zzzz") == []
    assert iter_boxes(struct.pack(">I4s", 1, b"mdat") + b"\0\0") == []


def test_top_level_boxes_of_odd_files(tmp_path: Path) -> None:
    """The header reader copes with 64-bit sizes, size 0 and files cut mid-header."""
    path = tmp_path / "a.mp4"
    path.write_bytes(box(b"ftyp", b"isom") + large_box(b"mdat", b"x" * 100))
    assert [(b.kind, b.end) for b in top_level_boxes(path)] == [(b"ftyp", 12), (b"mdat", 128)]
    path.write_bytes(box(b"ftyp", b"isom") + struct.pack(">I4s", 0, b"mdat") + b"y" * 5)
    assert [(b.kind, b.size) for b in top_level_boxes(path)] == [(b"ftyp", 12), (b"mdat", 13)]
    path.write_bytes(box(b"ftyp", b"isom") + struct.pack(">I4s", 1, b"mdat") + b"\0\0")
    assert [b.kind for b in top_level_boxes(path)] == [b"ftyp"]
    path.write_bytes(box(b"ftyp", b"isom") + struct.pack(">I4s", 3, b"mdat"))
    assert [b.kind for b in top_level_boxes(path)] == [b"ftyp"]
    path.write_bytes(box(b"ftyp", b"isom") + b"\0\0\0")
    assert [b.kind for b in top_level_boxes(path)] == [b"ftyp"]


def test_leading_parameter_sets(tmp_path: Path) -> None:
    """SPS/PPS before the first slice are returned; AUD/SEI skipped; no mdat -> empty."""

    def nal(payload: bytes) -> bytes:
        return len(payload).to_bytes(4, "big") + payload

    aud, sps, pps, idr = b"\x09\xf0", b"\x67\x42\x00\x1f", b"\x68\xce\x3c\x80", b"\x65\x88\x84"
    path = tmp_path / "s.mp4"
    path.write_bytes(
        box(b"ftyp", b"isom") + box(b"mdat", nal(aud) + nal(sps) + nal(pps) + nal(idr))
    )
    assert leading_parameter_sets(path, "h264") == nal(sps) + nal(pps)
    vps, hsps = b"\x40\x01\x0c", b"\x42\x01\x01"
    hslice = b"\x26\x01\xaf"
    path.write_bytes(box(b"ftyp", b"isom") + box(b"mdat", nal(vps) + nal(hsps) + nal(hslice)))
    assert leading_parameter_sets(path, "hevc") == nal(vps) + nal(hsps)
    path.write_bytes(box(b"ftyp", b"isom") + box(b"mdat", nal(sps) + b"\0\0\0\x50\x65"))
    assert leading_parameter_sets(path, "h264") == nal(sps)  # a cut NAL ends the scan
    path.write_bytes(box(b"ftyp", b"isom"))
    assert leading_parameter_sets(path, "h264") == b""


def _segment(path: str, start: float) -> Segment:
    return Segment(camera="cam", path=path, start=start, end=start + 4, bytes=100)


def test_delete_refuses_rows_outside_the_root_and_keeps_undeletable_files(
    tmp_path: Path, index: SegmentIndex
) -> None:
    """A row pointing outside the root is never followed; a file that cannot be removed
    keeps its row; a file already gone drops its row."""
    root = tmp_path / "rec"
    (root / "cam" / "2026-01-01" / "00").mkdir(parents=True)
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"keep me")
    stuck = root / "cam" / "2026-01-01" / "00" / "stuck.mp4"
    stuck.mkdir()  # a directory where a file should be: unlink fails
    (stuck / "x").write_bytes(b"x")
    index.add_segments(
        [
            _segment("../outside.mp4", 1000),
            _segment("/etc/passwd", 1004),
            _segment("cam/2026-01-01/00/stuck.mp4", 1008),
            _segment("cam/2026-01-01/00/gone.mp4", 1012),
        ]
    )
    deleted, size = delete_range(index, root, "cam", 0, 2000)
    assert (deleted, size) == (1, 100)  # only the row of the file already gone
    assert outside.read_bytes() == b"keep me"
    assert stuck.is_dir()
    left = {s.path for s in index.segments("cam", 0, 2000)}
    assert left == {"../outside.mp4", "/etc/passwd", "cam/2026-01-01/00/stuck.mp4"}


def test_media_errors_and_snapshot_scaling(tmp_path: Path) -> None:
    """Audio-only and garbage files get ProbeErrors; snapshots scale by width or height."""
    audio = tmp_path / "audio.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio))
    with pytest.raises(ProbeError) as err:
        probe_file(audio)
    assert err.value.reason == "not_video"
    with pytest.raises(ProbeError) as err:
        last_keyframe_jpeg(audio)
    assert err.value.reason == "not_video"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0" * 1000)
    with pytest.raises(ProbeError) as err:
        probe_file(garbage)
    assert err.value.reason == "unreadable"
    video = tmp_path / "video.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=5", "-t", "1", str(video))
    for width, height, size in ((320, None, (320, 180)), (None, 90, (160, 90))):
        jpeg = last_keyframe_jpeg(video, width, height)
        with av.open(io.BytesIO(jpeg)) as container:
            frame = next(container.decode(video=0))
            assert (frame.width, frame.height) == size


def test_probe_url_failures(auth_simulator: CameraSimulator) -> None:
    """A live probe maps refusal, a closed port and a silent server to reasons (no secrets)."""
    bad = auth_simulator.url("main").replace("rtsp://", "rtsp://admin:wrong-pw@")
    with pytest.raises(ProbeError) as err:
        probe_url(bad, timeout=5)
    assert err.value.reason == "invalid_auth"
    assert "wrong-pw" not in str(err.value)
    with pytest.raises(ProbeError) as err:
        probe_url(auth_simulator.url("no-such-mount"), timeout=5)
    assert err.value.reason in {"invalid_auth", "cannot_connect"}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(ProbeError) as err:
        probe_url(f"rtsp://user:pw-secret@127.0.0.1:{closed}/x", timeout=3)
    assert err.value.reason == "cannot_connect"
    assert "pw-secret" not in str(err.value)
    # A server that accepts and never answers: the socket timeout ends the probe (the
    # config flow's own RTSP DESCRIBE reports this case as "timeout" before probing).
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ProbeError) as err:
            probe_url(f"rtsp://127.0.0.1:{port}/x", timeout=2)
        assert time.monotonic() - started < 10
    assert err.value.reason in {"timeout", "cannot_connect"}


class _BusyFront:
    """A real TCP front for the simulator that answers the first ``busy`` RTSP
    connections with 503 (what cameras say while a stream is torn down) and
    forwards every later connection to the simulator byte for byte."""

    def __init__(self, target_port: int, busy: int) -> None:
        self.target_port = target_port
        self.busy = busy
        self.refused = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.refused < self.busy:
                self.refused += 1
                request = client.recv(4096).decode("latin-1")
                cseq = next(
                    (line.split(":", 1)[1].strip() for line in request.split("\r\n")
                     if line.lower().startswith("cseq:")),
                    "1",
                )  # fmt: skip
                client.sendall(f"RTSP/1.0 503 Service Unavailable\r\nCSeq: {cseq}\r\n\r\n".encode())
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pipe, args=(src, dst), daemon=True)
                self.threads.append(thread)
                thread.start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def url(self, credentials: str = "") -> str:
        return f"rtsp://{credentials}127.0.0.1:{self.port}/main"

    def close(self) -> None:
        for sock in (self.server, *self.sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(5)
        for sock in (self.server, *self.sockets):
            sock.close()


async def test_busy_camera_is_asked_again(auth_simulator: CameraSimulator) -> None:
    """RTSP 503 is transient: the check and the probe ask again; a camera that
    stays busy is reported as cannot_connect within the timeout (no secrets)."""
    front = _BusyFront(auth_simulator.rtsp_port, busy=2)
    try:
        result = await describe(front.url(), "admin", "s3cret-pw", timeout=5)
        assert result.video_codec == "h264"
        assert front.refused == 2
        front.refused = 0
        info = await asyncio.to_thread(probe_url, front.url("admin:s3cret-pw@"), "tcp", 5)
        assert (info.video_codec, info.width, info.height) == ("h264", 1920, 1080)
        assert front.refused == 2
        # Busy for good: the answer is cannot_connect, not a hang and not "timeout".
        front.busy = 10_000
        started = time.monotonic()
        with pytest.raises(RtspBusyError) as busy:
            await describe(front.url(), "admin", "s3cret-pw", timeout=1.5)
        assert busy.value.reason == "cannot_connect"
        with pytest.raises(ProbeError) as err:
            await asyncio.to_thread(probe_url, front.url("admin:pw-secret@"), "tcp", 1.5)
        assert err.value.reason == "cannot_connect"
        assert "pw-secret" not in str(err.value)
        assert time.monotonic() - started < 8
    finally:
        front.close()


def test_truncated_and_empty_fragmented_files(tmp_path: Path) -> None:
    """A cut fragment is measured up to what is whole; an init-only file has no keyframe."""
    whole = tmp_path / "whole.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "4",
        "-c:v", "libx264", "-g", "10", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
        str(whole),
    )  # fmt: skip
    data = whole.read_bytes()
    full = probe_file(whole, measure=True).duration
    assert full is not None
    assert abs(full - 4.0) < 0.2
    boxes = top_level_boxes(whole)
    init_end = next(b.offset for b in boxes if b.kind == b"moof")
    init_only = tmp_path / "init.mp4"
    init_only.write_bytes(data[:init_end])
    with pytest.raises(ProbeError) as err:
        last_keyframe_jpeg(init_only)
    assert err.value.reason == "no_keyframe"
    # Cut inside the last fragment's mdat: the whole fragments before it still count.
    last_mdat = [b for b in boxes if b.kind == b"mdat"][-1]
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: last_mdat.offset + last_mdat.size // 2])
    measured = probe_file(cut, measure=True).duration
    assert measured is not None
    assert 2.5 <= measured <= full
    jpeg = last_keyframe_jpeg(cut, 160, 100)
    with av.open(io.BytesIO(jpeg)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (160, 100)


def test_heap_trim_is_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a probe the freed heap goes back to the system, at most once per interval."""
    trimmer = media._HeapTrimmer()
    if trimmer._trim is None:
        pytest.skip("this C library has no malloc_trim (not glibc)")
    calls: list[int] = []
    monkeypatch.setattr(trimmer, "_trim", calls.append)  # count calls; the real one ran below
    assert trimmer() is True
    assert trimmer() is False  # within the interval
    monkeypatch.setattr(trimmer, "_last", trimmer._last - media.TRIM_INTERVAL)
    assert trimmer() is True
    assert calls == [0, 0]
    assert media._HeapTrimmer()() is True  # the real malloc_trim(0) runs without error


def test_heap_trim_without_malloc_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    """A C library without malloc_trim (musl): trimming is a no-op."""
    monkeypatch.setattr(media.ctypes.util, "find_library", lambda _name: None)
    assert media._HeapTrimmer()() is False
