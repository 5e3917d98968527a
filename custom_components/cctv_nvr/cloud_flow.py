"""Config flow steps of the cloud tier: add it, reauthenticate its key, reconfigure, options.

The key and the bucket are checked off the event loop by the engine's probe: an object
is written, read back and deleted. Only one cloud entry can exist (unique id "cloud").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlowWithReload
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
)
import probatio as vol

from .cloud import normalize_prefix
from .const import (
    BUCKET_DEFAULT_CLASS,
    CLOUD_UNIQUE_ID,
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
    CONF_PREFIX,
    CONF_STORAGE_CLASS,
    CONF_UPLOAD,
    ENTRY_KIND_CLOUD,
)
from .engine.cloud import CloudConfig, CloudState, StorageClass, UploadScope, probe_bucket

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigFlow

    _Base = ConfigFlow
else:
    _Base = object

_KEY_FIELDS = ("type", "client_email", "private_key", "token_uri")
_PROBE_ERRORS = {
    CloudState.AUTH_FAILED: "auth_failed",
    CloudState.BUCKET_MISSING: "bucket_missing",
}
DEFAULT_CLOUD_OPTIONS: dict[str, Any] = {
    CONF_UPLOAD: str(UploadScope.ALL),
    CONF_DELAY_MINUTES: 0,
    CONF_BANDWIDTH_MBPS: 0,
    CONF_STORAGE_CLASS: BUCKET_DEFAULT_CLASS,
    CONF_KEEP_LOCAL_DAYS: 0,
    CONF_KEEP_CLOUD_DAYS: 0,
    CONF_LIFECYCLE_DELETE_DAYS: 0,
    CONF_LIFECYCLE_COLDER_DAYS: 0,
    CONF_LIFECYCLE_COLDER_CLASS: str(StorageClass.COLDLINE),
}
_COLDER = [str(StorageClass.NEARLINE), str(StorageClass.COLDLINE), str(StorageClass.ARCHIVE)]


class CloudKeyError(Exception):
    """The key or the bucket was refused; ``reason`` is the translation key of the error."""

    def __init__(self, reason: str) -> None:
        """Keep the reason (never the key)."""
        super().__init__(reason)
        self.reason = reason


def parse_key(text: str) -> dict[str, Any]:
    """Return a service account key from its JSON text; raise CloudKeyError when it is not one."""
    try:
        key = json.loads(text)
    except ValueError:
        raise CloudKeyError("invalid_key") from None
    if (
        not isinstance(key, dict)
        or key.get("type") != "service_account"
        or not all(isinstance(key.get(name), str) and key[name] for name in _KEY_FIELDS)
    ):
        raise CloudKeyError("invalid_key")
    return key


async def async_check_cloud(bucket: str, key: dict[str, Any], prefix: str) -> None:
    """Write, read back and delete a probe object (off the loop); raise CloudKeyError."""
    try:
        config = CloudConfig(bucket=bucket, key=key, prefix=prefix)
    except ValueError:
        raise CloudKeyError("bucket_missing") from None
    state, _message = await probe_bucket(config)  # the message may name the key: not shown
    if state != CloudState.IDLE:
        raise CloudKeyError(_PROBE_ERRORS.get(state, "cloud_cannot_connect"))


def _key_schema() -> dict[Any, Any]:
    return {vol.Required(CONF_KEY): TextSelector(TextSelectorConfig(multiline=True))}


def _place_schema(bucket: str = "", prefix: str = "") -> dict[Any, Any]:
    return {
        vol.Required(CONF_BUCKET, default=bucket): TextSelector(),
        vol.Optional(CONF_PREFIX, default=prefix): TextSelector(),
    }


class CloudFlowMixin(_Base):
    """The cloud tier's steps of the integration's config flow."""

    async def async_step_cloud(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the bucket, the key and the prefix; probe them."""
        await self.async_set_unique_id(CLOUD_UNIQUE_ID)
        self._abort_if_unique_id_configured(error="cloud_already_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            bucket = user_input[CONF_BUCKET].strip()
            prefix = normalize_prefix(user_input.get(CONF_PREFIX, ""))
            try:
                key = parse_key(user_input[CONF_KEY])
                await async_check_cloud(bucket, key, prefix)
            except CloudKeyError as err:
                errors["base"] = err.reason
            else:
                return self.async_create_entry(
                    title=f"Cloud storage ({bucket})",
                    data={
                        CONF_KIND: ENTRY_KIND_CLOUD,
                        CONF_BUCKET: bucket,
                        CONF_KEY: key,
                        CONF_PREFIX: prefix,
                    },
                    options=dict(DEFAULT_CLOUD_OPTIONS),
                )
        defaults = user_input or {}
        return self.async_show_form(
            step_id="cloud",
            data_schema=vol.Schema(
                {
                    **_place_schema(defaults.get(CONF_BUCKET, ""), defaults.get(CONF_PREFIX, "")),
                    **_key_schema(),
                }
            ),
            errors=errors,
        )

    async def async_step_cloud_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new key after the bucket refused the old one."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                key = parse_key(user_input[CONF_KEY])
                await async_check_cloud(entry.data[CONF_BUCKET], key, entry.data[CONF_PREFIX])
            except CloudKeyError as err:
                errors["base"] = err.reason
            else:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_KEY: key}, reason="cloud_key_updated"
                )
        return self.async_show_form(
            step_id="cloud_reauth",
            data_schema=vol.Schema(_key_schema()),
            description_placeholders={"bucket": entry.data[CONF_BUCKET]},
            errors=errors,
        )

    async def async_step_cloud_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the tier to another bucket or prefix (probed with the current key)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            bucket = user_input[CONF_BUCKET].strip()
            prefix = normalize_prefix(user_input.get(CONF_PREFIX, ""))
            try:
                await async_check_cloud(bucket, entry.data[CONF_KEY], prefix)
            except CloudKeyError as err:
                errors["base"] = err.reason
            else:
                return self.async_update_reload_and_abort(
                    entry,
                    title=f"Cloud storage ({bucket})",
                    data_updates={CONF_BUCKET: bucket, CONF_PREFIX: prefix},
                    reason="cloud_reconfigured",
                )
        return self.async_show_form(
            step_id="cloud_reconfigure",
            data_schema=vol.Schema(
                _place_schema(entry.data[CONF_BUCKET], entry.data.get(CONF_PREFIX, ""))
            ),
            errors=errors,
        )


def _number(high: float, step: float, unit: str) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=0, max=high, step=step, unit_of_measurement=unit, mode=NumberSelectorMode.BOX
        )
    )


class CloudOptionsFlow(OptionsFlowWithReload):
    """What is uploaded, when, how fast, in which class, and how long it is kept."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Open the cloud settings (a step of their own: camera options are "init")."""
        return await self.async_step_cloud_options(user_input)

    async def async_step_cloud_options(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and save the cloud tier's settings."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input.get(CONF_LIFECYCLE_COLDER_DAYS) and not _colder(
                user_input.get(CONF_STORAGE_CLASS, BUCKET_DEFAULT_CLASS),
                user_input.get(CONF_LIFECYCLE_COLDER_CLASS, str(StorageClass.COLDLINE)),
            ):
                errors[CONF_LIFECYCLE_COLDER_CLASS] = "colder_not_colder"
            else:
                return self.async_create_entry(data=user_input)
        options = {**DEFAULT_CLOUD_OPTIONS, **self.config_entry.options, **(user_input or {})}
        classes = [BUCKET_DEFAULT_CLASS, *(str(c) for c in StorageClass)]
        schema = vol.Schema(
            {
                vol.Required(CONF_UPLOAD, default=options[CONF_UPLOAD]): SelectSelector(
                    SelectSelectorConfig(
                        options=[str(scope) for scope in UploadScope], translation_key=CONF_UPLOAD
                    )
                ),
                vol.Required(CONF_DELAY_MINUTES, default=options[CONF_DELAY_MINUTES]): _number(
                    1440, 1, "min"
                ),
                vol.Required(CONF_BANDWIDTH_MBPS, default=options[CONF_BANDWIDTH_MBPS]): _number(
                    10000, 0.1, "Mbit/s"
                ),
                vol.Required(CONF_STORAGE_CLASS, default=options[CONF_STORAGE_CLASS]): (
                    SelectSelector(
                        SelectSelectorConfig(options=classes, translation_key=CONF_STORAGE_CLASS)
                    )
                ),
                vol.Required(CONF_KEEP_LOCAL_DAYS, default=options[CONF_KEEP_LOCAL_DAYS]): _number(
                    3650, 1, "d"
                ),
                vol.Required(CONF_KEEP_CLOUD_DAYS, default=options[CONF_KEEP_CLOUD_DAYS]): _number(
                    3650, 1, "d"
                ),
                vol.Required(
                    CONF_LIFECYCLE_COLDER_DAYS, default=options[CONF_LIFECYCLE_COLDER_DAYS]
                ): _number(3650, 1, "d"),
                vol.Required(
                    CONF_LIFECYCLE_COLDER_CLASS, default=options[CONF_LIFECYCLE_COLDER_CLASS]
                ): SelectSelector(
                    SelectSelectorConfig(options=_COLDER, translation_key=CONF_STORAGE_CLASS)
                ),
                vol.Required(
                    CONF_LIFECYCLE_DELETE_DAYS, default=options[CONF_LIFECYCLE_DELETE_DAYS]
                ): _number(3650, 1, "d"),
            }
        )
        return self.async_show_form(step_id="cloud_options", data_schema=schema, errors=errors)


def _colder(written: str, colder: str) -> bool:
    """Return whether ``colder`` is a colder class than objects are written with."""
    order = [str(c) for c in StorageClass]
    start = order.index(written) if written in order else 0  # the bucket's default: Standard
    return order.index(colder) > start
