"""The uploader: the cloud tier's uploads, sent by a child process of their own.

Why a process: an upload is mostly C (reading the file, the CRC32C, the socket), but the
Python around each request (requests, urllib3, google-auth) holds the GIL, and Home
Assistant's event loop waits whenever a thread of its process holds it. Bench section 11
measured the loop's p99 lag at 5.6-58 ms with the uploads in the tier's own threads,
against 3.9-21 ms with a plain upload loop in a child process. Here, in a child at a
lower priority (``background``), the uploads share nothing with the loop but the CPUs,
and the scheduler hands those to the loop first.

The protocol is JSON lines. The parent writes requests ``{"id": n, "op": ..., ...}``
and reads answers ``{"id": n, "ok": value}`` or ``{"id": n, "error": kind, "message":
text}`` (``kind``: a ``gcs.ErrorKind``, ``item`` for a failure of that file alone, or
``other``). The first request is ``open``, with the bucket and the service account
key: the key travels on the pipe, never on a command line or in the environment.
Requests run at once in a bounded pool (the parent sends no more than its workers do);
the answers come back as each ends. A child that dies fails the calls under way
(``BucketError(NETWORK)``, so the tier backs off and probes) and the next call starts
another; one idle for ``IDLE_SECONDS`` is stopped.

The child imports nothing of Home Assistant, nor of this package but ``gcs``: it loads
the package under a private name (``_cctv_nvr_engine``) from its folder, with the
parent's ``sys.path``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
import contextlib
import dataclasses
import json
import logging
import os
from pathlib import Path
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .gcs import Bucket, ObjectInfo

_LOGGER = logging.getLogger(__name__)

UPLOADER_NICE: Final = 10  # the child's niceness: the loop's threads win the CPU from it
IDLE_SECONDS: Final = 300.0  # a child with nothing to do for this long is stopped
STOP_SECONDS: Final = 5.0  # how long a stop waits for the child before killing it
MIB: Final = 1024 * 1024
PACKAGE: Final = "_cctv_nvr_engine"  # the engine's name inside the child
ITEM: Final = "item"  # error kind: this file failed (changed, gone), not the bucket
OTHER: Final = "other"  # error kind: anything unexpected
_LINE_LIMIT: Final = 1024 * 1024  # longest answer line read (they are a few hundred bytes)
_BOOT: Final = (
    "import importlib.util, json, sys\n"
    "sys.path[:0] = json.loads(sys.argv[3])\n"
    "spec = importlib.util.spec_from_file_location("
    f"{PACKAGE!r}, sys.argv[1], submodule_search_locations=[sys.argv[2]])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    f"sys.modules[{PACKAGE!r}] = module\n"
    "spec.loader.exec_module(module)\n"
    f"from {PACKAGE}.uploader import main\n"
    "main(int(sys.argv[4]))\n"
)


class FileChangedError(Exception):
    """The file being uploaded shrank or vanished: that item fails, not the tier."""


# -- the child's side -------------------------------------------------------------------


def _info_dict(info: ObjectInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def _answer_dict(answer: ObjectInfo | int) -> dict[str, Any] | int:
    return answer if isinstance(answer, int) else _info_dict(answer)


def crc_extend(value: int, path: Path, start: int, length: int | None) -> tuple[int, int]:
    """Extend a CRC32C ``value`` with ``length`` bytes of a file from ``start`` (None: to its end).

    Returns (value, bytes read); a file shorter than ``length`` raises ``FileChangedError``.
    """
    import google_crc32c  # noqa: PLC0415  (imported in the child or a pool thread)

    read = 0
    with path.open("rb") as file:
        file.seek(start)
        while length is None or read < length:
            block = file.read(MIB if length is None else min(MIB, length - read))
            if not block:
                if length is not None:
                    raise FileChangedError(f"{path.name} shrank during its upload")
                break
            value = google_crc32c.extend(value, block)
            read += len(block)
    return value, read


class Handler:
    """Runs the parent's requests against the bucket (from any thread of the child)."""

    def __init__(self) -> None:
        """Start without a bucket (``open`` makes one)."""
        self._bucket: Bucket | None = None
        self._ops: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "open": self._open,
            "info": self._info,
            "small": self._small,
            "start": self._start,
            "query": self._query,
            "chunk": self._chunk,
            "crc": self._crc,
            "delete": self._delete,
        }

    def handle(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Run one request; return its answer (never raises)."""
        from .gcs import BucketError, scrub  # noqa: PLC0415

        ident = request.get("id")
        op = self._ops.get(str(request.get("op")))
        if op is None:
            message = f"unknown request {request.get('op')!r}"
            return {"id": ident, "error": OTHER, "message": message}
        try:
            value = op(request)
        except BucketError as err:
            return {"id": ident, "error": str(err.kind), "message": str(err)}
        except FileChangedError as err:
            return {"id": ident, "error": ITEM, "message": str(err)}
        except OSError as err:
            return {"id": ident, "error": ITEM, "message": f"{type(err).__name__}: {err}"}
        except Exception as err:  # noqa: BLE001  (answered, not raised: the child goes on)
            return {"id": ident, "error": OTHER, "message": scrub(f"{type(err).__name__}: {err}")}
        return {"id": ident, "ok": value}

    def _require(self) -> Bucket:
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        if self._bucket is None:
            raise BucketError(ErrorKind.AUTH, "the uploader has no bucket")
        return self._bucket

    def _open(self, request: Mapping[str, Any]) -> None:
        from .gcs import Bucket  # noqa: PLC0415

        # Requests under way keep the bucket they started with (its clients are per thread).
        self._bucket = None
        self._bucket = Bucket(
            str(request["bucket"]),
            request.get("key"),
            emulator_host=request.get("emulator_host"),
            timeout=float(request.get("timeout") or 60.0),
        )

    def _info(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        info = self._require().info(str(request["name"]))
        return None if info is None else _info_dict(info)

    def _small(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Read a file, sum it and send it in one create-only request."""
        from .gcs import crc32c_of  # noqa: PLC0415

        bucket = self._require()
        data = Path(request["path"]).read_bytes()
        crc = crc32c_of(data)
        info = bucket.upload_small(
            str(request["name"]), data, crc, request["metadata"], request.get("storage_class")
        )
        return {"info": _info_dict(info), "crc": crc, "size": len(data)}

    def _start(self, request: Mapping[str, Any]) -> str:
        return self._require().start_resumable(
            str(request["name"]),
            int(request["size"]),
            request["metadata"],
            request.get("storage_class"),
        )

    def _query(self, request: Mapping[str, Any]) -> dict[str, Any] | int:
        return _answer_dict(
            self._require().query_session(str(request["session"]), int(request["size"]))
        )

    def _chunk(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Send bytes [offset, offset + length) of a file to a resumable session.

        ``crc`` is [value, length] of the CRC32C of the bytes before; it is extended when
        it ends at ``offset``, and goes with the last chunk.
        """
        import google_crc32c  # noqa: PLC0415

        from .gcs import crc32c_text  # noqa: PLC0415

        bucket = self._require()
        offset, length, size = int(request["offset"]), int(request["length"]), int(request["size"])
        value, summed = (int(part) for part in request["crc"])
        path = Path(request["path"])
        with path.open("rb") as file:
            file.seek(offset)
            data = file.read(length)
        if len(data) != length:
            raise FileChangedError(f"{path.name} shrank during its upload")
        if summed == offset:
            value, summed = google_crc32c.extend(value, data), summed + len(data)
        last = offset + length >= size
        answer = bucket.send_chunk(
            str(request["session"]), data, offset, size, crc32c_text(value) if last else None
        )
        return {"answer": _answer_dict(answer), "sent": len(data), "crc": [value, summed]}

    def _crc(self, request: Mapping[str, Any]) -> list[int]:
        length = request.get("length")
        value, read = crc_extend(
            0, Path(request["path"]), 0, None if length is None else int(length)
        )
        return [value, read]

    def _delete(self, request: Mapping[str, Any]) -> bool:
        generation = request.get("generation")
        return self._require().delete(
            str(request["name"]), None if generation is None else int(generation)
        )


def serve(inp: IO[bytes], out: IO[bytes], workers: int) -> None:
    """Answer the requests read from ``inp`` on ``out`` until ``inp`` ends."""
    handler = Handler()
    lock = threading.Lock()

    def answer(request: Mapping[str, Any]) -> None:
        line = json.dumps(handler.handle(request)).encode() + b"\n"
        with lock:
            out.write(line)
            out.flush()

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cctv_nvr_uploader") as pool:
        for line in inp:
            try:
                request = json.loads(line)
            except ValueError:
                request = {"op": None}
            if not isinstance(request, dict):
                request = {"op": None}
            if request.get("op") == "open":
                answer(request)  # in order: the requests after it use its bucket
            else:
                pool.submit(answer, request)


def background() -> None:
    """Lower this process's CPU priority (the threads it starts inherit it).

    ``nice`` 10, not Linux's ``SCHED_IDLE``: that one measured only somewhat better for the
    loop's lag (bench section 11, quick runs: p99 4.2-5.4 ms against 4.2-7.2 ms at nice 10;
    one run's p99 moves by 1-2 ms), and it starves the uploads while anything else keeps
    the CPUs busy (a test beside two busy loops took 150 s instead of 4), where nice 10
    still gets about a tenth of a CPU.
    """
    with contextlib.suppress(OSError):
        os.nice(UPLOADER_NICE)


def main(workers: int) -> None:  # pragma: no cover  (the child's entry: run by Uploader)
    """Run the child: lower its priority, keep stdout for answers, serve stdin."""
    background()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library's print goes to stderr, not into the answers
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    serve(sys.stdin.buffer, out, workers)


# -- the parent's side ------------------------------------------------------------------


class UploaderError(Exception):
    """A request the child could not answer as a bucket error (``ITEM`` or ``OTHER``)."""

    def __init__(self, kind: str, message: str) -> None:
        """Keep the kind and the (scrubbed) message."""
        super().__init__(message)
        self.kind = kind


class Uploader:
    """The parent's side: starts the child when needed and sends it requests.

    Use on the event loop: ``open`` (remembered, and sent again to a new child), then
    ``call``; ``stop`` at the end. Nothing here blocks the loop.
    """

    def __init__(self, workers: int) -> None:
        """Prepare (the child starts on the first call)."""
        self._workers = max(1, workers)
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._open_request: dict[str, Any] | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        self._last_use = time.monotonic()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        proc = self._proc
        return None if proc is None or proc.returncode is not None else proc.pid

    async def open(
        self,
        bucket: str,
        key: Mapping[str, Any] | None,
        *,
        emulator_host: str | None,
        timeout: float,
    ) -> None:
        """Use this bucket and key from now on (sent again to every new child)."""
        self._open_request = {
            "op": "open",
            "bucket": bucket,
            "key": None if key is None else dict(key),
            "emulator_host": emulator_host,
            "timeout": timeout,
        }
        if self.pid is not None:
            await self._send(self._open_request)

    async def call(self, op: str, **args: Any) -> Any:
        """Send one request and return its answer's value; raise its error.

        ``BucketError`` for the bucket's errors (and ``NETWORK`` when the child ended);
        ``UploaderError`` for the rest.
        """
        self._last_use = time.monotonic()
        await self._ensure()
        try:
            return await self._send({"op": op, **args})
        finally:
            self._last_use = time.monotonic()

    async def start(self) -> bool:
        """Start the child now (and open its bucket), so the first upload does not wait.

        Returns False when it could not (the next call tries again and raises).
        """
        self._last_use = time.monotonic()
        try:
            await self._ensure()
        except Exception as err:  # noqa: BLE001  (said once here; the calls raise it again)
            _LOGGER.warning("Uploader not started: %s", err)
            return False
        return True

    async def _ensure(self) -> None:
        async with self._starting:
            if self.pid is not None:
                return
            await self._spawn()
            if self._open_request is not None:
                await self._send(self._open_request)

    async def _spawn(self) -> None:
        here = Path(__file__).parent
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _BOOT,
            str(here / "__init__.py"),
            str(here),
            json.dumps([entry for entry in sys.path if entry]),
            str(self._workers),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
        )
        self._tasks = [
            asyncio.create_task(self._read(proc), name="cctv_nvr uploader answers"),
            asyncio.create_task(self._log(proc), name="cctv_nvr uploader log"),
        ]

    async def _send(self, request: dict[str, Any]) -> Any:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise self._ended(None)
        self._next_id += 1
        ident = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            proc.stdin.write(json.dumps({**request, "id": ident}).encode() + b"\n")
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as err:
            self._pending.pop(ident, None)
            raise self._ended(proc.returncode) from err
        try:
            return await future
        finally:
            self._pending.pop(ident, None)

    @staticmethod
    def _ended(code: int | None) -> Exception:
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        return BucketError(ErrorKind.NETWORK, f"the uploader process ended (exit {code})")

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        from .gcs import BucketError, ErrorKind  # noqa: PLC0415

        if proc.stdout is None:  # pragma: no cover  (always piped by _spawn)
            return
        kinds = {str(kind) for kind in ErrorKind}
        try:
            while line := await proc.stdout.readline():
                answer = json.loads(line)
                future = self._pending.get(answer.get("id"))
                if future is None or future.done():
                    continue
                if "error" not in answer:
                    future.set_result(answer.get("ok"))
                elif answer["error"] in kinds:
                    future.set_exception(
                        BucketError(ErrorKind(answer["error"]), str(answer.get("message")))
                    )
                else:
                    future.set_exception(
                        UploaderError(str(answer["error"]), str(answer.get("message")))
                    )
        except (ValueError, asyncio.LimitOverrunError) as err:
            _LOGGER.warning("Uploader answered something unreadable (%s); restarting it", err)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        finally:
            code = await proc.wait()
            if self._proc is proc:
                self._proc = None
            for future in list(self._pending.values()):
                if not future.done():
                    future.set_exception(self._ended(code))

    @staticmethod
    async def _log(proc: asyncio.subprocess.Process) -> None:
        from .gcs import scrub  # noqa: PLC0415

        if proc.stderr is None:  # pragma: no cover  (always piped by _spawn)
            return
        while line := await proc.stderr.readline():
            _LOGGER.warning("Uploader: %s", scrub(line.decode(errors="replace").rstrip()))

    async def stop_if_idle(self, idle: float = IDLE_SECONDS) -> bool:
        """Stop the child when nothing was asked of it for ``idle`` seconds; True if stopped."""
        if self.pid is None or self._pending or time.monotonic() - self._last_use < idle:
            return False
        await self.stop()
        return True

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """End the child: its input closed, then killed after ``timeout`` seconds.

        An upload cut short is taken up again from the queue (a resumable session where
        it stopped; a small file again, a 412 then adopting what arrived).
        """
        proc, self._proc = self._proc, None
        tasks, self._tasks = self._tasks, []
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        await asyncio.gather(*tasks, return_exceptions=True)
