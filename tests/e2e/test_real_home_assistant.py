"""End to end: a real Home Assistant process driven through its own REST API.

Adds the simulated cameras by config flow (as scripts/develop does), turns recording on,
and checks the segments on disk and in the index.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
import sqlite3
import time

from tests.e2e.harness import RunningHomeAssistant
from tests.e2e.provision import provision
from tests.engine.helpers import ffprobe, inspect_file
from tests.simulator import CameraSimulator


def _index_rows(db: Path) -> list[tuple[str, str, float, float]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT camera, path, start_ts, end_ts FROM segments ORDER BY camera, start_ts"
        ).fetchall()


def test_cameras_added_through_the_api_record(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator
) -> None:
    """Config flow over REST → switch on → ≥ 30 s of valid, contiguous segments."""
    api = home_assistant.api()
    rtsp = f"rtsp://127.0.0.1:{simulator.rtsp_port}"
    cameras = provision(api, rtsp, "dev", "dev-password")
    assert cameras == ["camera.driveway", "camera.garden"]
    deadline = time.monotonic() + 90
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"
    while time.monotonic() < deadline:
        rows = _index_rows(db) if db.exists() else []
        per_camera = {cam: [r for r in rows if r[0] == cam] for cam in ("driveway", "garden")}
        if all(len(v) >= 3 for v in per_camera.values()):
            break
        time.sleep(2)
    else:
        raise AssertionError(f"not enough segments: {per_camera}")
    for camera in cameras:
        state = api.state(camera)
        assert state is not None
        assert state["state"] == "recording"
        assert "rtsp://" not in str(state["attributes"])
    root = home_assistant.config_dir / "cctv_nvr" / "recordings"
    for name, segs in per_camera.items():
        for _cam, rel, start, end in segs:
            facts = inspect_file(root / rel)
            assert facts.first_is_keyframe
            assert abs(facts.duration - (end - start)) <= 0.1
            codec = ffprobe(root / rel)["streams"][0]["codec_name"]
            assert codec == ("h264" if name == "driveway" else "hevc")
        for before, after in zip(segs, segs[1:], strict=False):
            assert abs(after[2] - before[3]) <= 1 / 15
    # A second provisioning run (as a restart of scripts/develop does) adds nothing new.
    assert provision(home_assistant.api(), rtsp, "dev", "dev-password") == cameras
    assert len(api.config_entries("cctv_nvr")) == 2
