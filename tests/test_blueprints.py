"""The shipped blueprints, loaded into a real Home Assistant and driven with the simulator.

Blueprints are copied into the test config's blueprints folder and used by automations
(``use_blueprint``), exactly as "Import blueprint" does. Helpers are real (input_boolean,
template binary sensor, schedule, input_datetime). Time is not frozen: the recorder
stamps footage with the wall clock, so the schedule and date-time blocks are placed a few
seconds ahead of now instead, which drives the same code paths in real time.

The companion app cannot run here: ``notify.mobile_app_phone`` is a stand-in service that
records the call, and the test then fetches the links it was given, without a session.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import shutil
import time
from typing import Any

from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine.layout import parse_segment_name
from tests.const import CAMERA, KEY
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "cctv_nvr"


def _install_blueprints(hass: HomeAssistant) -> None:
    target = Path(hass.config.path("blueprints", "automation", "cctv_nvr"))
    target.mkdir(parents=True, exist_ok=True)
    for path in BLUEPRINTS.glob("*.yaml"):
        shutil.copy(path, target / path.name)


def _use(name: str, **inputs: Any) -> dict[str, Any]:
    return {
        "alias": name,
        "use_blueprint": {"path": f"cctv_nvr/{name}.yaml", "input": inputs},
    }


async def _recordings(hass: HomeAssistant, since: float) -> list[Any]:
    index = hass.data[DATA_NVR].index
    return await hass.async_add_executor_job(
        index.recordings.overlapping, KEY, since, time.time() + 60
    )


def test_every_blueprint_is_documented() -> None:
    """Each shipped blueprint has an "Import blueprint" link in the README."""
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    names = sorted(path.name for path in BLUEPRINTS.glob("*.yaml"))
    assert len(names) == 4
    for name in names:
        assert f"blueprints%2Fautomation%2Fcctv_nvr%2F{name}" in readme, name


async def test_sensor_blueprint_with_pre_roll_and_notification(  # noqa: PLR0915
    hass: HomeAssistant, simulator: CameraSimulator, hass_client_no_auth: Any
) -> None:
    """A door sensor records with pre-roll and post-roll; a reopening extends; the phone is told."""
    await hass.async_add_executor_job(_install_blueprints, hass)
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    coordinator = entry.runtime_data
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    notifications: list[ServiceCall] = []
    hass.services.async_register("notify", "mobile_app_phone", notifications.append)
    assert await async_setup_component(hass, "input_boolean", {"input_boolean": {"door": {}}})
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {
                    "binary_sensor": [
                        {
                            "name": "Door",
                            "state": "{{ is_state('input_boolean.door', 'on') }}",
                            "device_class": "door",
                        }
                    ]
                }
            ]
        },
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                _use(
                    "record_on_binary_sensor",
                    sensor="binary_sensor.door",
                    cameras=[CAMERA],
                    pre_roll=3,
                    post_roll=2,
                    label="door",
                ),
                _use(
                    "notify_event_saved",
                    camera=device.id,
                    notify_action="notify.mobile_app_phone",
                    labels="door, motion",
                ),
            ]
        },
    )
    await hass.async_block_till_done()
    for entity_id in ("automation.record_on_binary_sensor", "automation.notify_event_saved"):
        assert hass.states.get(entity_id).state == "on", entity_id
    assert hass.states.get("binary_sensor.door").state == "off"

    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: "select.front_door_recording_mode", "option": "events"},
        blocking=True,
    )
    await wait_for(lambda: coordinator.recorder.status.last_segment_end, timeout=30)
    await asyncio.sleep(4)  # some buffer before the door opens

    async def door(state: str) -> None:
        await hass.services.async_call(
            "input_boolean", f"turn_{state}", {ATTR_ENTITY_ID: "input_boolean.door"}, blocking=True
        )
        await hass.async_block_till_done()
        assert hass.states.get("binary_sensor.door").state == state

    opened = time.time()
    await door("on")
    await asyncio.sleep(2)
    await door("off")
    await asyncio.sleep(1)  # within the post-roll: opening again extends the event
    await door("on")
    await asyncio.sleep(1)
    await door("off")
    closed = time.time()
    await wait_for(lambda: notifications, timeout=10)

    recordings = await _recordings(hass, opened - 30)
    assert [(r.kind, r.label) for r in recordings] == [("event", "door")]
    event = recordings[0]
    assert event.start == pytest.approx(opened - 3, abs=0.5)
    assert event.end == pytest.approx(closed + 2, abs=0.6)
    assert len(notifications) == 1

    # Pre-roll footage precedes the door opening (the file names carry the start time).
    await wait_for(lambda: (coordinator.recorder.status.last_segment_end or 0) > event.end, 15)
    index = hass.data[DATA_NVR].index
    covering = await hass.async_add_executor_job(index.segments, KEY, event.start, event.end)
    parsed = parse_segment_name(Path(covering[0].path).name)
    assert parsed is not None
    assert parsed[0] <= opened - 2

    # The notification carries the snapshot and the clip link; both open without a session.
    call = notifications[0]
    assert call.data["title"] == "Front door"
    assert call.data["message"].startswith("Door at ")
    data = call.data["data"]
    assert data["url"] == data["clickAction"]
    anonymous = await hass_client_no_auth()
    image = await anonymous.get(data["image"])
    assert image.status == 200
    assert (await image.read())[:2] == b"\xff\xd8"
    clip = await anonymous.get(data["url"])
    assert clip.status == 200
    assert clip.headers["Content-Type"] == "video/mp4"
    assert len(await clip.read()) > 10_000
    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: "select.front_door_recording_mode", "option": "off"},
        blocking=True,
    )


# The schedule helper keeps a timer for next week's block when the test ends.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_schedule_and_one_time_blueprints(
    hass: HomeAssistant, simulator: CameraSimulator
) -> None:
    """A schedule block and a planned date-time each record their range (mode off)."""
    await hass.async_add_executor_job(_install_blueprints, hass)
    entry = await setup_camera(hass, camera_entry(simulator, segment_seconds=2))
    now = dt_util.now()
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (midnight - now).total_seconds() < 30:  # a block must not cross midnight
        await asyncio.sleep((midnight - now).total_seconds() + 1)
        now = dt_util.now()
    base = now.replace(microsecond=0)
    block_from, block_to = base + timedelta(seconds=3), base + timedelta(seconds=9)
    planned = base + timedelta(seconds=4)
    weekday = block_from.strftime("%A").lower()
    assert await async_setup_component(
        hass,
        "schedule",
        {
            "schedule": {
                "recording": {
                    "name": "Recording",
                    weekday: [
                        {
                            "from": block_from.strftime("%H:%M:%S"),
                            "to": block_to.strftime("%H:%M:%S"),
                        }
                    ],
                }
            }
        },
    )
    assert await async_setup_component(
        hass,
        "input_datetime",
        {
            "input_datetime": {
                "planned": {
                    "has_date": True,
                    "has_time": True,
                    "initial": planned.strftime("%Y-%m-%d %H:%M:%S"),
                }
            }
        },
    )
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                _use(
                    "record_while_schedule_on",
                    schedule_entity="schedule.recording",
                    cameras=[CAMERA],
                ),
                _use(
                    "record_once",
                    when="input_datetime.planned",
                    duration={"seconds": 3},
                    cameras=[CAMERA],
                ),
            ]
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("schedule.recording").state == "off"
    assert not entry.runtime_data.recorder.running

    await wait_for(lambda: hass.states.get("schedule.recording").state == "on", timeout=10)
    await wait_for(lambda: entry.runtime_data.recorder.running, timeout=5)
    await wait_for(lambda: hass.states.get("schedule.recording").state == "off", timeout=15)
    await wait_for(lambda: not entry.runtime_data.recordings.running, timeout=10)
    await hass.async_block_till_done()
    assert not entry.runtime_data.recorder.running

    recordings = {r.label: r for r in await _recordings(hass, base.timestamp() - 10)}
    assert set(recordings) == {"schedule", "planned"}
    schedule, once = recordings["schedule"], recordings["planned"]
    assert schedule.start == pytest.approx(block_from.timestamp(), abs=1)
    assert schedule.end == pytest.approx(block_to.timestamp(), abs=1)
    assert once.start == pytest.approx(planned.timestamp(), abs=1)
    assert once.end is not None
    assert once.end - once.start == pytest.approx(3, abs=0.3)
    index = hass.data[DATA_NVR].index
    footage = await hass.async_add_executor_job(
        index.coverage, KEY, schedule.start, schedule.end, 1.0
    )
    assert footage  # the recorder started for the block and wrote segments in it
