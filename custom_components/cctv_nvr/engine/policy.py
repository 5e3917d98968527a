"""Who may do what with which camera, and which footage they may see: the access policy.

Pure and cheap (no I/O): the Home Assistant side builds a ``Policy`` from the cameras'
settings and grants, and every door asks it.

- Rights per camera: ``live`` (watch live video), ``recordings`` (browse and play stored
  footage, download exports and event clips), ``export`` (make exports), ``control``
  (start/stop recordings, recording mode). Administrators always have every right.
- A user with a grant on a camera has exactly the grant's rights there; a user without one
  has the camera's *default rights* (all four unless an administrator narrowed them).
- A grant may carry weekly time windows (days and from-to in the local time zone; a
  window whose end is not after its start runs across midnight) and a look-back limit.
  Windows limit *moments*: live video only while now is inside a window; stored footage
  only where it was recorded inside a window and within the look-back. Footage outside
  them is not shown at all (timeline, playlists, browser, exports), not only refused.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from time import time as time_now
from typing import Any, Final
from zoneinfo import ZoneInfo


class Right(StrEnum):
    """A right on a camera."""

    LIVE = "live"
    RECORDINGS = "recordings"
    EXPORT = "export"
    CONTROL = "control"


ALL_RIGHTS: Final = frozenset(Right)
DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order

type Interval = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly window: on ``days`` (0 = Monday) from ``start`` to ``end`` local time.

    ``end`` at or before ``start`` means the window runs across midnight into the next
    day (``days`` name the day it starts on).
    """

    days: frozenset[int]
    start: time
    end: time

    @property
    def overnight(self) -> bool:
        """Return True when the window ends on the next day."""
        return self.end <= self.start

    def contains(self, local: datetime) -> bool:
        """Return True if a local (aware) moment lies inside the window."""
        moment = local.time().replace(tzinfo=None)
        today = local.weekday()
        if not self.overnight:
            return today in self.days and self.start <= moment < self.end
        if today in self.days and moment >= self.start:
            return True
        return (today - 1) % 7 in self.days and moment < self.end

    def as_dict(self) -> dict[str, Any]:
        """Return the stored form."""
        return {
            "days": [DAYS[day] for day in sorted(self.days)],
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        """Read the stored form; raise ValueError when it is not a window."""
        days = frozenset(DAYS.index(str(day)) for day in data["days"])
        if not days:
            raise ValueError("a window needs at least one day")
        return cls(days, _clock(data["start"]), _clock(data["end"]))


def _clock(value: Any) -> time:
    text = str(value)
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        raise ValueError(f"not a time of day: {text!r}")
    numbers = [int(part) for part in parts]
    return time(numbers[0], numbers[1], numbers[2] if len(numbers) > 2 else 0)  # noqa: PLR2004


@dataclass(frozen=True, slots=True)
class Grant:
    """A user's rights on one camera, optionally limited to windows and a look-back."""

    rights: frozenset[Right]
    windows: tuple[Window, ...] = ()
    lookback: float | None = None  # seconds; None: all footage

    @property
    def limited(self) -> bool:
        """Return True when windows or a look-back narrow what the user sees."""
        return bool(self.windows) or self.lookback is not None

    def as_dict(self) -> dict[str, Any]:
        """Return the stored form."""
        return {
            "rights": sorted(str(right) for right in self.rights),
            "windows": [window.as_dict() for window in self.windows],
            "lookback_hours": None if self.lookback is None else self.lookback / 3600,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grant:
        """Read the stored form; raise ValueError when it is not a grant."""
        hours = data.get("lookback_hours")
        if hours is not None and float(hours) <= 0:
            raise ValueError("the look-back must be positive")
        return cls(
            rights=frozenset(Right(right) for right in data.get("rights", ())),
            windows=tuple(Window.from_dict(window) for window in data.get("windows") or ()),
            lookback=None if hours is None else float(hours) * 3600,
        )


FULL: Final = Grant(ALL_RIGHTS)


@dataclass(frozen=True, slots=True)
class CameraRules:
    """A camera's access rules: rights of users without a grant, and the grants."""

    default_rights: frozenset[Right] = ALL_RIGHTS
    grants: Mapping[str, Grant] = field(default_factory=dict)  # by user id

    def grant_for(self, user_id: str) -> Grant:
        """Return what a (non-admin) user may do with the camera."""
        grant = self.grants.get(user_id)
        if grant is not None:
            return grant
        return FULL if self.default_rights == ALL_RIGHTS else Grant(self.default_rights)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: a user (id, administrator or not), or the system (automations).

    ``denied``: cameras the user may not use at all whatever the grants say (Home
    Assistant's own entity permissions, where an installation sets them).
    """

    user_id: str | None
    admin: bool
    denied: frozenset[str] = frozenset()

    @property
    def system(self) -> bool:
        """Return True for calls without a user (automations, scripts, the integration)."""
        return self.user_id is None


SYSTEM: Final = Caller(None, admin=True)


class Policy:
    """Decides (caller, camera, right, moment) for every door."""

    def __init__(self, cameras: Mapping[str, CameraRules], zone: ZoneInfo) -> None:
        """Hold every camera's rules; windows are in ``zone`` (Home Assistant's)."""
        self._cameras = dict(cameras)
        self.zone = zone

    def grant(self, caller: Caller, camera: str) -> Grant | None:
        """Return the caller's effective grant on a camera (None: unknown camera)."""
        rules = self._cameras.get(camera)
        if rules is None or camera in caller.denied:
            return None
        if caller.admin or caller.user_id is None:
            return FULL
        return rules.grant_for(caller.user_id)

    def allows(
        self,
        caller: Caller,
        camera: str,
        right: Right,
        *,
        moment: float | None = None,
        now: float | None = None,
    ) -> bool:
        """Return True if the caller may use a right on a camera.

        ``live`` is checked at ``now`` (windows apply); a footage right at ``moment`` (when
        the footage was recorded: windows and look-back apply) or, without a moment, at
        some moment.
        """
        grant = self.grant(caller, camera)
        if grant is None or right not in grant.rights:
            return False
        if not grant.limited:
            return True
        now = time_now() if now is None else now
        if right is Right.LIVE:
            return _in_windows(grant, now, self.zone)
        if moment is None:
            return True
        if grant.lookback is not None and moment < now - grant.lookback:
            return False
        return _in_windows(grant, moment, self.zone)

    def cameras(self, caller: Caller, right: Right) -> list[str]:
        """Return the cameras on which the caller has a right (at some moment)."""
        return [camera for camera in self._cameras if self.allows(caller, camera, right)]

    def visible(
        self, caller: Caller, camera: str, start: float, end: float, now: float
    ) -> list[Interval]:
        """Return the parts of [start, end) whose footage the caller may see, in order."""
        grant = self.grant(caller, camera)
        if grant is None or Right.RECORDINGS not in grant.rights or end <= start:
            return []
        if grant.lookback is not None:
            start = max(start, now - grant.lookback)
            if end <= start:
                return []
        if not grant.windows:
            return [(start, end)]
        return _window_intervals(grant.windows, start, end, self.zone)

    def range_visible(
        self, caller: Caller, camera: str, start: float, end: float, now: float
    ) -> bool:
        """Return True if all of [start, end) is footage the caller may see."""
        spans = self.visible(caller, camera, start, end, now)
        return len(spans) == 1 and spans[0][0] <= start and spans[0][1] >= end

    def earliest(self, caller: Caller, camera: str, now: float) -> float | None:
        """Return the oldest moment whose footage the caller may see (None: no limit)."""
        grant = self.grant(caller, camera)
        if grant is None or grant.lookback is None:
            return None
        return now - grant.lookback

    def segment_visible(
        self, caller: Caller, camera: str, start: float, end: float, now: float
    ) -> bool:
        """Return True if a piece of footage (a segment) lies wholly in visible footage."""
        return inside(start, end, self.visible(caller, camera, start, end, now), slack=_SLACK)

    def footage_filter(
        self, caller: Caller, camera: str, start: float, end: float, now: float
    ) -> Callable[[float, float], bool]:
        """Return a test of pieces of footage within [start, end), worked out once.

        For many segments of one range (a playlist) this costs one window computation
        and a bisection per segment instead of a window computation per segment.
        """
        grant = self.grant(caller, camera)
        if grant is not None and Right.RECORDINGS in grant.rights and not grant.limited:
            return lambda _lo, _hi: True
        allowed = self.visible(caller, camera, start, end, now)
        starts = [lo for lo, _hi in allowed]

        def test(lo: float, hi: float) -> bool:
            position = bisect_right(starts, lo + _SLACK) - 1
            return position >= 0 and hi <= allowed[position][1] + _SLACK

        return test


def _in_windows(grant: Grant, moment: float, zone: ZoneInfo) -> bool:
    if not grant.windows:
        return True
    local = datetime.fromtimestamp(moment, zone)
    return any(window.contains(local) for window in grant.windows)


def clip(spans: Iterable[Interval], allowed: list[Interval]) -> list[Interval]:
    """Return the parts of ``spans`` (sorted) that lie inside ``allowed`` (sorted)."""
    out: list[Interval] = []
    for lo, hi in spans:
        for a, b in allowed:
            if b <= lo:
                continue
            if a >= hi:
                break
            out.append((max(lo, a), min(hi, b)))
    return out


def complement(allowed: list[Interval], start: float, end: float) -> list[Interval]:
    """Return the parts of [start, end) outside ``allowed`` (sorted)."""
    out: list[Interval] = []
    cursor = start
    for a, b in allowed:
        if a > cursor:
            out.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return [(a, b) for a, b in out if b > a]


_SLACK = 0.5  # seconds a segment may reach beyond visible footage (timestamps jitter)


def inside(start: float, end: float, allowed: list[Interval], slack: float = 0.0) -> bool:
    """Return True if [start, end) lies inside one allowed interval (within ``slack``)."""
    return any(a - slack <= start and end <= b + slack for a, b in allowed)


def _window_intervals(
    windows: tuple[Window, ...], start: float, end: float, zone: ZoneInfo
) -> list[Interval]:
    """Return the moments of [start, end) inside any window, merged and in order."""
    first = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date()
    found: list[Interval] = []
    day = first
    while day <= last:
        for window in windows:
            if day.weekday() not in window.days:
                continue
            lo = _local(day, window.start, zone)
            hi = _local(day + timedelta(days=1) if window.overnight else day, window.end, zone)
            lo, hi = max(lo, start), min(hi, end)
            if lo < hi:
                found.append((lo, hi))
        day += timedelta(days=1)
    found.sort()
    merged: list[Interval] = []
    for lo, hi in found:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _local(day: date, clock: time, zone: ZoneInfo) -> float:
    """Return the epoch seconds of a local wall-clock time (the first, when repeated)."""
    return datetime.combine(day, clock, tzinfo=zone).timestamp()
