"""The confirmed HTTP settings scripts/develop writes before each start (tests/e2e/http_config).

That Home Assistant starts with them, nothing pending, is checked by test_develop.py; these
cover what earlier settings become and the refusal to touch a running instance's folder.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
import stat
from typing import Any

import pytest

from tests.e2e.http_config import HomeAssistantRunningError, write_http_config


def _slot(**settings: Any) -> dict[str, Any]:
    return {
        "server_port": 8123,
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "login_attempts_threshold": -1,
        "ip_ban_enabled": True,
        "ssl_profile": "modern",
        "use_x_frame_options": True,
        "created_at": "2026-11-30T23:17:25+00:00",
        "error": None,
        "error_message": None,
        **settings,
    }


def _store(config: Path, stable: dict[str, Any], pending: dict[str, Any] | None) -> None:
    (config / ".storage").mkdir()
    (config / ".storage" / "http").write_text(
        json.dumps(
            {
                "version": 2,
                "minor_version": 2,
                "key": "http",
                "data": {"stable": stable, "pending": pending, "yaml_migration_done": True},
            }
        )
    )


def _read(config: Path) -> dict[str, Any]:
    document = json.loads((config / ".storage" / "http").read_text())
    assert (document["version"], document["minor_version"], document["key"]) == (2, 2, "http")
    return dict(document["data"])


def test_fresh_folder(tmp_path: Path) -> None:
    path = write_http_config(tmp_path, 18123)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = _read(tmp_path)
    assert data["pending"] is None
    assert data["yaml_migration_done"] is True
    stable = data["stable"]
    assert (stable["server_host"], stable["server_port"]) == (["127.0.0.1"], 18123)
    assert stable["ip_ban_enabled"] is True
    assert stable["error"] is None
    assert not list((tmp_path / ".storage").glob("*.partial"))


def test_new_port_replaces_a_change_waiting_for_confirmation(tmp_path: Path) -> None:
    """The old http: block's import (pending) and the old stable give way to the asked port."""
    _store(
        tmp_path,
        _slot(ip_ban_enabled=False),
        _slot(server_port=8623, server_host=["127.0.0.1"], use_x_forwarded_for=True),
    )
    write_http_config(tmp_path, 9123)
    data = _read(tmp_path)
    assert data["pending"] is None
    stable = data["stable"]
    assert (stable["server_host"], stable["server_port"]) == (["127.0.0.1"], 9123)
    assert stable["use_x_forwarded_for"] is True  # the change made in the UI is kept
    assert stable["ip_ban_enabled"] is True  # from the pending slot, which had it on


def test_failed_change_is_dropped(tmp_path: Path) -> None:
    _store(
        tmp_path,
        _slot(ip_ban_enabled=False),
        _slot(use_x_forwarded_for=True, error="not_promoted"),
    )
    write_http_config(tmp_path, 9123)
    stable = _read(tmp_path)["stable"]
    assert "use_x_forwarded_for" not in stable
    assert stable["ip_ban_enabled"] is False
    assert stable["server_port"] == 9123


def test_refuses_while_home_assistant_runs(tmp_path: Path) -> None:
    lock = tmp_path / ".ha_run.lock"
    lock.write_text(json.dumps({"pid": 4242, "version": 1}))
    with lock.open() as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # as homeassistant/runner.py
        with pytest.raises(HomeAssistantRunningError, match="pid 4242"):
            write_http_config(tmp_path, 9123)
    assert not (tmp_path / ".storage").exists()
    write_http_config(tmp_path, 9123)  # released: a stopped instance leaves its lock file
    assert _read(tmp_path)["stable"]["server_port"] == 9123


@pytest.mark.parametrize("port", [0, 65536])
def test_refuses_what_is_not_a_port(tmp_path: Path, port: int) -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        write_http_config(tmp_path, port)
