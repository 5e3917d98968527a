"""The SQLite index of every camera's footage.

- ``segments``: ``Segment`` and ``SegmentIndex``, the index itself (open, recover, query).
- ``recordings``: labelled ranges (manual and event recordings), ``index.recordings``.
- ``exports``: exported clips, ``index.exports``.
- ``audit``: the audit trail, ``index.audit``.
- ``cloud``: the upload queue, verified copies in the bucket and the bucket's trash,
  ``index.cloud``.
- ``database``: the one SQLite connection they share, the schema and its migrations.
"""

from .audit import AuditRecord, AuditStore
from .cloud import KIND_EXPORT, KIND_SEGMENT, CloudCopy, CloudIndex, QueueItem, TrashItem
from .database import SCHEMA_VERSION
from .exports import Export, ExportStore
from .recordings import KIND_EVENT, KIND_MANUAL, Recording, RecordingStore
from .segments import (
    LOCATION_BOTH,
    LOCATION_CLOUD,
    LOCATION_LOCAL,
    SEGMENT_BUFFER,
    SEGMENT_CONTINUOUS,
    Segment,
    SegmentIndex,
)

__all__ = [
    "KIND_EVENT",
    "KIND_EXPORT",
    "KIND_MANUAL",
    "KIND_SEGMENT",
    "LOCATION_BOTH",
    "LOCATION_CLOUD",
    "LOCATION_LOCAL",
    "SCHEMA_VERSION",
    "SEGMENT_BUFFER",
    "SEGMENT_CONTINUOUS",
    "AuditRecord",
    "AuditStore",
    "CloudCopy",
    "CloudIndex",
    "Export",
    "ExportStore",
    "QueueItem",
    "Recording",
    "RecordingStore",
    "Segment",
    "SegmentIndex",
    "TrashItem",
]
