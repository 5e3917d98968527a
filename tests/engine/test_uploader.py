"""The uploader process (``engine.uploader``) against a real GCS emulator.

Two halves: the child's request loop (``serve``) run in a thread of this process over
real pipes, so each answer kind is checked where coverage sees it; and the real child
process started by ``Uploader``: its priority, the key kept off its command line and
environment, a kill under way and the restart after it, the idle stop. No mock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
import json
import os
from pathlib import Path
import signal
import threading
from typing import Any

import google_crc32c
import pytest

from custom_components.cctv_nvr.engine import uploader
from custom_components.cctv_nvr.engine.gcs import BucketError, ErrorKind, crc32c_of, crc32c_text
from custom_components.cctv_nvr.engine.uploader import ITEM, OTHER, Uploader, UploaderError
from tests.engine.helpers import wait_for
from tests.gcs_emulator import FakeGcs, TokenServer, make_key, running_gcs

BUCKET = "footage"
KIB = 1024


@pytest.fixture
def gcs(tmp_path: Path) -> Iterator[FakeGcs]:
    with running_gcs(tmp_path / "gcs", BUCKET) as server:
        yield server


class Served:
    """``uploader.serve`` in a thread of this process, spoken to over two pipes."""

    def __init__(self, workers: int = 2) -> None:
        to_child, self._inp = os.pipe()
        self._out, from_child = os.pipe()
        self._writer = os.fdopen(self._inp, "wb")
        self._reader = os.fdopen(self._out, "rb")
        child_in = os.fdopen(to_child, "rb")
        child_out = os.fdopen(from_child, "wb")

        def run() -> None:
            with child_in, child_out:
                uploader.serve(child_in, child_out, workers)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self._next = 0

    def send_line(self, line: bytes) -> dict[str, Any]:
        self._writer.write(line + b"\n")
        self._writer.flush()
        answer: dict[str, Any] = json.loads(self._reader.readline())
        return answer

    def ask(self, op: str, **args: Any) -> dict[str, Any]:
        self._next += 1
        answer = self.send_line(json.dumps({"id": self._next, "op": op, **args}).encode())
        assert answer["id"] == self._next
        return answer

    def close(self) -> None:
        self._writer.close()
        self._thread.join(10)
        assert not self._thread.is_alive()
        self._reader.close()


@pytest.fixture
def served() -> Iterator[Served]:
    server = Served()
    yield server
    server.close()


def test_serve_answers_every_request_kind(gcs: FakeGcs, served: Served, tmp_path: Path) -> None:
    small = tmp_path / "small.mp4"
    small.write_bytes(os.urandom(40 * KIB))
    big = tmp_path / "big.mp4"
    big_data = os.urandom(600 * KIB)
    big.write_bytes(big_data)
    meta = {"cctv-camera": "porch"}

    # Nothing works before "open"; unknown requests and unreadable lines are answered.
    assert served.ask("info", name="x")["error"] == ErrorKind.AUTH
    assert served.ask("reboot")["error"] == OTHER
    assert served.send_line(b"{not json")["error"] == OTHER
    assert served.send_line(b"[1, 2]")["error"] == OTHER
    assert (
        served.ask("open", bucket=BUCKET, key=None, emulator_host=gcs.url, timeout=10)["ok"] is None
    )

    # One request: read, summed, sent create-only; the same name again is a 412.
    answer = served.ask("small", path=str(small), name="a/small.mp4", metadata=meta)["ok"]
    assert answer["crc"] == crc32c_of(small.read_bytes())
    assert answer["info"]["crc32c"] == answer["crc"]
    assert answer["info"]["metadata"] == meta
    assert answer["size"] == 40 * KIB
    again = served.ask("small", path=str(small), name="a/small.mp4", metadata=meta)
    assert again["error"] == ErrorKind.CONFLICT
    info = served.ask("info", name="a/small.mp4")["ok"]
    assert info["generation"] == answer["info"]["generation"]
    assert served.ask("info", name="a/none.mp4")["ok"] is None

    # A resumable session in chunks; the CRC32C runs on in [value, bytes summed].
    session = served.ask("start", name="a/big.mp4", size=len(big_data), metadata=meta)["ok"]
    crc = [0, 0]
    offset = 0
    while True:
        length = min(256 * KIB, len(big_data) - offset)
        sent = served.ask(
            "chunk",
            session=session,
            path=str(big),
            offset=offset,
            length=length,
            size=len(big_data),
            crc=crc,
        )["ok"]
        assert sent["sent"] == length
        crc = sent["crc"]
        if not isinstance(sent["answer"], int):
            break
        offset = sent["answer"]
    assert crc == [google_crc32c.value(big_data), len(big_data)]
    assert sent["answer"]["crc32c"] == crc32c_text(crc[0]) == crc32c_of(big_data)
    # A finished session is gone in this emulator (GCS answers the object): asking it is
    # an error of that kind, which the tier reads as "start a new session".
    assert served.ask("query", session=session, size=len(big_data))["error"] == (
        ErrorKind.SESSION_GONE
    )

    # The file's own failures are "item" errors: shorter than asked, gone.
    prefix = served.ask("crc", path=str(big), length=100 * KIB)["ok"]
    assert prefix == [google_crc32c.value(big_data[: 100 * KIB]), 100 * KIB]
    assert served.ask("crc", path=str(big))["ok"] == crc
    short = served.ask("crc", path=str(small), length=41 * KIB)
    assert (short["error"], "shrank" in short["message"]) == (ITEM, True)
    chunk = served.ask(
        "chunk", session=session, path=str(small), offset=0, length=41 * KIB, size=1, crc=[0, 0]
    )
    assert chunk["error"] == ITEM
    gone = served.ask("small", path=str(tmp_path / "gone.mp4"), name="a/gone.mp4", metadata={})
    assert (gone["error"], "FileNotFoundError" in gone["message"]) == (ITEM, True)
    assert served.ask("small", path=str(small))["error"] == OTHER  # a request missing a field

    # Delete that generation; a second time it is not there.
    generation = answer["info"]["generation"]
    assert served.ask("delete", name="a/small.mp4", generation=generation)["ok"] is True
    assert served.ask("delete", name="a/small.mp4", generation=None)["ok"] is False


def test_serve_runs_requests_at_once(gcs: FakeGcs, tmp_path: Path) -> None:
    """Two workers: answers come back as each request ends, matched by id."""
    served = Served(workers=2)
    try:
        served.ask("open", bucket=BUCKET, key=None, emulator_host=gcs.url, timeout=10)
        paths = []
        for number in range(6):
            path = tmp_path / f"{number}.mp4"
            path.write_bytes(os.urandom(8 * KIB))
            paths.append(path)
        lines = [
            json.dumps(
                {"id": 100 + n, "op": "small", "path": str(p), "name": p.name, "metadata": {}}
            ).encode()
            + b"\n"
            for n, p in enumerate(paths)
        ]
        served._writer.write(b"".join(lines))
        served._writer.flush()
        answers = [json.loads(served._reader.readline()) for _ in paths]
        assert sorted(a["id"] for a in answers) == list(range(100, 106))
        assert all(a["ok"]["crc"] == crc32c_of(paths[a["id"] - 100].read_bytes()) for a in answers)
    finally:
        served.close()


@pytest.fixture
async def child() -> AsyncIterator[Uploader]:
    made = Uploader(workers=2)
    yield made
    await made.stop()


def proc_text(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


async def test_child_process_uploads_with_the_key_off_its_command_line(
    gcs: FakeGcs, child: Uploader, tmp_path: Path
) -> None:
    token_server = TokenServer()
    try:
        key = make_key("uploader@test.iam.gserviceaccount.com", token_server.url)
        await child.open(BUCKET, key, emulator_host=gcs.url, timeout=10)
        assert child.pid is None  # nothing started before it is needed
        assert await child.start()
        pid = child.pid
        assert pid is not None
        for secret in (key["private_key"].splitlines()[1], key["private_key_id"]):
            assert secret.encode() not in proc_text(pid, "cmdline")
            assert secret.encode() not in proc_text(pid, "environ")
        # A lower priority than ours (nice 10 more, up to 19); the normal policy, so it is
        # not starved while other work keeps the CPUs busy.
        assert os.sched_getscheduler(pid) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, pid) >= min(
            19, os.getpriority(os.PRIO_PROCESS, 0) + uploader.UPLOADER_NICE
        )
        path = tmp_path / "seg.mp4"
        path.write_bytes(os.urandom(64 * KIB))
        answer = await child.call("small", path=str(path), name="seg.mp4", metadata={})
        assert answer["crc"] == crc32c_of(path.read_bytes())
        assert token_server.requests >= 1  # the child signed in with the key it was sent
        with pytest.raises(UploaderError) as caught:
            await child.call("small", path=str(tmp_path / "none.mp4"), name="n.mp4", metadata={})
        assert caught.value.kind == ITEM
        with pytest.raises(BucketError) as conflict:
            await child.call("small", path=str(path), name="seg.mp4", metadata={})
        assert conflict.value.kind == ErrorKind.CONFLICT
    finally:
        token_server.close()


async def test_a_killed_child_fails_its_calls_and_the_next_call_starts_another(
    child: Uploader, tmp_path: Path
) -> None:
    """A request hung on a server that does not answer; the child killed under it."""
    hung = HangingServer()
    try:
        await child.open("b", None, emulator_host=hung.url, timeout=30)
        call = asyncio.create_task(child.call("info", name="x"))
        await wait_for(lambda: hung.connections > 0, 30, 0.02)
        first = child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        with pytest.raises(BucketError) as caught:
            await asyncio.wait_for(call, 10)
        assert caught.value.kind == ErrorKind.NETWORK
        assert "uploader process ended" in str(caught.value)
        await wait_for(lambda: child.pid is None, 10, 0.02)
        # The next call starts a new child, the bucket opened again in it.
        hung.close()
        with pytest.raises(BucketError) as refused:
            await child.call("info", name="x")
        assert refused.value.kind == ErrorKind.NETWORK  # nothing listens now: refused
        assert "uploader process ended" not in str(refused.value)
        assert child.pid not in (None, first)
    finally:
        hung.close()


async def test_idle_child_stops_and_stop_kills_a_stuck_one(child: Uploader) -> None:
    assert await child.stop_if_idle(0) is False  # not running
    assert await child.start()
    assert await child.stop_if_idle(3600) is False  # used just now
    assert await child.stop_if_idle(0) is True
    assert child.pid is None
    # A child that does not end when its input closes is killed after the timeout.
    assert await child.start()
    pid = child.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    await child.stop(timeout=0.2)
    assert child.pid is None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 0)
        pytest.fail("the stuck child is still there")


class HangingServer:
    """Accepts connections and never answers them."""

    def __init__(self) -> None:
        import socket

        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.connections = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        with contextlib.suppress(OSError):
            self._sock.close()
