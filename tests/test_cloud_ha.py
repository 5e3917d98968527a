"""The cloud tier in Home Assistant, against a real GCS emulator (fake-gcs-server).

No mock: the config flow probes a real (emulated) bucket, the tier uploads real segment
files, retention runs through Home Assistant's timers, and footage only in the bucket is
played through the integration's views and decoded with PyAV. The one stand-in is
Google's OAuth token endpoint (``tests.gcs_emulator.TokenServer``), which this machine
cannot reach; keys made here name it as their ``token_uri``, and it refuses revoked keys.
The emulator is found through STORAGE_EMULATOR_HOST, as a user testing it would set it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
import io
import json
from pathlib import Path
import time
from typing import Any

import av
from homeassistant import config_entries
from homeassistant.components.media_source import async_browse_media
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.cctv_nvr import _async_rebuild, async_rebuild_from_bucket
from custom_components.cctv_nvr.cloud import (
    ISSUE_CLOUD_UNAVAILABLE,
    CloudRuntime,
    async_footage_file,
    cloud_config,
)
from custom_components.cctv_nvr.cloud_flow import DEFAULT_CLOUD_OPTIONS
from custom_components.cctv_nvr.const import (
    CONF_BANDWIDTH_MBPS,
    CONF_BUCKET,
    CONF_DELAY_MINUTES,
    CONF_KEEP_CLOUD_DAYS,
    CONF_KEEP_LOCAL_DAYS,
    CONF_KEY,
    CONF_KIND,
    CONF_LIFECYCLE_COLDER_CLASS,
    CONF_LIFECYCLE_COLDER_DAYS,
    CONF_LIFECYCLE_DELETE_DAYS,
    CONF_MIN_FREE_GB,
    CONF_PREFIX,
    CONF_STORAGE_CLASS,
    CONF_UPLOAD,
    DOMAIN,
    ENTRY_KIND_CLOUD,
    GB,
)
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.diagnostics import async_get_config_entry_diagnostics
from custom_components.cctv_nvr.engine.cloud import CloudState, CloudTier, StorageClass
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.urls import playlist_path, thumbnail_path
from tests.engine.helpers import fill_disk, wait_for
from tests.engine.segments_factory import SegmentFactory
from tests.gcs_emulator import FakeGcs, TokenServer, make_key, running_gcs
from tests.helpers import camera_entry, run_retention, setup_camera
from tests.simulator import CameraSimulator

BUCKET = "footage"
CAMERA = "front_door"
EMAIL = "nvr@test.iam.gserviceaccount.com"
DAY = 86400.0
MIB = 2**20


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGcs]:
    """The emulator, found through STORAGE_EMULATOR_HOST (nothing else points at it)."""
    with running_gcs(tmp_path / "gcs", BUCKET) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        yield server


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture
def key(token_server: TokenServer) -> dict[str, str]:
    return make_key(EMAIL, token_server.url)


def cloud_entry(key: dict[str, str], bucket: str = BUCKET, **options: Any) -> MockConfigEntry:
    """The cloud entry as the config flow creates it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Cloud storage ({bucket})",
        unique_id="cloud",
        data={CONF_KIND: ENTRY_KIND_CLOUD, CONF_BUCKET: bucket, CONF_KEY: key, CONF_PREFIX: "nvr/"},
        options={**DEFAULT_CLOUD_OPTIONS, **options},
        version=1,
        minor_version=2,
    )


async def add_cloud(hass: HomeAssistant, entry: MockConfigEntry) -> CloudRuntime:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtime: CloudRuntime = entry.runtime_data
    return runtime


def history(
    hass: HomeAssistant, factory: SegmentFactory, start: float, count: int
) -> list[Segment]:
    """Index ``count`` real 2 s segment files of the camera from ``start`` (executor)."""
    nvr = hass.data[DATA_NVR]
    made = factory.make_history(nvr.root, nvr.index, CAMERA, start, count, 2.0)
    stored = nvr.index.segments_by_paths(s.path for s in made)
    return [stored[s.path] for s in made]


def rows(hass: HomeAssistant, segments: list[Segment]) -> list[Segment]:
    index = hass.data[DATA_NVR].index
    return [index.segment_by_id(s.row_id) for s in segments]


def drained(runtime: CloudRuntime, verified: int) -> bool:
    status = runtime.tier.status
    return status.queue_items == 0 and status.verified >= verified


def state(hass: HomeAssistant, entity_id: str) -> str:
    found = hass.states.get(entity_id)
    assert found is not None, entity_id
    return found.state


def issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{ISSUE_CLOUD_UNAVAILABLE}_{entry.entry_id}")


async def _menu_to_cloud(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert "cloud" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "cloud"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "cloud"
    return str(result["flow_id"])


async def test_flow_bad_key_missing_bucket_and_happy_path(
    hass: HomeAssistant, gcs: FakeGcs, token_server: TokenServer, key: dict[str, str]
) -> None:
    """Every error is translated and nothing is saved until the probe worked."""
    flow_id = await _menu_to_cloud(hass)
    form = {CONF_BUCKET: BUCKET, CONF_PREFIX: "/nvr", CONF_KEY: "{not json"}
    token_server.revoke("gone@test.iam.gserviceaccount.com")
    for text, error in (
        ("{not json", "invalid_key"),
        ('["a list"]', "invalid_key"),
        (json.dumps({**key, "type": "authorized_user"}), "invalid_key"),
        (
            json.dumps(make_key("gone@test.iam.gserviceaccount.com", token_server.url)),
            "auth_failed",
        ),
    ):
        result = await hass.config_entries.flow.async_configure(flow_id, {**form, CONF_KEY: text})
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": error}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, CONF_BUCKET: "no-such-bucket", CONF_KEY: json.dumps(key)}
    )
    assert result["errors"] == {"base": "bucket_missing"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, CONF_BUCKET: "  ", CONF_KEY: json.dumps(key)}
    )
    assert result["errors"] == {"base": "bucket_missing"}
    gcs.stop()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, CONF_KEY: json.dumps(key)}
    )
    assert result["errors"] == {"base": "cloud_cannot_connect"}
    gcs.start()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, CONF_KEY: json.dumps(key)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_KIND: ENTRY_KIND_CLOUD,
        CONF_BUCKET: BUCKET,
        CONF_KEY: key,
        CONF_PREFIX: "nvr/",
    }
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == "cloud"
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    again = await hass.config_entries.flow.async_configure(
        again["flow_id"], {"next_step_id": "cloud"}
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "cloud_already_configured"
    # The device and its sensors; no camera panel or grants for it.
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None and device.name == "Cloud storage"
    await wait_for(lambda: state(hass, "sensor.cloud_storage_cloud_status") == "idle", 20)
    assert state(hass, "sensor.cloud_storage_upload_queue") == "0"
    assert entry.supported_subentry_types == {}  # access grants are a camera's


async def test_options_reconfigure_and_reauth(
    hass: HomeAssistant,
    gcs: FakeGcs,
    token_server: TokenServer,
    key: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Options reach the tier; another bucket is probed first; a revoked key asks for a new one."""
    entry = cloud_entry(key)
    await add_cloud(hass, entry)
    # Options: every setting, then the tier runs with them (the entry reloads).
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "cloud_options"
    options = {
        CONF_UPLOAD: "events",
        CONF_DELAY_MINUTES: 5,
        CONF_BANDWIDTH_MBPS: 8,
        CONF_STORAGE_CLASS: "NEARLINE",
        CONF_KEEP_LOCAL_DAYS: 3,
        CONF_KEEP_CLOUD_DAYS: 10,
        CONF_LIFECYCLE_DELETE_DAYS: 400,
        CONF_LIFECYCLE_COLDER_DAYS: 5,
        CONF_LIFECYCLE_COLDER_CLASS: "NEARLINE",  # objects are written as Nearline already
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_LIFECYCLE_COLDER_CLASS: "colder_not_colder"}
    options[CONF_LIFECYCLE_COLDER_CLASS] = "COLDLINE"
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    config = entry.runtime_data.tier.config
    assert (config.upload, config.delay_seconds, config.bandwidth_bytes_per_second) == (
        "events",
        300.0,
        1_000_000.0,
    )
    assert (config.storage_class, config.keep_local_days, config.keep_cloud_days) == (
        StorageClass.NEARLINE,
        3.0,
        10.0,
    )
    assert config.emulator_host == gcs.url  # STORAGE_EMULATOR_HOST honoured
    # fake-gcs-server accepts a lifecycle without keeping it: the rule was sent (the
    # warnings come after it), and the minimum storage duration is warned about.
    assert "NEARLINE objects are billed for at least 30 days" in caplog.text
    # Moved to Coldline after 5 days, deleted after 10: billed as if kept 5 + 90 days.
    assert "billed as if kept 95 days (COLDLINE: 90 days minimum)" in caplog.text

    # Reconfigure: another bucket (missing first), probed with the current key.
    gcs.create_bucket("other")
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": config_entries.SOURCE_RECONFIGURE, "entry_id": entry.entry_id},
    )
    assert result["step_id"] == "cloud_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BUCKET: "missing", CONF_PREFIX: ""}
    )
    assert result["errors"] == {"base": "bucket_missing"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BUCKET: "other", CONF_PREFIX: "cams"}
    )
    assert result["reason"] == "cloud_reconfigured"
    await hass.async_block_till_done()
    assert (entry.data[CONF_BUCKET], entry.data[CONF_PREFIX]) == ("other", "cams/")
    assert entry.runtime_data.tier.config.bucket == "other"

    # The key is revoked: the tier says so and Home Assistant asks for a new key.
    token_server.revoke(EMAIL)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.tier.status.state == CloudState.AUTH_FAILED
    flows = [
        f for f in hass.config_entries.flow.async_progress() if f["context"]["source"] == "reauth"
    ]
    assert len(flows) == 1
    assert flows[0]["step_id"] == "cloud_reauth"
    assert state(hass, "sensor.cloud_storage_cloud_status") == "auth_failed"
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_KEY: json.dumps(key)}
    )
    assert result["errors"] == {"base": "auth_failed"}
    new_key = make_key("new@test.iam.gserviceaccount.com", token_server.url)
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_KEY: json.dumps(new_key)}
    )
    assert result["reason"] == "cloud_key_updated"
    await hass.async_block_till_done()
    assert entry.data[CONF_KEY] == new_key
    await wait_for(lambda: entry.runtime_data.tier.status.state == CloudState.IDLE, 20)


async def test_upload_offload_play_from_the_bucket_and_diagnostics(
    hass: HomeAssistant,
    gcs: FakeGcs,
    key: dict[str, str],
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_ws_client: Any,
) -> None:
    """Uploaded and verified footage leaves the disk through HA's retention and still plays."""
    await setup_camera(hass, camera_entry(simulator))
    start = time.time() - 3 * DAY
    segments = await hass.async_add_executor_job(history, hass, segment_factory, start, 3)
    newer = await hass.async_add_executor_job(history, hass, segment_factory, time.time() - 600, 1)
    entry = cloud_entry(key, **{CONF_KEEP_LOCAL_DAYS: 1})
    runtime = await add_cloud(hass, entry)
    await wait_for(lambda: drained(runtime, 4), 60)
    assert [row.location for row in await hass.async_add_executor_job(rows, hass, segments)] == [
        "both"
    ] * 3
    await hass.async_block_till_done()
    await wait_for(lambda: state(hass, "sensor.cloud_storage_upload_queue") == "0", 20)
    assert state(hass, "sensor.cloud_storage_last_verified_upload") not in ("unknown", "")
    assert float(state(hass, "sensor.cloud_storage_footage_in_the_cloud")) > 0

    # Retention (HA's timer): local copies older than a day go; the newest stays.
    nvr = hass.data[DATA_NVR]
    await run_retention(hass)
    stored = await hass.async_add_executor_job(rows, hass, [*segments, *newer])
    assert [row.location for row in stored] == ["cloud", "cloud", "cloud", "both"]
    assert not any((nvr.root / s.path).exists() for s in segments)
    assert (nvr.root / newer[0].path).exists()

    # Footage recorded right after, only on this disk: the timeline tells them apart.
    local = await hass.async_add_executor_job(history, hass, segment_factory, segments[-1].end, 1)
    await _check_timeline(hass, hass_ws_client, segments)
    await _check_playback(hass, runtime, segments, hass_client, hass_client_no_auth)
    await _check_diagnostics(hass, entry, key)
    await _check_export(hass, runtime, [*segments, *local])

    # The bucket unreachable and the cache gone: a piece answers 404, a thumbnail comes
    # from the next segment whose thumbnail was made.
    gcs.stop()
    cache = nvr.thumbnails / "cloud"
    await hass.async_add_executor_job(lambda: [p.unlink() for p in cache.iterdir()])
    client = await hass_client()
    first = await hass.async_add_executor_job(
        lambda: nvr.index.segments(CAMERA, segments[0].start, segments[0].end)[0]
    )
    assert (await client.get(f"/api/{DOMAIN}/init/{first.row_id}.mp4")).status == 404
    thumb = await client.get(thumbnail_path(CAMERA, int(segments[0].start) + 1))
    assert thumb.status == 200
    with pytest.raises(HomeAssistantError):  # nothing of it could be fetched
        await hass.services.async_call(
            DOMAIN,
            "export",
            {
                "entity_id": f"camera.{CAMERA}",
                "start": _iso(segments[0].start),
                "end": _iso(segments[-1].end - 0.5),  # not touching the local segment after
            },
            blocking=True,
            return_response=True,
        )


async def _check_timeline(
    hass: HomeAssistant, hass_ws_client: Any, segments: list[Segment]
) -> None:
    """The timeline says where each span is."""
    start = segments[0].start
    ws = await hass_ws_client(hass)
    await ws.send_json(
        {
            "id": 1,
            "type": f"{DOMAIN}/timeline",
            "camera": CAMERA,
            "start": start - 10,
            "end": start + 60,
        }
    )
    answer = await ws.receive_json()
    assert answer["success"], answer
    assert len(answer["result"]["cloud"]) == 1
    lo, hi = answer["result"]["cloud"][0]
    assert lo == pytest.approx(segments[0].start) and hi == pytest.approx(segments[-1].end)
    assert answer["result"]["both"] == []
    # The cloud entry is no camera: lists, the media browser and services see cameras only.
    await ws.send_json({"id": 2, "type": f"{DOMAIN}/cameras"})
    answer = await ws.receive_json()
    assert [camera["id"] for camera in answer["result"]["cameras"]] == [CAMERA]
    root = await async_browse_media(hass, f"media-source://{DOMAIN}")
    assert [child.title for child in root.children] == ["Front door", "Exports"]


async def _check_playback(
    hass: HomeAssistant,
    runtime: CloudRuntime,
    segments: list[Segment],
    hass_client: Any,
    hass_client_no_auth: Any,
) -> None:
    """Playback across the two segment boundaries: the playlist's pieces come from the bucket."""
    runtime.cache_files = 2  # a small cache, to see it pruned
    client = await hass_client()
    playlist = await client.get(
        playlist_path(CAMERA, int(segments[0].start), int(segments[-1].end))
    )
    assert playlist.status == 200
    lines = (await playlist.text()).splitlines()
    uris = [line for line in lines if line.startswith("/api/")]
    maps = [line.split('URI="')[1].rstrip('"') for line in lines if line.startswith("#EXT-X-MAP")]
    assert len(uris) == 3
    # Two viewers asking for the same segment at once share one download.
    init, first = await asyncio.gather(client.get(maps[0]), client.get(uris[0]))
    assert (init.status, first.status) == (200, 200)
    body = await init.read() + await first.read()
    for uri in uris[1:]:
        answer = await client.get(uri)
        assert answer.status == 200
        body += await answer.read()
    times = await hass.async_add_executor_job(_decode, body)
    assert times[-1] == pytest.approx(segments[-1].end - segments[0].start, abs=0.3)
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert max(steps) < 0.2, "a jump at a segment boundary"
    cache = hass.data[DATA_NVR].thumbnails / "cloud"
    assert len(await hass.async_add_executor_job(lambda: list(cache.iterdir()))) == 2
    # A thumbnail of footage only in the bucket.
    thumb = await client.get(thumbnail_path(CAMERA, int(segments[1].start) + 1))
    assert thumb.status == 200
    assert (await thumb.read())[:3] == b"\xff\xd8\xff"
    # Without the playlist's token or a session: refused, as for local fragments.
    anonymous = await hass_client_no_auth()
    assert (await anonymous.get(uris[0].split("?")[0])).status == 401
    assert (await anonymous.get(uris[0])).status == 200


async def _check_diagnostics(
    hass: HomeAssistant, entry: MockConfigEntry, key: dict[str, str]
) -> None:
    """Diagnostics: settings and status, never the key."""
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics)
    assert diagnostics["entry"]["data"][CONF_KEY] == "**REDACTED**"
    assert diagnostics["status"]["verified"] >= 4
    for secret in (key["private_key"].splitlines()[1], key["private_key_id"], EMAIL):
        assert secret not in text


async def _check_export(
    hass: HomeAssistant, runtime: CloudRuntime, segments: list[Segment]
) -> None:
    """An export of footage only in the bucket: fetched, stitched, then uploaded itself."""
    answer = await hass.services.async_call(
        DOMAIN,
        "export",
        {
            "entity_id": f"camera.{CAMERA}",
            "start": _iso(segments[0].start),
            "end": _iso(segments[-1].end),
        },
        blocking=True,
        return_response=True,
    )
    assert answer is not None
    assert float(answer["duration"]) == pytest.approx(segments[-1].end - segments[0].start, abs=0.3)
    body = await hass.async_add_executor_job(Path(str(answer["path"])).read_bytes)
    times = await hass.async_add_executor_job(_decode, body)
    assert times[-1] >= segments[-1].end - segments[0].start - 0.5
    exports = hass.data[DATA_NVR].exports
    assert not await hass.async_add_executor_job(lambda: list(exports.glob("**/.cloud-*")))
    await wait_for(lambda: drained(runtime, 5), 60)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _decode(body: bytes) -> list[float]:
    """Decode every video frame; return their presentation times (seconds)."""
    times: list[float] = []
    with av.open(io.BytesIO(body)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            assert frame.pts is not None
            times.append(float(frame.pts * stream.time_base))
    return times


async def test_cloud_down_repair_sensors_and_recovery(
    hass: HomeAssistant,
    gcs: FakeGcs,
    key: dict[str, str],
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    monkeypatch: pytest.MonkeyPatch,
    hass_client: Any,
) -> None:
    """The bucket unreachable: nothing unverified leaves the disk, the queue grows, a repair
    issue and the sensors say so; when it is back, uploads resume and the issue goes."""
    monkeypatch.setattr("custom_components.cctv_nvr.cloud.CLOUD_REPAIR_SECONDS", 2)
    await setup_camera(hass, camera_entry(simulator))
    segments = await hass.async_add_executor_job(
        history, hass, segment_factory, time.time() - 3 * DAY, 3
    )
    gcs.stop()
    entry = cloud_entry(key, **{CONF_KEEP_LOCAL_DAYS: 1})
    runtime = await add_cloud(hass, entry)
    await wait_for(lambda: issue(hass, entry) is not None, 30)
    found = issue(hass, entry)
    assert found is not None and found.translation_key == ISSUE_CLOUD_UNAVAILABLE
    assert state(hass, "sensor.cloud_storage_cloud_status") == "offline"
    assert state(hass, "sensor.cloud_storage_upload_queue") == "3"
    assert float(state(hass, "sensor.cloud_storage_bytes_waiting_to_upload")) > 0
    nvr = hass.data[DATA_NVR]
    await run_retention(hass)
    assert all((nvr.root / s.path).exists() for s in segments)
    assert {row.location for row in await hass.async_add_executor_job(rows, hass, segments)} == {
        "local"
    }

    await _check_local_footage_with_the_tier_on(hass, segments, hass_client)

    gcs.start()
    await wait_for(lambda: drained(runtime, 3), 120)
    await wait_for(lambda: issue(hass, entry) is None, 30)
    await wait_for(lambda: state(hass, "sensor.cloud_storage_cloud_status") == "idle", 30)
    await run_retention(hass)
    assert not any((nvr.root / s.path).exists() for s in segments)
    assert float(state(hass, "sensor.cloud_storage_footage_in_the_cloud")) > 0


async def _check_local_footage_with_the_tier_on(
    hass: HomeAssistant, segments: list[Segment], hass_client: Any
) -> None:
    """Local footage plays, has thumbnails and exports as without the cloud tier."""
    client = await hass_client()
    playlist = await client.get(
        playlist_path(CAMERA, int(segments[0].start), int(segments[-1].end))
    )
    uris = [line for line in (await playlist.text()).splitlines() if line.startswith("/api/")]
    assert (await client.get(uris[0])).status == 200
    thumb = await client.get(thumbnail_path(CAMERA, int(segments[0].start) + 1))
    assert thumb.status == 200
    answer = await hass.services.async_call(
        DOMAIN,
        "export",
        {
            "entity_id": f"camera.{CAMERA}",
            "start": _iso(segments[0].start),
            "end": _iso(segments[-1].end),
        },
        blocking=True,
        return_response=True,
    )
    assert answer is not None
    assert float(answer["duration"]) > 5


async def test_recorded_segments_queue_and_a_reload_with_a_full_queue_resumes(
    hass: HomeAssistant,
    gcs: FakeGcs,
    key: dict[str, str],
    own_simulator: CameraSimulator,
) -> None:
    """Segments the recorder indexes are queued; the queue outlives a reload (a restart)
    while the bucket is missing, and drains once it exists."""
    entry = cloud_entry(key, bucket="later")
    runtime = await add_cloud(hass, entry)
    assert runtime.tier.status.state == CloudState.BUCKET_MISSING
    await wait_for(lambda: issue(hass, entry) is not None, 30)  # at once for a missing bucket
    await setup_camera(hass, camera_entry(own_simulator, segment_seconds=2))
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": f"switch.{CAMERA}_continuous_recording"}, blocking=True
    )
    await wait_for(lambda: runtime.tier.status.queue_items >= 3, 60)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": f"switch.{CAMERA}_continuous_recording"}, blocking=True
    )
    await hass.async_block_till_done()
    await asyncio.sleep(1)
    nvr = hass.data[DATA_NVR]
    recorded = await hass.async_add_executor_job(nvr.index.segments, CAMERA, 0, time.time() + 60)
    waiting = runtime.tier.status.queue_items

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    runtime = entry.runtime_data
    assert runtime.tier.status.queue_items == waiting
    assert runtime.tier.status.state == CloudState.BUCKET_MISSING
    gcs.create_bucket("later")
    await wait_for(lambda: drained(runtime, waiting), 120)
    await wait_for(lambda: issue(hass, entry) is None, 30)
    stored = await hass.async_add_executor_job(rows, hass, recorded)
    assert all(row.location == "both" for row in stored)
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert nvr.cloud is None


async def test_index_rebuilt_finds_cloud_footage_again(
    hass: HomeAssistant,
    gcs: FakeGcs,
    key: dict[str, str],
    segment_factory: SegmentFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fresh index (lost, rebuilt from the disk) gets the bucket's footage back."""
    # Footage uploaded by an earlier installation whose index and files are gone.
    old_root = tmp_path / "old"
    old_index = SegmentIndex(tmp_path / "old.db")
    try:
        made = await hass.async_add_executor_job(
            segment_factory.make_history, old_root, old_index, CAMERA, time.time() - DAY, 2, 2.0
        )
        tier = CloudTier(cloud_config(cloud_entry(key).data, {}), old_index, old_root)
        await tier.start()
        await wait_for(lambda: tier.status.queue_items == 0 and tier.status.verified >= 2, 60)
        await tier.stop()
    finally:
        await hass.async_add_executor_job(old_index.close)

    entry = cloud_entry(key)
    await add_cloud(hass, entry)  # the index here is fresh: the bucket is listed
    nvr = hass.data[DATA_NVR]

    def found() -> list[Segment]:
        return nvr.index.segments(CAMERA, 0, time.time())

    await wait_for(lambda: len(found()) == 2, 60)
    assert [s.path for s in found()] == [s.path for s in made]
    assert {s.location for s in found()} == {"cloud"}
    # Rebuilt again (the disk too) with the tier running: nothing new.
    await hass.async_add_executor_job(lambda: nvr.root.mkdir(parents=True, exist_ok=True))
    await _async_rebuild(hass, nvr.index, nvr.root)
    assert len(found()) == 2
    # The bucket unreachable: nothing listed, nothing lost, said in the log.
    gcs.stop()
    await async_rebuild_from_bucket(hass)
    assert "Cloud footage not listed again" in caplog.text
    assert len(found()) == 2
    # Home Assistant stops: so do the uploads; unloaded, nothing is listed.
    runtime: CloudRuntime = entry.runtime_data
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert runtime.tier.status.state == CloudState.STOPPED
    assert await hass.config_entries.async_unload(entry.entry_id)
    await async_rebuild_from_bucket(hass)
    with pytest.raises(FileNotFoundError):  # only in the bucket, and the tier is off
        await async_footage_file(hass, found()[0], Path("unused"))


async def test_disk_floor_with_the_cloud_down_deletes_uploaded_copies_first(
    hass: HomeAssistant,
    gcs: FakeGcs,
    key: dict[str, str],
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    small_recordings_fs: Path,
) -> None:
    """At the free-space floor with the bucket unreachable: local copies of verified footage
    go first, footage not in the cloud stays; when only that is left, its oldest goes."""
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_MIN_FREE_GB: 3 * MIB / GB}
    )
    await setup_camera(hass, entry)
    start = time.time() - 3600
    uploaded = await hass.async_add_executor_job(history, hass, segment_factory, start, 4)
    runtime = await add_cloud(hass, cloud_entry(key))
    await wait_for(lambda: drained(runtime, 4), 60)
    gcs.stop()
    after = uploaded[-1].end + 60
    waiting = await hass.async_add_executor_job(history, hass, segment_factory, after, 4)
    nvr = hass.data[DATA_NVR]
    size = sum(s.bytes for s in uploaded)

    # Below the floor by less than the uploaded footage: only uploaded copies go.
    await hass.async_add_executor_job(
        fill_disk, small_recordings_fs / "filler.bin", 3 * MIB - size // 2
    )
    await run_retention(hass, free_space_only=True)
    stored = await hass.async_add_executor_job(rows, hass, [*uploaded, *waiting])
    assert [row.location for row in stored[:4]].count("cloud") >= 2
    assert all(row.location == "local" for row in stored[4:])
    assert all((nvr.root / s.path).exists() for s in waiting)

    # Only footage not in the cloud is left to delete: its oldest goes (the README says so).
    await hass.async_add_executor_job(
        fill_disk, small_recordings_fs / "filler2.bin", 3 * MIB - size
    )
    await run_retention(hass, free_space_only=True)
    assert not (nvr.root / waiting[0].path).exists()
    remaining = await hass.async_add_executor_job(
        lambda: nvr.index.segments(CAMERA, start - 10, after + 60)
    )
    assert {s.location for s in remaining if s.start < after} == {"cloud"}
