"""Onboard a dev user and add the simulated cameras to a running Home Assistant.

    python -m tests.e2e.provision --ha http://127.0.0.1:8123 --rtsp rtsp://127.0.0.1:8554

Idempotent: a second run logs in, adds only what is missing and points existing cameras at
the simulator's current address.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import os
from pathlib import Path
import sys
import time

from tests.e2e.ha_api import HomeAssistantApi

CAMERAS = (
    ("Driveway", "main", "sub"),
    ("Garden", "h265", "sub"),
)


def _follow_simulator(
    api: HomeAssistantApi, name: str, entry_id: str, streams: dict[str, str]
) -> None:
    """Point an existing camera at the running simulator if it moved (another --rtsp-port).

    The reconfigure form shows the camera's stream URL as its default; an unchanged camera's
    flow is abandoned, so it is not reloaded.
    """
    form = api.start_flow({"handler": "cctv_nvr", "entry_id": entry_id})
    current = {field["name"]: field.get("default") for field in form.get("data_schema", [])}
    if form.get("type") == "form" and current.get("main_url") == streams["main_url"]:
        api.abort_flow(form["flow_id"])
        return
    result = api.submit_flow(form["flow_id"], streams)
    if result.get("reason") != "reconfigure_successful":
        raise SystemExit(f"pointing {name} at {streams['main_url']} failed: {result}")


def provision(
    api: HomeAssistantApi,
    rtsp: str,
    username: str,
    password: str,
    process_alive: Callable[[], bool] | None = None,
) -> list[str]:
    """Make sure the user and both cameras exist and record; return the camera entity ids."""
    api.wait_until_up(process_alive=process_alive)
    if api.onboarded():
        api.login(username, password)
    else:
        api.onboard(username, password)
    existing = {e["title"]: e["entry_id"] for e in api.config_entries("cctv_nvr")}
    for name, main, sub in CAMERAS:
        streams = {
            "main_url": f"{rtsp}/{main}",
            "sub_url": f"{rtsp}/{sub}",
            "rtsp_transport": "tcp",
        }
        if name in existing:
            _follow_simulator(api, name, existing[name], streams)
            continue
        result = api.config_flow("cctv_nvr", {"name": name, **streams})
        if result.get("type") != "create_entry":
            raise SystemExit(f"adding {name} failed: {result.get('errors') or result}")
    entity_ids = []
    for name, _main, _sub in CAMERAS:
        slug = name.lower()
        switch = f"switch.{slug}_continuous_recording"
        deadline = time.monotonic() + 60
        while api.state(switch) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"{switch} did not appear")
            time.sleep(0.5)
        api.call_service("switch", "turn_on", {"entity_id": switch})
        entity_ids.append(f"camera.{slug}")
    return entity_ids


def _running(pid: int) -> bool:
    """Return True while process ``pid`` runs (an exited, unreaped child does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def main() -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ha", default="http://127.0.0.1:8123")
    parser.add_argument("--rtsp", default="rtsp://127.0.0.1:8554")
    parser.add_argument("--username", default="dev")
    parser.add_argument("--password", default="dev")
    parser.add_argument("--ha-pid", type=int, help="give up when this process exits")
    args = parser.parse_args()
    pid = args.ha_pid
    try:
        cameras = provision(
            HomeAssistantApi(args.ha),
            args.rtsp,
            args.username,
            args.password,
            process_alive=None if pid is None else lambda: _running(pid),
        )
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C while waiting: scripts/develop stops everything
        return 130
    print(f"cameras recording: {', '.join(cameras)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
