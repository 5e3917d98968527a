"""Section 8 (also "access"): what the access policy costs per request.

1. The policy check of one request (``Policy.allows`` for a footage moment, and the
   per-segment ``segment_visible``) with 1,000 grants over 16 cameras, users with
   weekly windows and a look-back: p50/p99 per call, against the same call for an
   administrator (the baseline: no rules to apply) in the same run. Target p99 < 0.1 ms.
2. A 24-hour HLS playlist (8,640 segments of 10 s, built as the playlist view builds
   it: index query, the caller's footage filter worked out once, ``hls.build_playlist``)
   for a restricted user whose windows cover the whole day (same playlist size) and for
   one limited to 08:00-18:00, against an administrator's, rotated. Target ≤ 1.2x.
No simulator.
"""

from __future__ import annotations

from datetime import time as clock
import random
import statistics
import time
from zoneinfo import ZoneInfo

from custom_components.cctv_nvr.engine import hls
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.policy import (
    ALL_RIGHTS,
    Caller,
    CameraRules,
    Grant,
    Policy,
    Right,
    Window,
)

from .common import FPS, SEGMENT_SECONDS, Bench, Row, Section, log

TITLE = "8 Access policy"

ZONE = ZoneInfo("Europe/Amsterdam")
CAMERAS = 16
GRANTS = 1000
EPOCH = 1780272000.0  # 2026-06-01T00:00:00Z
ADMIN = Caller("admin", admin=True)


def _policy(rng: random.Random) -> tuple[Policy, list[Caller]]:
    """16 cameras and 1,000 grants: users with windows and a look-back on some cameras."""
    cameras: dict[str, dict[str, Grant]] = {f"cam{n:02d}": {} for n in range(CAMERAS)}
    users = [f"user{n:04d}" for n in range(GRANTS // 4)]
    names = list(cameras)
    for number in range(GRANTS):
        user = users[number % len(users)]
        start = rng.randrange(0, 20)
        windows = tuple(
            Window(
                frozenset(rng.sample(range(7), rng.randrange(1, 8))), clock(h), clock((h + 9) % 24)
            )
            for h in (start, (start + 12) % 24)[: rng.randrange(1, 3)]
        )
        grant = Grant(
            frozenset([*rng.sample(sorted(ALL_RIGHTS), rng.randrange(1, 5)), Right.RECORDINGS]),
            windows=windows,
            lookback=rng.choice((None, 86400.0, 7 * 86400.0)),
        )
        cameras[names[number % CAMERAS]][user] = grant
    policy = Policy(
        {name: CameraRules(frozenset(), grants) for name, grants in cameras.items()}, ZONE
    )
    return policy, [Caller(user, admin=False) for user in users]


def _per_call(calls: list[tuple[Caller, str, float]], check: object) -> list[float]:
    timings = []
    for caller, camera, moment in calls:
        t0 = time.perf_counter_ns()
        check(caller, camera, moment)  # type: ignore[operator]
        timings.append((time.perf_counter_ns() - t0) / 1e6)
    return timings


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def _check_rows(quick: bool, rng: random.Random) -> list[Row]:
    policy, users = _policy(rng)
    now = EPOCH + 30 * 86400
    count = 20_000 if quick else 200_000
    calls = [
        (rng.choice(users), f"cam{rng.randrange(CAMERAS):02d}", now - rng.uniform(0, 14 * 86400))
        for _ in range(count)
    ]
    admin_calls = [(ADMIN, camera, moment) for _user, camera, moment in calls]

    def allows(caller: Caller, camera: str, moment: float) -> bool:
        return policy.allows(caller, camera, Right.RECORDINGS, moment=moment, now=now)

    def segment(caller: Caller, camera: str, moment: float) -> bool:
        return policy.segment_visible(caller, camera, moment, moment + SEGMENT_SECONDS, now)

    rows: list[Row] = []
    for name, check in (("allows(moment)", allows), ("segment_visible", segment)):
        for _ in range(2):  # warm
            _per_call(calls[:2000], check)
        users_ms = _per_call(calls, check)
        admin_ms = _per_call(admin_calls, check)
        p99, base = _pct(users_ms, 0.99), _pct(admin_ms, 0.99)
        rows.append(
            (
                TITLE,
                f"{name}: restricted user, 1,000 grants",
                f"p50 {statistics.median(users_ms) * 1000:.1f} µs / p99 {p99 * 1000:.1f} µs",
                (
                    f"administrator p99 {base * 1000:.1f} µs: {p99 / base:.1f}x; "
                    f"target p99 < 100 µs: {'met' if p99 < 0.1 else 'MISSED'}; {count:,} calls"
                ),
            )
        )
    return rows


def _index(path: object) -> tuple[SegmentIndex, float, float]:
    index = SegmentIndex(path)  # type: ignore[arg-type]
    day = EPOCH + 2 * 86400  # a Wednesday
    segments = [
        Segment(
            camera="cam00",
            path=f"cam00/{n}.mp4",
            start=day + n * SEGMENT_SECONDS,
            end=day + (n + 1) * SEGMENT_SECONDS,
            bytes=2_400_000,
            video_codec="h264",
            width=1920,
            height=1080,
            fps=float(FPS),
            run_id="r",
        )
        for n in range(86400 // SEGMENT_SECONDS)
    ]
    index.add_segments(segments)
    return index, day, day + 86400


def _playlist(index: SegmentIndex, policy: Policy, caller: Caller, start: float, end: float) -> str:
    """What the playlist view builds (views._playlist), with plain string URLs."""
    visible = policy.footage_filter(caller, "cam00", start, end, end + 3600)
    segments = [s for s in index.segments("cam00", start, end) if visible(s.start, s.end)]
    query = "t=token"
    return hls.build_playlist(
        segments,
        start,
        end,
        lambda seg: f"/api/cctv_nvr/init/{seg.row_id}.mp4?{query}",
        lambda seg, offset: f"/api/cctv_nvr/media/{seg.row_id}/{round(offset * 1000)}.m4s?{query}",
    )


def _playlist_rows(bench: Bench) -> list[Row]:
    work = bench.work / "s8"
    work.mkdir(parents=True, exist_ok=True)
    db = work / "index.db"
    for stale in (db, db.with_name("index.db-wal"), db.with_name("index.db-shm")):
        stale.unlink(missing_ok=True)
    index, start, end = _index(db)
    every_day = frozenset(range(7))
    whole = Grant(frozenset({Right.RECORDINGS}), windows=(Window(every_day, clock(0), clock(0)),))
    office = Grant(frozenset({Right.RECORDINGS}), windows=(Window(every_day, clock(8), clock(18)),))
    policy = Policy({"cam00": CameraRules(frozenset(), {"whole": whole, "office": office})}, ZONE)
    reps = 5 if bench.quick else 15
    times: dict[str, list[float]] = {"admin": [], "whole": [], "office": []}
    sizes: dict[str, int] = {}
    callers = {"admin": ADMIN, "whole": Caller("whole", False), "office": Caller("office", False)}
    try:
        for rep in range(reps):
            order = list(callers.items())
            order = order[rep % 3 :] + order[: rep % 3]  # each goes first as often
            for name, caller in order:
                t0 = time.perf_counter()
                text = _playlist(index, policy, caller, start, end)
                times[name].append(time.perf_counter() - t0)
                sizes[name] = text.count("#EXTINF")
    finally:
        index.close()
    admin = statistics.median(times["admin"])
    rows: list[Row] = []
    for name, label in (
        ("whole", "restricted user, window over the whole day"),
        ("office", "restricted user, window 08:00-18:00"),
    ):
        ratio = statistics.median(times[name]) / admin
        target = f"target ≤ 1.2x: {'met' if ratio <= 1.2 else 'MISSED'}" if name == "whole" else ""
        rows.append(
            (
                TITLE,
                f"24-hour playlist: {label} / administrator",
                (
                    f"{statistics.median(times[name]) * 1000:.0f} ms / {admin * 1000:.0f} ms: "
                    f"**{ratio:.2f}x**"
                ),
                f"{sizes[name]:,} vs {sizes['admin']:,} segments listed; median of {reps}, "
                f"rotated; {target}".rstrip("; "),
            )
        )
    return rows


async def run(bench: Bench) -> list[Row]:
    rng = random.Random(8)
    log("section 8: policy checks")
    rows = _check_rows(bench.quick, rng)
    log("section 8: 24-hour playlists")
    rows += _playlist_rows(bench)
    return rows


SECTION = Section("8", "access", TITLE, run, simulator=False)
