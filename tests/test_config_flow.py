"""Config flow paths against the real simulator (no mocks)."""

from __future__ import annotations

import socket

from homeassistant import config_entries
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest

from custom_components.cctv_nvr.const import (
    CONF_LIVE_STREAM,
    CONF_MAIN_URL,
    CONF_RECORD_AUDIO,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_INFO,
    CONF_SUB_URL,
    DOMAIN,
)
from tests.const import SIM_PASSWORD, SIM_USER
from tests.helpers import camera_entry, setup_camera, user_input
from tests.simulator import CameraSimulator


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert "camera" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "camera"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "camera"
    return str(result["flow_id"])


async def test_user_flow_success(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """A reachable camera is probed and saved without credentials in its URLs."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(simulator))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Front door"
    data = result["data"]
    assert data[CONF_MAIN_URL] == simulator.url("main")
    assert data[CONF_SUB_URL] == simulator.url("sub")
    assert data[CONF_STORAGE_KEY] == "front_door"
    info = data[CONF_STREAM_INFO]
    assert (info["video_codec"], info["width"], info["height"]) == ("h264", 1920, 1080)
    assert info["fps"] == pytest.approx(15, abs=0.5)
    assert result["options"][CONF_LIVE_STREAM] == "sub"
    assert result["result"].unique_id == f"127.0.0.1:{simulator.rtsp_port}/main"
    await hass.async_block_till_done()


async def test_user_flow_credentials_in_url_are_moved_out(
    hass: HomeAssistant, auth_simulator: CameraSimulator
) -> None:
    """Credentials typed into the URL are stored apart and stripped from the URL."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(
            auth_simulator,
            **{
                CONF_MAIN_URL: auth_simulator.url("main", with_credentials=True),
                CONF_SUB_URL: None,
            },
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    data = result["data"]
    assert data[CONF_MAIN_URL] == auth_simulator.url("main")
    assert SIM_PASSWORD not in data[CONF_MAIN_URL]
    assert (data[CONF_USERNAME], data[CONF_PASSWORD]) == (SIM_USER, SIM_PASSWORD)
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({CONF_MAIN_URL: "http://127.0.0.1/stream"}, CONF_MAIN_URL, "invalid_url"),
        ({CONF_MAIN_URL: "rtsp://"}, CONF_MAIN_URL, "invalid_url"),
        ({CONF_MAIN_URL: "not a url at all"}, CONF_MAIN_URL, "invalid_url"),
        ({CONF_SUB_URL: "ftp://x"}, CONF_SUB_URL, "invalid_url"),
        ({CONF_MAIN_URL: "{base}/nope"}, CONF_MAIN_URL, "stream_not_found"),
        ({CONF_SUB_URL: "{base}/nope"}, CONF_SUB_URL, "stream_not_found"),
    ],
)
async def test_user_flow_bad_addresses(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    overrides: dict[str, str],
    field: str,
    error: str,
) -> None:
    """Malformed URLs and wrong paths get translated errors on their field."""
    base = f"rtsp://127.0.0.1:{simulator.rtsp_port}"
    data = user_input(simulator, **{k: v.format(base=base) for k, v in overrides.items()})
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, data)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: error}


async def test_user_flow_unreachable(hass: HomeAssistant) -> None:
    """Nothing listens on the port: cannot_connect."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_NAME: "x",
            CONF_MAIN_URL: f"rtsp://127.0.0.1:{_free_port()}/main",
            "rtsp_transport": "tcp",
        },
    )
    assert result["errors"] == {CONF_MAIN_URL: "cannot_connect"}


async def test_user_flow_not_rtsp(hass: HomeAssistant) -> None:
    """Something that answers, but not RTSP (an HTTP server): not_rtsp."""
    from aiohttp import web

    async def _hello(_request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _hello)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        flow_id = await _start(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {
                CONF_NAME: "x",
                CONF_MAIN_URL: f"rtsp://127.0.0.1:{port}/main",
                "rtsp_transport": "tcp",
            },
        )
        assert result["errors"] == {CONF_MAIN_URL: "not_rtsp"}
    finally:
        await runner.cleanup()


async def test_user_flow_silent_server_times_out(hass: HomeAssistant) -> None:
    """A server that accepts but never answers: timeout, within the hard limit."""
    import asyncio
    import time

    from custom_components.cctv_nvr import config_flow

    async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    server = await asyncio.start_server(_silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    original = config_flow.PROBE_TIMEOUT
    config_flow.PROBE_TIMEOUT = 2.0
    try:
        flow_id = await _start(hass)
        started = time.monotonic()
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {
                CONF_NAME: "x",
                CONF_MAIN_URL: f"rtsp://127.0.0.1:{port}/main",
                "rtsp_transport": "tcp",
            },
        )
        assert result["errors"] == {CONF_MAIN_URL: "timeout"}
        assert time.monotonic() - started < 5
    finally:
        config_flow.PROBE_TIMEOUT = original
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("username", "password"),
    [(None, None), (SIM_USER, "wrong-password"), ("nobody", SIM_PASSWORD)],
)
async def test_user_flow_wrong_credentials(
    hass: HomeAssistant,
    auth_simulator: CameraSimulator,
    username: str | None,
    password: str | None,
) -> None:
    """A 401 from the camera is invalid_auth."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(auth_simulator, username=username, password=password, **{CONF_SUB_URL: None}),
    )
    assert result["errors"] == {"base": "invalid_auth"}
    # Fixing the password on the same form succeeds.
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(
            auth_simulator, username=SIM_USER, password=SIM_PASSWORD, **{CONF_SUB_URL: None}
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()


async def test_user_flow_duplicate(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """The same main stream cannot be added twice (host case and credentials ignored)."""
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        user_input(
            simulator, **{CONF_MAIN_URL: f"rtsp://u:p@127.0.0.1:{simulator.rtsp_port}/main"}
        ),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_storage_key_is_unique(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """Two cameras with the same name get different recording folders."""
    camera_entry(simulator, mount="h265").add_to_hass(hass)
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, user_input(simulator))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_STORAGE_KEY] == "front_door_2"
    await hass.async_block_till_done()


async def test_reauth_flow(hass: HomeAssistant, own_simulator: CameraSimulator) -> None:
    """The camera's password changes: reauth starts by itself and fixes it."""
    await own_simulator.aset_auth("digest", SIM_USER, "old-password")
    entry = await setup_camera(
        hass, camera_entry(own_simulator, username=SIM_USER, password="old-password", sub=None)
    )
    await own_simulator.aset_auth("digest", SIM_USER, "new-password")
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [f["context"]["source"] for f in flows] == ["reauth"]
    flow_id = flows[0]["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_USERNAME: SIM_USER, CONF_PASSWORD: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_USERNAME: SIM_USER, CONF_PASSWORD: "new-password"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == "new-password"
    await hass.async_block_till_done()
    assert entry.runtime_data.last_update_success


async def test_reconfigure_flow(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """Reconfigure moves the camera to another stream; the password is kept when left empty."""
    entry = await setup_camera(hass, camera_entry(simulator, sub=None))
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MAIN_URL: "http://not-a-camera/x", "rtsp_transport": "tcp"}
    )
    assert result["errors"] == {CONF_MAIN_URL: "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_MAIN_URL: "rtsp://127.0.0.1:1/x", "rtsp_transport": "tcp"},
    )
    assert result["errors"] == {CONF_MAIN_URL: "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_MAIN_URL: simulator.url("h265"),
            CONF_SUB_URL: simulator.url("sub"),
            "rtsp_transport": "tcp",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_MAIN_URL] == simulator.url("h265")
    assert entry.data[CONF_STREAM_INFO]["video_codec"] == "hevc"
    assert entry.unique_id == f"127.0.0.1:{simulator.rtsp_port}/h265"
    assert entry.data[CONF_STORAGE_KEY] == "front_door"  # recordings folder stays
    await hass.async_block_till_done()


async def test_reconfigure_to_existing_camera_aborts(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """Reconfigure cannot point a camera at a stream another entry records."""
    camera_entry(simulator, name="Other", mount="h265").add_to_hass(hass)
    entry = await setup_camera(hass, camera_entry(simulator, sub=None))
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_MAIN_URL: simulator.url("h265"), "rtsp_transport": "tcp"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow(hass: HomeAssistant, simulator: CameraSimulator) -> None:
    """Recording settings are saved and applied by a reload."""
    entry = await setup_camera(hass, camera_entry(simulator))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SEGMENT_SECONDS: 30, CONF_RECORD_AUDIO: False, CONF_LIVE_STREAM: "main"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        CONF_SEGMENT_SECONDS: 30,
        CONF_RECORD_AUDIO: False,
        CONF_LIVE_STREAM: "main",
        "retention_days": 14,
        "max_size_gb": 0,
        "min_free_gb": 2.0,
        "offline_repair_minutes": 30,
        "event_retention_days": 30,
        "notify_link_hours": 168,
        "default_rights": ["control", "export", "live", "recordings"],
        "live_panel_only": False,
        "audit_days": 365,
        "recordings_folder": "",  # the default folder
        "local_fallback": True,
    }
    assert entry.runtime_data.recorder.config.segment_seconds == 30
    assert entry.runtime_data.recorder.config.record_audio is False
