"""Onboard a dev user and add the simulated cameras to a running Home Assistant.

    python -m tests.e2e.provision --ha http://127.0.0.1:8123 --rtsp rtsp://127.0.0.1:8554

Idempotent: a second run logs in and adds only what is missing.
"""

from __future__ import annotations

import argparse
import sys
import time

from tests.e2e.ha_api import HomeAssistantApi

CAMERAS = (
    ("Driveway", "main", "sub"),
    ("Garden", "h265", "sub"),
)


def provision(api: HomeAssistantApi, rtsp: str, username: str, password: str) -> list[str]:
    """Make sure the user and both cameras exist and record; return the camera entity ids."""
    api.wait_until_up()
    if api.onboarded():
        api.login(username, password)
    else:
        api.onboard(username, password)
    existing = {e["title"] for e in api.config_entries("cctv_nvr")}
    for name, main, sub in CAMERAS:
        if name in existing:
            continue
        result = api.config_flow(
            "cctv_nvr",
            {
                "name": name,
                "main_url": f"{rtsp}/{main}",
                "sub_url": f"{rtsp}/{sub}",
                "rtsp_transport": "tcp",
            },
        )
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


def main() -> int:
    """Command line entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ha", default="http://127.0.0.1:8123")
    parser.add_argument("--rtsp", default="rtsp://127.0.0.1:8554")
    parser.add_argument("--username", default="dev")
    parser.add_argument("--password", default="dev")
    args = parser.parse_args()
    cameras = provision(HomeAssistantApi(args.ha), args.rtsp, args.username, args.password)
    print(f"cameras recording: {', '.join(cameras)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
