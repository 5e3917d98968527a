"""Notification links across a real restart of Home Assistant.

An event recording of a simulated camera (a real Home Assistant process, the service called over
WebSocket) fires `cctv_nvr_event_saved` with its signed `snapshot_url` and `clip_url`, as a
notification automation would send them to a phone. The links are fetched without logging in,
Home Assistant is stopped and started again on the same configuration, and the same links still
work (they are signed with Home Assistant's content user, whose token survives restarts); an
altered signature answers 401, and deleting the event ends them (404).
"""

from __future__ import annotations

import asyncio
from contextlib import closing
from pathlib import Path
import sqlite3
import time
from typing import Any
import urllib.error
import urllib.request

from tests.e2e.harness import RunningHomeAssistant, login_tokens, ws_call, ws_session
from tests.e2e.provision import provision
from tests.simulator import CameraSimulator


async def _event_saved(base: str, token: str) -> dict[str, Any]:
    """Record a short event on the Driveway and return its `cctv_nvr_event_saved` data."""
    async with ws_session(base, token) as ws:
        await ws.send_json(
            {"id": 1, "type": "subscribe_events", "event_type": "cctv_nvr_event_saved"}
        )
        assert (await ws.receive_json())["success"]
        await ws.send_json(
            {
                "id": 2,
                "type": "call_service",
                "domain": "cctv_nvr",
                "service": "start_recording",
                "target": {"entity_id": "camera.driveway"},
                "service_data": {"label": "doorbell", "pre_roll": 2, "duration": 4},
            }
        )
        async with asyncio.timeout(120):
            while True:
                message = await ws.receive_json()
                if message["id"] == 2:
                    assert message["success"], message
                elif message["type"] == "event":
                    data: dict[str, Any] = message["event"]["data"]
                    return data


def _get_when_ready(url: str) -> tuple[int, bytes]:
    """Fetch a link of a just-saved event: 404 until the segment holding its end is indexed."""
    deadline = time.monotonic() + 60
    while True:
        status, body = _get(url)
        if status != 404 or time.monotonic() > deadline:
            return status, body
        time.sleep(1)


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - loopback
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def _driveway_segments(db: Path) -> int:
    if not db.exists():
        return 0
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM segments WHERE camera = 'driveway'"
        ).fetchone()
    return int(count)


def test_links_keep_working_across_a_restart(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator
) -> None:
    """The links of an event work before and after a restart, until the event is deleted."""
    api = home_assistant.api()
    provision(api, f"rtsp://127.0.0.1:{simulator.rtsp_port}", "dev", "dev-password")
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    deadline = time.monotonic() + 120
    while _driveway_segments(db) < 2:  # footage for the pre-roll
        assert time.monotonic() < deadline, "no footage recorded"
        time.sleep(1)
    token = login_tokens(api, "dev", "dev-password")["access_token"]
    saved = asyncio.run(_event_saved(home_assistant.url, token))
    base = home_assistant.url
    snapshot, clip = base + saved["snapshot_url"], base + saved["clip_url"]
    status, body = _get_when_ready(snapshot)
    assert status == 200
    assert body[:2] == b"\xff\xd8"  # a JPEG
    status, body = _get_when_ready(clip)
    assert status == 200
    assert body[4:8] == b"ftyp"

    home_assistant.restart()

    status, body = _get_when_ready(snapshot)  # the camera's entry may still be loading
    assert status == 200
    assert body[:2] == b"\xff\xd8"
    status, body = _get(clip)
    assert status == 200
    assert body[4:8] == b"ftyp"
    assert _get(snapshot[:-4] + "AAAA")[0] == 401  # altered signature
    # Deleting the event ends its links at once.
    token = login_tokens(api, "dev", "dev-password")["access_token"]
    (deleted,) = asyncio.run(
        ws_call(
            base,
            token,
            {
                "type": "call_service",
                "domain": "cctv_nvr",
                "service": "delete_event",
                "service_data": {"recording_id": saved["recording_id"]},
            },
        )
    )
    assert deleted["success"], deleted
    assert _get(snapshot)[0] == 404
    assert _get(clip)[0] == 404
