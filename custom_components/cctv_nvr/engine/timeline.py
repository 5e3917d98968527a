"""What a camera recorded when: timeline spans, gaps and events; days and hours with footage.

Pure computations over the index (blocking: call them off the event loop). Local days
and hours are computed in a given time zone, so a day when the clocks change has 23
or 25 hours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
import time
from typing import Any
from zoneinfo import ZoneInfo

from .index import Recording, SegmentIndex
from .policy import Interval, clip, complement

_UTC = ZoneInfo("UTC")


def day_bounds(day: date, zone: ZoneInfo) -> tuple[float, float]:
    """Return the UTC bounds (epoch seconds) of a local day (23, 24 or 25 hours long)."""
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.timestamp(), end.timestamp()


def local_hours(day: date, zone: ZoneInfo) -> list[datetime]:
    """Return the starts (aware, UTC) of a local day's hours: 23, 24 or 25 of them."""
    start, end = day_bounds(day, zone)
    first = datetime.fromtimestamp(start, _UTC)
    return [first + timedelta(hours=h) for h in range(round((end - start) / 3600))]


def timeline(
    index: SegmentIndex,
    camera: str,
    start: float,
    end: float,
    *,
    max_gap: float,
    open_segment: float | None,
    visible: list[Interval] | None = None,
) -> dict[str, Any]:
    """Return the coverage, gaps (up to now) and labelled recordings of [start, end).

    ``open_segment``: while the camera records, the segment being written (up to this many
    seconds long) is not indexed yet; the time since the last indexed footage is reported as
    ``recording``, not as a gap, unless it is longer than that.

    ``visible``: the parts of [start, end) the caller may see (``policy.visible``); footage,
    gaps and recordings outside them are left out, and ``hidden`` lists those parts.
    """
    spans = index.coverage(camera, start, end, max_gap)
    recordings = index.recordings.overlapping(camera, start, end)
    first = index.first_start(camera)
    now = time.time()
    until = min(end, now)
    recording: list[float] | None = None
    if open_segment is not None and spans and spans[-1][1] < until <= spans[-1][1] + open_segment:
        recording = [spans[-1][1], until]
        until = spans[-1][1]
    gaps: list[Interval] = []
    cursor = start
    if first is not None:
        cursor = max(start, first)  # before the first footage there is nothing to miss
        for lo, hi in spans:
            if lo > cursor and lo < until:
                gaps.append((cursor, min(lo, until)))
            cursor = max(cursor, hi)
        if cursor < until:
            gaps.append((cursor, until))
    hidden: list[Interval] = []
    if visible is not None and visible != [(start, end)]:
        spans = clip(spans, visible)
        gaps = clip(gaps, visible)
        if recording is not None and not clip([(recording[0], recording[1])], visible):
            recording = None
        recordings = [
            rec
            for rec in recordings
            if clip([(rec.start, rec.end if rec.end is not None else end)], visible)
        ]
        hidden = complement(visible, start, end)
    return {
        "start": start,
        "end": end,
        "now": now,
        "first": first,
        "spans": [[lo, hi] for lo, hi in spans],
        "gaps": [[lo, hi] for lo, hi in gaps],
        "hidden": [[lo, hi] for lo, hi in hidden],
        "recording": recording,
        "events": [
            {"id": rec.id, "kind": rec.kind, "label": rec.label, "start": rec.start, "end": rec.end}
            for rec in recordings
        ],
    }


def days_with_footage(
    index: SegmentIndex,
    camera: str,
    zone: ZoneInfo,
    visible: Callable[[float, float], list[Interval]] | None = None,
) -> list[date]:
    """Return the local days with footage, newest first (one index seek per hour with footage).

    ``visible(start, end)`` gives the parts of a range the caller may see; with it, only
    days with visible footage are listed.
    """
    first = index.first_start(camera)
    if first is None:
        return []
    begin = local_hours(datetime.fromtimestamp(first, zone).date(), zone)[0].timestamp()
    hours = index.bucket_starts(camera, begin, time.time() + 3600, 3600, origin=begin)
    if visible is not None:
        hours = [
            hour
            for hour in hours
            if clip(index.coverage(camera, hour, hour + 3600), visible(hour, hour + 3600))
        ]
    return sorted({datetime.fromtimestamp(hour, zone).date() for hour in hours}, reverse=True)


def hours_with_footage(
    index: SegmentIndex,
    camera: str,
    hours: list[datetime],
    visible: list[Interval] | None = None,
) -> list[datetime]:
    """Return those of the given hour starts that hold footage (visible footage, if given)."""
    begin = hours[0].timestamp()
    found = set(index.bucket_starts(camera, begin, begin + 3600 * len(hours), 3600, origin=begin))
    kept = [moment for moment in hours if moment.timestamp() in found]
    if visible is None:
        return kept
    return [
        moment
        for moment in kept
        if clip(index.coverage(camera, moment.timestamp(), moment.timestamp() + 3600), visible)
    ]


@dataclass(frozen=True, slots=True)
class HourContents:
    """The footage of one hour: continuous spans and labelled recordings."""

    spans: list[tuple[float, float]]
    recordings: list[Recording]


def hour_contents(
    index: SegmentIndex,
    camera: str,
    start: float,
    max_gap: float,
    visible: list[Interval] | None = None,
) -> HourContents:
    """Return the spans and labelled recordings of the hour starting at ``start``.

    With ``visible`` (the parts of the hour the caller may see), only those parts.
    """
    spans = index.coverage(camera, start, start + 3600, max_gap)
    recordings = index.recordings.overlapping(camera, start, start + 3600)
    if visible is not None:
        spans = clip(spans, visible)
        recordings = [
            rec
            for rec in recordings
            if clip([(rec.start, rec.end if rec.end is not None else start + 3600)], visible)
        ]
    return HourContents(spans=spans, recordings=recordings)
