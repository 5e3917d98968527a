"""Shared fixtures: the camera simulator and a Home Assistant with this integration."""

from __future__ import annotations

from collections.abc import Generator, Iterator
import os
from pathlib import Path
import shutil

import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
import pytest_socket
from syrupy.assertion import SnapshotAssertion

from custom_components.cctv_nvr.const import STORAGE_DIR
from tests.const import SIM_PASSWORD, SIM_USER
from tests.engine.helpers import mounted_tmpfs
from tests.engine.segments_factory import SegmentFactory
from tests.simulator import CameraSimulator

SIM_CACHE = Path(os.environ.get("CCTV_NVR_SIM_CACHE", Path.home() / ".cache" / "cctv_nvr_sim"))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/cctv_nvr in every test."""


@pytest.fixture(autouse=True)
def allow_loopback_sockets() -> None:
    """Tests talk to real servers on loopback (camera simulator); nothing else is allowed."""
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer (ids, times and contexts as ANY)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """Give every test its own config folder (recordings and index live there)."""
    return hass_tmp_config_dir


def _require_tools() -> None:
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required for the tests (apt-get install ffmpeg)")


@pytest.fixture(scope="session")
def simulator() -> Iterator[CameraSimulator]:
    """A simulated camera without authentication, shared by the session (never taken down)."""
    _require_tools()
    sim = CameraSimulator(cache_dir=str(SIM_CACHE))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def auth_simulator() -> Iterator[CameraSimulator]:
    """A simulated camera that requires digest authentication, shared by the session."""
    _require_tools()
    sim = CameraSimulator(
        auth="digest", user=SIM_USER, password=SIM_PASSWORD, cache_dir=str(SIM_CACHE)
    )
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(scope="session")
def segment_factory(tmp_path_factory: pytest.TempPathFactory) -> SegmentFactory:
    """Builds real segment files from short clips encoded once for the whole session."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is required for the tests")
    return SegmentFactory(tmp_path_factory.mktemp("clips"))


@pytest.fixture
def small_recordings_fs(hass_config_dir: str) -> Iterator[Path]:
    """Mount a 24 MiB tmpfs where the integration keeps its recordings (a real full disk)."""
    mount = Path(hass_config_dir) / STORAGE_DIR / "recordings"
    mount.mkdir(parents=True)
    with mounted_tmpfs(mount, 24 * 2**20):
        yield mount


@pytest.fixture
def own_simulator() -> Generator[CameraSimulator]:
    """A simulated camera of this test alone: it may be taken offline, frozen or re-keyed."""
    _require_tools()
    sim = CameraSimulator(cache_dir=str(SIM_CACHE))
    sim.start()
    yield sim
    sim.stop()
