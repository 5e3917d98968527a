"""Footage only in the cloud plays in Chromium across a segment boundary (a real HA process).

Home Assistant runs as a process with STORAGE_EMULATOR_HOST pointing at fake-gcs-server
(``tests.gcs_emulator``); the cloud tier is added through the config flow's REST API and
uploads what the cameras record. Home Assistant is then stopped and the engine's own
retention (``enforce`` with *keep local* 0 days, what the 10-minute retention timer would
do after the configured days) removes the local copies of the verified footage, so that
after the restart that footage exists only in the bucket. Chromium plays it with hls.js
through the media browser's signed playlist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import closing
import json
from pathlib import Path
import sqlite3
import time

import pytest
import pytest_socket

from custom_components.cctv_nvr.engine.index import SegmentIndex
from custom_components.cctv_nvr.engine.retention import (
    CloudRetention,
    RetentionPolicy,
    enforce,
)
from tests.e2e import chromium
from tests.e2e.harness import RunningHomeAssistant, start_home_assistant
from tests.e2e.provision import provision
from tests.e2e.test_browser_playback import ARTIFACTS, _resolve
from tests.gcs_emulator import FakeGcs, TokenServer, make_key
from tests.simulator import CameraSimulator

BUCKET = "footage"
CAMERA = "driveway"


@pytest.fixture(scope="module")
def cloud_home_assistant(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningHomeAssistant, FakeGcs, TokenServer]]:
    """fake-gcs-server, a token endpoint and `python -m homeassistant` that finds the emulator."""
    pytest_socket.enable_socket()  # loopback only: see allow_loopback_sockets in tests/conftest.py
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    gcs = FakeGcs(tmp_path_factory.mktemp("gcs"))
    gcs.start()
    gcs.create_bucket(BUCKET)
    tokens = TokenServer()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORAGE_EMULATOR_HOST", gcs.url)  # inherited by the HA process
        try:
            running = start_home_assistant(tmp_path_factory.mktemp("ha_config"))
        except BaseException:
            tokens.close()
            gcs.stop()
            raise
        try:
            yield running, gcs, tokens
        finally:
            running.stop()
            tokens.close()
            gcs.stop()


def _rows(db: Path) -> list[tuple[float, float, str, str]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT start_ts, end_ts, location, path FROM segments WHERE camera = ? "
            "ORDER BY start_ts",
            (CAMERA,),
        ).fetchall()


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(2)


def test_cloud_only_footage_plays_across_segments_in_chromium(
    cloud_home_assistant: tuple[RunningHomeAssistant, FakeGcs, TokenServer],
    simulator: CameraSimulator,
) -> None:
    """Recorded, uploaded, verified, removed locally: it still plays in the browser."""
    home_assistant, _gcs, tokens = cloud_home_assistant
    try:
        executable = chromium.executable()
    except chromium.BrowserMissingError as err:
        pytest.fail(str(err))
    run = _record_upload_and_offload(home_assistant, simulator, tokens)
    home_assistant.restart()
    api = home_assistant.api()
    api.login("dev", "dev-password")
    assert api.token is not None
    token = api.token
    media_id = f"media-source://cctv_nvr/play/{CAMERA}/{int(run[0][0])}/{int(run[-1][1])}"
    url = ""
    deadline = time.monotonic() + 120
    while not url:  # the integration may still be setting up after the API answers
        try:
            url = asyncio.run(_resolve(home_assistant.url, token, media_id))
        except AssertionError:
            assert time.monotonic() < deadline, "the media source did not come up"
            time.sleep(2)
    assert "authSig=" in url
    assert "storage" not in url and BUCKET not in url  # nothing of the bucket reaches the page
    _play(home_assistant, executable, url, run[0][1] - run[0][0] + 1)  # past the 1st segment


def _record_upload_and_offload(
    home_assistant: RunningHomeAssistant, simulator: CameraSimulator, tokens: TokenServer
) -> list[tuple[float, float, str, str]]:
    """Record, add the cloud tier, wait for verified uploads, stop HA, offload local copies.

    Returns contiguous segments now only in the bucket.
    """
    api = home_assistant.api()
    provision(api, f"rtsp://127.0.0.1:{simulator.rtsp_port}", "dev", "dev-password")
    key = make_key("nvr@test.iam.gserviceaccount.com", tokens.url)
    result = api.config_flow(
        "cctv_nvr",
        {"bucket": BUCKET, "prefix": "nvr", "key": json.dumps(key)},
        menu_choice="cloud",
    )
    assert result.get("type") == "create_entry", result
    db = home_assistant.config_dir / "cctv_nvr" / "index.db"

    def uploaded() -> bool:
        return db.exists() and sum(row[2] == "both" for row in _rows(db)) >= 3

    _wait(uploaded, 180, "no footage verified in the bucket")
    home_assistant.stop()
    log = (home_assistant.config_dir / "stdout.log").read_text(errors="replace")
    # Ours only: Home Assistant's default integrations log tracebacks of their own here (radio
    # browser cannot resolve its host without internet access); a traceback of ours has a
    # frame in our files.
    assert "custom_components/cctv_nvr/" not in log, log[-3000:]
    root = home_assistant.config_dir / "cctv_nvr" / "recordings"
    index = SegmentIndex(db)
    try:
        report = enforce(index, root, RetentionPolicy(cloud=CloudRetention(keep_local_days=0)))
    finally:
        index.close()
    assert report.offloaded_segments >= 3
    cloud = [row for row in _rows(db) if row[2] == "cloud"]
    run = [cloud[0]]
    for row in cloud[1:]:  # contiguous cloud-only footage from the first one
        if row[0] - run[-1][1] > 1.0 or len(run) == 3:
            break
        run.append(row)
    assert len(run) >= 2, "no two contiguous segments only in the cloud"
    assert not any((root / row[3]).exists() for row in run), "a local copy is still there"
    return run


def _play(home_assistant: RunningHomeAssistant, executable: str, url: str, boundary: float) -> None:
    """Play the playlist with hls.js in Chromium until past ``boundary`` seconds."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=chromium.ARGS)
        try:
            page = browser.new_page()
            played = chromium.play_until(page, home_assistant.url, url, boundary, 90)
            assert played["fatal"] is None and played["error"] is None, played
            assert played["width"] > 0
            page.screenshot(path=str(ARTIFACTS / "browser-cloud-playback.png"))
        finally:
            browser.close()
