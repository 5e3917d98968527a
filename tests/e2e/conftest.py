"""A real Home Assistant process, started by the test, with this integration."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
import shutil
import socket
import subprocess
import sys

import pytest
import pytest_socket

from tests.e2e.ha_api import HomeAssistantApi
from tests.e2e.http_config import write_http_config

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningHomeAssistant:
    """A Home Assistant process and where it keeps its files."""

    url: str
    config_dir: Path
    process: subprocess.Popen[bytes]

    def api(self) -> HomeAssistantApi:
        """Return a REST client (not logged in)."""
        return HomeAssistantApi(self.url)

    def stop(self) -> None:
        """Stop Home Assistant as a service manager would (SIGTERM, then SIGKILL after 60 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Stop Home Assistant and start it again on the same configuration and port."""
        self.stop()
        self.process = _start(self.config_dir)
        _wait_until_up(self)


def _start(config: Path) -> subprocess.Popen[bytes]:
    with (config / "stdout.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "--config", str(config), "--skip-pip"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_until_up(running: RunningHomeAssistant) -> None:
    process = running.process
    try:
        running.api().wait_until_up(timeout=240, process_alive=lambda: process.poll() is None)
    except RuntimeError as err:
        output = (running.config_dir / "stdout.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{err} (exit status {process.poll()}):\n{output}") from err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHomeAssistant]:
    """Start `python -m homeassistant` on a free port with the repository's dev configuration.

    --skip-pip proves that scripts/setup preinstalled every requirement: a real
    first start downloads nothing.
    """
    pytest_socket.enable_socket()  # loopback only: see allow_loopback_sockets in tests/conftest.py
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    config = tmp_path_factory.mktemp("ha_config")
    shutil.copy(ROOT / "config" / "configuration.yaml", config / "configuration.yaml")
    (config / "custom_components").symlink_to(ROOT / "custom_components")
    port = _free_port()
    write_http_config(config, port)  # as scripts/develop does: 127.0.0.1:port, confirmed
    running = RunningHomeAssistant(f"http://127.0.0.1:{port}", config, _start(config))
    try:
        _wait_until_up(running)
        yield running
    finally:
        running.stop()
