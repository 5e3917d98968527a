"""The HTTP views when footage is missing, cached, out of range or of an unloaded camera.

Real recording (simulator → ffmpeg → segments), then the files are removed behind
the index's back (a disk replaced, a user deleting folders by hand): every view must
answer 404 without a traceback or a path, and nothing else is touched.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import time
from typing import Any

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from tests.const import CAMERA, KEY, SWITCH
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

API = f"/api/{DOMAIN}"
JPEG = b"\xff\xd8\xff"


async def _record(hass: HomeAssistant, sim: CameraSimulator, seconds: float) -> None:
    await setup_camera(hass, camera_entry(sim))
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=20)
    await asyncio.sleep(seconds)
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await hass.async_block_till_done()


async def _status(client: Any, path: str) -> tuple[int, bytes]:
    response = await client.get(path)
    return response.status, await response.read()


async def test_views_with_missing_cached_and_foreign_footage(  # noqa: PLR0915
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_client: Any,
    hass_read_only_access_token: str,
) -> None:
    """Bad ranges 400, no footage 404, caches answer, removed files 404, exports by owner."""
    await _record(hass, simulator, 9)
    nvr = hass.data[DATA_NVR]
    index = nvr.index
    root: Path = nvr.root
    segments = await hass.async_add_executor_job(index.segments, KEY, 0, time.time() + 60)
    assert len(segments) >= 2
    first, last = segments[0], segments[-1]
    client = await hass_client()
    reader = await hass_client(hass_read_only_access_token)

    # Playlist: an empty, reversed or over-long range is a bad request; no footage is 404.
    begin, end = int(first.start), int(last.end) + 1
    assert (await _status(client, f"{API}/playlist/{KEY}/{begin}-{end}.m3u8"))[0] == 200
    for bad in (f"{end}-{begin}", f"{begin}-{begin}", f"{begin}-{begin + 24 * 3600 + 1}"):
        assert (await _status(client, f"{API}/playlist/{KEY}/{bad}.m3u8"))[0] == 400, bad
    assert (await _status(client, f"{API}/playlist/{KEY}/1000-2000.m3u8"))[0] == 404

    # Thumbnail: made once per segment, then served from its cache file while the segment is
    # indexed (even after its file goes).
    moment = int(first.start)
    status, body = await _status(client, f"{API}/thumbnail/{KEY}/{moment}.jpg")
    assert status == 200
    assert body.startswith(JPEG)
    cache = nvr.thumbnails / KEY / f"{first.id}.jpg"
    assert cache.read_bytes() == body
    assert (await _status(client, f"{API}/thumbnail/{KEY}/1000.jpg"))[0] == 404

    # A saved event over the footage: snapshot made once and cached; an open one is 404.
    event_id = await hass.async_add_executor_job(
        index.recordings.start, KEY, "event", "motion", first.start
    )
    await hass.async_add_executor_job(index.recordings.set_end, event_id, last.end)
    status, snapshot = await _status(client, f"{API}/event/{event_id}/snapshot.jpg")
    assert status == 200
    assert snapshot.startswith(JPEG)
    open_id = await hass.async_add_executor_job(
        index.recordings.start, KEY, "event", "open", time.time()
    )
    assert (await _status(client, f"{API}/event/{open_id}/clip.mp4"))[0] == 404
    assert (await _status(client, f"{API}/event/{open_id}/snapshot.jpg"))[0] == 404
    # An event over a range without footage has neither clip nor snapshot.
    empty_id = await hass.async_add_executor_job(
        index.recordings.start, KEY, "event", "empty", 1000.0
    )
    await hass.async_add_executor_job(index.recordings.set_end, empty_id, 1010.0)
    assert (await _status(client, f"{API}/event/{empty_id}/clip.mp4"))[0] == 404
    assert (await _status(client, f"{API}/event/{empty_id}/snapshot.jpg"))[0] == 404

    # Exports: a row whose file is gone is 404; an export of a camera that is no
    # longer set up is still the admin's to download, but nobody else's.
    exports: Path = nvr.exports
    missing_id = await hass.async_add_executor_job(
        index.exports.add, KEY, "gone", first.start, last.end, "gone.mp4", 10, 1.0
    )
    assert (await _status(client, f"{API}/export/{missing_id}.mp4"))[0] == 404
    foreign = exports / "old_camera.mp4"
    await hass.async_add_executor_job(lambda: exports.mkdir(parents=True, exist_ok=True))
    await hass.async_add_executor_job(foreign.write_bytes, (root / first.path).read_bytes())
    foreign_id = await hass.async_add_executor_job(
        index.exports.add, "old_camera", "old", 1.0, 5.0, foreign.name, foreign.stat().st_size, 4.0
    )
    status, body = await _status(client, f"{API}/export/{foreign_id}.mp4")
    assert status == 200
    assert body == foreign.read_bytes()
    assert (await _status(reader, f"{API}/export/{foreign_id}.mp4"))[0] == 404
    assert (await _status(reader, f"{API}/export/{missing_id}.mp4"))[0] == 404

    # The segment files are removed behind the index's back.
    for segment in segments:
        await hass.async_add_executor_job((root / segment.path).unlink)
    for path in (
        f"{API}/segment/{first.id}.mp4",
        f"{API}/init/{first.id}.mp4",
        f"{API}/media/{first.id}/0.m4s",
        f"{API}/thumbnail/{KEY}/{int(last.start) + 1}.jpg",
        f"{API}/event/{event_id}/clip.mp4",
    ):
        status, body = await _status(client, path)
        assert status == 404, path
        assert str(root).encode() not in body
    # Made before the files went: served from their caches.
    assert (await _status(client, f"{API}/thumbnail/{KEY}/{moment}.jpg")) == (
        200,
        cache.read_bytes(),
    )
    assert (await _status(client, f"{API}/event/{event_id}/snapshot.jpg")) == (200, snapshot)
    # A new event over the removed footage has no snapshot to make.
    later_id = await hass.async_add_executor_job(
        index.recordings.start, KEY, "event", "later", first.start
    )
    await hass.async_add_executor_job(index.recordings.set_end, later_id, last.end)
    assert (await _status(client, f"{API}/event/{later_id}/snapshot.jpg"))[0] == 404
    # The index still lists the rows (nothing deleted by a view).
    left = await hass.async_add_executor_job(index.segments, KEY, 0, time.time() + 60)
    assert [s.id for s in left] == [s.id for s in segments]
