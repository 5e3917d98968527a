"""H.264 renditions of H.265 footage for clients that cannot decode H.265 (issue 13).

One :class:`~.engine.transcode.Renditions` serves the whole installation: its cache is a
folder of the thumbnails cache (``.renditions``, at most ``RENDITION_CACHE_BYTES``), at
most ``RENDITION_MAX_RUNNING`` ffmpeg processes run at once for every viewer together,
renditions of deleted footage go after each retention run or deletion, and it is closed
when Home Assistant stops. Which H.264 encoder it uses (hardware first) is detected once
at start; diagnostics show the result.

Who gets a rendition: stored footage is served untouched unless the client cannot decode
it. A playlist URL carries ``codec``, signed with it: ``h264`` (the panel asked, its
browser's ``MediaSource.isTypeSupported`` said no to the footage's codec string),
``auto`` (the media browser and the companion apps: the playlist request's User-Agent
decides, see :func:`client_decodes_hevc`; their URL is ``urls.playlist_auto_path``, as Home
Assistant signs no media URL that carries a query), nothing (the stored stream).

In a rendition playlist each H.265 segment is listed as pieces cut by time: the first
``PIECE_FIRST`` seconds, then ``PIECE_SECONDS`` each (a remainder under
``PIECE_MIN_LAST`` joins the last piece; a segment too short to cut is one part, ``all``).
A part is made whole before a player shows its first frame, and a click lands anywhere in a
segment: a 2 s piece of 1080p is made in a fraction of the time of the recorder's 10 s
segment, so the first frame comes soon wherever the click is.
Listing pieces reads no file (a day-long playlist lists thousands of segments): a piece is
cut from the stored file when made, decoded from the keyframe before its start, and its
rendition starts with a keyframe of its own; its frames keep their times, so pieces and
segments join without a jump (see ``engine.transcode.TimePiece``). Each part is made when
first asked for and the next ones are made ahead of the playhead. H.264 footage in the
same playlist is listed as stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from functools import partial
import logging
from pathlib import Path
import shutil
from typing import Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .data import NvrData
from .engine.index import Segment
from .engine.transcode import (
    AnyPiece,
    Capabilities,
    Renditions,
    TranscodeError,
    detect,
    plan_cuts,
    wants_rendition,
)

_LOGGER = logging.getLogger(__name__)

RENDITION_MAX_RUNNING: Final = 2  # ffmpeg processes for every viewer together
RENDITION_CACHE_BYTES: Final = 2 * 2**30
RENDITION_FOLDER: Final = ".renditions"  # in the thumbnails cache; no camera key starts with "."
# A click lands anywhere in a segment: the first frame waits for the part holding it.
PIECE_FIRST: Final = 2.0  # a segment's first part (seconds)
PIECE_SECONDS: Final = 2.0  # its other parts, cut by time (no file read to list them)
PIECE_MIN_LAST: Final = 1.0  # a shorter remainder joins the part before it
WHOLE: Final = "all"  # the part of a segment that is all of it
LIVE_SOURCES_KEPT: Final = 64  # live fragments (about a minute) kept as sources per camera
LIVE_FOLDER: Final = "live"  # in the cache folder: live fragments to transcode (emptied at start)

# What a playlist URL's ``codec`` asks for.
CODEC_QUERY: Final = "codec"
CODEC_H264: Final = "h264"
CODEC_AUTO: Final = "auto"

# User-Agents of clients that decode H.265 (Apple's: Safari, AVPlayer, the iOS/macOS app).
_HEVC_AGENTS: Final = ("AppleCoreMedia", "io.robbie.HomeAssistant", "iPhone", "iPad", "Macintosh")
_NOT_SAFARI: Final = ("Chrome", "Chromium", "CriOS", "Edg", "Firefox", "FxiOS", "Android", "CrKey")


def client_decodes_hevc(user_agent: str) -> bool:
    """Guess from a User-Agent whether the client decodes H.265.

    Apple devices do (Safari since macOS 11 / iOS 11, AVPlayer and the Home Assistant
    companion app on iOS and macOS): they get the stored stream. Everything else
    (Chromium without HEVC, Firefox, Android, Cast devices) gets the H.264 rendition,
    which plays everywhere; a wrong guess costs CPU, never playback.
    """
    if "AppleCoreMedia" in user_agent or "io.robbie.HomeAssistant" in user_agent:
        return True
    if any(agent in user_agent for agent in _NOT_SAFARI):
        return False
    return any(agent in user_agent for agent in _HEVC_AGENTS)


def rendition_wanted(codec: str | None, user_agent: str, video_codec: str | None) -> bool:
    """Return True when a playlist asked with ``codec`` lists this footage as a rendition."""
    if codec == CODEC_H264:
        return wants_rendition(video_codec, client_decodes_hevc=False)
    if codec == CODEC_AUTO:
        return wants_rendition(video_codec, client_decodes_hevc=client_decodes_hevc(user_agent))
    return False


def part_name(piece: AnyPiece | None) -> str:
    """Return how a URL names a part of a segment: ``all``, ``t<ms>-<ms>`` or ``<first>-<stop>``."""
    return WHOLE if piece is None else piece.name


def plan(segment: Segment) -> list[AnyPiece | None]:
    """Return the parts a rendition playlist lists for a segment (no file is read).

    Pieces cut by time (see the module's docstring); ``[None]`` (the whole segment) when
    it is too short to cut.
    """
    cuts = plan_cuts(segment.duration, PIECE_FIRST, PIECE_SECONDS, PIECE_MIN_LAST)
    return [None] if cuts is None else list(cuts)


def as_listed(segment: Segment, piece: AnyPiece | None) -> Segment:
    """Return a piece as a playlist lists it: a segment of its own (its stretch of time)."""
    if piece is None:
        return segment
    end = segment.end if piece.end is None else min(segment.end, segment.start + piece.end)
    return dataclasses.replace(segment, start=segment.start + piece.start, end=end)


def listed_span(segment: Segment, begin: float, finish: float) -> tuple[float, float]:
    """Return where a rendition playlist of ``[begin, finish)`` lists a segment's parts.

    The playlist lists the parts that overlap the range (``hls.build_playlist``): its
    timeline starts where its first part starts (a player's position 0), which is later
    than the segment's start when ``begin`` is past its first piece.
    """
    parts = [as_listed(segment, piece) for piece in plan(segment)]
    inside = [part for part in parts if part.start < finish and part.end > begin] or parts
    return inside[0].start, inside[-1].end


class RenditionService:
    """The installation's renditions, its encoder detection and the pieces of segments."""

    def __init__(self, hass: HomeAssistant, nvr: NvrData, ffmpeg: str = "ffmpeg") -> None:
        """Prepare; :meth:`async_start` detects the encoder."""
        self.hass = hass
        self.nvr = nvr
        self.ffmpeg = ffmpeg
        self.cache_dir = nvr.thumbnails / RENDITION_FOLDER
        self.capabilities: Capabilities | None = None
        self._renditions: Renditions | None = None
        self._ready: asyncio.Task[Renditions] | None = None
        self._closed = False

    @callback
    def async_start(self) -> None:
        """Detect the encoder in the background; close everything when Home Assistant stops."""
        self._ready = self.hass.async_create_background_task(
            self._async_create(), f"{DOMAIN} transcode detection"
        )

        async def _stop(_event: Event) -> None:
            await self.async_close()

        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _stop)

    async def _async_create(self) -> Renditions:
        # Live sources of an earlier run are never asked for again.
        await self.hass.async_add_executor_job(
            partial(shutil.rmtree, self.cache_dir / LIVE_FOLDER, ignore_errors=True)
        )
        caps = await detect(self.ffmpeg)
        self.capabilities = caps
        encoder = caps.best
        if encoder is None:
            _LOGGER.warning("No H.264 encoder works here: H.265 footage plays only where decoded")
        else:
            _LOGGER.info("H.264 renditions use %s", encoder.name)
        kwargs: dict[str, Any] = {} if encoder is None else {"encoder": encoder}
        renditions = Renditions(
            self.cache_dir,
            ffmpeg=self.ffmpeg,
            max_running=RENDITION_MAX_RUNNING,
            cache_bytes=RENDITION_CACHE_BYTES,
            executor=self.hass.async_add_executor_job,
            **kwargs,
        )
        self._renditions = renditions
        await renditions.start()
        return renditions

    async def async_renditions(self) -> Renditions:
        """Return the renditions once the encoder is known (raise TranscodeError when closed)."""
        if self._closed or self._ready is None:
            raise TranscodeError("closed", "renditions are shut down")
        return await asyncio.shield(self._ready)

    async def async_close(self) -> None:
        """Stop every transcode."""
        self._closed = True
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._ready
        if self._renditions is not None:
            await self._renditions.close()

    async def async_prune(self) -> int:
        """Drop the renditions of segments no longer stored (after retention or a deletion)."""
        if self._renditions is None or self._closed:
            return 0
        return await self._renditions.prune(self.nvr.index.known_paths)

    def live_source(
        self, camera: str, sequence: int, wall: float, init: bytes, fragment: bytes
    ) -> Path:
        """Write a live fragment with its init part as a file a rendition is made of. Blocks.

        The file is named by the fragment's sequence and wall-clock time (a reloaded camera
        numbers its fragments from the start again). The same fragment is written once (its
        rendition is cached by the file's version); sources further than
        ``LIVE_SOURCES_KEPT`` fragments from this one go.
        """
        folder = self.cache_dir / LIVE_FOLDER
        path = folder / f"{camera}-{sequence}-{round(wall * 1000)}.mp4"
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{path.name}.tmp"
            tmp.write_bytes(init + fragment)
            tmp.replace(path)
            for old in folder.glob(f"{camera}-*.mp4"):
                number = old.stem.rsplit("-", 2)[-2]
                if number.isdigit() and abs(int(number) - sequence) > LIVE_SOURCES_KEPT:
                    old.unlink(missing_ok=True)
        return path

    def diagnostics(self) -> dict[str, Any]:
        """Return the detection result and the state of the renditions."""
        status = self._renditions.status if self._renditions is not None else None
        return {
            "capabilities": self.capabilities.as_dict() if self.capabilities else None,
            "status": dataclasses.asdict(status) if status is not None else None,
        }


DATA_RENDITIONS: HassKey[RenditionService] = HassKey(f"{DOMAIN}_renditions")


@callback
def async_setup_renditions(hass: HomeAssistant, nvr: NvrData) -> RenditionService:
    """Create the installation's renditions (detection runs in the background)."""
    service = hass.data[DATA_RENDITIONS] = RenditionService(hass, nvr)
    service.async_start()
    return service
