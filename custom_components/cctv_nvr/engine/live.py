"""Live HLS from the recording being written (fMP4, no second camera session).

The recorder's ffmpeg writes every segment file as ``ftyp`` + empty ``moov``
followed by one ``moof``/``mdat`` pair per ~1 s fragment, flushed as soon as the
fragment is complete. A :class:`LiveFeed` follows the newest files of one camera
and serves those fragments as a live HLS playlist: each complete fragment becomes
one media segment, numbered once and in order (``EXT-X-MEDIA-SEQUENCE``), and the
playlist lists the last ``window`` seconds of them.

Scanning is incremental: per file the feed remembers where the next top-level box
begins, so a refresh reads a 16-byte box header per new box and the ``moof`` of
each new fragment (a few hundred bytes), never media data. Only complete
``moof`` + ``mdat`` pairs count: a fragment still being written waits for the next
refresh.

Timeline: every file's decode times restart at 0, so fragments are moved onto one
continuous live timeline (seconds since the feed's first fragment) when they are
served (:func:`mp4box.shift_fragments`). The offset is fixed per file by its first
video fragment, so consecutive files of one ffmpeg run play on seamlessly without
``EXT-X-DISCONTINUITY``; media time always equals playlist time (the sum of the
``#EXTINF`` durations before a fragment), also across a discontinuity. A new ffmpeg
run, a different sample description (codec, size) or a jump in wall-clock time
(a file that was never seen, decode times that jump inside a file) starts a new
*epoch*: ``EXT-X-DISCONTINUITY`` and ``EXT-X-MAP`` (a new init version for a new
run or codec). ``EXT-X-PROGRAM-DATE-TIME`` of every fragment comes from the file
name of the epoch's first file (whole seconds) plus media time.

A fragment without video samples (ffmpeg writes one at the end of each file with
the last audio packets) is not a media segment of its own: it is prepended to the
next fragment that has video, so audio has no hole at file boundaries.

Thread safety: every method may be called from any thread, concurrently; state is
guarded by one lock. :meth:`LiveFeed.refresh` reads files while holding it (a few
small reads); :meth:`LiveFeed.fragment_bytes` reads media outside it. All methods
block on file I/O: call them in an executor, never on an event loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
import logging
import math
import os
from pathlib import Path
import struct
import threading
import time
from typing import BinaryIO, Final

from . import mp4box
from .hls import HLS_VERSION, EmptyPlaylistError, program_date_time
from .layout import parse_segment_name

_LOGGER = logging.getLogger(__name__)

DEFAULT_WINDOW: Final = 12.0
# Decode times inside one file that jump by more than this start a new epoch.
_MAX_JUMP: Final = Fraction(1, 2)
# The files of one ffmpeg run are contiguous: a file continues the previous one of
# its run unless its name (the wall clock when ffmpeg opened it, whole seconds) is
# later than where that file ended by more than this, or than half that file's length
# (a file was skipped: segments are at least 2 s). ffmpeg may open a file late on a
# loaded machine; a name earlier than expected is never a skip.
_NAME_SLACK: Final = 1.5
# Without a keyframe in this many windows the head of the playlist is cut anyway.
_MAX_HOLD_WINDOWS: Final = 3
# Where a joining player starts (EXT-X-START): the newest keyframe fragment that leaves
# it at least this much media before the live edge (the panel's hls.js holds ~2 fragments
# back), but not one further back than _START_MAX_LEAD (the player would jump to the live
# edge, mid-GOP; cctv-live-video.ts allows 10 target durations of latency).
_START_LEAD: Final = 2.0
_START_MAX_LEAD: Final = 8.0
_MAX_HELD_PARTS: Final = 16
_MAX_FILES: Final = 32
_MAX_MOOF_BYTES: Final = 4 * 2**20
_MAX_INIT_BYTES: Final = 16 * 2**20
_HEADER: Final = 8
_LARGE_HEADER: Final = 16


class LiveNotReadyError(EmptyPlaylistError):
    """The feed holds no complete fragment yet."""


@dataclass(frozen=True, slots=True)
class FragmentPart:
    """One ``moof`` + ``mdat`` pair in a segment file, and how far to move it."""

    path: Path
    offset: int
    size: int
    shift: float  # seconds added to every decode time
    timescales: dict[int, int]


@dataclass(frozen=True, slots=True)
class LiveFragment:
    """One media segment of the live playlist."""

    sequence: int  # EXT-X-MEDIA-SEQUENCE number, never reused
    parts: tuple[FragmentPart, ...]
    start: float  # seconds on the live timeline (= its media decode time when served)
    duration: float  # seconds of video
    wall: float  # epoch seconds of its first video frame (EXT-X-PROGRAM-DATE-TIME)
    keyframe: bool  # its first video sample is a sync sample
    init: int  # version of the init part it needs (init_bytes)
    discontinuity: bool  # EXT-X-DISCONTINUITY before it
    discontinuity_sequence: int  # how many discontinuities precede it, its own included

    @property
    def end(self) -> float:
        """Return where the fragment ends on the live timeline."""
        return self.start + self.duration

    @property
    def size(self) -> int:
        """Return its bytes on disk."""
        return sum(part.size for part in self.parts)


@dataclass(frozen=True, slots=True)
class _Init:
    version: int
    data: bytes
    key: tuple[str, tuple[tuple[int, int], ...]]


@dataclass(slots=True)
class _File:
    """How far one segment file was scanned and where it sits on the live timeline."""

    path: Path
    name_start: float | None
    run_id: str | None
    key: tuple[float, int]  # files are followed in this order: name time, first seen
    position: int = 0  # offset of the next top-level box to parse
    closed: bool = False  # no more fragments are taken from it
    init_data: bytes | None = None
    movie: mp4box.Movie | None = None
    version: int | None = None  # init version, set by its first video fragment
    shift: Fraction | None = None  # live time minus file time
    tfdt_anchor: Fraction = Fraction(0)  # file time of the epoch's wall anchor
    wall_anchor: float = 0.0
    next_decode_time: int = 0  # expected decode time of its next video fragment
    fragments: int = 0
    seconds: Fraction = Fraction(0)  # video taken from it


@dataclass(frozen=True, slots=True)
class _Held:
    file: _File
    offset: int
    size: int


@dataclass(slots=True)
class _Edge:
    """The newest fragment's stream: what the next file must match to continue it."""

    run_id: str | None
    key: tuple[str, tuple[tuple[int, int], ...]]
    version: int
    wall_end: float
    cursor: Fraction  # live time where the next fragment begins


@dataclass(slots=True)
class _Counters:
    scanned_bytes: int = 0  # bytes read by refresh() since the feed was made
    refreshes: int = 0


class LiveFeed:
    """Live HLS over the newest segment files of one camera (see the module docstring).

    Call :meth:`refresh` with the camera's newest files (oldest first) before
    answering a playlist request, then :meth:`playlist`; serve
    :meth:`init_bytes` and :meth:`fragment_bytes` for the URLs it lists.
    """

    def __init__(self, window: float = DEFAULT_WINDOW) -> None:
        """Make an empty feed listing the last ``window`` seconds."""
        if not window > 0:
            raise ValueError("the live window must be positive")
        self.window = window
        self._lock = threading.Lock()
        self._files: dict[Path, _File] = {}
        self._current: _File | None = None  # the file of the newest fragment
        self._serial = 0
        self._fragments: deque[LiveFragment] = deque()
        self._inits: dict[int, _Init] = {}
        self._held: list[_Held] = []
        self._edge: _Edge | None = None
        self._next_sequence = 0
        self._next_version = 0
        self._head = 0  # sequence of the first listed fragment (never decreases)
        self._broken = False  # media was lost: the next fragment starts a new epoch
        self._counters = _Counters()
        self._refreshed: float | None = None

    # -- what the serving side calls -------------------------------------------------

    def refresh(self, files: Sequence[Path]) -> int:
        """Scan the camera's newest segment files for new fragments; return how many.

        ``files`` are the newest files of the camera, oldest first; the last one may
        still be growing (see ``Recorder.latest_files``). Pass enough of them to cover
        the window (3 with 10 s segments and the default window). Files are followed
        in the order of their names (then of first sight, i.e. of ``files`` when two
        new ones share a name's second): files older than the one
        the newest fragment came from are not scanned again, and what was scanned is
        remembered, so a stale list from a concurrent caller does no harm. A file
        that shrank, vanished or holds garbage ends its part of the stream (the next
        fragment starts a new epoch). Blocks (reads files): call it in an executor.
        """
        with self._lock:
            before = self._next_sequence
            self._counters.refreshes += 1
            self._refreshed = time.monotonic()
            states = []
            for path in dict.fromkeys(files):
                state = self._files.get(path)
                if state is None:
                    state = self._files[path] = self._new_file(path)
                    # A file never seen that is older than the one followed now came
                    # too late: its fragments would go out of order.
                    current = self._current
                    state.closed = current is not None and state.key < current.key
                states.append(state)
            for state in sorted(states, key=lambda s: s.key):
                if not state.closed:
                    self._scan(state)
            self._forget_files()
            self._slide()
            return self._next_sequence - before

    def playlist(
        self, url_for_init: Callable[[int], str], url_for_fragment: Callable[[int], str]
    ) -> str:
        """Return the live HLS media playlist of the window.

        ``url_for_init(version)`` gives the URL of :meth:`init_bytes` of that version,
        ``url_for_fragment(sequence)`` the URL of :meth:`fragment_bytes`. The first
        listed fragment starts with a keyframe when the recording has one in reach.
        ``EXT-X-START`` points a joining player at a keyframe fragment near the live
        edge (see :func:`_start_fragment`): a player that starts a couple of fragments
        back from the edge otherwise lands mid-GOP with a long-GOP camera and shows
        nothing until the next keyframe (up to a GOP later). Raises
        :class:`LiveNotReadyError` before the first fragment is complete.
        """
        with self._lock:
            listed = [f for f in self._fragments if f.sequence >= self._head]
        if not listed:
            raise LiveNotReadyError("no live fragment yet")
        target = max(1, *(math.floor(f.duration + 0.5) for f in listed))
        lines = [
            "#EXTM3U",
            f"#EXT-X-VERSION:{HLS_VERSION}",
            f"#EXT-X-TARGETDURATION:{target}",
            f"#EXT-X-MEDIA-SEQUENCE:{listed[0].sequence}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{listed[0].discontinuity_sequence}",
        ]
        if all(f.keyframe for f in listed):
            lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
        start = _start_fragment(listed)
        if start is not None:
            # Playlist time (the EXTINF sum before it), as served: media time is the same.
            offset = sum(round(f.duration, 6) for f in listed if f.sequence < start.sequence)
            lines.append(f"#EXT-X-START:TIME-OFFSET={offset:.6f},PRECISE=YES")
        previous: LiveFragment | None = None
        for fragment in listed:
            if previous is not None and fragment.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if previous is None or fragment.discontinuity or fragment.init != previous.init:
                lines.append(f'#EXT-X-MAP:URI="{_quote(url_for_init(fragment.init))}"')
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(fragment.wall)}")
            lines.append(f"#EXTINF:{fragment.duration:.6f},")
            lines.append(_quote(url_for_fragment(fragment.sequence)))
            previous = fragment
        return "\n".join(lines) + "\n"

    def init_bytes(self, version: int) -> bytes | None:
        """Return the init part (ftyp + moov) of a version, or None when it is gone."""
        with self._lock:
            init = self._inits.get(version)
        return init.data if init is not None else None

    def fragment_bytes(self, sequence: int) -> bytes | None:
        """Return a fragment's moof + mdat bytes moved onto the live timeline.

        Fragments stay available one window after they left the playlist. Returns
        None for an unknown or expired sequence, or when its file is gone or was cut.
        Reads the fragment from disk (nothing is cached). Blocks: call it in an executor.
        """
        fragment = self.fragment(sequence)
        if fragment is None:
            return None
        out = bytearray()
        for part in fragment.parts:
            try:
                with part.path.open("rb") as handle:
                    handle.seek(part.offset)
                    data = handle.read(part.size)
            except OSError:
                return None
            boxes = mp4box.iter_boxes(data)
            if (
                len(data) != part.size
                or not boxes
                or boxes[0].kind != b"moof"
                or sum(box.size for box in boxes) != part.size
            ):
                return None  # the file was cut or replaced since it was scanned
            if part.shift:
                try:
                    data = mp4box.shift_fragments(data, part.timescales, part.shift, part.offset)
                except mp4box.Mp4Error:
                    return None
            out += data
        return bytes(out)

    # -- state, for the serving side and tests ----------------------------------------

    def fragment(self, sequence: int) -> LiveFragment | None:
        """Return a fragment still available (listed, or one window after), or None."""
        with self._lock:
            if not self._fragments:
                return None
            index = sequence - self._fragments[0].sequence
            if 0 <= index < len(self._fragments):
                return self._fragments[index]
            return None

    def listed(self) -> list[LiveFragment]:
        """Return the fragments the playlist lists now, oldest first."""
        with self._lock:
            return [f for f in self._fragments if f.sequence >= self._head]

    @property
    def edge_wall_time(self) -> float | None:
        """Return the wall-clock time (epoch seconds) of the newest fragment's end."""
        with self._lock:
            return self._edge.wall_end if self._edge is not None else None

    @property
    def refreshed_at(self) -> float | None:
        """Return when refresh() last ran (``time.monotonic()``), to skip one right after."""
        with self._lock:
            return self._refreshed

    @property
    def scanned_bytes(self) -> int:
        """Return how many bytes refresh() read in total (box headers and moofs)."""
        with self._lock:
            return self._counters.scanned_bytes

    # -- scanning --------------------------------------------------------------------

    def _read(self, handle: BinaryIO, offset: int, size: int) -> bytes:
        handle.seek(offset)
        data = handle.read(size)
        self._counters.scanned_bytes += len(data)
        return data

    def _new_file(self, path: Path) -> _File:
        parsed = parse_segment_name(path.name)
        self._serial += 1
        return _File(
            path,
            parsed[0] if parsed else None,
            parsed[1] if parsed else None,
            (parsed[0] if parsed else 0.0, self._serial),
        )

    def _forget_files(self) -> None:
        """Keep the scan state of the newest files only (a stale list may name them again)."""
        excess = len(self._files) - _MAX_FILES
        if excess > 0:
            closed = sorted((s for s in self._files.values() if s.closed), key=lambda s: s.key)
            for state in closed[:excess]:
                del self._files[state.path]

    def _scan(self, state: _File) -> None:
        """Take the new complete fragments of one file."""
        try:
            with state.path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < state.position:
                    self._lose(state, "shrank")
                    return
                while (box := self._box(handle, state.position, size)) is not None:
                    if box.kind == b"moov" and state.movie is None:
                        self._read_init(state, handle, box)
                        state.position = box.end
                    elif box.kind == b"moof":
                        end = self._read_fragment(state, handle, box, size)
                        if end is None:
                            return  # its mdat is still being written
                        state.position = end
                    else:
                        state.position = box.end  # ftyp, free, mfra, ...
                    if state.closed:
                        return
        except FileNotFoundError:
            self._lose(state, "vanished")
        except (mp4box.Mp4Error, struct.error) as err:
            self._lose(state, f"unreadable ({err})")
        except OSError as err:
            _LOGGER.debug("Live: cannot read %s now: %s", state.path.name, err)

    def _lose(self, state: _File, why: str) -> None:
        _LOGGER.debug("Live: %s %s; its stream ends here", state.path.name, why)
        state.closed = True
        if state.fragments:
            self._broken = True

    def _box(self, handle: BinaryIO, offset: int, file_size: int) -> mp4box.Box | None:
        """Return the complete top-level box at offset, or None (not complete yet)."""
        if offset + _HEADER > file_size:
            return None
        raw = self._read(handle, offset, _LARGE_HEADER)
        return _parse_header(raw, offset, file_size)

    def _read_init(self, state: _File, handle: BinaryIO, moov: mp4box.Box) -> None:
        if moov.end > _MAX_INIT_BYTES:
            raise mp4box.Mp4Error("moov box too large")
        data = self._read(handle, 0, moov.end)
        state.movie = mp4box.parse_movie(data[moov.offset :])
        state.init_data = data

    def _read_fragment(
        self,
        state: _File,
        handle: BinaryIO,
        moof: mp4box.Box,
        file_size: int,
    ) -> int | None:
        """Take the fragment at a moof; return where it ends, None while incomplete."""
        if state.movie is None:
            raise mp4box.Mp4Error("moof before moov")
        if moof.size > _MAX_MOOF_BYTES:
            raise mp4box.Mp4Error("moof box too large")
        if moof.end + _HEADER > file_size:
            return None
        raw = self._read(handle, moof.offset, moof.size + _LARGE_HEADER)
        mdat = _parse_header(raw[moof.size :], moof.end, file_size)
        if mdat is None:
            return None
        if mdat.kind != b"mdat":
            _LOGGER.debug("Live: moof without mdat in %s", state.path.name)
            return moof.end
        runs = mp4box.parse_moof(raw[: moof.size], state.movie)
        self._add(state, runs, moof.offset, mdat.end - moof.offset)
        return mdat.end

    # -- the live timeline -------------------------------------------------------------

    def _add(
        self,
        state: _File,
        runs: list[mp4box.TrackRun],
        offset: int,
        size: int,
    ) -> None:
        movie = state.movie
        assert movie is not None  # noqa: S101
        primary = movie.video_track
        if primary is None and runs:
            primary = min(run.track_id for run in runs)
        video = next((r for r in runs if r.track_id == primary and r.samples), None)
        if video is None:
            # Audio only (the tail ffmpeg writes when it closes a file): it rides
            # along with the next fragment that has video.
            self._held.append(_Held(state, offset, size))
            del self._held[:-_MAX_HELD_PARTS]
            return
        timescale = movie.timescales.get(video.track_id)
        if not timescale:
            raise mp4box.Mp4Error(f"no timescale for track {video.track_id}")
        decode_time = Fraction(video.decode_time, timescale)
        edge = self._edge
        cursor = edge.cursor if edge is not None else Fraction(0)
        discontinuity = self._broken and edge is not None
        self._broken = False
        if state.fragments == 0:
            discontinuity |= self._enter_file(state, decode_time, cursor)
        elif abs(video.decode_time - state.next_decode_time) > _MAX_JUMP * timescale:
            # Decode times jump inside the file (the camera's clock, a lost stretch).
            jump = Fraction(video.decode_time - state.next_decode_time, timescale)
            wall_end = edge.wall_end if edge is not None else state.wall_anchor
            _anchor(state, decode_time, cursor, wall_end + max(0.0, float(jump)))
            discontinuity = True
        assert state.shift is not None  # noqa: S101
        assert state.version is not None  # noqa: S101
        start = decode_time + state.shift
        duration = Fraction(video.duration, timescale)
        wall = state.wall_anchor + float(decode_time - state.tfdt_anchor)
        parts = [
            FragmentPart(
                held.file.path,
                held.offset,
                held.size,
                float(held.file.shift),
                held.file.movie.timescales,
            )
            for held in self._held
            if held.file.version == state.version
            and held.file.shift is not None
            and held.file.movie is not None
        ]
        self._held.clear()
        parts.append(FragmentPart(state.path, offset, size, float(state.shift), movie.timescales))
        previous_cc = self._fragments[-1].discontinuity_sequence if self._fragments else 0
        self._fragments.append(
            LiveFragment(
                sequence=self._next_sequence,
                parts=tuple(parts),
                start=float(start),
                duration=float(duration),
                wall=wall,
                keyframe=video.starts_with_sync_sample,
                init=state.version,
                discontinuity=discontinuity,
                discontinuity_sequence=previous_cc + int(discontinuity),
            )
        )
        self._next_sequence += 1
        state.fragments += 1
        state.seconds += duration
        state.next_decode_time = video.decode_time + video.duration
        self._edge = _Edge(
            state.run_id,
            self._inits[state.version].key,
            state.version,
            wall + float(duration),
            start + duration,
        )
        # The stream moved on to this file: the files before it are done.
        self._current = state
        for older in self._files.values():
            if older.key < state.key:
                older.closed = True

    def _enter_file(self, state: _File, decode_time: Fraction, cursor: Fraction) -> bool:
        """Place a file's first video fragment; return True when it starts a new epoch."""
        movie = state.movie
        assert movie is not None  # noqa: S101
        assert state.init_data is not None  # noqa: S101
        key = (movie.codec_digest, tuple(sorted(movie.timescales.items())))
        edge = self._edge
        same_stream = edge is not None and edge.run_id == state.run_id and edge.key == key
        if edge is not None and same_stream:
            state.version = edge.version
        else:
            state.version = self._next_version
            self._next_version += 1
            self._inits[state.version] = _Init(state.version, state.init_data, key)
        name_start = state.name_start
        if (
            edge is not None
            and same_stream
            and (name_start is None or name_start - edge.wall_end <= self._skip_threshold())
        ):
            _anchor(state, decode_time, cursor, edge.wall_end)
            return False
        if name_start is None:
            name_start = edge.wall_end if edge is not None else 0.0
        _anchor(state, decode_time, cursor, name_start)
        return edge is not None

    def _skip_threshold(self) -> float:
        """Return how much later than expected a file of the same run may be named."""
        previous = self._current
        seconds = float(previous.seconds) if previous is not None else 0.0
        return max(_NAME_SLACK, seconds / 2)

    def _slide(self) -> None:
        """Move the head of the playlist to a keyframe ~window before the end; forget older."""
        fragments = self._fragments
        if not fragments:
            return
        end = fragments[-1].end
        cut = end - self.window
        limit = end - _MAX_HOLD_WINDOWS * self.window
        head: LiveFragment | None = None
        for fragment in fragments:
            if fragment.start > cut + 1e-9:
                break
            if fragment.keyframe and fragment.start >= limit:
                head = fragment
        if head is None:  # no keyframe in reach before the cut: the first after it
            head = next((f for f in fragments if f.keyframe and f.start > cut), None)
        if head is None:  # no keyframe at all: cut without one
            head = next((f for f in reversed(fragments) if f.start <= cut), fragments[0])
        self._head = max(self._head, head.sequence)
        head_start = next(f.start for f in fragments if f.sequence >= self._head)
        # Fragments stay available one window after they left the playlist.
        while fragments[0].sequence < self._head and fragments[0].end < head_start - self.window:
            fragments.popleft()
        needed = {f.init for f in fragments}
        if self._edge is not None:
            needed.add(self._edge.version)
        for version in [v for v in self._inits if v not in needed]:
            del self._inits[version]


def _start_fragment(listed: Sequence[LiveFragment]) -> LiveFragment | None:
    """Return the fragment a joining player should start on, or None (the player's choice).

    The newest keyframe fragment with at least ``_START_LEAD`` seconds from its start to
    the live edge, unless that is more than ``_START_MAX_LEAD`` back; then (or when no
    keyframe is that far back) the newest keyframe fragment closer to the edge.
    """
    end = listed[-1].end
    keyed = [f for f in listed if f.keyframe]
    ready = [f for f in keyed if end - f.start >= _START_LEAD - 1e-9]
    if ready and end - ready[-1].start <= _START_MAX_LEAD + 1e-9:
        return ready[-1]
    return next((f for f in reversed(keyed) if end - f.start < _START_LEAD - 1e-9), None)


def _anchor(state: _File, decode_time: Fraction, cursor: Fraction, wall: float) -> None:
    """Put file time ``decode_time`` at live time ``cursor`` and wall-clock time ``wall``."""
    state.shift = cursor - decode_time
    state.tfdt_anchor = decode_time
    state.wall_anchor = wall


def _parse_header(raw: bytes, offset: int, file_size: int) -> mp4box.Box | None:
    """Return the box whose header starts ``raw`` (at ``offset``) if it is complete."""
    if len(raw) < _HEADER:
        return None
    size, kind = struct.unpack_from(">I4s", raw)
    header = _HEADER
    if size == 1:
        if len(raw) < _LARGE_HEADER:
            return None
        size = struct.unpack_from(">Q", raw, _HEADER)[0]
        header = _LARGE_HEADER
    elif size == 0:
        return None  # "to the end of the file": not known while the file grows
    if size < header:
        raise mp4box.Mp4Error(f"broken box at {offset}")
    if offset + size > file_size:
        return None
    return mp4box.Box(kind, offset, size, header)


def _quote(uri: str) -> str:
    if '"' in uri or "\n" in uri or "\r" in uri:
        raise ValueError("a playlist URI may not hold quotes or line breaks")
    return uri
