"""CCTV NVR: a network video recorder for IP cameras inside Home Assistant."""

from __future__ import annotations

from functools import partial
import logging
from pathlib import Path

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .access import async_setup_access
from .cloud import CloudRuntime, async_setup_cloud, async_unload_cloud, cloud_runtime
from .config_flow import camera_unique_id
from .const import CONF_MAIN_URL, CONF_STREAM_KEY, DOMAIN, STORAGE_DIR
from .coordinator import CameraCoordinator, CctvNvrConfigEntry
from .data import DATA_NVR, NvrData, is_cloud_entry
from .engine.index import SegmentIndex
from .engine.ingest import PushRecorder
from .engine.rebuild import rebuild_index
from .footage import DATA_EXPORT_JOBS, DATA_REMUXES, ExportJobs, RemuxQueue
from .links import async_setup_links
from .locations import chosen_folder
from .panel import async_register_panel, async_remove_panel_if_unused, async_setup_panel
from .push import async_get_ingest
from .renditions import async_setup_renditions
from .retention import RetentionRunner
from .services import async_setup_services
from .views import async_register_views
from .websocket_api import async_setup_websocket_api

CLOUD_PLATFORMS: list[Platform] = [Platform.SENSOR]
PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.CAMERA,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]

_LOGGER = logging.getLogger(__name__)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up what all cameras share: the index, and the services."""
    base = Path(hass.config.path(STORAGE_DIR))
    db_path = base / "index.db"
    fresh = not await hass.async_add_executor_job(db_path.exists)
    index, recovered = await hass.async_add_executor_job(SegmentIndex.open_or_recover, db_path)
    if recovered:
        _LOGGER.warning("The recordings index was corrupt; it was set aside and is being rebuilt")
    nvr = hass.data[DATA_NVR] = NvrData(
        root=base / "recordings",
        exports=base / "exports",
        thumbnails=base / "thumbnails",
        index=index,
    )
    index.default_root = nvr.root
    hass.data[DATA_EXPORT_JOBS] = ExportJobs(hass)
    hass.data[DATA_REMUXES] = RemuxQueue()
    async_setup_renditions(hass, nvr)
    async_setup_access(hass)
    await async_setup_links(hass)

    async def _close_index(_event: Event) -> None:
        await hass.async_add_executor_job(index.close)

    hass.bus.async_listen_once("homeassistant_final_write", _close_index)
    async_setup_services(hass)
    async_register_views(hass)
    async_setup_websocket_api(hass)
    await async_setup_panel(hass)
    RetentionRunner(hass, nvr).start()
    if fresh or recovered:
        # Missing or corrupt index: rebuild it from the files on disk, in the background.
        hass.async_create_background_task(
            _async_rebuild(hass, index, base / "recordings"), "cctv_nvr index rebuild"
        )
        # Cameras recording elsewhere: their folders hold their own footage.
        folders = {
            chosen_folder(entry.options, nvr.root)
            for entry in hass.config_entries.async_entries(DOMAIN)
        }
        for folder in sorted(folders - {nvr.root}):
            hass.async_create_background_task(
                _async_rebuild(hass, index, folder), "cctv_nvr index rebuild"
            )
    return True


async def _async_rebuild(hass: HomeAssistant, index: SegmentIndex, root: Path) -> None:
    if await hass.async_add_executor_job(root.is_dir):
        await _async_rebuild_from_disk(hass, index, root)
    hass.data[DATA_NVR].rebuilt = True
    if cloud_runtime(hass) is not None:
        await async_rebuild_from_bucket(hass)


async def _async_rebuild_from_disk(hass: HomeAssistant, index: SegmentIndex, root: Path) -> None:
    # Files younger than a minute may still be growing; recorders index those themselves.
    report = await hass.async_add_executor_job(partial(rebuild_index, index, root, min_age=60.0))
    _LOGGER.info(
        "Recordings index rebuilt from disk: %d files, %d added, %d unreadable (kept on disk)",
        report.files,
        report.added,
        report.unreadable,
    )


async def async_rebuild_from_bucket(hass: HomeAssistant) -> None:
    """Find the footage in the bucket again (the index was lost or rebuilt)."""
    runtime = cloud_runtime(hass)
    if runtime is None:
        return
    try:
        report = await runtime.tier.rebuild_from_bucket()
    except Exception as err:  # noqa: BLE001 - the bucket may be down; the next start retries
        _LOGGER.warning("Cloud footage not listed again (the bucket is unavailable): %s", err)
        return
    hass.data[DATA_NVR].rebuilt = False
    _LOGGER.info(
        "Cloud footage found again: %d objects, %d segments added, %d adopted, %d exports",
        report.objects,
        report.segments_added,
        report.segments_adopted,
        report.exports_added,
    )


async def async_migrate_entry(hass: HomeAssistant, entry: CctvNvrConfigEntry) -> bool:
    """Bring an older camera entry up to date (1.1 -> 1.2: no credentials in the unique id)."""
    if entry.version > 1:
        return False  # made by a newer version: refuse rather than guess
    if entry.minor_version < 2 and CONF_MAIN_URL in entry.data:  # noqa: PLR2004
        hass.config_entries.async_update_entry(
            entry, unique_id=camera_unique_id(entry.data[CONF_MAIN_URL]), minor_version=2
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: CctvNvrConfigEntry) -> bool:
    """Set up one camera, or the cloud tier.

    A push camera's key is accepted by the ingest server from now on.
    """
    if is_cloud_entry(entry):
        return await _async_setup_cloud_entry(hass, entry)
    coordinator = CameraCoordinator(hass, entry, hass.data[DATA_NVR])
    entry.runtime_data = coordinator
    if isinstance(coordinator.recorder, PushRecorder):
        await async_get_ingest(hass).async_add_camera(
            coordinator.recorder, entry.data[CONF_STREAM_KEY]
        )
    await coordinator.location.async_start()
    await coordinator.async_refresh()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await async_register_panel(hass)

    async def _stop_recording(_event: Event) -> None:
        await coordinator.recorder.stop()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _stop_recording))
    return True


async def _async_setup_cloud_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    runtime = await async_setup_cloud(hass, entry)
    entry.runtime_data = runtime

    async def _stop_uploading(_event: Event) -> None:
        await runtime.tier.stop()

    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _stop_uploading))
    await hass.config_entries.async_forward_entry_setups(entry, CLOUD_PLATFORMS)
    if hass.data[DATA_NVR].rebuilt:  # the index was rebuilt before the tier started
        hass.async_create_background_task(async_rebuild_from_bucket(hass), "cctv_nvr cloud rebuild")
    return True


async def async_unload_entry(hass: HomeAssistant, entry: CctvNvrConfigEntry) -> bool:
    """Unload a camera (its recording stops after finishing the open segment), or the cloud."""
    runtime: CameraCoordinator | CloudRuntime = entry.runtime_data
    if isinstance(runtime, CloudRuntime):
        unloaded = await hass.config_entries.async_unload_platforms(entry, CLOUD_PLATFORMS)
        if unloaded:
            await async_unload_cloud(hass, runtime)
        return unloaded
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        async_remove_panel_if_unused(hass, entry)
        coordinator = entry.runtime_data
        if coordinator.push:  # the publisher goes first: its run ends, the segment finishes
            await async_get_ingest(hass).async_remove_camera(coordinator.camera_key)
        await coordinator.async_shutdown()
    return unloaded
