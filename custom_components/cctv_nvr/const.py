"""Constants of the CCTV NVR integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "cctv_nvr"

CONF_MAIN_URL: Final = "main_url"
CONF_SUB_URL: Final = "sub_url"
CONF_TRANSPORT: Final = "rtsp_transport"
CONF_STORAGE_KEY: Final = "storage_key"
CONF_STREAM_INFO: Final = "stream_info"

CONF_SEGMENT_SECONDS: Final = "segment_seconds"
CONF_RECORD_AUDIO: Final = "record_audio"
CONF_LIVE_STREAM: Final = "live_stream"

TRANSPORTS: Final = ["tcp", "udp"]
STREAM_MAIN: Final = "main"
STREAM_SUB: Final = "sub"

DEFAULT_SEGMENT_SECONDS: Final = 10
MIN_SEGMENT_SECONDS: Final = 2
MAX_SEGMENT_SECONDS: Final = 300

PROBE_TIMEOUT: Final = 10.0
MAX_MANUAL_RECORDING: Final = 24 * 3600

ATTR_DURATION: Final = "duration"

SERVICE_START_RECORDING: Final = "start_recording"
SERVICE_STOP_RECORDING: Final = "stop_recording"

STORAGE_DIR: Final = "cctv_nvr"
ATTR_START: Final = "start"
ATTR_END: Final = "end"

SERVICE_EXPORT: Final = "export"
SERVICE_PROTECT: Final = "protect"
SERVICE_UNPROTECT: Final = "unprotect"
SERVICE_DELETE_RECORDINGS: Final = "delete_recordings"

MAX_EXPORT_SECONDS: Final = 6 * 3600

CONF_RETENTION_DAYS: Final = "retention_days"
CONF_MAX_SIZE_GB: Final = "max_size_gb"
CONF_MIN_FREE_GB: Final = "min_free_gb"
DEFAULT_RETENTION_DAYS: Final = 14
DEFAULT_MIN_FREE_GB: Final = 2.0
RETENTION_INTERVAL_SECONDS: Final = 600
FREE_SPACE_CHECK_SECONDS: Final = 30
CONF_OFFLINE_REPAIR_MINUTES: Final = "offline_repair_minutes"
DEFAULT_OFFLINE_MINUTES: Final = 30
ATTR_EXPORT_ID: Final = "export_id"
SERVICE_DELETE_EXPORT: Final = "delete_export"

# Event recordings, recording mode, notification links (issue 4).
ATTR_LABEL: Final = "label"
ATTR_PRE_ROLL: Final = "pre_roll"
ATTR_POST_ROLL: Final = "post_roll"
MAX_PRE_ROLL: Final = 60
MAX_POST_ROLL: Final = 3600
CONF_EVENT_RETENTION_DAYS: Final = "event_retention_days"
DEFAULT_EVENT_RETENTION_DAYS: Final = 30
CONF_NOTIFY_LINK_HOURS: Final = "notify_link_hours"
DEFAULT_NOTIFY_LINK_HOURS: Final = 168
