"""The SQLite index of every camera's footage.

- ``segments``: ``Segment`` and ``SegmentIndex``, the index itself (open, recover, query).
- ``recordings``: labelled ranges (manual and event recordings), ``index.recordings``.
- ``exports``: exported clips, ``index.exports``.
- ``audit``: the audit trail, ``index.audit``.
- ``database``: the one SQLite connection they share, the schema and its migrations.
"""

from .audit import AuditRecord, AuditStore
from .database import SCHEMA_VERSION
from .exports import Export, ExportStore
from .recordings import KIND_EVENT, KIND_MANUAL, Recording, RecordingStore
from .segments import SEGMENT_BUFFER, SEGMENT_CONTINUOUS, Segment, SegmentIndex

__all__ = [
    "KIND_EVENT",
    "KIND_MANUAL",
    "SCHEMA_VERSION",
    "SEGMENT_BUFFER",
    "SEGMENT_CONTINUOUS",
    "AuditRecord",
    "AuditStore",
    "Export",
    "ExportStore",
    "Recording",
    "RecordingStore",
    "Segment",
    "SegmentIndex",
]
