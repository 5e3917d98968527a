"""Launcher/client for the simulated IP camera (``camera_sim.py``).

Only the standard library is used, so this works from the project's venv (which
has no ``gi``) as well as from the system python.  The simulator itself always
runs in a subprocess with the *system* python, which has GStreamer bindings::

    from tests.simulator import CameraSimulator

    with CameraSimulator(auth="digest") as cam:
        url = cam.url("main", with_credentials=True)
        cam.freeze(); cam.unfreeze()
        cam.offline(); cam.online()

Every control call is a loopback HTTP request that takes a few milliseconds;
``a``-prefixed coroutine variants (``await cam.aoffline()``) run them in a
worker thread for use inside an event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import selectors
import subprocess
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["CameraSimulator", "SimulatorError", "SIMULATOR_SCRIPT", "MOUNTS", "HOSTILE_MODES"]

SIMULATOR_SCRIPT = Path(__file__).with_name("camera_sim.py")
MOUNTS = ("main", "sub", "h265", "audio", "pcmu", "bframes", "longgop", "vfr", "sdponly")
HOSTILE_MODES = ("bad_length", "negative_length", "short_body", "endless_headers",
                 "huge_sdp", "trickle", "garbage")
DEFAULT_PYTHON = os.environ.get("CCTV_SIM_PYTHON", "/usr/bin/python3")

# No proxies for loopback control requests, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_RUNNING: "weakref.WeakSet[CameraSimulator]" = weakref.WeakSet()


class SimulatorError(RuntimeError):
    """The simulator could not be started or did not answer."""


class CameraSimulator:
    """A simulated camera process (RTSP server + HTTP control API)."""

    def __init__(
        self,
        *,
        fps: int = 15,
        auth: str = "none",
        user: str = "admin",
        password: str = "secret",
        cache_dir: str | os.PathLike | None = None,
        python: str = DEFAULT_PYTHON,
        rtsp_port: int = 0,
        control_port: int = 0,
        host: str = "127.0.0.1",
        clip_seconds: int = 10,
        stderr: Any = None,
        extra_args: tuple[str, ...] | list[str] = (),
    ) -> None:
        self.fps = fps
        self.auth = auth
        self.user = user
        self.password = password
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
        self.python = python
        self.clip_seconds = clip_seconds
        self._host = host
        self._req_rtsp_port = rtsp_port
        self._req_control_port = control_port
        self._rtsp_port: int | None = None
        self._control_port: int | None = None
        self._stderr = stderr  # None = inherit, or a file object / subprocess.DEVNULL
        self._extra_args = list(extra_args)
        self._proc: subprocess.Popen | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self, timeout: float = 120) -> None:
        """Spawn the simulator and wait for its READY line.

        The first start may take a while (clips are encoded into the cache);
        later starts take about a second.
        """
        if self._proc is not None:
            raise SimulatorError("simulator already started")
        cmd = [
            self.python, str(SIMULATOR_SCRIPT),
            "--rtsp-port", str(self._req_rtsp_port),
            "--control-port", str(self._req_control_port),
            "--bind", self._host,
            "--fps", str(self.fps),
            "--clip-seconds", str(self.clip_seconds),
            "--auth", self.auth, "--user", self.user, "--password", self.password,
            "--exit-on-stdin-eof",
        ]
        if self.cache_dir:
            cmd += ["--cache-dir", self.cache_dir]
        cmd += self._extra_args
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            close_fds=True,
        )
        _RUNNING.add(self)
        try:
            ready = self._read_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self._rtsp_port = int(ready["rtsp_port"])
        self._control_port = int(ready["control_port"])

    def _read_ready(self, timeout: float) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SimulatorError(f"simulator not ready within {timeout} s")
                if not sel.select(min(left, 0.5)):
                    if self._proc.poll() is not None:
                        break
                    continue
                chunk = os.read(self._proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
        line = buf.split(b"\n", 1)[0].decode(errors="replace").strip()
        if not line.startswith("READY "):
            code = self._proc.poll()
            raise SimulatorError(f"simulator failed to start (exit code {code}): {line!r}")
        return json.loads(line[len("READY "):])

    def stop(self, timeout: float = 5) -> None:
        """Terminate the simulator (SIGTERM, then SIGKILL) and reap it."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the simulator exits on stdin EOF as well
        except OSError:
            pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> "CameraSimulator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "CameraSimulator":
        await self.astart()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    # -- addresses ---------------------------------------------------------------
    @property
    def host(self) -> str:
        return self._host

    @property
    def rtsp_port(self) -> int:
        if self._rtsp_port is None:
            raise SimulatorError("simulator not started")
        return self._rtsp_port

    @property
    def control_port(self) -> int:
        if self._control_port is None:
            raise SimulatorError("simulator not started")
        return self._control_port

    def url(self, mount: str = "main", *, with_credentials: bool = False) -> str:
        mount = mount.lstrip("/")
        cred = ""
        if with_credentials:
            cred = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}@"
        return f"rtsp://{cred}{self._host}:{self.rtsp_port}/{mount}"

    # -- control API -------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None,
                 timeout: float = 10) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://{self._host}:{self.control_port}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            raise SimulatorError(f"{method} {path}: {err.code} {err.read()!r}") from err
        except OSError as err:
            raise SimulatorError(f"{method} {path}: {err}") from err

    def offline(self, mid_frame: bool = False, mount: str | None = None) -> dict:
        """Close all RTSP connections and refuse new ones until online().

        ``mid_frame``: first send the next video access unit (of ``mount``, or of every
        mount) cut short, then vanish 0.1 s later, as a camera that loses power mid-frame.
        """
        if mid_frame:
            return self._request("POST", "/offline", {"mid_frame": True, "mount": mount})
        return self._request("POST", "/offline")

    def online(self) -> dict:
        """Accept RTSP connections again (same port)."""
        return self._request("POST", "/online")

    def freeze(self) -> dict:
        """Stop sending media; RTSP connections and requests keep working."""
        return self._request("POST", "/freeze")

    def unfreeze(self) -> dict:
        return self._request("POST", "/unfreeze")

    def set_auth(self, auth: str, user: str | None = None,
                 password: str | None = None) -> dict:
        """Change authentication at runtime ("none", "basic" or "digest").

        Existing RTSP connections are dropped.  ``url(with_credentials=True)``
        uses the new credentials afterwards.
        """
        if user is not None:
            self.user = user
        if password is not None:
            self.password = password
        self.auth = auth
        return self._request("POST", "/auth", {"auth": auth, "user": self.user,
                                               "password": self.password})

    def status(self) -> dict:
        """{"online", "frozen", "clients", "auth", "rtsp_port", "mounts", "video", "garbage"}"""
        return self._request("GET", "/status")

    def switch(self, mount: str = "main", to: str = "sub") -> dict:
        """Make ``mount`` send the video of mount ``to`` (``to=mount`` restores it).

        Same codec (main -> sub: 1920x1080 -> 640x360): at the next keyframe, inside
        the running RTSP session.  Other codec (main -> h265): the mount's RTSP
        sessions are dropped and the next DESCRIBE announces the new codec.
        The answer's ``switch`` says ``{"mount", "video", "session": "kept"|"dropped",
        "dropped_sessions"}``.
        """
        return self._request("POST", "/switch", {"mount": mount, "to": to})

    def garbage(self, seconds: float = 5, mount: str | None = None,
                mode: str = "corrupt") -> dict:
        """Send damaged video for ``seconds`` (on ``mount`` or all mounts).

        ``corrupt``: ~10 % of the slice-data bytes of every access unit are random
        (NAL/slice headers and RTP framing intact: decoders fail, parsers pass).
        ``noise``: every slice NAL is replaced by random bytes of random length.
        """
        return self._request("POST", "/garbage",
                             {"seconds": seconds, "mount": mount, "mode": mode})

    def clock_jump(self, seconds: float, mount: str | None = None) -> dict:
        """The camera's clock jumps: its timestamps move by ``seconds`` (+/-) in the
        running session (RTP timestamps and RTCP), as after an NTP resync."""
        return self._request("POST", "/clock", {"jump": seconds, "mount": mount})

    def rtp_wrap(self, in_seconds: float | None) -> dict:
        """Medias created from now on start their RTP timestamps ``in_seconds`` before
        they wrap past 2^32 (None: random start again)."""
        return self._request("POST", "/clock", {"wrap_in": in_seconds})

    def clock_reset(self) -> dict:
        return self._request("POST", "/clock", {"reset": True})

    def audio_gap(self, seconds: float, mount: str | None = "audio") -> dict:
        """The camera sends no audio for ``seconds`` (video goes on), then audio again."""
        return self._request("POST", "/audio_gap", {"seconds": seconds, "mount": mount})

    def loss(self, percent: float, seconds: float, mount: str | None = None) -> dict:
        """Drop ``percent`` % of the RTP packets (a frame's packets together) for ``seconds``."""
        return self._request("POST", "/loss",
                             {"percent": percent, "seconds": seconds, "mount": mount})

    def max_sessions(self, limit: int | None, status: int = 453) -> dict:
        """Allow only ``limit`` RTSP sessions (None: any); more SETUPs get ``status``."""
        return self._request("POST", "/sessions", {"max": limit, "status": status})

    def hostile(self, mode: str | None) -> dict:
        """Answer RTSP in a broken way (see HOSTILE_MODES) on the camera's port; None: normal."""
        return self._request("POST", "/hostile", {"mode": mode})

    # -- asyncio variants ---------------------------------------------------------
    async def astart(self, timeout: float = 120) -> None:
        await asyncio.to_thread(self.start, timeout)

    async def astop(self, timeout: float = 5) -> None:
        await asyncio.to_thread(self.stop, timeout)

    async def aoffline(self, mid_frame: bool = False, mount: str | None = None) -> dict:
        return await asyncio.to_thread(self.offline, mid_frame, mount)

    async def aonline(self) -> dict:
        return await asyncio.to_thread(self.online)

    async def afreeze(self) -> dict:
        return await asyncio.to_thread(self.freeze)

    async def aunfreeze(self) -> dict:
        return await asyncio.to_thread(self.unfreeze)

    async def aset_auth(self, auth: str, user: str | None = None,
                        password: str | None = None) -> dict:
        return await asyncio.to_thread(self.set_auth, auth, user, password)

    async def astatus(self) -> dict:
        return await asyncio.to_thread(self.status)

    async def aswitch(self, mount: str = "main", to: str = "sub") -> dict:
        return await asyncio.to_thread(self.switch, mount, to)

    async def agarbage(self, seconds: float = 5, mount: str | None = None,
                       mode: str = "corrupt") -> dict:
        return await asyncio.to_thread(self.garbage, seconds, mount, mode)

    async def aclock_jump(self, seconds: float, mount: str | None = None) -> dict:
        return await asyncio.to_thread(self.clock_jump, seconds, mount)

    async def artp_wrap(self, in_seconds: float | None) -> dict:
        return await asyncio.to_thread(self.rtp_wrap, in_seconds)

    async def aclock_reset(self) -> dict:
        return await asyncio.to_thread(self.clock_reset)

    async def aaudio_gap(self, seconds: float, mount: str | None = "audio") -> dict:
        return await asyncio.to_thread(self.audio_gap, seconds, mount)

    async def aloss(self, percent: float, seconds: float, mount: str | None = None) -> dict:
        return await asyncio.to_thread(self.loss, percent, seconds, mount)

    async def amax_sessions(self, limit: int | None, status: int = 453) -> dict:
        return await asyncio.to_thread(self.max_sessions, limit, status)

    async def ahostile(self, mode: str | None) -> dict:
        return await asyncio.to_thread(self.hostile, mode)

    def __repr__(self) -> str:
        state = f"rtsp={self._rtsp_port} control={self._control_port}" if self.running else "stopped"
        return f"<CameraSimulator {state}>"


@atexit.register
def _stop_all() -> None:
    for sim in list(_RUNNING):
        try:
            sim.stop(timeout=2)
        except Exception:  # noqa: BLE001
            pass
