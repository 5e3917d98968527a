"""Live video through the integration's own views: made from the recording being written.

A real camera (the simulator) is recorded by a real Home Assistant; the live playlist, its init
section and fragments are fetched over HTTP as an administrator and as a non-admin user, and
ffprobe plays the live playlist. Every request checks the live right at that moment, so
withdrawing it stops an open live view at its next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
import json
import re
import time
from typing import Any

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.cctv_nvr.const import DOMAIN
from tests.const import CAMERA, SWITCH
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator
from tests.test_access import Person, _person, _uris

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def _playlist(http: Any, url: str) -> str:
    """Fetch a live playlist until its first fragments are complete (503 before)."""
    deadline = time.monotonic() + 30
    while True:
        response = await http.get(url)
        if response.status == 200:
            return str(await response.text())
        assert response.status == 503, (response.status, await response.text())
        assert time.monotonic() < deadline, "no live fragment within 30 s of recording"
        await asyncio.sleep(0.5)


async def _ffprobe(url: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        # A live playlist never ends: read its first 20 video packets.
        *("ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#20"),
        *("-show_streams", "-count_frames", "-of", "json", url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


@dataclass
class LiveCamera:
    """The front door, recording, and who watches it."""

    admin: Person
    anonymous: Any  # an HTTP client without a session
    before_recording: dict[str, Any]  # the answer to cctv_nvr/live before recording began


@pytest.fixture
async def live_camera(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_ws_client: Any,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_admin_user: MockUser,
) -> AsyncIterator[LiveCamera]:
    """The front door set up and recording; an administrator and an anonymous client."""
    await hass.config.async_update(time_zone="Europe/Amsterdam")
    await setup_camera(hass, camera_entry(simulator))
    admin = await _person(hass, hass_ws_client, hass_client, hass_admin_user)
    before = await admin.ws.call(f"{DOMAIN}/live", camera="front_door")
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    yield LiveCamera(admin, await hass_client_no_auth(), before)
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await hass.async_block_till_done()


async def test_live_from_the_recording_plays(live_camera: LiveCamera) -> None:
    """Live HLS of the recording plays in a real player; its pieces carry their credential."""
    admin, anonymous = live_camera.admin, live_camera.anonymous
    # Live comes from the recording: without it, a clear, translated error.
    assert not live_camera.before_recording["success"]
    assert "not recording" in live_camera.before_recording["error"]["message"]
    live = await admin.ws.ok("live", camera="front_door")
    assert "authSig=" in live["url"]
    text = await _playlist(admin.http, live["url"])
    assert text.startswith("#EXTM3U")
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
    uris = _uris(text)
    assert maps and uris
    assert all("t=" in uri for uri in [*maps, *uris])
    # The pieces need no session: the playlist's media token is their credential.
    init = await anonymous.get(maps[0])
    assert init.status == 200
    assert (await init.read())[4:8] == b"ftyp"
    fragment = await anonymous.get(uris[0])
    assert fragment.status == 200
    assert b"moof" in (await fragment.read())[:64]
    assert (await anonymous.get(uris[0].split("?")[0])).status == 401
    # A real player (ffprobe) plays the live playlist: H.264 frames decode.
    probe = await _ffprobe(str(admin.http.make_url(live["url"])))
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "h264"
    assert int(video["nb_read_frames"]) > 0


async def test_live_follows_the_live_right(
    hass: HomeAssistant,
    live_camera: LiveCamera,
    hass_ws_client: Any,
    hass_client: Any,
) -> None:
    """Live plays for whoever may watch live now, and stops at once when the right goes."""
    admin, anonymous = live_camera.admin, live_camera.anonymous
    users = [await hass.auth.async_get_group(GROUP_ID_USER)]
    alice = await _person(
        hass, hass_ws_client, hass_client, MockUser(name="Alice", groups=users).add_to_hass(hass)
    )
    live = await admin.ws.ok("live", camera="front_door")

    # Users without a grant get nothing here; a grant whose windows leave out today: not now.
    await admin.ws.ok("access/set_defaults", camera="front_door", default_rights=[])
    assert await alice.ws.error("live", camera="front_door") == "unauthorized"
    today = DAYS[datetime.now(dt_util.get_default_time_zone()).weekday()]
    await admin.ws.ok(
        "access/set_grant",
        camera="front_door",
        user_id=alice.user.id,
        rights=["live"],
        windows=[{"days": [day for day in DAYS if day != today], "start": "00:00", "end": "23:59"}],
    )
    assert await alice.ws.error("live", camera="front_door") == "unauthorized"
    assert (await alice.http.get(live["url"].split("?")[0])).status == 403

    # Live at any time: Alice watches; the player fetching again is audited once.
    await admin.ws.ok(
        "access/set_grant", camera="front_door", user_id=alice.user.id, rights=["live"]
    )
    hers = await alice.ws.ok("live", camera="front_door")
    text = await _playlist(alice.http, hers["url"])
    await _playlist(alice.http, hers["url"])
    uris = _uris(text)
    assert (await anonymous.get(uris[-1])).status == 200
    day = datetime.now(dt_util.get_default_time_zone()).date().isoformat()
    audit = await admin.ws.ok("audit", **{"from": day})
    watched = [r for r in audit["records"] if r["action"] == "watched_live"]
    assert [(r["user"], r["camera"]) for r in watched] == [("Alice", "front_door")]

    # The grant goes: her open live view stops at its next request.
    await admin.ws.ok("access/delete_grant", camera="front_door", user_id=alice.user.id)
    assert (await anonymous.get(uris[-1])).status == 403
    assert (await alice.http.get(hers["url"])).status == 403
    # The administrator still watches.
    assert (await admin.http.get(live["url"])).status == 200


async def test_live_pieces_refuse_other_cameras_tokens(
    hass: HomeAssistant, simulator: CameraSimulator, live_camera: LiveCamera
) -> None:
    """A media token is bound to its camera; unknown pieces answer 404, odd numbers 400."""
    await setup_camera(hass, camera_entry(simulator, name="Garden", mount="sub", sub=None))
    admin, anonymous = live_camera.admin, live_camera.anonymous
    live = await admin.ws.ok("live", camera="front_door")
    uris = _uris(await _playlist(admin.http, live["url"]))
    token = uris[0].split("t=", 1)[1]
    other = await anonymous.get(f"/api/{DOMAIN}/live/garden/0.m4s?t={token}")
    assert other.status == 401
    assert (await anonymous.get(f"/api/{DOMAIN}/live/front_door/99999.m4s?t={token}")).status == 404
    assert (await anonymous.get(f"/api/{DOMAIN}/live/front_door/init/7.mp4?t={token}")).status == (
        404
    )
    huge = "9" * 25
    assert (await anonymous.get(f"/api/{DOMAIN}/live/front_door/{huge}.m4s?t={token}")).status == (
        400
    )
    assert (await anonymous.get(f"/api/{DOMAIN}/live/nowhere/live.m3u8")).status == 401
    assert (await admin.http.get(f"/api/{DOMAIN}/live/nowhere/live.m3u8")).status == 404
