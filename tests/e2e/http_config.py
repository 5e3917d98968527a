"""Set the address and port of a development Home Assistant before it starts.

    python -m tests.e2e.http_config --config config --port 8123

Home Assistant 2026.10 keeps its HTTP settings in ``<config>/.storage/http``: a confirmed
``stable`` slot and an unconfirmed ``pending`` one. An ``http:`` block in configuration.yaml
is imported once as ``pending``, which shows every admin the "Confirm new HTTP server
configuration" dialog, reverts (and restarts Home Assistant) five minutes later unless
confirmed, and is ignored on later starts (so a new port was not honoured).

scripts/develop and the end-to-end tests therefore write the settings as confirmed
(``stable``) before every start: Home Assistant listens on 127.0.0.1 and the asked port,
nothing is pending, and nothing asks for confirmation. Other settings made in Settings →
System → Network are kept; one waiting for confirmation (Home Assistant restarts to try it,
and scripts/develop starts it again) is taken as confirmed. Stdlib only.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import fcntl
import json
from pathlib import Path
import sys
from typing import Any

# The layout Home Assistant 2026.10 writes (homeassistant/components/http/config.py,
# storage version 2.2); later versions migrate it on load.
STORAGE_VERSION = 2
STORAGE_MINOR_VERSION = 2
DEFAULTS: dict[str, Any] = {
    "cors_allowed_origins": ["https://cast.home-assistant.io"],
    "login_attempts_threshold": -1,
    "ip_ban_enabled": True,
    "ssl_profile": "modern",
    "use_x_frame_options": True,
}
LOCK_FILE = ".ha_run.lock"  # held by a running Home Assistant (homeassistant/runner.py)


class HomeAssistantRunningError(RuntimeError):
    """Home Assistant is running with this config folder; its settings must not change under it."""


def _refuse_if_running(config_dir: Path) -> None:
    lock = config_dir / LOCK_FILE
    if not lock.exists():
        return
    with lock.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                pid = f" (pid {json.loads(handle.read())['pid']})"
            except ValueError, KeyError, TypeError:
                pid = ""
            raise HomeAssistantRunningError(
                f"Home Assistant is already running with {config_dir}{pid}"
            ) from None
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def write_http_config(config_dir: Path, port: int, host: str = "127.0.0.1") -> Path:
    """Make ``host:port`` the confirmed HTTP settings of ``config_dir``; return the file."""
    if not 0 < port < 65536:
        raise ValueError(f"not a TCP port: {port}")
    _refuse_if_running(config_dir)
    path = config_dir / ".storage" / "http"
    stable: dict[str, Any] = dict(DEFAULTS)
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("version") == STORAGE_VERSION:
            pending = stored["data"].get("pending")
            wanted = pending is not None and pending.get("error") is None
            stable.update(pending if wanted else stored["data"]["stable"])
    stable.update(
        server_host=[host],
        server_port=port,
        created_at=datetime.now(UTC).isoformat(),
        error=None,
        error_message=None,
    )
    document = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": "http",
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name("http.partial")
    partial.write_text(json.dumps(document, indent=2), encoding="utf-8")
    partial.chmod(0o600)  # Home Assistant keeps this file private
    partial.replace(path)
    return path


def main() -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("config"))
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    try:
        write_http_config(args.config, args.port, args.host)
    except HomeAssistantRunningError as err:
        print(f"develop: {err}; stop it first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
