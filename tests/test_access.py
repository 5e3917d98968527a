"""Access as a household uses it: an owner, an administrator and two non-admin users, every door
driven over WebSocket and HTTP as each of them (never by calling internals).

- Alice has a grant on the front door: live and recordings, Wednesdays 09:30-11:00 local time,
  nothing else; the front door gives users without a grant nothing.
- Bob has no grant: on the front door he gets nothing, on the garden everything (its default).

Footage is indexed at known local times of Wednesday 2026-06-03 (Europe/Amsterdam): windows
limit footage by when it was recorded, so those tests do not depend on when the suite runs;
live view, limited by the window at the moment of watching, is tested with frozen time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
import re
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components.media_source import DOMAIN as MEDIA_SOURCE_DOMAIN
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import CLIENT_ID, MockUser

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.index import Segment
from tests.engine.segments_factory import SegmentFactory
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 6, 3, 10, 30, tzinfo=ZONE)  # a Wednesday


def local(hour: int, minute: int = 0) -> float:
    """Return the epoch seconds of a local time on the frozen Wednesday."""
    return NOW.replace(hour=hour, minute=minute).timestamp()


class Ws:
    """A WebSocket client speaking the cctv_nvr commands as one user."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.next_id = 0

    async def call(self, command: str, **data: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.client.send_json({"id": self.next_id, "type": command, **data})
        answer: dict[str, Any] = await self.client.receive_json()
        assert answer["id"] == self.next_id
        return answer

    async def ok(self, command: str, **data: Any) -> Any:
        answer = await self.call(f"{DOMAIN}/{command}", **data)
        assert answer["success"], answer
        return answer["result"]

    async def error(self, command: str, **data: Any) -> str:
        answer = await self.call(f"{DOMAIN}/{command}", **data)
        assert not answer["success"], answer
        code: str = answer["error"]["code"]
        return code


@dataclass
class Person:
    """A user of the household with their WebSocket and HTTP clients."""

    user: MockUser
    ws: Ws
    http: Any


@dataclass
class Household:
    """The installation: people, and the front door's footage by local hour."""

    owner: Person
    admin: Person
    alice: Person
    bob: Person
    anonymous: Any  # an HTTP client without a session
    morning: list[Segment]  # 07:00, outside Alice's window
    inside: list[Segment]  # 10:00, inside it
    garden: list[Segment]


async def _person(
    hass: HomeAssistant, hass_ws_client: Any, hass_client: Any, user: MockUser
) -> Person:
    refresh = await hass.auth.async_create_refresh_token(user, CLIENT_ID)
    token = hass.auth.async_create_access_token(refresh)
    return Person(user, Ws(await hass_ws_client(hass, token)), await hass_client(token))


@pytest.fixture
async def household(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    segment_factory: SegmentFactory,
    hass_ws_client: Any,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_admin_user: MockUser,
) -> Household:
    """Two cameras with footage, four people, Alice's grant and the front door's defaults."""
    await hass.config.async_update(time_zone="Europe/Amsterdam")
    assert await async_setup_component(hass, MEDIA_SOURCE_DOMAIN, {})
    front = await setup_camera(hass, camera_entry(simulator))
    await setup_camera(hass, camera_entry(simulator, name="Garden", mount="sub", sub=None))
    nvr = hass.data[DATA_NVR]

    def footage() -> tuple[list[Segment], list[Segment], list[Segment]]:
        return (
            segment_factory.make_history(nvr.root, nvr.index, "front_door", local(7), 3, 4, "m"),
            segment_factory.make_history(nvr.root, nvr.index, "front_door", local(10), 3, 4, "i"),
            segment_factory.make_history(nvr.root, nvr.index, "garden", local(10), 2, 4, "g"),
        )

    morning, inside, garden = await hass.async_add_executor_job(footage)
    people = {}
    users = [await hass.auth.async_get_group(GROUP_ID_USER)]  # Home Assistant's "Users" group
    for name, user in (
        ("owner", MockUser(name="Owner", is_owner=True).add_to_hass(hass)),
        ("admin", hass_admin_user),
        ("alice", MockUser(name="Alice", groups=users).add_to_hass(hass)),
        ("bob", MockUser(name="Bob", groups=users).add_to_hass(hass)),
    ):
        people[name] = await _person(hass, hass_ws_client, hass_client, user)
    admin = people["admin"].ws
    await admin.ok(
        "access/set_defaults", camera="front_door", default_rights=[]
    )  # users without a grant get nothing here
    await admin.ok(
        "access/set_grant",
        camera="front_door",
        user_id=people["alice"].user.id,
        rights=["live", "recordings"],
        windows=[{"days": ["wed"], "start": "09:30", "end": "11:00"}],
    )
    assert front.runtime_data.camera_key == "front_door"
    return Household(
        **people,
        anonymous=await hass_client_no_auth(),
        morning=morning,
        inside=inside,
        garden=garden,
    )


def _uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


async def test_camera_lists_and_rights(household: Household) -> None:
    """Each person sees the cameras they have rights on, with those rights."""
    lists = {
        name: {c["id"]: c["rights"] for c in (await person.ws.ok("cameras"))["cameras"]}
        for name, person in (
            ("owner", household.owner),
            ("admin", household.admin),
            ("alice", household.alice),
            ("bob", household.bob),
        )
    }
    everything = ["control", "export", "live", "recordings"]
    assert lists["owner"] == lists["admin"] == {"front_door": everything, "garden": everything}
    assert lists["alice"] == {"front_door": ["live", "recordings"], "garden": everything}
    assert lists["bob"] == {"garden": everything}


async def test_live_follows_the_window(
    hass: HomeAssistant, household: Household, freezer: FrozenDateTimeFactory
) -> None:
    """Alice may watch the front door live only inside her window (frozen time)."""

    async def live_now() -> bool:
        cameras = (await household.alice.ws.ok("cameras"))["cameras"]
        return bool(next(c for c in cameras if c["id"] == "front_door")["live_now"])

    freezer.move_to(NOW)  # Wednesday 10:30
    assert await live_now() is True
    freezer.move_to(NOW.replace(hour=11, minute=5))
    assert await live_now() is False
    freezer.move_to(NOW.replace(day=4))  # Thursday 10:30
    assert await live_now() is False


async def test_timeline_and_playlist_are_clipped_to_the_window(
    hass: HomeAssistant, household: Household
) -> None:
    """Alice's timeline and playlist hold only 09:30-11:00; fragments outside answer 403."""
    alice, admin = household.alice, household.admin
    day = await alice.ws.ok("timeline", camera="front_door", date="2026-06-03")
    assert [span[0] for span in day["spans"]] == [pytest.approx(household.inside[0].start)]
    assert [local(9, 30), local(11)] not in day["hidden"]
    assert any(lo <= household.morning[0].start < hi for lo, hi in day["hidden"])
    full = await admin.ws.ok("timeline", camera="front_door", date="2026-06-03")
    assert len(full["spans"]) == 2
    assert full["hidden"] == []

    # A playback of the whole morning: only the window's footage is in the playlist.
    play = await alice.ws.ok("playback", camera="front_door", start=local(6), end=local(11))
    assert play["first"] == pytest.approx(household.inside[0].start)
    response = await alice.http.get(play["url"])
    assert response.status == 200
    uris = _uris(await response.text())
    ids = {int(m) for uri in uris for m in re.findall(r"/media/(\d+)/", uri)}
    assert ids == {segment.id for segment in _rows(hass, household.inside)}
    assert all("t=" in uri for uri in uris)
    # The same token cannot fetch a fragment outside the window (editing the URL).
    token = uris[0].split("t=", 1)[1]
    hidden = _rows(hass, household.morning)[0]
    anonymous = household.anonymous  # no session: the token is the credential
    refused = await anonymous.get(f"/api/{DOMAIN}/media/{hidden.id}/0.m4s?t={token}")
    assert refused.status == 403
    allowed = await anonymous.get(uris[1])
    assert allowed.status == 200
    # Bob has no right on the front door at all.
    assert await household.bob.ws.error(
        "playback", camera="front_door", start=local(6), end=local(11)
    ) == ("unauthorized")
    assert (await household.bob.http.get(play["url"].split("?")[0])).status == 403


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, ZONE).isoformat()


def _rows(hass: HomeAssistant, segments: list[Segment]) -> list[Segment]:
    index = hass.data[DATA_NVR].index
    return [index.segment_by_path(segment.path) for segment in segments]


async def test_thumbnails_exports_and_admin_actions(
    hass: HomeAssistant, household: Household
) -> None:
    """Thumbnails, exports and admin-only actions follow the same rules."""
    alice, admin, bob = household.alice, household.admin, household.bob
    morning = int(household.morning[0].start)
    inside = int(household.inside[0].start)
    assert (await alice.http.get(f"/api/{DOMAIN}/thumbnail/front_door/{inside}.jpg")).status == 200
    assert (await alice.http.get(f"/api/{DOMAIN}/thumbnail/front_door/{morning}.jpg")).status == 404
    assert (await bob.http.get(f"/api/{DOMAIN}/thumbnail/front_door/{inside}.jpg")).status == 403
    # Alice may not export (no export right); an administrator's export of the morning is
    # not listed for her, and she cannot download it by its id.
    assert await alice.ws.error("export", camera="front_door", start=inside, end=inside + 8) == (
        "unauthorized"
    )
    job = await admin.ws.ok("export", camera="front_door", start=morning, end=morning + 8)
    export_id = None
    for _ in range(300):
        jobs = (await admin.ws.ok("exports"))["jobs"]
        mine = next(j for j in jobs if j["id"] == job["id"])
        if mine["status"] == "done":
            export_id = mine["export_id"]
            break
        assert mine["status"] in ("queued", "running"), mine
        await asyncio.sleep(0.2)
    assert export_id is not None
    assert [e["id"] for e in (await admin.ws.ok("exports"))["exports"]] == [export_id]
    assert (await alice.ws.ok("exports"))["exports"] == []
    assert (await alice.http.get(f"/api/{DOMAIN}/export/{export_id}.mp4")).status == 403
    assert (await admin.http.get(f"/api/{DOMAIN}/export/{export_id}.mp4")).status == 200
    # Protect, unprotect, delete and access administration are for administrators.
    for command, data in (
        ("protect", {"camera": "garden", "start": inside, "end": inside + 4}),
        ("unprotect", {"camera": "garden", "start": inside, "end": inside + 4}),
        ("delete", {"camera": "garden", "start": inside, "end": inside + 4}),
        ("delete_export", {"export_id": export_id}),
        ("access", {}),
        ("audit", {"from": "2026-06-03"}),
        ("access/set_grant", {"camera": "garden", "user_id": bob.user.id, "rights": ["live"]}),
    ):
        assert await bob.ws.error(command, **data) == "unauthorized", command
    assert await bob.ws.error("playback", camera="nope", start=inside, end=inside + 4) == (
        "not_found"
    )


async def test_media_browser_as_each_user(hass: HomeAssistant, household: Household) -> None:
    """The media browser lists for Alice only her window's hour of the front door."""
    alice, admin = household.alice, household.admin

    async def browse(person: Person, media: str) -> dict[str, Any]:
        answer = await person.ws.call("media_source/browse_media", media_content_id=media)
        assert answer["success"], answer
        result: dict[str, Any] = answer["result"]
        return result

    root = await browse(alice, f"media-source://{DOMAIN}")
    assert [c["title"] for c in root["children"]] == ["Front door", "Garden", "Exports"]
    day = await browse(alice, f"media-source://{DOMAIN}/day/front_door/2026-06-03")
    assert [c["title"] for c in day["children"]] == ["10:00 - 10:59"]
    day = await browse(admin, f"media-source://{DOMAIN}/day/front_door/2026-06-03")
    assert [c["title"] for c in day["children"]] == ["07:00 - 07:59", "10:00 - 10:59"]
    bob_root = await browse(household.bob, f"media-source://{DOMAIN}")
    assert [c["title"] for c in bob_root["children"]] == ["Garden", "Exports"]
    denied = await household.bob.ws.call(
        "media_source/browse_media",
        media_content_id=f"media-source://{DOMAIN}/day/front_door/2026-06-03",
    )
    assert not denied["success"]


async def test_a_change_takes_effect_at_once_and_is_audited(
    hass: HomeAssistant, household: Household
) -> None:
    """Removing Alice's grant stops her open playback at its next request; the audit shows it."""
    alice, admin = household.alice, household.admin
    play = await alice.ws.ok("playback", camera="front_door", start=local(9), end=local(11))
    assert (await alice.http.get(play["url"])).status == 200  # a player fetching it twice
    uris = _uris(await (await alice.http.get(play["url"])).text())
    assert (await alice.http.get(uris[1])).status == 200
    await admin.ws.ok("access/delete_grant", camera="front_door", user_id=alice.user.id)
    assert (await alice.http.get(uris[2])).status == 403  # the next request of the playback
    cameras = {c["id"] for c in (await alice.ws.ok("cameras"))["cameras"]}
    assert cameras == {"garden"}

    today = datetime.now(ZONE).date().isoformat()  # the audit trail is kept by day of action
    audit = await admin.ws.ok("audit", **{"from": today})
    actions = [(r["user"], r["action"], r["camera"]) for r in audit["records"]]
    assert ("Alice", "watched", "front_door") in actions
    assert ("Admin", "access_changed", "front_door") in actions or any(
        action == "access_changed" for _u, action, _c in actions
    )
    watched = [r for r in audit["records"] if r["action"] == "watched"]
    assert len(watched) == 1  # the same playback fetched again is recorded once
    assert watched[0]["start"] == local(9)
    assert {"Alice", "Bob", "Owner"} <= {user["name"] for user in audit["users"]}
    assert "t=" not in str(audit["records"]) and "authSig" not in str(audit["records"])
    csv = await admin.http.get(audit["csv_url"])
    assert csv.status == 200
    text = await csv.text()
    assert text.splitlines()[0] == "time,user,user_id,camera,action,from,to,detail"
    assert "Alice" in text
    assert (await alice.http.get(audit["csv_url"].split("?")[0] + f"?from={today}")).status == 403


async def test_services_check_the_caller(hass: HomeAssistant, household: Household) -> None:
    """Services as a user need their right; protect and delete are for administrators."""

    alice = Context(user_id=household.alice.user.id)
    ten, one_past = _iso(local(10)), _iso(local(10, 1))
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "protect",
            {"entity_id": "camera.front_door", "start": ten, "end": one_past},
            blocking=True,
            context=alice,
        )
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "export",
            {"entity_id": "camera.front_door", "start": ten, "end": one_past},
            blocking=True,
            context=alice,
            return_response=True,
        )
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            "switch",
            "turn_on",
            {"entity_id": "switch.front_door_continuous_recording"},
            blocking=True,
            context=alice,
        )
    assert hass.states.get("switch.front_door_continuous_recording").state == "off"
    # No user (an automation): the system may protect.
    answer = await hass.services.async_call(
        DOMAIN,
        "protect",
        {"entity_id": "camera.front_door", "start": ten, "end": one_past},
        blocking=True,
        return_response=True,
    )
    assert answer == {"segments": len(household.inside)}


async def test_look_back_limits_the_oldest_day_offered(
    hass: HomeAssistant, household: Household
) -> None:
    """With a look-back of a day, the June footage is out of sight and the timeline says so."""
    admin, bob = household.admin, household.bob
    await admin.ws.ok(
        "access/set_grant",
        camera="garden",
        user_id=bob.user.id,
        rights=["recordings"],
        lookback_hours=24,
    )
    day = await bob.ws.ok("timeline", camera="garden", date="2026-06-03")
    assert day["spans"] == []
    assert day["first"] >= datetime.now(ZONE).timestamp() - 24 * 3600 - 60
    full = await admin.ws.ok("timeline", camera="garden", date="2026-06-03")
    assert full["first"] == pytest.approx(household.garden[0].start)
    assert full["spans"]
