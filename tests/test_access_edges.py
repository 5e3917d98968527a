"""Edges of access administration: the grant subentry flow of Home Assistant's settings, the
panel's access commands refusing bad input and unknown cameras or grants, events deleted over
WebSocket and services, and the options flow's free-space floor.

One simulated camera (Front door) and three people: an administrator, Alice and Bob (non-admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
import time
from typing import Any

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.cctv_nvr.access import AccessDenied
from custom_components.cctv_nvr.audit import describe
from custom_components.cctv_nvr.const import (
    CONF_MAIN_URL,
    CONF_MIN_FREE_GB,
    CONF_STORAGE_KEY,
    CONF_SUB_URL,
    DOMAIN,
    KIND_EVENT,
    MAX_EXPORTS_PER_USER,
    STORAGE_DIR,
    SUBENTRY_ACCESS,
)
from custom_components.cctv_nvr.data import DATA_NVR
from tests.engine.segments_factory import SegmentFactory
from tests.helpers import camera_entry, setup_camera, user_input
from tests.simulator import CameraSimulator
from tests.test_access import Person, _person

SETTINGS = "administrator (Home Assistant settings)"


@dataclass
class Site:
    """The camera and the people."""

    entry: MockConfigEntry
    admin: Person
    alice: Person
    bob: Person


@pytest.fixture
async def site(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_ws_client: Any,
    hass_client: Any,
    hass_admin_user: MockUser,
) -> Site:
    """One camera set up, an administrator and two non-admin users."""
    entry = await setup_camera(hass, camera_entry(simulator))
    users = [await hass.auth.async_get_group(GROUP_ID_USER)]
    people = {"admin": await _person(hass, hass_ws_client, hass_client, hass_admin_user)}
    for name in ("Alice", "Bob"):
        user = MockUser(name=name, groups=users).add_to_hass(hass)
        people[name.lower()] = await _person(hass, hass_ws_client, hass_client, user)
    return Site(entry, **people)


def _grants(entry: MockConfigEntry) -> dict[str, dict[str, Any]]:
    return {
        str(sub.data["user_id"]): {"title": sub.title, **sub.data}
        for sub in entry.subentries.values()
        if sub.subentry_type == SUBENTRY_ACCESS
    }


async def _audit(hass: HomeAssistant, admin: Person) -> list[dict[str, Any]]:
    today = dt_util.now().date().isoformat()  # the audit is kept by local day of action
    records: list[dict[str, Any]] = (await admin.ws.ok("audit", **{"from": today}))["records"]
    return records


async def _start_grant_flow(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result: dict[str, Any] = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ACCESS), context={"source": SOURCE_USER}
    )
    return result


async def test_grant_flow_in_settings(hass: HomeAssistant, site: Site) -> None:
    """Settings grant a user rights: bad input gets form errors; each user once; all audited."""
    entry, alice, bob = site.entry, site.alice.user, site.bob.user
    result = await _start_grant_flow(hass, entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["description_placeholders"] == {"camera": "Front door"}
    flow_id = result["flow_id"]

    # No right chosen, then a window without a day.
    for data, error in (
        ({"user_id": alice.id, "rights": []}, "no_rights"),
        (
            {
                "user_id": alice.id,
                "rights": ["live"],
                "windows": [{"days": [], "start": "09:00", "end": "10:00"}],
            },
            "invalid_window",
        ),
    ):
        result = await hass.config_entries.subentries.async_configure(flow_id, data)
        assert result["type"] is FlowResultType.FORM, data
        assert result["errors"] == {"base": error}, data
    assert _grants(entry) == {}

    # Bob is made an administrator while the form is open: he may not be chosen any more.
    bob_flow = (await _start_grant_flow(hass, entry))["flow_id"]
    await hass.auth.async_update_user(bob, group_ids=["system-admin"])
    assert bob.is_admin
    result = await hass.config_entries.subentries.async_configure(
        bob_flow, {"user_id": bob.id, "rights": ["live"]}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"user_id": "unknown_user"}
    hass.config_entries.subentries.async_abort(bob_flow)

    result = await hass.config_entries.subentries.async_configure(
        flow_id,
        {
            "user_id": alice.id,
            "rights": ["recordings", "live"],
            "windows": [{"days": ["wed"], "start": "09:30", "end": "11:00"}],
            "lookback_hours": 48,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Alice"
    grant = _grants(entry)[alice.id]
    assert grant["title"] == "Alice"
    assert sorted(grant["rights"]) == ["live", "recordings"]
    assert grant["lookback_hours"] == 48
    assert len(grant["windows"]) == 1
    assert grant["windows"][0]["days"] == ["wed"]
    # Alice now sees the camera with just those rights.
    cameras = (await site.alice.ws.ok("cameras"))["cameras"]
    assert {c["id"]: c["rights"] for c in cameras} == {"front_door": ["live", "recordings"]}

    # Alice has a grant and Bob is an administrator: nobody is left to grant.
    result = await _start_grant_flow(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_users"

    changes = [r for r in await _audit(hass, site.admin) if r["action"] == "access_changed"]
    assert [r["user"] for r in changes] == [SETTINGS]
    assert changes[0]["detail"].startswith("Alice: {")
    assert changes[0]["user_id"] is None


async def test_grant_reconfigure_in_settings(hass: HomeAssistant, site: Site) -> None:
    """Changing a grant in the settings: no rights is refused; a change is stored and audited."""
    entry, alice = site.entry, site.alice.user
    await site.admin.ws.ok(
        "access/set_grant", camera="front_door", user_id=alice.id, rights=["live"]
    )
    subentry_id = next(iter(entry.subentries))
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_ACCESS),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert result["description_placeholders"] == {"camera": "Front door", "user": "Alice"}
    flow_id = result["flow_id"]
    result = await hass.config_entries.subentries.async_configure(flow_id, {"rights": []})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "no_rights"}
    assert _grants(entry)[alice.id]["rights"] == ["live"]

    result = await hass.config_entries.subentries.async_configure(
        flow_id, {"rights": ["live", "export"], "lookback_hours": 2}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    grant = _grants(entry)[alice.id]
    assert sorted(grant["rights"]) == ["export", "live"]
    assert grant["lookback_hours"] == 2
    cameras = (await site.alice.ws.ok("cameras"))["cameras"]
    assert cameras[0]["rights"] == ["export", "live"]
    settings = [r for r in await _audit(hass, site.admin) if r["user"] == SETTINGS]
    assert len(settings) == 1
    assert settings[0]["detail"].startswith("Alice: {")


async def test_access_commands(hass: HomeAssistant, site: Site) -> None:
    """The Access view lists users and grants; bad grants, cameras and users are refused."""
    admin, alice, bob = site.admin.ws, site.alice.user, site.bob.user
    await admin.ok(
        "access/set_grant",
        camera="front_door",
        user_id=alice.id,
        rights=["recordings"],
        windows=[{"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}],
    )
    model = await admin.ok("access")
    assert model["users"] == [{"id": alice.id, "name": "Alice"}, {"id": bob.id, "name": "Bob"}]
    assert sorted(model["rights"]) == ["control", "export", "live", "recordings"]
    assert model["days"][0] == "mon" and len(model["days"]) == 7
    (camera,) = model["cameras"]
    assert camera["id"] == "front_door" and camera["name"] == "Front door"
    assert camera["default_rights"] == ["control", "export", "live", "recordings"]
    assert camera["live_panel_only"] is False
    (grant,) = camera["grants"]
    assert (grant["user_id"], grant["user"], grant["rights"]) == (alice.id, "Alice", ["recordings"])
    assert grant["windows"][0]["days"] == ["sat", "sun"]

    # Unknown camera: not_found with the camera named, for each command.
    for command, data in (
        ("access/set_grant", {"user_id": alice.id, "rights": ["live"]}),
        ("access/delete_grant", {"user_id": alice.id}),
        ("access/set_defaults", {"default_rights": []}),
    ):
        answer = await admin.call(f"{DOMAIN}/{command}", camera="nope", **data)
        assert not answer["success"], command
        assert answer["error"]["code"] == "not_found", command
        assert answer["error"]["translation_key"] == "camera_not_found", command

    # An administrator cannot be given a grant; no rights and bad windows are refused.
    for data, key, message in (
        ({"user_id": site.admin.user.id, "rights": ["live"]}, "unknown_user", "no such non-admin"),
        ({"user_id": bob.id, "rights": []}, "no_rights", "at least one right"),
        (
            {
                "user_id": bob.id,
                "rights": ["live"],
                "windows": [{"days": ["mon"], "start": "25:99", "end": "10:00"}],
            },
            "invalid_window",
            "needs at least one day",
        ),
    ):
        answer = await admin.call(f"{DOMAIN}/access/set_grant", camera="front_door", **data)
        assert not answer["success"], data
        assert answer["error"]["code"] == "home_assistant_error", answer
        assert answer["error"]["translation_key"] == key
        assert message in answer["error"]["message"]
    assert set(_grants(site.entry)) == {alice.id}

    # Deleting a grant Bob does not have.
    answer = await admin.call(f"{DOMAIN}/access/delete_grant", camera="front_door", user_id=bob.id)
    assert not answer["success"]
    assert answer["error"]["code"] == "not_found"
    assert answer["error"]["translation_key"] == "unknown_grant"
    assert set(_grants(site.entry)) == {alice.id}

    # Users are refused every access command.
    for command, data in (
        ("access/delete_grant", {"camera": "front_door", "user_id": alice.id}),
        ("access/set_defaults", {"camera": "front_door", "default_rights": ["live"]}),
        ("delete_event", {"recording_id": 1}),
    ):
        assert await site.bob.ws.error(command, **data) == "unauthorized", command
    assert set(_grants(site.entry)) == {alice.id}


async def test_subscribe_access_tells_of_changes(hass: HomeAssistant, site: Site) -> None:
    """A subscribed panel hears of a grant change (and of nothing before it)."""
    client = site.admin.ws.client
    await client.send_json({"id": 100, "type": f"{DOMAIN}/subscribe_access"})
    answer = await client.receive_json()
    assert answer["id"] == 100 and answer["success"]
    await client.send_json(
        {
            "id": 101,
            "type": f"{DOMAIN}/access/set_grant",
            "camera": "front_door",
            "user_id": site.bob.user.id,
            "rights": ["live"],
        }
    )
    messages = [await client.receive_json(), await client.receive_json()]
    events = [m for m in messages if m["id"] == 100]
    results = [m for m in messages if m["id"] == 101]
    assert results and results[0]["success"], messages
    assert events and events[0]["type"] == "event", messages
    assert events[0]["event"] == {"changed": True}


async def _event(hass: HomeAssistant, label: str) -> tuple[int, Any]:
    """Index an event recording of the front door with a cached snapshot; return id, path."""
    nvr = hass.data[DATA_NVR]

    def make() -> tuple[int, Any]:
        now = time.time()
        recording_id = nvr.index.recordings.start("front_door", KIND_EVENT, label, now - 60)
        nvr.index.recordings.set_end(recording_id, now - 30)
        cache = nvr.thumbnails / "events" / "front_door"
        cache.mkdir(parents=True, exist_ok=True)
        snapshot = cache / f"{recording_id}-0.jpg"
        snapshot.write_bytes(b"\xff\xd8\xff")
        return recording_id, snapshot

    return await hass.async_add_executor_job(make)


async def test_delete_event_over_websocket_and_service(hass: HomeAssistant, site: Site) -> None:
    """Deleting an event removes its row and cached snapshots and is audited; unknown ids fail."""
    nvr = hass.data[DATA_NVR]
    first, first_snapshot = await _event(hass, "doorbell")
    second, second_snapshot = await _event(hass, "motion")
    manual = await hass.async_add_executor_job(
        nvr.index.recordings.start, "front_door", "manual", None, time.time() - 10
    )

    assert await site.admin.ws.ok("delete_event", recording_id=first) == {"deleted": first}
    assert await hass.async_add_executor_job(nvr.index.recordings.get, first) is None
    assert not await hass.async_add_executor_job(first_snapshot.exists)
    assert await hass.async_add_executor_job(second_snapshot.exists)
    # Gone now; a manual recording is no event.
    for recording_id in (first, manual):
        answer = await site.admin.ws.call(f"{DOMAIN}/delete_event", recording_id=recording_id)
        assert not answer["success"]
        assert answer["error"]["code"] == "not_found"
        assert answer["error"]["translation_key"] == "unknown_event"
    assert await hass.async_add_executor_job(nvr.index.recordings.get, manual) is not None

    await hass.services.async_call(DOMAIN, "delete_event", {"recording_id": second}, blocking=True)
    assert await hass.async_add_executor_job(nvr.index.recordings.get, second) is None
    assert not await hass.async_add_executor_job(second_snapshot.exists)
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN, "delete_event", {"recording_id": second}, blocking=True
        )
    assert raised.value.translation_key == "unknown_event"
    assert raised.value.translation_placeholders == {"recording_id": str(second)}

    deleted = [r for r in await _audit(hass, site.admin) if r["action"] == "event_deleted"]
    assert sorted((r["user"], r["detail"]) for r in deleted) == [
        ("Mock User", "doorbell"),  # the administrator's name
        ("automation", "motion"),
    ]


async def test_export_service_refusals(
    hass: HomeAssistant, site: Site, segment_factory: SegmentFactory
) -> None:
    """Exports outside the user's look-back, beyond their quota or the free space are refused."""
    nvr = hass.data[DATA_NVR]
    begin = time.time() - 3 * 86400
    await hass.async_add_executor_job(
        segment_factory.make_history, nvr.root, nvr.index, "front_door", begin, 3, 4, "x"
    )
    data = {
        "entity_id": "camera.front_door",
        "start": dt_util.utc_from_timestamp(begin).isoformat(),
        "end": dt_util.utc_from_timestamp(begin + 8).isoformat(),
    }
    alice = site.alice.user
    await site.admin.ws.ok(
        "access/set_grant",
        camera="front_door",
        user_id=alice.id,
        rights=["recordings", "export"],
        lookback_hours=1,
    )
    as_alice = Context(user_id=alice.id)
    with pytest.raises(AccessDenied) as denied:
        await hass.services.async_call(
            DOMAIN, "export", data, blocking=True, return_response=True, context=as_alice
        )
    assert denied.value.translation_key == "range_not_allowed"

    # Without the look-back, Alice has as many exports stored as a user may keep.
    await site.admin.ws.ok(
        "access/set_grant",
        camera="front_door",
        user_id=alice.id,
        rights=["recordings", "export"],
    )

    def stored() -> None:
        for number in range(MAX_EXPORTS_PER_USER):
            nvr.index.exports.add(
                "front_door",
                f"clip {number}",
                begin,
                begin + 4,
                f"front_door/{number}.mp4",
                1000,
                4.0,
                user_id=alice.id,
            )

    await hass.async_add_executor_job(stored)
    with pytest.raises(ServiceValidationError) as quota:
        await hass.services.async_call(
            DOMAIN, "export", data, blocking=True, return_response=True, context=as_alice
        )
    assert quota.value.translation_key == "export_quota"
    assert quota.value.translation_placeholders == {"count": str(MAX_EXPORTS_PER_USER)}

    # A free-space floor larger than any disk: an export would go under it.
    hass.config_entries.async_update_entry(
        site.entry, options={**site.entry.options, CONF_MIN_FREE_GB: 10**9}
    )
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError) as no_space:
        await hass.services.async_call(DOMAIN, "export", data, blocking=True, return_response=True)
    assert no_space.value.translation_key == "export_no_space"
    exports = await hass.async_add_executor_job(nvr.index.exports.count_by_user, alice.id)
    assert exports == MAX_EXPORTS_PER_USER


async def test_options_flow_refuses_a_floor_beyond_the_disk(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """A free-space floor near the disk's size is refused, naming the disk's size."""
    entry = camera_entry(simulator)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    defaults = {
        key.schema: key.default() for key in result["data_schema"].schema if callable(key.default)
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**defaults, CONF_MIN_FREE_GB: 10000}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_MIN_FREE_GB: "min_free_too_large"}
    assert float(result["description_placeholders"]["disk_gb"]) > 0
    assert CONF_MIN_FREE_GB not in entry.options


def test_logbook_text_of_audit_entries() -> None:
    """The logbook says who did what, over which span, with the detail."""
    assert describe(
        {
            "user": "Alice",
            "action": "watched",
            "start": "2026-06-03T08:00:00+00:00",
            "end": "2026-06-03T09:00:00+00:00",
            "detail": None,
        }
    ) == ("Alice watched recordings (2026-06-03T08:00:00+00:00 to 2026-06-03T09:00:00+00:00)")
    assert describe({"action": "export_deleted", "detail": "party"}) == (
        "someone deleted an export: party"
    )
    assert describe({"user": "Bob", "action": "new_thing"}) == "Bob new_thing"


async def test_export_of_two_cameras_is_refused(
    hass: HomeAssistant, site: Site, simulator: CameraSimulator
) -> None:
    """The export service takes one camera at a time."""
    await setup_camera(hass, camera_entry(simulator, name="Garden", mount="sub", sub=None))
    now = dt_util.utcnow()
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "export",
            {
                "entity_id": ["camera.front_door", "camera.garden"],
                "start": (now - timedelta(minutes=2)).isoformat(),
                "end": (now - timedelta(minutes=1)).isoformat(),
            },
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_key == "one_camera"


async def test_new_camera_never_reuses_a_folder(
    hass: HomeAssistant, simulator: CameraSimulator, segment_factory: SegmentFactory
) -> None:
    """A folder left on disk, or a deleted camera's rows in the index, keep their name taken."""
    await setup_camera(hass, camera_entry(simulator))
    nvr = hass.data[DATA_NVR]

    def leftovers() -> None:
        Path(hass.config.path(STORAGE_DIR), "recordings", "back_yard").mkdir(parents=True)
        segment_factory.make_history(
            nvr.root, nvr.index, "old_porch", time.time() - 86400, 1, 4, "p"
        )

    await hass.async_add_executor_job(leftovers)
    for name, mount, key in (
        ("Back yard", "sub", "back_yard_2"),
        ("Old porch", "h265", "old_porch_2"),
    ):
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "camera"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            user_input(
                simulator,
                **{CONF_NAME: name, CONF_MAIN_URL: simulator.url(mount), CONF_SUB_URL: None},
            ),
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        assert result["data"][CONF_STORAGE_KEY] == key
        await hass.async_block_till_done()
