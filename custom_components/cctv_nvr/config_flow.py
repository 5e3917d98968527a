"""Config flow: add a camera (tested before saving) or a push camera, reauth, reconfigure, options.

A push camera's stream key is shown once, before its entry is created, and again (with
"regenerate the key") in its reconfigure flow; both are admin-only flows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict
from functools import partial
import logging
from pathlib import Path
from typing import Any

from homeassistant.auth.models import User
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlowWithReload,
    SubentryFlowResult,
)
from homeassistant.const import CONF_NAME, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    ObjectSelector,
    ObjectSelectorConfig,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import slugify
import probatio as vol

from .audit import Action, async_audit
from .cloud_flow import CloudFlowMixin, CloudOptionsFlow
from .const import (
    CONF_AUDIT_DAYS,
    CONF_DEFAULT_RIGHTS,
    CONF_EVENT_RETENTION_DAYS,
    CONF_INGEST_PORT,
    CONF_KIND,
    CONF_LIVE_PANEL_ONLY,
    CONF_LIVE_STREAM,
    CONF_LOCAL_FALLBACK,
    CONF_MAIN_URL,
    CONF_MAX_SIZE_GB,
    CONF_MIN_FREE_GB,
    CONF_NOTIFY_LINK_HOURS,
    CONF_OFFLINE_REPAIR_MINUTES,
    CONF_RECORD_AUDIO,
    CONF_RECORDINGS_FOLDER,
    CONF_REGENERATE_KEY,
    CONF_RETENTION_DAYS,
    CONF_SEGMENT_SECONDS,
    CONF_STORAGE_KEY,
    CONF_STREAM_INFO,
    CONF_STREAM_KEY,
    CONF_SUB_URL,
    CONF_TRANSPORT,
    DEFAULT_AUDIT_DAYS,
    DEFAULT_EVENT_RETENTION_DAYS,
    DEFAULT_MIN_FREE_GB,
    DEFAULT_NOTIFY_LINK_HOURS,
    DEFAULT_OFFLINE_MINUTES,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SEGMENT_SECONDS,
    DOMAIN,
    GB,
    GRANT_LOOKBACK_HOURS,
    GRANT_RIGHTS,
    GRANT_USER_ID,
    GRANT_WINDOWS,
    KIND_PUSH,
    MAX_NOTIFY_LINK_HOURS,
    MAX_SEGMENT_SECONDS,
    MIN_SEGMENT_SECONDS,
    PROBE_TIMEOUT,
    STORAGE_DIR,
    STREAM_MAIN,
    STREAM_SUB,
    SUBENTRY_ACCESS,
    TRANSPORTS,
)
from .data import DATA_NVR, is_cloud_entry, is_push
from .engine import location, rtsp
from .engine.ingest import new_stream_key
from .engine.media import ProbeError, StreamInfo, probe_url
from .engine.policy import DAYS, Caller, Grant, Right
from .engine.stats import disk_usage
from .push import DATA_INGEST, async_get_ingest, async_url_placeholders, port_selector

_LOGGER = logging.getLogger(__name__)

# The free-space floor must leave most of the disk to footage.
MAX_FLOOR_SHARE = 0.9
# Grants changed in Home Assistant's settings: only administrators can, which one is not known.
SYSTEM_ADMIN = Caller(None, admin=True)
SYSTEM_ADMIN_NAME = "administrator (Home Assistant settings)"


class CameraCheckError(Exception):
    """A camera check failed; ``field`` and ``reason`` place the translated error."""

    def __init__(self, field: str, reason: str) -> None:
        """Store where the error belongs and its translation key."""
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _split_credentials(
    url: str, username: str | None, password: str | None
) -> tuple[str, str | None, str | None]:
    """Return the URL without credentials, and the credentials to store."""
    parsed = rtsp.parse_rtsp_url(url)
    user = username or parsed.username
    secret = password or parsed.password
    return rtsp.strip_credentials(url.strip()), user or None, secret or None


async def async_check_camera(
    hass: Any, data: Mapping[str, Any]
) -> tuple[dict[str, Any], StreamInfo]:
    """Check a camera's streams; return cleaned entry data and the main stream's info."""
    try:
        main_url, user, secret = _split_credentials(
            data[CONF_MAIN_URL], data.get(CONF_USERNAME), data.get(CONF_PASSWORD)
        )
    except rtsp.RtspInvalidUrlError as err:
        raise CameraCheckError(CONF_MAIN_URL, err.reason) from err
    sub_url: str | None = None
    if data.get(CONF_SUB_URL):
        try:
            sub_url, _, _ = _split_credentials(data[CONF_SUB_URL], None, None)
        except rtsp.RtspInvalidUrlError as err:
            raise CameraCheckError(CONF_SUB_URL, err.reason) from err
    for field, url in ((CONF_MAIN_URL, main_url), (CONF_SUB_URL, sub_url)):
        if url is None:
            continue
        try:
            await rtsp.describe(url, user, secret, timeout=PROBE_TIMEOUT / 2)
        except rtsp.RtspError as err:
            _LOGGER.debug("Camera check of %s failed: %s", rtsp.redact_url(url), err)
            raise CameraCheckError(
                "base" if err.reason == "invalid_auth" else field, err.reason
            ) from err
    transport = data.get(CONF_TRANSPORT, "tcp")
    try:
        async with asyncio.timeout(PROBE_TIMEOUT + 2):
            info = await hass.async_add_executor_job(
                probe_url,
                rtsp.credential_url(main_url, user, secret),
                transport,
                PROBE_TIMEOUT,
            )
    except TimeoutError as err:
        raise CameraCheckError("base", "timeout") from err
    except ProbeError as err:
        raise CameraCheckError("base", err.reason) from err
    cleaned = {
        CONF_MAIN_URL: main_url,
        CONF_SUB_URL: sub_url,
        CONF_USERNAME: user,
        CONF_PASSWORD: secret,
        CONF_TRANSPORT: transport,
        CONF_STREAM_INFO: asdict(info),
    }
    return cleaned, info


def _used_folders(base: Path) -> set[str]:
    """Return the camera folder names under the recordings, exports and caches (executor)."""
    found: set[str] = set()
    for folder in ("recordings", "exports", "thumbnails"):
        directory = base / folder
        if directory.is_dir():
            found.update(path.name for path in directory.iterdir() if path.is_dir())
    return found


def camera_unique_id(url: str) -> str:
    """Return a camera's unique id: host, port and path, with no credentials in them."""
    parsed = rtsp.parse_rtsp_url(url)
    return f"{parsed.host.lower()}:{parsed.port}{rtsp.redact_text(parsed.path)}"


def _camera_schema(defaults: Mapping[str, Any], *, with_name: bool) -> vol.Schema:
    fields: dict[Any, Any] = {}
    if with_name:
        fields[vol.Required(CONF_NAME, default=defaults.get(CONF_NAME, ""))] = TextSelector()
    fields.update(
        {
            vol.Required(
                CONF_MAIN_URL, default=defaults.get(CONF_MAIN_URL, "rtsp://")
            ): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
            vol.Optional(
                CONF_SUB_URL, description={"suggested_value": defaults.get(CONF_SUB_URL)}
            ): TextSelector(TextSelectorConfig(type=TextSelectorType.URL)),
            vol.Optional(
                CONF_USERNAME, description={"suggested_value": defaults.get(CONF_USERNAME)}
            ): TextSelector(),
            vol.Optional(CONF_PASSWORD): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
            vol.Required(
                CONF_TRANSPORT, default=defaults.get(CONF_TRANSPORT, "tcp")
            ): SelectSelector(
                SelectSelectorConfig(
                    options=TRANSPORTS,
                    mode=SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_TRANSPORT,
                )
            ),
        }
    )
    return vol.Schema(fields)


ADD_MENU = ["camera", "push", "cloud"]  # what "Add integration" offers: one step per kind


class CctvNvrConfigFlow(CloudFlowMixin, ConfigFlow, domain=DOMAIN):
    """Add an IP camera, or the cloud tier (its steps: cloud_flow.py)."""

    VERSION = 1
    MINOR_VERSION = 2  # 2: unique ids hold no credentials from the URL path or query

    def __init__(self) -> None:
        """Start a flow (a push camera's data waits here until its URL was shown)."""
        self._push: dict[str, Any] = {}

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: ConfigEntry,
    ) -> CctvNvrOptionsFlow | CloudOptionsFlow:
        """Return the options flow (a camera's recording settings, or the cloud tier's)."""
        if is_cloud_entry(config_entry):
            return CloudOptionsFlow()
        return CctvNvrOptionsFlow()

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return the subentries a camera has: users' access grants (the cloud tier: none)."""
        if is_cloud_entry(config_entry):
            return {}
        return {SUBENTRY_ACCESS: AccessGrantFlow}

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask what to add (each kind is a step of its own)."""
        return self.async_show_menu(step_id="user", menu_options=ADD_MENU)

    async def async_step_camera(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the camera's streams and credentials, and test them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                unique_id = camera_unique_id(user_input[CONF_MAIN_URL])
            except rtsp.RtspInvalidUrlError:
                errors[CONF_MAIN_URL] = "invalid_url"
            else:
                await self.async_set_unique_id(unique_id)
                self._abort_if_unique_id_configured()
                try:
                    cleaned, _info = await async_check_camera(self.hass, user_input)
                except CameraCheckError as err:
                    errors[err.field] = err.reason
                else:
                    name = user_input[CONF_NAME].strip() or unique_id
                    return self.async_create_entry(
                        title=name,
                        data={
                            CONF_NAME: name,
                            CONF_STORAGE_KEY: await self._async_storage_key(name),
                            **cleaned,
                        },
                        options={
                            CONF_SEGMENT_SECONDS: DEFAULT_SEGMENT_SECONDS,
                            CONF_RECORD_AUDIO: True,
                            CONF_LIVE_STREAM: STREAM_SUB if cleaned[CONF_SUB_URL] else STREAM_MAIN,
                        },
                    )
        return self.async_show_form(
            step_id="camera",
            data_schema=self.add_suggested_values_to_schema(
                _camera_schema({}, with_name=True), _without_password(user_input)
            ),
            errors=errors,
        )

    async def async_step_push(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask a push camera's name (and whether to record its audio)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            name = user_input[CONF_NAME].strip()
            if not name:
                errors[CONF_NAME] = "name_required"
            else:
                self._push = {
                    CONF_NAME: name,
                    CONF_RECORD_AUDIO: bool(user_input.get(CONF_RECORD_AUDIO, True)),
                    CONF_STREAM_KEY: new_stream_key(),
                }
                return await self.async_step_push_url()
        return self.async_show_form(
            step_id="push",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(
                    {
                        vol.Required(CONF_NAME): TextSelector(),
                        vol.Required(CONF_RECORD_AUDIO, default=True): BooleanSelector(),
                    }
                ),
                user_input or {},
            ),
            errors=errors,
        )

    async def async_step_push_url(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the publish URL with its key (once), then create the camera."""
        push = self._push
        if user_input is not None:
            name = push[CONF_NAME]
            storage_key = await self._async_storage_key(name)
            await self.async_set_unique_id(f"{KIND_PUSH}:{storage_key}")
            self._abort_if_unique_id_configured()
            return self.async_create_entry(
                title=name,
                data={
                    CONF_KIND: KIND_PUSH,
                    CONF_NAME: name,
                    CONF_STORAGE_KEY: storage_key,
                    CONF_STREAM_KEY: push[CONF_STREAM_KEY],
                },
                options={
                    CONF_SEGMENT_SECONDS: DEFAULT_SEGMENT_SECONDS,
                    CONF_RECORD_AUDIO: push[CONF_RECORD_AUDIO],
                },
            )
        port = await async_get_ingest(self.hass).async_port()
        return self.async_show_form(
            step_id="push_url",
            data_schema=vol.Schema({}),
            description_placeholders={
                "name": push[CONF_NAME],
                **async_url_placeholders(self.hass, port, push[CONF_STREAM_KEY]),
            },
        )

    async def _async_storage_key(self, name: str) -> str:
        """Return a unique, human-readable folder name for the camera.

        Never one a deleted camera used: its footage, exports and index rows stay behind,
        and a new camera must not silently inherit them.
        """
        base = slugify(name) or "camera"
        taken = {entry.data.get(CONF_STORAGE_KEY) for entry in self._async_current_entries()}
        taken |= await self.hass.async_add_executor_job(
            _used_folders, Path(self.hass.config.path(STORAGE_DIR))
        )
        nvr = self.hass.data.get(DATA_NVR)
        if nvr is not None:
            taken |= set(await self.hass.async_add_executor_job(nvr.index.cameras))
        key, number = base, 2
        while key in taken:
            key, number = f"{base}_{number}", number + 1
        return key

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Ask for new credentials after the camera answered 401 (or the bucket refused a key)."""
        if is_cloud_entry(self._get_reauth_entry()):
            return await self.async_step_cloud_reauth()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the username and password again."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            try:
                cleaned, _info = await async_check_camera(self.hass, data)
            except CameraCheckError as err:
                errors["base"] = err.reason
            else:
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_USERNAME: cleaned[CONF_USERNAME],
                        CONF_PASSWORD: cleaned[CONF_PASSWORD],
                    },
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema(
                {
                    vol.Optional(
                        CONF_USERNAME, default=entry.data.get(CONF_USERNAME) or ""
                    ): TextSelector(),
                    vol.Optional(CONF_PASSWORD): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.PASSWORD)
                    ),
                }
            ),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change a camera's streams or credentials.

        A push camera: show or renew its key; the cloud tier: its bucket.
        """
        entry = self._get_reconfigure_entry()
        if is_cloud_entry(entry):
            return await self.async_step_cloud_reconfigure(user_input)
        if is_push(entry):
            return await self.async_step_reconfigure_push()
        errors: dict[str, str] = {}
        if user_input is not None:
            if not user_input.get(CONF_PASSWORD) and user_input.get(
                CONF_USERNAME
            ) == entry.data.get(CONF_USERNAME):
                user_input = {**user_input, CONF_PASSWORD: entry.data.get(CONF_PASSWORD)}
            try:
                unique_id = camera_unique_id(user_input[CONF_MAIN_URL])
            except rtsp.RtspInvalidUrlError:
                errors[CONF_MAIN_URL] = "invalid_url"
            else:
                await self.async_set_unique_id(unique_id)
                if unique_id != entry.unique_id:
                    self._abort_if_unique_id_configured()
                try:
                    cleaned, _info = await async_check_camera(self.hass, user_input)
                except CameraCheckError as err:
                    errors[err.field] = err.reason
                else:
                    return self.async_update_reload_and_abort(
                        entry, unique_id=unique_id, data_updates=cleaned
                    )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _camera_schema(entry.data, with_name=False), _without_password(user_input)
            ),
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def async_step_reconfigure_push(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show a push camera's publish URL; a new key refuses the old one at once."""
        entry = self._get_reconfigure_entry()
        port = await async_get_ingest(self.hass).async_port()
        if user_input is not None:
            if not user_input.get(CONF_REGENERATE_KEY):
                return self.async_abort(reason="key_kept")
            key = new_stream_key()
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_STREAM_KEY: key}
            )
            manager = self.hass.data.get(DATA_INGEST)
            if manager is not None:
                manager.set_key(entry.data[CONF_STORAGE_KEY], key)
            _LOGGER.info(
                "Camera %s: a new stream key was made; the old one is refused", entry.title
            )
            if self.hass.data.get(DATA_NVR) is not None:  # who may publish changed: audited
                raw = self.context.get("user_id")
                user_id = raw if isinstance(raw, str) else None
                await async_audit(
                    self.hass,
                    Caller(user_id, admin=True),
                    entry.data[CONF_STORAGE_KEY],
                    Action.ACCESS_CHANGED,
                    detail="stream key renewed; the old key is refused",
                    user_name=None if user_id else SYSTEM_ADMIN_NAME,
                )
            return self.async_abort(
                reason="key_regenerated",
                description_placeholders={
                    "name": entry.title,
                    **async_url_placeholders(self.hass, port, key),
                },
            )
        return self.async_show_form(
            step_id="reconfigure_push",
            data_schema=vol.Schema(
                {vol.Required(CONF_REGENERATE_KEY, default=False): BooleanSelector()}
            ),
            description_placeholders={
                "name": entry.title,
                **async_url_placeholders(self.hass, port, entry.data[CONF_STREAM_KEY]),
            },
        )


def _number(low: float, high: float, step: float, unit: str) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=low, max=high, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
        )
    )


def _without_password(user_input: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (user_input or {}).items() if k != CONF_PASSWORD}


def _disk_size(path: Path) -> int | None:
    """Return the size of the filesystem holding a folder (or its nearest parent)."""
    usage = disk_usage(path)
    return None if usage is None else usage.total


class CctvNvrOptionsFlow(OptionsFlowWithReload):
    """Recording and access settings of a camera."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and save the recording settings."""
        entry = self.config_entry
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        push = is_push(entry)
        if user_input is not None:
            if push:  # installation-wide: kept by the ingest manager, not in this entry
                port = int(user_input.pop(CONF_INGEST_PORT))
                manager = async_get_ingest(self.hass)
                if port != await manager.async_port():
                    error = await manager.async_try_port(port)
                    if error is not None:
                        errors[CONF_INGEST_PORT] = error
            user_input[CONF_SEGMENT_SECONDS] = int(user_input[CONF_SEGMENT_SECONDS])
            user_input[CONF_AUDIT_DAYS] = int(user_input[CONF_AUDIT_DAYS])
            user_input[CONF_DEFAULT_RIGHTS] = sorted(user_input[CONF_DEFAULT_RIGHTS])
            size = await self.hass.async_add_executor_job(
                _disk_size, Path(self.hass.config.path(STORAGE_DIR))
            )
            floor = float(user_input.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)) * GB
            if size is not None and floor >= size * MAX_FLOOR_SHARE:
                errors[CONF_MIN_FREE_GB] = "min_free_too_large"
                placeholders["disk_gb"] = f"{size / GB:.1f}"
            elif error := await self._async_check_folder(user_input, int(floor)):
                errors[CONF_RECORDINGS_FOLDER] = error
            if not errors:
                return self.async_create_entry(data=user_input)
        options = {**entry.options, **(user_input or {})}
        placeholders["default_folder"] = str(
            Path(self.hass.config.path(STORAGE_DIR)) / "recordings"
        )
        streams = [STREAM_MAIN, STREAM_SUB] if entry.data.get(CONF_SUB_URL) else [STREAM_MAIN]
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_SEGMENT_SECONDS,
                    default=options.get(CONF_SEGMENT_SECONDS, DEFAULT_SEGMENT_SECONDS),
                ): _number(MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS, 1, "s"),
                vol.Required(
                    CONF_RECORD_AUDIO, default=options.get(CONF_RECORD_AUDIO, True)
                ): BooleanSelector(),
                vol.Optional(
                    CONF_RECORDINGS_FOLDER,
                    description={"suggested_value": options.get(CONF_RECORDINGS_FOLDER, "")},
                ): TextSelector(),
                vol.Required(
                    CONF_LOCAL_FALLBACK, default=options.get(CONF_LOCAL_FALLBACK, True)
                ): BooleanSelector(),
                vol.Required(
                    CONF_RETENTION_DAYS,
                    default=options.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS),
                ): _number(1, 3650, 1, "d"),
                vol.Required(CONF_MAX_SIZE_GB, default=options.get(CONF_MAX_SIZE_GB, 0)): _number(
                    0, 100000, 0.1, "GB"
                ),
                vol.Required(
                    CONF_MIN_FREE_GB, default=options.get(CONF_MIN_FREE_GB, DEFAULT_MIN_FREE_GB)
                ): _number(0, 10000, 0.1, "GB"),
                vol.Required(
                    CONF_OFFLINE_REPAIR_MINUTES,
                    default=options.get(CONF_OFFLINE_REPAIR_MINUTES, DEFAULT_OFFLINE_MINUTES),
                ): _number(1, 10080, 1, "min"),
                vol.Required(
                    CONF_EVENT_RETENTION_DAYS,
                    default=options.get(CONF_EVENT_RETENTION_DAYS, DEFAULT_EVENT_RETENTION_DAYS),
                ): _number(1, 3650, 1, "d"),
                vol.Required(
                    CONF_NOTIFY_LINK_HOURS,
                    default=min(
                        options.get(CONF_NOTIFY_LINK_HOURS, DEFAULT_NOTIFY_LINK_HOURS),
                        MAX_NOTIFY_LINK_HOURS,
                    ),
                ): _number(1, MAX_NOTIFY_LINK_HOURS, 1, "h"),
                vol.Required(
                    CONF_LIVE_STREAM,
                    default=options.get(CONF_LIVE_STREAM, STREAM_MAIN)
                    if options.get(CONF_LIVE_STREAM) in streams
                    else STREAM_MAIN,
                ): SelectSelector(
                    SelectSelectorConfig(options=streams, translation_key=CONF_LIVE_STREAM)
                ),
                vol.Required(
                    CONF_DEFAULT_RIGHTS,
                    default=list(options.get(CONF_DEFAULT_RIGHTS, [str(r) for r in Right])),
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=[str(right) for right in Right],
                        multiple=True,
                        mode=SelectSelectorMode.LIST,
                        translation_key="rights",
                    )
                ),
                vol.Required(
                    CONF_LIVE_PANEL_ONLY, default=options.get(CONF_LIVE_PANEL_ONLY, False)
                ): BooleanSelector(),
                vol.Required(
                    CONF_AUDIT_DAYS, default=options.get(CONF_AUDIT_DAYS, DEFAULT_AUDIT_DAYS)
                ): _number(1, 3650, 1, "d"),
            }
        )
        if push:  # one stream (no live stream choice); the port all push cameras share
            fields = {key: value for key, value in schema.schema.items() if key != CONF_LIVE_STREAM}
            port = await async_get_ingest(self.hass).async_port()
            fields[vol.Required(CONF_INGEST_PORT, default=port)] = port_selector()
            schema = vol.Schema(fields)
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_check_folder(self, user_input: dict[str, Any], floor: int) -> str | None:
        """Check (and claim) the recordings folder; store it normalised (empty: default)."""
        default = Path(self.hass.config.path(STORAGE_DIR)) / "recordings"
        folder = str(user_input.get(CONF_RECORDINGS_FOLDER) or "").strip()
        if folder and Path(folder).is_absolute():
            folder = str(Path(folder))  # no trailing slash: one folder, one spelling
        if not folder or Path(folder) == default:
            user_input[CONF_RECORDINGS_FOLDER] = ""
            return None
        user_input[CONF_RECORDINGS_FOLDER] = folder
        key = self.config_entry.data[CONF_STORAGE_KEY]
        camera_folders = [default / key]  # this camera's own folder in the default root
        for other in self.hass.config_entries.async_entries(DOMAIN):
            if other.entry_id == self.config_entry.entry_id:
                continue
            other_key = other.data[CONF_STORAGE_KEY]
            camera_folders.append(default / other_key)
            if other_folder := other.options.get(CONF_RECORDINGS_FOLDER):
                camera_folders.append(Path(other_folder) / other_key)
        forbidden = [Path(self.hass.config.path(".storage"))]
        error = await self.hass.async_add_executor_job(
            partial(
                location.check_folder,
                folder,
                min_free_bytes=floor,
                camera_folders=camera_folders,
                forbidden=forbidden,
            )
        )
        if error is None:
            try:
                await self.hass.async_add_executor_job(location.claim, Path(folder))
            except OSError:
                return location.ERROR_NOT_WRITABLE
        return error


# -- access grants ---------------------------------------------------------------------------

WINDOW_FIELDS: dict[str, Any] = {
    "days": {
        "selector": {
            "select": {"options": list(DAYS), "multiple": True, "translation_key": "days"}
        },
        "required": True,
    },
    "start": {"selector": {"time": {}}, "required": True},
    "end": {"selector": {"time": {}}, "required": True},
}


def grant_schema(defaults: Mapping[str, Any], users: dict[str, str] | None) -> vol.Schema:
    """Return the form of a grant (with a user to choose when ``users`` is given)."""
    fields: dict[Any, Any] = {}
    if users is not None:
        fields[vol.Required(GRANT_USER_ID)] = SelectSelector(
            SelectSelectorConfig(
                options=[SelectOptionDict(value=uid, label=name) for uid, name in users.items()],
                mode=SelectSelectorMode.DROPDOWN,
            )
        )
    fields[vol.Required(GRANT_RIGHTS, default=list(defaults.get(GRANT_RIGHTS, ["live"])))] = (
        SelectSelector(
            SelectSelectorConfig(
                options=[str(right) for right in Right],
                multiple=True,
                mode=SelectSelectorMode.LIST,
                translation_key="rights",
            )
        )
    )
    fields[
        vol.Optional(GRANT_WINDOWS, description={"suggested_value": defaults.get(GRANT_WINDOWS)})
    ] = ObjectSelector(ObjectSelectorConfig(fields=WINDOW_FIELDS, multiple=True))
    fields[
        vol.Optional(
            GRANT_LOOKBACK_HOURS,
            description={"suggested_value": defaults.get(GRANT_LOOKBACK_HOURS)},
        )
    ] = _number(1, 24 * 3650, 1, "h")
    return vol.Schema(fields)


def parse_grant(user_input: Mapping[str, Any]) -> Grant:
    """Return the grant a form describes; raise ValueError with an error key when it is bad."""
    windows = user_input.get(GRANT_WINDOWS) or []
    try:
        grant = Grant.from_dict(
            {
                "rights": user_input.get(GRANT_RIGHTS, []),
                "windows": [
                    {"days": w.get("days") or [], "start": w.get("start"), "end": w.get("end")}
                    for w in windows
                ],
                "lookback_hours": user_input.get(GRANT_LOOKBACK_HOURS),
            }
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError("invalid_window") from err
    if not grant.rights:
        raise ValueError("no_rights")
    return grant


def grantable_users(users: list[User]) -> dict[str, str]:
    """Return the users grants are for: active, not administrators, not system users."""
    return {
        user.id: user.name or user.id
        for user in sorted(users, key=lambda u: (u.name or "").lower())
        if user.is_active and not user.is_admin and not user.system_generated
    }


class AccessGrantFlow(ConfigSubentryFlow):
    """Give a user rights on a camera (live, recordings, export, control), with limits."""

    async def _async_audit(self, user: str, grant: Grant | None) -> None:
        entry = self._get_entry()
        await async_audit(
            self.hass,
            SYSTEM_ADMIN,
            entry.data[CONF_STORAGE_KEY],
            Action.ACCESS_CHANGED,
            detail=f"{user}: {'removed' if grant is None else grant.as_dict()}",
            user_name=SYSTEM_ADMIN_NAME,
        )

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Choose a user and their rights on this camera."""
        entry = self._get_entry()
        taken = {
            sub.unique_id
            for sub in entry.subentries.values()
            if sub.subentry_type == SUBENTRY_ACCESS
        }
        users = {
            uid: name
            for uid, name in grantable_users(await self.hass.auth.async_get_users()).items()
            if uid not in taken
        }
        if not users:
            return self.async_abort(reason="no_users")
        errors: dict[str, str] = {}
        if user_input is not None:
            user_id = user_input.get(GRANT_USER_ID)
            if user_id not in users:
                errors[GRANT_USER_ID] = "unknown_user"
            else:
                try:
                    grant = parse_grant(user_input)
                except ValueError as err:
                    errors["base"] = str(err)
                else:
                    if self.hass.data.get(DATA_NVR) is not None:
                        await self._async_audit(users[user_id], grant)
                    return self.async_create_entry(
                        title=users[user_id],
                        data={GRANT_USER_ID: user_id, **grant.as_dict()},
                        unique_id=user_id,
                    )
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                grant_schema({}, users), user_input or {}
            ),
            errors=errors,
            description_placeholders={"camera": entry.title},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a user's rights on this camera."""
        entry = self._get_entry()
        subentry = self._get_reconfigure_subentry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                grant = parse_grant(user_input)
            except ValueError as err:
                errors["base"] = str(err)
            else:
                user_id = str(subentry.data[GRANT_USER_ID])
                if self.hass.data.get(DATA_NVR) is not None:
                    await self._async_audit(subentry.title, grant)
                return self.async_update_and_abort(
                    entry, subentry, data={GRANT_USER_ID: user_id, **grant.as_dict()}
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=grant_schema(user_input or dict(subentry.data), None),
            errors=errors,
            description_placeholders={"camera": entry.title, "user": subentry.title},
        )
