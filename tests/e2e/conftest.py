"""A real Home Assistant process, started by the test, with this integration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_socket

from tests.e2e.harness import RunningHomeAssistant, start_home_assistant


@pytest.fixture(scope="module")
def home_assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHomeAssistant]:
    """Start `python -m homeassistant` on a free port with the repository's dev configuration.

    --skip-pip proves that scripts/setup preinstalled every requirement: a real
    first start downloads nothing.
    """
    pytest_socket.enable_socket()  # loopback only: see allow_loopback_sockets in tests/conftest.py
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    running = start_home_assistant(tmp_path_factory.mktemp("ha_config"))
    try:
        yield running
    finally:
        running.stop()
