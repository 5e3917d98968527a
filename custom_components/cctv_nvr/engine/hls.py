"""HLS VOD playlists over stored segments (fMP4, no re-encoding).

Every stored segment file is served as two parts: its *init* part (ftyp +
moov, the ``EXT-X-MAP``) and its *media* part (the moof/mdat fragments). Each
file's timestamps restart at 0, so the media part is served shifted on the
timeline (see :func:`mp4box.shifted_media`).

Timeline: the offset handed to ``url_for_media`` is the segment's position on
the *playlist* timeline, i.e. the sum of the ``#EXTINF`` durations before it.
Media timestamps therefore equal the player's playlist time everywhere: they
run on seamlessly across the files of a recording run, and across a gap they
simply continue (the gap is cut out; ``#EXT-X-DISCONTINUITY`` marks it and
``#EXT-X-PROGRAM-DATE-TIME`` tells the wall-clock time of every segment).

A new ``#EXT-X-MAP`` starts the playlist and follows every discontinuity and
every change of recording run (a new ffmpeg run may carry new parameter sets).
``#EXT-X-DISCONTINUITY`` is written at gaps longer than ``max_gap`` and at
codec, resolution or audio changes.

Segments are listed whole: a segment that only overlaps ``[start, end)`` is
included entirely; its program date time tells the player where it begins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
import math
from pathlib import Path

from . import mp4box
from .index import Segment

HLS_VERSION = 7


class EmptyPlaylistError(ValueError):
    """No stored segment overlaps the requested range."""


def _format_key(segment: Segment) -> tuple[str | None, int | None, int | None, str | None]:
    return (segment.video_codec, segment.width, segment.height, segment.audio_codec)


def program_date_time(moment: float) -> str:
    """Return an ISO 8601 UTC timestamp with milliseconds, as HLS wants it."""
    utc = datetime.fromtimestamp(moment, UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _quote(uri: str) -> str:
    if '"' in uri or "\n" in uri or "\r" in uri:
        raise ValueError("a playlist URI may not hold quotes or line breaks")
    return uri


def build_playlist(
    segments: Iterable[Segment],
    start: float,
    end: float,
    url_for_init: Callable[[Segment], str],
    url_for_media: Callable[[Segment, float], str],
    max_gap: float = 0.5,
) -> str:
    """Return an HLS VOD playlist of the segments overlapping ``[start, end)``.

    ``url_for_init(segment)`` gives the URL of a segment file's init part;
    ``url_for_media(segment, offset_seconds)`` the URL of its media part moved
    ``offset_seconds`` later (serve it with :func:`media_bytes`). Raises
    :class:`EmptyPlaylistError` when no segment overlaps the range.
    """
    chosen = sorted(
        (s for s in segments if s.start < end and s.end > start and s.end > s.start),
        key=lambda s: s.start,
    )
    if not chosen:
        raise EmptyPlaylistError("no footage in range")
    target = max(1, math.ceil(max(s.duration for s in chosen) - 1e-6))
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{HLS_VERSION}",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    timeline = 0.0
    previous: Segment | None = None
    for segment in chosen:
        gap = previous is not None and segment.start - previous.end > max_gap
        changed = previous is not None and _format_key(segment) != _format_key(previous)
        new_run = previous is not None and segment.run_id != previous.run_id
        if gap or changed:
            lines.append("#EXT-X-DISCONTINUITY")
        if previous is None or gap or changed or new_run:
            lines.append(f'#EXT-X-MAP:URI="{_quote(url_for_init(segment))}"')
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(segment.start)}")
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        lines.append(_quote(url_for_media(segment, round(timeline, 6))))
        timeline += segment.duration
        previous = segment
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def init_bytes(path: Path) -> bytes:
    """Return the init part (ftyp + moov) of a segment file. Blocks: run in an executor."""
    return mp4box.read_init(path, mp4box.layout(path))


def media_bytes(path: Path, offset_seconds: float) -> bytes:
    """Return a segment file's fragments moved ``offset_seconds`` later. Blocks."""
    return mp4box.shifted_media(path, mp4box.layout(path), offset_seconds)
