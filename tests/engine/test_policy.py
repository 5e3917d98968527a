"""The access policy alone: rights, windows (across midnight, across a DST change), look-back,
what footage a caller sees, and the cheap per-playlist filter agreeing with the exact check."""

from __future__ import annotations

from datetime import datetime, time as clock
import random
from zoneinfo import ZoneInfo

import pytest

from custom_components.cctv_nvr.engine.policy import (
    ALL_RIGHTS,
    SYSTEM,
    Caller,
    CameraRules,
    Grant,
    Policy,
    Right,
    Window,
    clip,
    complement,
)

ZONE = ZoneInfo("Europe/Amsterdam")
ALICE = Caller("alice", admin=False)
BOB = Caller("bob", admin=False)
ADMIN = Caller("admin", admin=True)


def at(text: str) -> float:
    """Epoch seconds of a local time (ISO without zone)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


def policy(grant: Grant, default: frozenset[Right] = frozenset()) -> Policy:
    return Policy({"front": CameraRules(default, {"alice": grant}), "garden": CameraRules()}, ZONE)


NIGHT = Grant(
    frozenset({Right.LIVE, Right.RECORDINGS}),
    windows=(Window(frozenset({2}), clock(22), clock(6)),),  # Wednesdays 22:00 to Thursday 06:00
)


def test_rights_grants_defaults_admins_and_the_system() -> None:
    rules = policy(Grant(frozenset({Right.LIVE})), default=frozenset({Right.RECORDINGS}))
    assert rules.allows(ALICE, "front", Right.LIVE)
    assert not rules.allows(ALICE, "front", Right.RECORDINGS)  # the grant, not the default
    assert rules.allows(BOB, "front", Right.RECORDINGS)  # no grant: the camera's default
    assert not rules.allows(BOB, "front", Right.EXPORT)
    assert rules.allows(BOB, "garden", Right.CONTROL)  # default of a camera: everything
    for caller in (ADMIN, SYSTEM):
        assert all(rules.allows(caller, "front", right) for right in Right)
    assert not rules.allows(ADMIN, "nowhere", Right.LIVE)
    denied = Caller("bob", admin=False, denied=frozenset({"garden"}))
    assert not rules.allows(denied, "garden", Right.LIVE)
    assert rules.cameras(BOB, Right.RECORDINGS) == ["front", "garden"]
    assert rules.cameras(ALICE, Right.RECORDINGS) == ["garden"]


def test_window_across_midnight() -> None:
    rules = policy(NIGHT)
    assert rules.allows(ALICE, "front", Right.LIVE, now=at("2026-06-03T23:30"))  # Wednesday
    assert rules.allows(ALICE, "front", Right.LIVE, now=at("2026-06-04T05:59"))  # Thursday early
    assert not rules.allows(ALICE, "front", Right.LIVE, now=at("2026-06-04T06:00"))
    assert not rules.allows(ALICE, "front", Right.LIVE, now=at("2026-06-03T21:59"))
    assert not rules.allows(ALICE, "front", Right.LIVE, now=at("2026-06-04T23:30"))  # Thursday
    # Footage rights follow the moment the footage was recorded, not now.
    now = at("2026-06-10T12:00")
    assert rules.allows(ALICE, "front", Right.RECORDINGS, moment=at("2026-06-03T23:00"), now=now)
    assert not rules.allows(
        ALICE, "front", Right.RECORDINGS, moment=at("2026-06-03T21:00"), now=now
    )
    assert rules.visible(ALICE, "front", at("2026-06-03T00:00"), at("2026-06-05T00:00"), now) == [
        (at("2026-06-03T22:00"), at("2026-06-04T06:00"))
    ]


def test_windows_over_a_dst_change() -> None:
    """The night the clocks go back (25 hours): the window still runs 22:00 to 06:00 local."""
    sunday = Grant(
        frozenset({Right.RECORDINGS}), windows=(Window(frozenset({5}), clock(22), clock(6)),)
    )
    rules = policy(sunday)
    start, end = at("2026-10-24T00:00"), at("2026-10-26T00:00")  # Saturday 24 Oct, DST ends 25th
    (span,) = rules.visible(ALICE, "front", start, end, end)
    assert span[1] - span[0] == 9 * 3600  # 8 hours of wall clock plus the repeated hour


def test_lookback_clips_what_is_seen() -> None:
    rules = policy(Grant(frozenset({Right.RECORDINGS}), lookback=3600))
    now = at("2026-06-03T12:00")
    assert rules.visible(ALICE, "front", now - 7200, now, now) == [(now - 3600, now)]
    assert rules.visible(ALICE, "front", now - 7200, now - 3601, now) == []
    assert not rules.allows(ALICE, "front", Right.RECORDINGS, moment=now - 3700, now=now)
    assert rules.allows(ALICE, "front", Right.RECORDINGS, moment=now - 3500, now=now)
    assert rules.range_visible(ALICE, "front", now - 3000, now - 10, now)
    assert not rules.range_visible(ALICE, "front", now - 4000, now - 10, now)


def test_footage_filter_agrees_with_the_exact_check() -> None:
    """The per-playlist filter answers exactly what segment_visible answers, segment by segment."""
    grant = Grant(
        frozenset({Right.RECORDINGS}),
        windows=(
            Window(frozenset({0, 1, 2, 3, 4}), clock(8), clock(18)),
            Window(frozenset({5, 6}), clock(22), clock(2)),
        ),
        lookback=3 * 86400,
    )
    rules = policy(grant)
    now = at("2026-06-07T20:00")
    start, end = now - 4 * 86400, now
    check = rules.footage_filter(ALICE, "front", start, end, now)
    rng = random.Random(7)
    for _ in range(3000):
        lo = rng.uniform(start, end - 10)
        hi = lo + rng.choice((2.0, 4.0, 10.0, 30.0))
        assert check(lo, hi) == rules.segment_visible(ALICE, "front", lo, hi, now), (lo, hi)
    assert rules.footage_filter(ADMIN, "front", start, end, now)(start, end)


def test_stored_grants_round_trip_and_bad_ones_are_refused() -> None:
    assert Grant.from_dict(NIGHT.as_dict()) == NIGHT
    assert NIGHT.as_dict()["windows"] == [{"days": ["wed"], "start": "22:00", "end": "06:00"}]
    assert Grant.from_dict({"rights": ["live"], "lookback_hours": 2}).lookback == 7200
    for bad in (
        {"rights": ["fly"]},
        {"rights": ["live"], "windows": [{"days": [], "start": "08:00", "end": "09:00"}]},
        {"rights": ["live"], "windows": [{"days": ["mon"], "start": "8am", "end": "09:00"}]},
        {"rights": ["live"], "windows": [{"days": ["funday"], "start": "08:00", "end": "9:00"}]},
        {"rights": ["live"], "lookback_hours": 0},
    ):
        with pytest.raises((ValueError, KeyError)):
            Grant.from_dict(bad)
    assert frozenset(Right) == ALL_RIGHTS


def test_interval_helpers() -> None:
    allowed = [(10.0, 20.0), (30.0, 40.0)]
    assert clip([(0.0, 15.0), (18.0, 35.0), (45.0, 50.0)], allowed) == [
        (10.0, 15.0),
        (18.0, 20.0),
        (30.0, 35.0),
    ]
    assert complement(allowed, 0.0, 50.0) == [(0.0, 10.0), (20.0, 30.0), (40.0, 50.0)]
    assert complement(allowed, 12.0, 18.0) == []
    assert complement([], 0.0, 5.0) == [(0.0, 5.0)]
