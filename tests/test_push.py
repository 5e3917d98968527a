"""Push cameras in Home Assistant: flow, key, ingest server, recording, repair, diagnostics.

Real parts only: Home Assistant, the integration's ingest server on a free port, ffmpeg
publishing H.264 + AAC FLV (`-re … -c copy -f flv rtmp://…`), the recorder's ffmpeg,
the index, the playback view (ffprobe plays it over HTTP). Garbage and slow clients and
16 publishers at once are the engine's tests (tests/engine/test_ingest*.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
import json
import logging
from pathlib import Path
import socket
import time
from typing import Any

from homeassistant import config_entries
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components.camera import async_get_image
from homeassistant.components.http.auth import async_sign_path
from homeassistant.components.media_source import async_browse_media, async_resolve_media
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_NAME,
    EVENT_HOMEASSISTANT_STOP,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    CLIENT_ID,
    MockConfigEntry,
    MockUser,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.cctv_nvr.const import (
    CONF_INGEST_PORT,
    CONF_KIND,
    CONF_LIVE_STREAM,
    CONF_RECORD_AUDIO,
    CONF_REGENERATE_KEY,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_KEY,
    DOMAIN,
    EVENT_AUDIT,
    EVENT_CAMERA_OFFLINE,
    EVENT_CAMERA_ONLINE,
    EVENT_EVENT_SAVED,
    KIND_PUSH,
)
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.cctv_nvr.engine.index import Segment
from custom_components.cctv_nvr.engine.ingest import new_stream_key, valid_stream_key
from custom_components.cctv_nvr.engine.recorder import RecorderState
from custom_components.cctv_nvr.push import (
    DATA_INGEST,
    ISSUE_PORT,
    RETRY_SECONDS,
    STORE_KEY,
    IngestManager,
)
from custom_components.cctv_nvr.repairs import async_create_fix_flow
from tests.engine.helpers import free_port, run_ffmpeg, wait_for

FPS = 15
NAME = "Door bell"
KEY = "door_bell"
CAMERA = "camera.door_bell"
SWITCH = "switch.door_bell_continuous_recording"
CONNECTED = "binary_sensor.door_bell_publisher_connected"
INGEST_LOGGER = "custom_components.cctv_nvr.engine.ingest"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6 s H.264 + AAC clip with a keyframe every second (looped by the publishers)."""
    path = tmp_path_factory.mktemp("push_ha") / "clip.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-t", "6", "-g", str(FPS), "-c:v", "libx264", "-preset", "veryfast",
        "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


@pytest.fixture
def port(hass_storage: dict[str, Any]) -> int:
    """The installation's ingest port (a free one), as the integration stored it before."""
    chosen = free_port("")
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {"port": chosen},
    }
    return chosen


class Publishers:
    """ffmpeg publishers started by a test; all killed at its end."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.procs: list[asyncio.subprocess.Process] = []

    async def start(self, url: str) -> asyncio.subprocess.Process:
        """Publish the clip in a loop, in real time, as FLV to url."""
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy", "-f", "flv", url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.procs.append(proc)
        return proc


@pytest.fixture
async def publishers(clip: Path) -> AsyncIterator[Publishers]:
    """Start publishers; kill the ones still running at the end."""
    ctx = Publishers(clip)
    yield ctx
    for proc in ctx.procs:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@pytest.fixture
def blocker() -> Iterator[socket.socket]:
    """A socket that listens on a port (all interfaces), as another program would."""
    sock = socket.socket()
    sock.bind(("", 0))
    sock.listen()
    yield sock
    sock.close()


def push_entry(*, key: str | None = None, segment_seconds: int = 2) -> MockConfigEntry:
    """Return a push camera's entry as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=NAME,
        unique_id=f"push:{KEY}",
        data={
            CONF_KIND: KIND_PUSH,
            CONF_NAME: NAME,
            CONF_STORAGE_KEY: KEY,
            CONF_STREAM_KEY: key or new_stream_key(),
        },
        options={CONF_SEGMENT_SECONDS: segment_seconds, CONF_RECORD_AUDIO: True},
        version=1,
        minor_version=2,
    )


async def setup_push(hass: HomeAssistant, entry: MockConfigEntry | None = None) -> MockConfigEntry:
    """Add and set up a push camera."""
    entry = entry or push_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def rtmp_url(port: int, key: str) -> str:
    """Return the URL a publisher on this machine uses."""
    return f"rtmp://127.0.0.1:{port}/live/{key}"


def manager(hass: HomeAssistant) -> IngestManager:
    """Return the installation's ingest manager."""
    return hass.data[DATA_INGEST]


def is_on(hass: HomeAssistant, entity_id: str) -> bool:
    """Return True when an entity's state is on."""
    state = hass.states.get(entity_id)
    return state is not None and state.state == STATE_ON


async def segments(hass: HomeAssistant) -> list[Segment]:
    """Return the push camera's indexed segments, oldest first."""
    index = hass.data[DATA_NVR].index
    found: list[Segment] = await hass.async_add_executor_job(index.segments, KEY, 0, 1e12)
    return found


async def wait_segments(hass: HomeAssistant, count: int, timeout: float = 60) -> list[Segment]:
    """Wait until at least count segments are indexed."""
    found: list[Segment] = []

    async def enough() -> bool:
        found[:] = await segments(hass)
        return len(found) >= count

    start = time.monotonic()
    while not await enough():
        assert time.monotonic() - start < timeout, f"{len(found)} of {count} segments"
        await asyncio.sleep(0.3)
    return found


async def record(hass: HomeAssistant) -> None:
    """Turn continuous recording on."""
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: SWITCH}, blocking=True)


async def ended(proc: asyncio.subprocess.Process, timeout: float) -> str:
    """Wait for a publisher to exit; return what it printed."""
    async with asyncio.timeout(timeout):
        await proc.wait()
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode(errors="replace")


# -- the config flow ---------------------------------------------------------------------------


async def test_flow_creates_push_camera_and_shows_url(
    hass: HomeAssistant, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Menu → name → the URL with a fresh key, shown before the entry exists; then it listens."""
    caplog.set_level(logging.DEBUG, logger="custom_components.cctv_nvr")
    await hass.config.async_update(internal_url="http://192.168.1.20:8123")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "push" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "push"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "push"
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_NAME: "  ", CONF_RECORD_AUDIO: False}
    )
    assert result["errors"] == {CONF_NAME: "name_required"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_NAME: NAME, CONF_RECORD_AUDIO: False}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "push_url"
    placeholders = result["description_placeholders"]
    key = placeholders["key"]
    assert valid_stream_key(key)
    assert len(key) * 6 >= 128  # url-safe base64: 6 bits a character
    assert placeholders["url"] == f"rtmp://192.168.1.20:{port}/live/{key}"
    assert placeholders["server"] == f"rtmp://192.168.1.20:{port}/live"
    assert not hass.config_entries.async_entries(DOMAIN)  # shown before anything is saved

    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == NAME
    assert result["data"] == {
        CONF_KIND: KIND_PUSH,
        CONF_NAME: NAME,
        CONF_STORAGE_KEY: KEY,
        CONF_STREAM_KEY: key,
    }
    assert result["options"][CONF_RECORD_AUDIO] is False
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.unique_id == f"push:{KEY}"

    # Set up: the server listens on the stored port; nobody publishes yet.
    assert manager(hass).listening
    assert manager(hass).server is not None
    assert manager(hass).server.port == port
    assert hass.states.get(CONNECTED).state == STATE_OFF
    assert hass.states.get(CAMERA).state == "unavailable"
    # The key is nowhere a non-admin could read it, nor in the log.
    for state in hass.states.async_all():
        assert key not in json.dumps(state.as_dict(), default=str)
    assert key not in caplog.text
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert key not in json.dumps(diagnostics, default=str)
    assert diagnostics["entry"]["data"][CONF_STREAM_KEY] == "**REDACTED**"
    assert diagnostics["push"]["connected"] is False


async def test_flow_without_a_known_address(hass: HomeAssistant, port: int) -> None:
    """Without an internal URL or HTTP settings the URL names Home Assistant's mDNS name."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    hass.config.api = None  # set by the http integration, which the first step loaded
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "push"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_NAME: NAME, CONF_RECORD_AUDIO: True}
    )
    url = result["description_placeholders"]["url"]
    assert url.startswith(f"rtmp://homeassistant.local:{port}/live/")


# -- recording what is pushed ------------------------------------------------------------------


async def test_publish_records_and_plays(
    hass: HomeAssistant,
    port: int,
    publishers: Publishers,
    hass_client_no_auth: Any,
    hass_client: Any,
) -> None:
    """ffmpeg publishes: connected, recorded through the index, played back, snapshot, live."""
    entry = await setup_push(hass)
    online = async_capture_events(hass, EVENT_CAMERA_ONLINE)
    await record(hass)
    coordinator = entry.runtime_data
    await publishers.start(rtmp_url(port, entry.data[CONF_STREAM_KEY]))
    await wait_for(lambda: is_on(hass, CONNECTED), timeout=30)
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=60)
    assert online
    found = await wait_segments(hass, 3)
    for segment in found:
        assert (segment.video_codec, segment.audio_codec) == ("h264", "aac")
    status = coordinator.push_status
    assert status is not None
    assert status.connected
    assert status.address == "127.0.0.1"
    assert (status.video_codec, status.audio_codec) == ("h264", "aac")

    # Snapshot from the recording; live HLS from the recording being written.
    client = await hass_client()
    image = await client.get(f"/api/camera_proxy/{CAMERA}")
    assert image.status == 200
    assert (await image.read())[:3] == b"\xff\xd8\xff"
    assert await coordinator.async_live_feed() is not None
    state = hass.states.get(CAMERA)
    assert state.attributes["supported_features"] == 0  # no stream_source: the panel has live
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["push"]["connected"] is True
    assert entry.data[CONF_STREAM_KEY] not in json.dumps(diagnostics, default=str)

    # The existing playback path: media browser → signed HLS → ffprobe plays it.
    root = await async_browse_media(hass, f"media-source://{DOMAIN}")
    camera = next(child for child in root.children if child.title == NAME)
    day = await async_browse_media(
        hass, (await async_browse_media(hass, camera.media_content_id)).children[0].media_content_id
    )
    hour = await async_browse_media(hass, day.children[-1].media_content_id)
    playable = [child for child in hour.children if child.can_play]
    resolved = await async_resolve_media(hass, playable[0].media_content_id, None)
    assert resolved.url.startswith(f"/api/{DOMAIN}/playlist/{KEY}/")
    signed = async_sign_path(hass, resolved.url, timedelta(minutes=5))
    anonymous = await hass_client_no_auth()
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-show_streams", "-of", "json",
        str(anonymous.make_url(signed)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    codecs = {stream["codec_name"] for stream in json.loads(out)["streams"]}
    assert codecs == {"h264", "aac"}

    # Events and export: the same services as for a pulled camera.
    saved = async_capture_events(hass, EVENT_EVENT_SAVED)
    await hass.services.async_call(
        DOMAIN,
        "start_recording",
        {ATTR_ENTITY_ID: CAMERA, "label": "ring", "pre_roll": 2},
        blocking=True,
    )
    await hass.services.async_call(
        DOMAIN, "stop_recording", {ATTR_ENTITY_ID: CAMERA, "label": "ring"}, blocking=True
    )
    await wait_for(lambda: bool(saved), timeout=30)
    found = await segments(hass)
    response = await hass.services.async_call(
        DOMAIN,
        "export",
        {
            ATTR_ENTITY_ID: CAMERA,
            "start": dt_util.utc_from_timestamp(found[0].start + 0.5),
            "end": dt_util.utc_from_timestamp(found[-1].end - 0.5),
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert Path(str(response["path"])).stat().st_size == response["bytes"] > 0


async def test_wrong_key_refused(
    hass: HomeAssistant, port: int, publishers: Publishers, caplog: pytest.LogCaptureFixture
) -> None:
    """A publisher with a wrong key is refused and logged with its address; nothing recorded."""
    entry = await setup_push(hass)
    await record(hass)
    wrong = new_stream_key()
    proc = await publishers.start(rtmp_url(port, wrong))
    await ended(proc, timeout=30)
    assert proc.returncode != 0
    await wait_for(lambda: "Push ingest: refused 127.0.0.1" in caplog.text, timeout=10)
    assert "unknown stream key" in caplog.text
    assert wrong not in caplog.text
    assert entry.data[CONF_STREAM_KEY] not in caplog.text
    assert hass.states.get(CONNECTED).state == STATE_OFF
    assert hass.states.get(CAMERA).state == "unavailable"
    assert await segments(hass) == []
    # No recording, nothing to pull a picture from: no snapshot.
    with pytest.raises(HomeAssistantError):
        await async_get_image(hass, CAMERA)


async def test_regenerate_key_mid_stream(
    hass: HomeAssistant, port: int, publishers: Publishers, caplog: pytest.LogCaptureFixture
) -> None:
    """A new key from the reconfigure flow disconnects the publisher at once; the new one works."""
    entry = await setup_push(hass)
    await record(hass)
    old = entry.data[CONF_STREAM_KEY]
    audit = async_capture_events(hass, EVENT_AUDIT)
    first = await publishers.start(rtmp_url(port, old))
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=60)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure_push"
    assert result["description_placeholders"]["key"] == old  # shown again (admin-only flow)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGENERATE_KEY: True}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "key_regenerated"
    new = entry.data[CONF_STREAM_KEY]
    assert new != old
    assert valid_stream_key(new)
    assert result["description_placeholders"]["url"].endswith(f":{port}/live/{new}")
    assert any("stream key renewed" in str(event.data) for event in audit)  # in the audit trail
    assert not any(new in str(event.data) or old in str(event.data) for event in audit)
    # Disconnected at once: the sensor goes off right away, the old publisher gives up.
    await wait_for(lambda: not is_on(hass, CONNECTED), timeout=5)
    await ended(first, timeout=30)
    assert old not in caplog.text
    assert new not in caplog.text

    stale = await publishers.start(rtmp_url(port, old))
    await ended(stale, timeout=30)
    assert stale.returncode != 0
    before = len(await segments(hass))
    await publishers.start(rtmp_url(port, new))
    await wait_for(lambda: is_on(hass, CONNECTED), timeout=30)
    await wait_segments(hass, before + 2)

    # Without the box ticked, the key stays.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_REGENERATE_KEY: False}
    )
    assert result["reason"] == "key_kept"
    assert entry.data[CONF_STREAM_KEY] == new
    assert is_on(hass, CONNECTED)


async def test_publisher_killed_and_back(
    hass: HomeAssistant, port: int, publishers: Publishers
) -> None:
    """A killed publisher is a gap (camera offline); a reconnect records again within 5 s."""
    entry = await setup_push(hass)
    offline = async_capture_events(hass, EVENT_CAMERA_OFFLINE)
    online = async_capture_events(hass, EVENT_CAMERA_ONLINE)
    await record(hass)
    url = rtmp_url(port, entry.data[CONF_STREAM_KEY])
    first = await publishers.start(url)
    await wait_segments(hass, 2)
    first.kill()
    await first.wait()
    killed = time.time()
    await wait_for(lambda: not is_on(hass, CONNECTED), timeout=15)
    await wait_for(lambda: hass.states.get(CAMERA).state == "unavailable", timeout=15)
    await wait_for(lambda: bool(offline), timeout=15)
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.recorder.status.state != RecorderState.RECORDING, 30)
    # The last segment of the first run is finished and indexed.
    await asyncio.sleep(1)
    before = await segments(hass)

    await publishers.start(url)
    await wait_for(lambda: is_on(hass, CONNECTED), timeout=30, interval=0.05)
    # Recording again within 5 s of the reconnect (about 1.5 s measured on a loaded machine).
    resumed = await wait_for(
        lambda: coordinator.recorder.status.state == RecorderState.RECORDING,
        timeout=30,
        interval=0.05,
    )
    assert resumed < 5.0, resumed
    status = coordinator.push_status
    assert status is not None
    assert status.since is not None
    reconnected = status.since
    after = [s for s in await wait_segments(hass, len(before) + 1) if s.start > killed]
    assert after
    first_new = min(after, key=lambda s: s.start)
    assert first_new.run_id != before[-1].run_id
    assert first_new.start - before[-1].end >= 1.0  # a gap, not glued footage
    assert first_new.start - reconnected < 5.0, first_new.start - reconnected  # footage resumes
    await wait_for(lambda: len(online) >= 2, timeout=15)


# -- the port ----------------------------------------------------------------------------------


async def test_port_taken_repair_flow(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    blocker: socket.socket,
    hass_client: Any,
) -> None:
    """A taken port raises a fixable issue; the repair flow moves to a free port."""
    taken = int(blocker.getsockname()[1])
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {"port": taken},
    }
    assert await async_setup_component(hass, "repairs", {})
    entry = await setup_push(hass)
    registry = ir.async_get(hass)
    issue = registry.async_get_issue(DOMAIN, ISSUE_PORT)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "ingest_port_in_use"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["port"] == str(taken)
    assert not manager(hass).listening

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": ISSUE_PORT}
    )
    assert response.status == 200
    flow = await response.json()
    assert flow["step_id"] == "port"
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={CONF_INGEST_PORT: taken}
    )
    flow = await response.json()
    assert flow["errors"] == {CONF_INGEST_PORT: "port_in_use"}
    new_port = free_port("")
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={CONF_INGEST_PORT: new_port}
    )
    flow = await response.json()
    assert flow["type"] == "create_entry"
    assert registry.async_get_issue(DOMAIN, ISSUE_PORT) is None
    assert manager(hass).listening
    assert manager(hass).server is not None
    assert manager(hass).server.port == new_port
    assert hass_storage[STORE_KEY]["data"] == {"port": new_port}
    # A publisher reaches the camera on the new port (the login is accepted).
    reader, writer = await asyncio.open_connection("127.0.0.1", new_port)
    writer.close()
    await writer.wait_closed()
    del reader

    # Another push camera's options move it again (installation-wide), without a reload.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = result["data_schema"].schema
    assert CONF_INGEST_PORT in schema
    assert CONF_LIVE_STREAM not in schema
    options = {
        CONF_SEGMENT_SECONDS: 2,
        CONF_RECORD_AUDIO: True,
        "retention_days": 14,
        "max_size_gb": 0,
        "min_free_gb": 0,
        "offline_repair_minutes": 30,
        "event_retention_days": 30,
        "notify_link_hours": 24,
        "default_rights": ["live"],
        "live_panel_only": False,
        "audit_days": 365,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, CONF_INGEST_PORT: taken}
    )
    assert result["errors"] == {CONF_INGEST_PORT: "port_in_use"}
    assert manager(hass).server.port == new_port  # the old port is kept
    third = free_port("")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, CONF_INGEST_PORT: third}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_INGEST_PORT not in entry.options
    await hass.async_block_till_done()
    assert manager(hass).server is not None
    assert manager(hass).server.port == third
    assert hass_storage[STORE_KEY]["data"] == {"port": third}


async def test_port_freed_later_is_retried(
    hass: HomeAssistant, hass_storage: dict[str, Any], blocker: socket.socket
) -> None:
    """The taken port is tried again every minute; the issue clears once it listens."""
    taken = int(blocker.getsockname()[1])
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {"port": taken},
    }
    await setup_push(hass)
    registry = ir.async_get(hass)
    assert registry.async_get_issue(DOMAIN, ISSUE_PORT) is not None
    blocker.close()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=RETRY_SECONDS + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    await wait_for(lambda: manager(hass).listening, timeout=10)
    assert registry.async_get_issue(DOMAIN, ISSUE_PORT) is None


async def test_unload_stops_server(hass: HomeAssistant, port: int) -> None:
    """The server runs while any push camera is loaded; the last one's unload stops it."""
    first = await setup_push(hass)
    second = push_entry()
    second.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        second,
        unique_id="push:porch",
        title="Porch",
        data={**second.data, CONF_NAME: "Porch", CONF_STORAGE_KEY: "porch"},
    )
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    assert manager(hass).listening
    assert await hass.config_entries.async_unload(first.entry_id)
    assert manager(hass).listening
    assert await hass.config_entries.async_unload(second.entry_id)
    assert manager(hass).server is None
    with socket.socket() as sock:  # the port is free again
        sock.bind(("", port))


async def test_home_assistant_stop_closes_server(
    hass: HomeAssistant, port: int, publishers: Publishers
) -> None:
    """Stopping Home Assistant closes the listener and its publishers; a late unload is fine."""
    entry = await setup_push(hass)
    proc = await publishers.start(rtmp_url(port, entry.data[CONF_STREAM_KEY]))
    await wait_for(lambda: is_on(hass, CONNECTED), timeout=30)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert manager(hass).server is None
    await ended(proc, timeout=30)
    with socket.socket() as sock:
        sock.bind(("", port))
    assert await hass.config_entries.async_unload(entry.entry_id)
    # Nothing left to fix: a repair flow opened now ends at once.
    flow = await async_create_fix_flow(hass, ISSUE_PORT, None)
    flow.hass = hass
    result = await flow.async_step_init()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_push_cameras"


async def test_key_hidden_from_non_admins(
    hass: HomeAssistant, port: int, hass_ws_client: Any, hass_client: Any
) -> None:
    """A non-admin user reads the camera (entries, the panel's list) but never its key or flows."""
    entry = await setup_push(hass)
    key = entry.data[CONF_STREAM_KEY]
    group = await hass.auth.async_get_group(GROUP_ID_USER)
    assert group is not None
    user = MockUser(name="Alice", groups=[group]).add_to_hass(hass)
    refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    token = hass.auth.async_create_access_token(refresh)
    ws = await hass_ws_client(hass, token)
    seen = []
    for number, command in enumerate(
        ({"type": "config_entries/get", "domain": DOMAIN}, {"type": f"{DOMAIN}/cameras"}), 1
    ):
        await ws.send_json({"id": number, **command})
        response = await ws.receive_json()
        assert response["success"], response
        seen.append(json.dumps(response))
    assert NAME in seen[0]
    assert KEY in seen[1]
    assert all(key not in text for text in seen)
    client = await hass_client(token)
    for path, body in (
        ("/api/config/config_entries/flow", {"handler": DOMAIN}),
        ("/api/config/config_entries/options/flow", {"handler": entry.entry_id}),
    ):
        assert (await client.post(path, json=body)).status == 401
