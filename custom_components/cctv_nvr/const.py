"""Constants of the CCTV NVR integration, grouped by kind."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "cctv_nvr"
STORAGE_DIR: Final = "cctv_nvr"  # under Home Assistant's config folder

# -- config entry data (set by the config flow) -------------------------------------------

CONF_MAIN_URL: Final = "main_url"
CONF_SUB_URL: Final = "sub_url"
CONF_TRANSPORT: Final = "rtsp_transport"
CONF_STORAGE_KEY: Final = "storage_key"  # the camera's recordings folder; never changes
CONF_STREAM_INFO: Final = "stream_info"

# What an entry is (data "kind"): a pulled camera has none (older entries) or "rtsp", a push
# camera (it publishes RTMP to the ingest server, see push.py) "push", the cloud tier "cloud".
CONF_KIND: Final = "kind"
KIND_RTSP: Final = "rtsp"
KIND_PUSH: Final = "push"
CONF_STREAM_KEY: Final = "stream_key"  # a secret: never in logs, attributes or diagnostics
CONF_INGEST_PORT: Final = "ingest_port"  # installation-wide, kept in push.py's store
CONF_REGENERATE_KEY: Final = "regenerate_key"
DEFAULT_INGEST_PORT: Final = 1935

TRANSPORTS: Final = ["tcp", "udp"]
PROBE_TIMEOUT: Final = 10.0

# -- options (recording settings) and their defaults and bounds ---------------------------

CONF_SEGMENT_SECONDS: Final = "segment_seconds"
CONF_RECORD_AUDIO: Final = "record_audio"
CONF_LIVE_STREAM: Final = "live_stream"
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_MAX_SIZE_GB: Final = "max_size_gb"
CONF_MIN_FREE_GB: Final = "min_free_gb"
CONF_OFFLINE_REPAIR_MINUTES: Final = "offline_repair_minutes"
CONF_EVENT_RETENTION_DAYS: Final = "event_retention_days"
CONF_NOTIFY_LINK_HOURS: Final = "notify_link_hours"
# Where a camera records (see locations.py): a folder (empty: the installation default
# <config>/cctv_nvr/recordings), and whether to record locally while it is missing.
CONF_RECORDINGS_FOLDER: Final = "recordings_folder"
CONF_LOCAL_FALLBACK: Final = "local_fallback"

# Access (see access.py): rights of users without a grant, live video only in the panel,
# how long the audit trail is kept.
CONF_DEFAULT_RIGHTS: Final = "default_rights"
CONF_LIVE_PANEL_ONLY: Final = "live_panel_only"
CONF_AUDIT_DAYS: Final = "audit_days"
DEFAULT_AUDIT_DAYS: Final = 365

STREAM_MAIN: Final = "main"
STREAM_SUB: Final = "sub"

DEFAULT_SEGMENT_SECONDS: Final = 10
MIN_SEGMENT_SECONDS: Final = 2
MAX_SEGMENT_SECONDS: Final = 300
DEFAULT_RETENTION_DAYS: Final = 14
DEFAULT_MIN_FREE_GB: Final = 2.0
DEFAULT_OFFLINE_MINUTES: Final = 30
DEFAULT_EVENT_RETENTION_DAYS: Final = 30
DEFAULT_NOTIFY_LINK_HOURS: Final = 168

GB: Final = 1024**3
MAX_NOTIFY_LINK_HOURS: Final = 30 * 24  # a notification link lives a month at most

# -- access grants (config subentries of a camera) -------------------------------------------

SUBENTRY_ACCESS: Final = "access"
GRANT_USER_ID: Final = "user_id"
GRANT_RIGHTS: Final = "rights"
GRANT_WINDOWS: Final = "windows"
GRANT_LOOKBACK_HOURS: Final = "lookback_hours"

# -- recording modes and kinds ---------------------------------------------------------------

MODE_OFF: Final = "off"
MODE_CONTINUOUS: Final = "continuous"
MODE_EVENTS: Final = "events"  # events only: a rolling pre-roll buffer is kept
RECORDING_MODES: Final = [MODE_OFF, MODE_CONTINUOUS, MODE_EVENTS]

# Labelled recording ranges (index table ``recordings``).
KIND_MANUAL: Final = "manual"
KIND_EVENT: Final = "event"
# Segment kinds: footage of continuous recording, or of the rolling buffer (aged out
# unless a labelled recording covers it).
SEGMENT_CONTINUOUS: Final = "continuous"
SEGMENT_BUFFER: Final = "buffer"

# -- limits on what a caller may ask for -----------------------------------------------------

MAX_MANUAL_RECORDING: Final = 24 * 3600
MAX_PRE_ROLL: Final = 60
MAX_POST_ROLL: Final = 3600
MAX_EXPORT_SECONDS: Final = 6 * 3600
MAX_PLAYLIST_SECONDS: Final = 24 * 3600
MAX_TIMELINE_SECONDS: Final = 2 * 86400
# Footage separated by at most this many seconds counts as continuous (timeline, browser).
MAX_GAP: Final = 1.0

# -- background work -------------------------------------------------------------------------

RETENTION_INTERVAL_SECONDS: Final = 600
FREE_SPACE_CHECK_SECONDS: Final = 30
EXPORT_JOB_KEEP_SECONDS: Final = 3600  # finished panel export jobs are listed this long
# What a viewer can make the machine do (exports and event clips are remuxes).
MAX_CONCURRENT_REMUXES: Final = 2  # for everyone together; others wait in a queue
MAX_EXPORT_JOBS_PER_USER: Final = 2  # running or queued
MAX_EXPORTS_PER_USER: Final = 20  # stored exports of a non-admin user
USER_EXPORT_DAYS: Final = 7  # a non-admin user's exports are deleted after this long
MAX_THUMBNAILS: Final = 5000  # cached thumbnails, oldest pruned first

# -- HTTP ------------------------------------------------------------------------------------

URL_BASE: Final = f"/api/{DOMAIN}"
SIGNED_URL_LIFETIME: Final = timedelta(hours=6)
HLS_MIME: Final = "application/vnd.apple.mpegurl"

# -- services and their fields ---------------------------------------------------------------

SERVICE_START_RECORDING: Final = "start_recording"
SERVICE_STOP_RECORDING: Final = "stop_recording"
SERVICE_EXPORT: Final = "export"
SERVICE_PROTECT: Final = "protect"
SERVICE_UNPROTECT: Final = "unprotect"
SERVICE_DELETE_RECORDINGS: Final = "delete_recordings"
SERVICE_DELETE_EXPORT: Final = "delete_export"

ATTR_DURATION: Final = "duration"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
ATTR_LABEL: Final = "label"
ATTR_PRE_ROLL: Final = "pre_roll"
ATTR_POST_ROLL: Final = "post_roll"
ATTR_EXPORT_ID: Final = "export_id"
ATTR_RECORDING_ID: Final = "recording_id"
SERVICE_DELETE_EVENT: Final = "delete_event"
SERVICE_MOVE_FOOTAGE: Final = "move_footage"

# -- bus events (also device triggers and logbook entries) -----------------------------------

EVENT_RECORDING_STARTED: Final = f"{DOMAIN}_recording_started"
EVENT_RECORDING_STOPPED: Final = f"{DOMAIN}_recording_stopped"
EVENT_EVENT_SAVED: Final = f"{DOMAIN}_event_saved"
EVENT_CAMERA_OFFLINE: Final = f"{DOMAIN}_camera_offline"
EVENT_CAMERA_ONLINE: Final = f"{DOMAIN}_camera_online"
# Audit trail entries (logbook only; not a device trigger).
EVENT_AUDIT: Final = f"{DOMAIN}_audit"
EVENT_MOVE_PROGRESS: Final = f"{DOMAIN}_move_progress"  # cctv_nvr.move_footage's progress

# Device trigger type -> bus event.
TRIGGER_EVENTS: Final = {
    "recording_started": EVENT_RECORDING_STARTED,
    "recording_stopped": EVENT_RECORDING_STOPPED,
    "event_saved": EVENT_EVENT_SAVED,
    "camera_offline": EVENT_CAMERA_OFFLINE,
    "camera_online": EVENT_CAMERA_ONLINE,
}

ATTR_DEVICE_ID: Final = "device_id"
ATTR_CAMERA_NAME: Final = "camera"

# -- the cloud tier (a config entry of its own: data kind "cloud") ---------------------------

ENTRY_KIND_CLOUD: Final = "cloud"
CLOUD_UNIQUE_ID: Final = "cloud"
CONF_BUCKET: Final = "bucket"
CONF_KEY: Final = "key"  # the service account key (a JSON object); never shown
CONF_PREFIX: Final = "prefix"
CONF_UPLOAD: Final = "upload"
CONF_DELAY_MINUTES: Final = "delay_minutes"
CONF_BANDWIDTH_MBPS: Final = "bandwidth_mbps"  # 0: no cap
CONF_STORAGE_CLASS: Final = "storage_class"  # "": the bucket's default
CONF_KEEP_LOCAL_DAYS: Final = "keep_local_days"  # 0: no limit
CONF_KEEP_CLOUD_DAYS: Final = "keep_cloud_days"  # 0: no limit
CONF_LIFECYCLE_DELETE_DAYS: Final = "lifecycle_delete_days"  # 0: no bucket lifecycle rule
CONF_LIFECYCLE_COLDER_DAYS: Final = "lifecycle_colder_days"  # 0: no colder-class rule
CONF_LIFECYCLE_COLDER_CLASS: Final = "lifecycle_colder_class"
BUCKET_DEFAULT_CLASS: Final = "bucket_default"
# A cloud tier failing (unreachable) this long becomes a repair issue.
CLOUD_REPAIR_SECONDS: Final = 600
# Cloud-only segments fetched for playback and thumbnails, cached (oldest pruned first).
MAX_CLOUD_CACHE_FILES: Final = 64
