"""Device triggers offered for a camera, and automations they fire (camera offline / online)."""

from __future__ import annotations

from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_get_device_automations

from custom_components.cctv_nvr.const import DOMAIN, TRIGGER_EVENTS
from custom_components.cctv_nvr.device_trigger import async_get_triggers
from tests.engine.helpers import wait_for
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator


async def test_triggers_listed_and_outage_fires_automations(
    hass: HomeAssistant, own_simulator: CameraSimulator
) -> None:
    """The editor offers five triggers; an outage and the return fire their automations."""
    entry = await setup_camera(hass, camera_entry(own_simulator, segment_seconds=2, sub=None))
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert device is not None
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device.id)
    ours = sorted(t["type"] for t in triggers if t["domain"] == DOMAIN)
    assert ours == sorted(TRIGGER_EVENTS)
    assert all(t["device_id"] == device.id for t in triggers if t["domain"] == DOMAIN)
    assert await async_get_triggers(hass, "not-a-device") == []

    fired: list[Event] = []

    @callback
    def _fired(event: Event) -> None:  # a callback: in order, in the event loop
        fired.append(event)

    hass.bus.async_listen("test_fired", _fired)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "alias": kind,
                    "triggers": [
                        {
                            "trigger": "device",
                            "domain": DOMAIN,
                            "device_id": device.id,
                            "type": kind,
                        }
                    ],
                    "actions": [
                        {
                            "event": "test_fired",
                            "event_data": {
                                "kind": kind,
                                "camera": "{{ trigger.event.data.camera }}",
                            },
                        }
                    ],
                }
                for kind in ("camera_offline", "camera_online")
            ]
        },
    )
    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: "select.front_door_recording_mode", "option": "events"},
        blocking=True,
    )
    coordinator = entry.runtime_data
    await wait_for(lambda: coordinator.recorder.status.last_segment_end, timeout=30)
    await own_simulator.aoffline()
    await wait_for(lambda: fired, timeout=15)
    assert [e.data["kind"] for e in fired] == ["camera_offline"]
    assert fired[0].data["camera"] == "Front door"
    await own_simulator.aonline()
    await wait_for(lambda: len(fired) == 2, timeout=20)
    assert fired[1].data["kind"] == "camera_online"
    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: "select.front_door_recording_mode", "option": "off"},
        blocking=True,
    )
