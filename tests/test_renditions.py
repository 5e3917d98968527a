"""H.265 footage for clients that cannot decode it: H.264 renditions through the views.

Real parts throughout: H.265 footage recorded from the simulator's h265 mount by the real
recorder (three 4 s segments, a gap, one more; ``tests.engine.test_hls.recorded``) plus one
long H.265 segment made by ffmpeg (14 s), indexed for the front door of a real
Home Assistant; playlists and parts fetched over HTTP; renditions made by real ffmpeg and
decoded with PyAV.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
import os
from pathlib import Path
import re
import shutil
import time
from typing import Any

import av
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.components.media_source import DOMAIN as MEDIA_SOURCE_DOMAIN, async_resolve_media
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockUser

from custom_components.cctv_nvr.const import DOMAIN
from custom_components.cctv_nvr.data import DATA_NVR
from custom_components.cctv_nvr.engine import hls
from custom_components.cctv_nvr.engine.index import Segment
from custom_components.cctv_nvr.engine.layout import STRFTIME_NAME, hour_dir, relative
from custom_components.cctv_nvr.engine.transcode import plan_cuts
from custom_components.cctv_nvr.renditions import (
    DATA_RENDITIONS,
    PIECE_FIRST,
    PIECE_MIN_LAST,
    PIECE_SECONDS,
    RENDITION_MAX_RUNNING,
    client_decodes_hevc,
    plan,
)
from tests.engine.helpers import ffprobe
from tests.engine.segments_factory import SegmentFactory
from tests.engine.test_hls import recorded
from tests.engine.test_transcode import hevc_clip
from tests.helpers import camera_entry, setup_camera
from tests.simulator import CameraSimulator
from tests.test_access import Person, _person, _uris

KEY = "front_door"
FRAME = 1 / 15
CHROMIUM = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)


@dataclass
class Footage:
    """The front door's H.265 footage and who looks at it."""

    admin: Person
    anonymous: Any
    segments: list[Segment]  # as indexed for the front door, oldest first
    long: Segment  # the 14 s segment


def _place(root: Path, source: Path, start: float, run: str) -> Path:
    moment = datetime.fromtimestamp(start, UTC)
    folder = hour_dir(root, KEY, moment)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{moment.strftime(STRFTIME_NAME)}-{run}.mp4"
    shutil.copyfile(source, path)
    return path


@pytest.fixture
async def footage(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    tmp_path_factory: pytest.TempPathFactory,
    hass_ws_client: Any,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_admin_user: MockUser,
) -> Footage:
    """The front door (not recording) with recorded H.265 footage an hour ago, and a long one."""
    rec = await hass.async_add_executor_job(recorded, "h265", simulator, tmp_path_factory)
    clip = await hass.async_add_executor_job(hevc_clip, tmp_path_factory.mktemp("long"), 14)
    await setup_camera(hass, camera_entry(simulator, mount="h265", sub=None))
    nvr = hass.data[DATA_NVR]
    shift = time.time() - 3600 - rec.segments[0].start

    def index() -> list[Segment]:
        rows = []
        for seg in rec.segments:
            path = _place(nvr.root, rec.root / seg.path, seg.start + shift, seg.run_id or "r")
            rows.append(
                replace(seg, camera=KEY, path=relative(nvr.root, path), start=seg.start + shift,
                        end=seg.end + shift, root=None)  # now in the default folder
            )  # fmt: skip
        start = rows[-1].end + 5
        path = _place(nvr.root, clip, start, "long")
        rows.append(
            Segment(camera=KEY, path=relative(nvr.root, path), start=start, end=start + 14.0,
                    bytes=path.stat().st_size, video_codec="hevc", width=640, height=360,
                    fps=15.0, audio_codec="aac", run_id="long")
        )  # fmt: skip
        nvr.index.add_segments(rows)
        return nvr.index.segments(KEY, 0, time.time())

    segments = await hass.async_add_executor_job(index)
    assert {seg.video_codec for seg in segments} == {"hevc"}
    admin = await _person(hass, hass_ws_client, hass_client, hass_admin_user)
    return Footage(admin, await hass_client_no_auth(), segments, segments[-1])


async def _status(hass: HomeAssistant) -> dict[str, Any]:
    """Return the renditions' status once the encoder is detected."""
    service = hass.data[DATA_RENDITIONS]
    await service.async_renditions()
    status: dict[str, Any] = service.diagnostics()["status"]
    return status


def _range(footage: Footage) -> dict[str, int]:
    return {"start": int(footage.segments[0].start), "end": int(footage.segments[-1].end) + 1}


def _span(segments: list[Segment]) -> dict[str, int]:
    return {"start": int(segments[0].start) + 1, "end": int(segments[-1].end)}


def _decode(url: str) -> tuple[str, list[float], int]:
    """Decode every video frame of an HLS URL: (codec, frame times, frames)."""
    with av.open(url, timeout=120) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream) if frame.time is not None]
        return stream.codec_context.name, times, len(times)


async def test_rendition_playlist_plays_h264_on_the_stored_timeline(
    hass: HomeAssistant, footage: Footage
) -> None:
    """A client without HEVC gets H.264 parts whose frames sit where the stored ones do."""
    admin = footage.admin
    stored = await admin.ws.ok("playback", camera=KEY, **_range(footage))
    assert not stored["rendition"]
    assert "codec=" not in stored["url"]
    assert stored["codecs"] and all(c.startswith("hvc1.1.") for c in stored["codecs"])
    assert re.fullmatch(r"hvc1\.1\.6\.L\d+\.[0-9A-F.]+", stored["codecs"][0])
    wanted = await admin.ws.ok("playback", camera=KEY, hevc=False, **_range(footage))
    assert wanted["rendition"]
    assert "codec=h264" in wanted["url"]
    response = await admin.http.get(wanted["url"])
    assert response.status == 200
    text = await response.text()
    uris = _uris(text)
    assert uris and all("/rendition/" in uri and "?t=" in uri for uri in uris)
    # Every segment is listed as pieces cut by time: 2 s each.
    long_id = footage.long.row_id
    pieces = [uri for uri in uris if f"/rendition/{long_id}/" in uri]
    assert [re.search(r"/(t\d+-\d+)/", uri)[1] for uri in pieces] == [  # type: ignore[index]
        "t0-2000",
        "t2000-4000",
        "t4000-6000",
        "t6000-8000",
        "t8000-10000",
        "t10000-12000",
        "t12000-14000",
    ]
    # A segment too short to cut (under 3 s: a run's last) is one part.
    short = {seg.row_id for seg in footage.segments if seg.duration < PIECE_FIRST + PIECE_MIN_LAST}
    for uri in uris:
        found = re.search(r"/rendition/(\d+)/(all|t\d+-\d+)/", uri)
        assert found is not None
        assert (found[2] == "all") == (int(found[1]) in short)
    assert "#EXT-X-DISCONTINUITY" in text  # the gap

    # Frame by frame, the rendition's frames are the stored ones' (times on the playlist):
    # the recorded run across a segment boundary and the gap, then the long segment's pieces
    # (another picture size: decoded apart, a decoder keeps one stream's parameter sets).
    for span in (_span(footage.segments[:-1]), _span([footage.long])):
        ours = await admin.ws.ok("playback", camera=KEY, hevc=False, **span)
        theirs = await admin.ws.ok("playback", camera=KEY, **span)
        codec, times, count = await hass.async_add_executor_job(
            _decode, str(admin.http.make_url(ours["url"]))
        )
        stored_codec, stored_times, stored_count = await hass.async_add_executor_job(
            _decode, str(admin.http.make_url(theirs["url"]))
        )
        assert (codec, stored_codec) == ("h264", "hevc")
        assert count == stored_count > 0
        assert all(abs(a - b) < FRAME / 2 for a, b in zip(times, stored_times, strict=True))
    status = await _status(hass)
    assert status["transcodes"] >= len(uris) - 1
    assert status["running"] == 0


def _stored_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(
            float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None
        )


async def test_a_click_inside_a_segment_plays_from_the_piece_holding_it(
    hass: HomeAssistant, footage: Footage
) -> None:
    """The playlist starts at the piece holding the clicked moment; the answer says where."""
    admin, long = footage.admin, footage.long
    begin = int(long.start) + 5  # 4 to 5 s into the long segment: its piece t4000-6000
    answer = await admin.ws.ok("playback", camera=KEY, hevc=False, start=begin, end=begin + 3)
    assert answer["rendition"]
    assert answer["first"] == pytest.approx(long.start + 4)  # not the segment's start
    assert answer["last"] == pytest.approx(long.start + 8)
    stored = await admin.ws.ok("playback", camera=KEY, start=begin, end=begin + 3)
    assert (stored["first"], stored["last"]) == (pytest.approx(long.start), pytest.approx(long.end))
    text = await (await admin.http.get(answer["url"])).text()
    assert [re.search(r"/(t\d+-\d+)/", uri)[1] for uri in _uris(text)] == [  # type: ignore[index]
        "t4000-6000",
        "t6000-8000",
    ]
    assert f"#EXT-X-PROGRAM-DATE-TIME:{hls.program_date_time(answer['first'])}" in text
    # A player starting there (a seek into the segment's middle) gets the stored frames
    # of those 4 s, on a timeline whose 0 is ``first``.
    codec, times, count = await hass.async_add_executor_job(
        _decode, str(admin.http.make_url(answer["url"]))
    )
    nvr = hass.data[DATA_NVR]
    source = await hass.async_add_executor_job(_stored_times, nvr.root / long.path)
    expected = [t - 4 for t in source if 4 - 1e-9 <= t < 8 - 1e-9]
    assert codec == "h264"
    assert count == len(expected) > 0
    assert all(abs(a - b) < FRAME / 2 for a, b in zip(times, expected, strict=True))


async def test_hevc_client_gets_the_stored_bytes_untouched(
    hass: HomeAssistant, footage: Footage
) -> None:
    """When the client decodes HEVC, the playlist's parts are the stored file's own bytes."""
    admin = footage.admin
    result = await admin.ws.ok("playback", camera=KEY, hevc=True, **_range(footage))
    assert not result["rendition"]
    text = await (await admin.http.get(result["url"])).text()
    assert "/rendition/" not in text
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
    first = footage.segments[0]
    path = hass.data[DATA_NVR].root / first.path
    init = await (await footage.anonymous.get(maps[0])).read()
    assert init == await hass.async_add_executor_job(hls.init_bytes, path)
    media = await (await footage.anonymous.get(_uris(text)[0])).read()
    assert media == await hass.async_add_executor_job(hls.media_bytes, path, 0.0)
    assert (await _status(hass))["transcodes"] == 0


async def test_rendition_parts_check_access(
    hass: HomeAssistant, footage: Footage, hass_ws_client: Any, hass_client: Any
) -> None:
    """Rendition parts are checked like the stored ones: token, rights, unknown parts."""
    admin, anonymous = footage.admin, footage.anonymous
    result = await admin.ws.ok("playback", camera=KEY, hevc=False, **_range(footage))
    text = await (await admin.http.get(result["url"])).text()
    uri = _uris(text)[0]
    maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
    # No credential: 401; a forged token: 401; an unknown part or segment: 404.
    assert (await anonymous.get(uri.split("?")[0])).status == 401
    assert (await anonymous.get(uri[:-3] + "AAA")).status == 401
    token = uri.split("?")[1]
    seg = footage.segments[0].row_id
    assert (await anonymous.get(f"/api/{DOMAIN}/rendition/{seg}/5-9/0.m4s?{token}")).status == 404
    assert (await anonymous.get(f"/api/{DOMAIN}/rendition/99999/all/0.m4s?{token}")).status == 404
    # The signed playlist cannot be switched to the stored stream or back: codec is signed.
    assert (await anonymous.get(result["url"].replace("codec=h264", "codec=auto"))).status == 401
    # A user without rights on the camera: refused by the command and by every part.
    users = [await hass.auth.async_get_group(GROUP_ID_USER)]
    bob = await _person(
        hass, hass_ws_client, hass_client, MockUser(name="Bob", groups=users).add_to_hass(hass)
    )
    await admin.ws.ok("access/set_defaults", camera=KEY, default_rights=[])
    assert await bob.ws.error("playback", camera=KEY, hevc=False, **_range(footage)) == (
        "unauthorized"
    )
    assert (await bob.http.get(uri.split("?")[0])).status == 403
    assert (await bob.http.get(maps[0].split("?")[0])).status == 403
    assert (await _status(hass))["transcodes"] == 0
    # The administrator's token still works.
    assert (await anonymous.get(maps[0])).status == 200


def _ffmpeg_transcodes() -> int:
    """Count the rendition ffmpeg processes running now (children of this process)."""
    count = 0
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            command = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError, IndexError:
            continue
        if parent == me and command and b"ffmpeg" in command[0] and b"demux" in command:
            count += 1
    return count


async def test_concurrent_viewers_never_exceed_the_transcode_limit(
    hass: HomeAssistant, footage: Footage
) -> None:
    """Many viewers asking for every part at once: at most max_running ffmpeg processes."""
    admin = footage.admin
    result = await admin.ws.ok("playback", camera=KEY, hevc=False, **_range(footage))
    text = await (await admin.http.get(result["url"])).text()
    uris = _uris(text)
    assert len(uris) > RENDITION_MAX_RUNNING
    seen: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(await hass.async_add_executor_job(_ffmpeg_transcodes))
            await asyncio.sleep(0.05)

    async def viewer(order: list[str]) -> list[int]:
        statuses = []
        for uri in order:
            response = await footage.anonymous.get(uri)
            await response.read()
            statuses.append(response.status)
        return statuses

    watcher = asyncio.create_task(watch())
    orders = [uris, uris[::-1], uris[1:] + uris[:1], uris[2:] + uris[:2]]
    answers = await asyncio.gather(*(viewer(order) for order in orders))
    done.set()
    await watcher
    assert all(status == 200 for statuses in answers for status in statuses)
    assert max(seen) >= 1, "no transcode was ever seen running"
    assert max(seen) <= RENDITION_MAX_RUNNING, seen
    status = await _status(hass)
    # Each part was made once for all four viewers (plus any part made ahead and stopped).
    assert status["transcodes"] == len(uris)
    assert status["hits"] >= len(uris) * 2


def _media_id(span: dict[str, int]) -> str:
    return f"media-source://{DOMAIN}/play/{KEY}/{span['start']}/{span['end']}"


async def test_media_browser_picks_by_user_agent(hass: HomeAssistant, footage: Footage) -> None:
    """Media browser URLs: Apple clients get the stored H.265, others the H.264 rendition."""
    assert await async_setup_component(hass, MEDIA_SOURCE_DOMAIN, {})
    span = _range(footage)
    resolved = await async_resolve_media(hass, _media_id(span), None)
    assert resolved.url.endswith("/auto.m3u8")
    # As the frontend resolves it: Home Assistant signs it (only URLs without a query).
    answer = await footage.admin.ws.call(
        "media_source/resolve_media", media_content_id=_media_id(span)
    )
    assert answer["success"], answer
    signed = answer["result"]["url"]
    assert "authSig=" in signed
    chromium = await footage.anonymous.get(signed, headers={"User-Agent": CHROMIUM})
    assert "/rendition/" in await chromium.text()
    safari = await footage.anonymous.get(signed, headers={"User-Agent": SAFARI})
    text = await safari.text()
    assert "/rendition/" not in text
    assert f"/api/{DOMAIN}/media/" in text
    assert client_decodes_hevc("AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS 17_4 like Mac OS X)")
    assert client_decodes_hevc("Home Assistant/2024.4 (io.robbie.HomeAssistant; build:1; iOS 17)")
    assert not client_decodes_hevc("Home Assistant/2024.4 (Android 14; SM-S911B)")
    assert not client_decodes_hevc("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0")
    assert not client_decodes_hevc("")


async def test_diagnostics_and_pruning(
    hass: HomeAssistant, footage: Footage, hass_client: Any
) -> None:
    """Diagnostics show the detected encoder; deleting footage drops its renditions."""
    from custom_components.cctv_nvr.diagnostics import async_get_config_entry_diagnostics

    admin = footage.admin
    result = await admin.ws.ok("playback", camera=KEY, hevc=False, **_range(footage))
    text = await (await admin.http.get(result["url"])).text()
    first = _uris(text)[0]
    assert (await footage.anonymous.get(first)).status == 200
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    caps = diagnostics["transcoding"]["capabilities"]
    assert caps["chosen"] in {"libx264", "h264_vaapi", "h264_qsv", "h264_nvenc", "h264_v4l2m2m"}
    assert caps["hardware"] == (caps["chosen"] != "libx264")
    assert diagnostics["transcoding"]["status"]["cache_files"] >= 1
    service = hass.data[DATA_RENDITIONS]
    cache = service.cache_dir
    assert await hass.async_add_executor_job(lambda: any(cache.glob("*.mp4")))
    # Deleting the footage (administrators) drops its renditions.
    await admin.ws.ok(
        "delete", camera=KEY, start=footage.segments[0].start - 1, end=footage.segments[-1].end + 1
    )
    assert not await hass.async_add_executor_job(lambda: any(cache.glob("*.mp4")))
    assert (await footage.anonymous.get(first)).status == 404


async def _finished(admin: Person, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while True:
        listing = await admin.ws.ok("exports")
        mine: dict[str, Any] = next(j for j in listing["jobs"] if j["id"] == job["id"])
        if mine["status"] not in ("queued", "running"):
            return mine
        assert time.monotonic() < deadline, mine
        await asyncio.sleep(0.3)


async def test_exports_as_recorded_or_h264_for_sharing(
    hass: HomeAssistant, footage: Footage
) -> None:
    """Exports are H.265 as recorded by default; "H.264 for sharing" re-encodes them."""
    admin = footage.admin
    span = _span(footage.segments[:3])
    index = hass.data[DATA_NVR].index
    plain = await _finished(admin, await admin.ws.ok("export", camera=KEY, **span))
    shared_job = await admin.ws.ok("export", camera=KEY, format="h264", **span)
    assert shared_job["format"] == "h264"
    shared = await _finished(admin, shared_job)
    assert plain["status"] == shared["status"] == "done", (plain, shared)
    exports = hass.data[DATA_NVR].exports

    def probe(export_id: int) -> tuple[str, float, int]:
        export = index.exports.get(export_id)
        path = exports / export.path
        info = ffprobe(path)
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        leftovers = [p for p in path.parent.iterdir() if p.name.startswith(".")]
        assert not leftovers, leftovers  # the intermediate remux is gone
        return video["codec_name"], float(info["format"]["duration"]), export.bytes

    codec, duration, _size = await hass.async_add_executor_job(probe, plain["export_id"])
    codec_shared, duration_shared, size = await hass.async_add_executor_job(
        probe, shared["export_id"]
    )
    assert (codec, codec_shared) == ("hevc", "h264")
    assert abs(duration - duration_shared) < 0.2
    assert size > 0
    # The service takes the same choice; a format it does not know is refused.
    response = await hass.services.async_call(
        DOMAIN,
        "export",
        {
            "entity_id": "camera.front_door",
            "start": datetime.fromtimestamp(span["start"], UTC),
            "end": datetime.fromtimestamp(span["end"], UTC),
            "format": "h264",
        },
        blocking=True,
        return_response=True,
    )
    info = await hass.async_add_executor_job(ffprobe, Path(str(response["path"])))
    assert info["streams"][0]["codec_name"] == "h264"
    assert await admin.ws.error("export", camera=KEY, format="vp9", **span) == "invalid_format"


async def test_rendition_edges(
    hass: HomeAssistant,
    footage: Footage,
    segment_factory: SegmentFactory,
    tmp_path: Path,
) -> None:
    """H.264 footage has no renditions; missing or broken H.265 answers 404 or 503."""
    admin = footage.admin
    nvr = hass.data[DATA_NVR]
    start = footage.long.end + 60
    h264 = await hass.async_add_executor_job(
        segment_factory.make_history, nvr.root, nvr.index, KEY, start, 1, 4, "h"
    )
    span = {"start": int(start) + 1, "end": int(start) + 3}
    # H.264 footage: the stored stream whatever the client says; its codec string is avc1.
    result = await admin.ws.ok("playback", camera=KEY, hevc=False, **span)
    assert not result["rendition"]
    assert [codec[:5] for codec in result["codecs"]] == ["avc1."]
    row = (await hass.async_add_executor_job(nvr.index.segment_by_path, h264[0].path)).id
    assert (await admin.http.get(f"/api/{DOMAIN}/rendition/{row}/all/init.mp4")).status == 404

    # H.265 rows whose files are gone, garbage, or a long garbage file (listed whole).
    def broken(name: str, seconds: float, content: bytes | None) -> int:
        moment = start + 100 + len(name) * 50
        path = _place(nvr.root, footage.segments[0] and (nvr.root / footage.segments[0].path),
                      moment, name)  # fmt: skip
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)
        rel = relative(nvr.root, path)
        nvr.index.add_segments(
            [replace(footage.segments[0], path=rel, start=moment, end=moment + seconds, id=None)]
        )
        segment = nvr.index.segment_by_path(rel)
        assert segment is not None
        return int(segment.id)

    junk_bytes = b"\0\0\0\x10junkjunk" * 64
    gone = await hass.async_add_executor_job(broken, "gone", 4.0, None)
    junk = await hass.async_add_executor_job(broken, "junky", 4.0, junk_bytes)
    short_junk = await hass.async_add_executor_job(broken, "shortjunk", 2.5, junk_bytes)
    long_junk = await hass.async_add_executor_job(broken, "longjunk", 30.0, b"garbage" * 100)

    async def status(row: int, part: str) -> int:
        return (await admin.http.get(f"/api/{DOMAIN}/rendition/{row}/{part}/init.mp4")).status

    assert await status(gone, "t0-2000") == 404
    assert await status(gone, "all") == 404  # not a part of its plan
    assert await status(gone, "t0-1000") == 404
    assert await status(junk, "t2000-4000") == 404  # no fragment in it
    assert await status(short_junk, "all") == 503  # too short to cut: ffmpeg fails on it
    # Listing reads no file: a long garbage file lists its time pieces, each answers 404.
    long_row = await hass.async_add_executor_job(nvr.index.segment_by_id, long_junk)
    assert plan(long_row) == plan_cuts(30.0, PIECE_FIRST, PIECE_SECONDS, PIECE_MIN_LAST)
    assert await status(long_junk, "t2000-4000") == 404


async def test_without_a_working_encoder_and_after_close(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No ffmpeg: detection says so (libx264 is tried when asked); closed: refused."""
    from custom_components.cctv_nvr.data import NvrData
    from custom_components.cctv_nvr.engine.transcode import TranscodeError
    from custom_components.cctv_nvr.renditions import RenditionService

    nvr = NvrData(tmp_path / "rec", tmp_path / "exp", tmp_path / "thumbs", index=None)  # type: ignore[arg-type]
    service = RenditionService(hass, nvr, ffmpeg=str(tmp_path / "no-ffmpeg"))
    with pytest.raises(TranscodeError):
        await service.async_renditions()  # not started
    assert service.diagnostics() == {"capabilities": None, "status": None}
    stale = service.cache_dir / "live" / "cam-3-1000.mp4"  # a live source of an earlier run
    await hass.async_add_executor_job(partial(stale.parent.mkdir, parents=True))
    await hass.async_add_executor_job(stale.write_bytes, b"old")
    service.async_start()
    renditions = await service.async_renditions()
    assert not await hass.async_add_executor_job(stale.exists)
    assert renditions.encoder.name == "libx264"
    assert service.diagnostics()["capabilities"]["chosen"] is None
    assert "No H.264 encoder works here" in caplog.text
    # Live sources: written once, those far behind the newest go.
    source = service.live_source
    first = await hass.async_add_executor_job(source, "cam", 1, 5.0, b"init", b"frag")
    again = await hass.async_add_executor_job(source, "cam", 1, 5.0, b"x", b"y")
    assert again == first
    assert await hass.async_add_executor_job(first.read_bytes) == b"initfrag"
    # A reloaded camera numbers from the start again: another fragment, another file.
    reloaded = await hass.async_add_executor_job(source, "cam", 1, 9.0, b"new", b"frag")
    assert reloaded != first
    assert await hass.async_add_executor_job(reloaded.read_bytes) == b"newfrag"
    await hass.async_add_executor_job(source, "cam", 100, 99.0, b"init", b"frag")
    assert not await hass.async_add_executor_job(first.exists)
    await service.async_close()
    with pytest.raises(TranscodeError):
        await service.async_renditions()
    assert await service.async_prune() == 0
    # Closed before detection finished: detection is stopped.
    early = RenditionService(hass, nvr)
    early.async_start()
    await early.async_close()
    assert early.capabilities is None


async def test_export_for_sharing_that_fails(hass: HomeAssistant, footage: Footage) -> None:
    """A re-encode that fails leaves no file and says why (the remux went well)."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    recorder = entry.runtime_data.recorder
    span = _span(footage.segments[:2])
    original = recorder.config
    # The remux stitches fragments without ffmpeg; the re-encode needs it.
    recorder.config = replace(original, ffmpeg="/nonexistent/ffmpeg")
    try:
        job = await footage.admin.ws.ok("export", camera=KEY, format="h264", **span)
        failed = await _finished(footage.admin, job)
    finally:
        recorder.config = original
    assert failed["status"] == "failed"
    assert "ffmpeg_missing" in failed["error"]
    exports = hass.data[DATA_NVR].exports
    assert not await hass.async_add_executor_job(lambda: list(exports.rglob("*.mp4")))


async def _live_codecs_told(hass: HomeAssistant, admin: Person) -> None:
    """The live command tells the codec (the camera's probe before any file is written)."""
    from unittest.mock import AsyncMock, patch

    from tests.test_live import _playlist

    recorder = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.recorder
    # The moment before ffmpeg wrote its first file's header (too short to hit reliably): the
    # recorder's list of files is empty then; the codec string comes from the camera's probe.
    with patch.object(recorder, "latest_files", AsyncMock(return_value=[])):
        early = await admin.ws.ok("live", camera=KEY, hevc=False)
    assert early["codecs"] == ["hvc1.1.6.L93.B0"]
    assert early["rendition"]
    stored = await admin.ws.ok("live", camera=KEY)
    await _playlist(admin.http, stored["url"])  # files written: their codec string is read
    stored = await admin.ws.ok("live", camera=KEY)
    assert not stored["rendition"]
    assert re.fullmatch(r"hvc1\.1\.6\.L\d+\.[0-9A-F.]+", stored["codecs"][0])
    assert (await admin.ws.ok("live", camera=KEY, hevc=True))["url"] == stored["url"]


async def _bob(hass: HomeAssistant, hass_ws_client: Any, hass_client: Any) -> Person:
    users = [await hass.auth.async_get_group(GROUP_ID_USER)]
    user = MockUser(name="Bob", groups=users).add_to_hass(hass)
    return await _person(hass, hass_ws_client, hass_client, user)


def _first_frames(url: str, count: int) -> tuple[str, list[float]]:
    """Decode the first video frames of a (live) HLS URL."""
    times: list[float] = []
    with av.open(url, timeout=120) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            times.append(float(frame.time or 0))
            if len(times) >= count:
                break
        return stream.codec_context.name, times


async def test_live_h265_as_h264_renditions(
    hass: HomeAssistant,
    simulator: CameraSimulator,
    hass_ws_client: Any,
    hass_client: Any,
    hass_client_no_auth: Any,
    hass_admin_user: MockUser,
) -> None:
    """A browser without HEVC watches an H.265 camera live through H.264 renditions."""
    from homeassistant.const import ATTR_ENTITY_ID

    from tests.const import CAMERA, SWITCH
    from tests.engine.helpers import wait_for
    from tests.test_live import _playlist

    entry = camera_entry(simulator, mount="h265", sub=None)
    entry.add_to_hass(hass)
    info = {**entry.data["stream_info"], "video_codec": "hevc"}  # as the flow probed it
    hass.config_entries.async_update_entry(entry, data={**entry.data, "stream_info": info})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    admin = await _person(hass, hass_ws_client, hass_client, hass_admin_user)
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: SWITCH}, blocking=True)
    await wait_for(lambda: hass.states.get(CAMERA).state == "recording", timeout=30)
    try:
        await _live_codecs_told(hass, admin)
        live = await admin.ws.ok("live", camera=KEY, hevc=False)
        assert live["rendition"]
        assert "codec=h264" in live["url"]
        text = await _playlist(admin.http, live["url"])
        maps = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
        uris = _uris(text)
        assert maps and all(f"/live/{KEY}/h264/init/" in uri for uri in maps)
        assert uris and all(f"/live/{KEY}/h264/" in uri and "?t=" in uri for uri in uris)
        anonymous = await hass_client_no_auth()
        assert (await anonymous.get(uris[0].split("?")[0])).status == 401
        init = await anonymous.get(maps[0])
        assert init.status == 200
        assert (await init.read())[4:8] == b"ftyp"
        unknown = uris[0].split("?")[0].rsplit("/", 1)[0] + "/999999.m4s?" + uris[0].split("?")[1]
        assert (await anonymous.get(unknown)).status == 404
        # A real player reads the live playlist: H.264 frames, moving on.
        codec, times = await hass.async_add_executor_job(
            _first_frames, str(admin.http.make_url(live["url"])), 20
        )
        assert codec == "h264"
        assert len(times) == 20
        assert times[-1] > times[0]
        # Live rights are checked on every rendition part, as for the stored ones.
        await admin.ws.ok("access/set_defaults", camera=KEY, default_rights=[])
        bob = await _bob(hass, hass_ws_client, hass_client)
        assert await bob.ws.error("live", camera=KEY, hevc=False) == "unauthorized"
        assert (await bob.http.get(uris[-1].split("?")[0])).status == 403
        # Transcoding shut down (Home Assistant stopping): parts not made answer 503.
        await hass.data[DATA_RENDITIONS].async_close()
        later = await _playlist(admin.http, live["url"])
        assert (await anonymous.get(_uris(later)[-1])).status == 503
    finally:
        await hass.services.async_call(
            "switch", "turn_off", {ATTR_ENTITY_ID: SWITCH}, blocking=True
        )
        await hass.async_block_till_done()


def _box(kind: bytes, body: bytes = b"") -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def test_codec_strings_of_odd_movies(tmp_path: Path) -> None:
    """Tracks without a sample description, or with an empty one, name no codec."""
    from custom_components.cctv_nvr.engine.codecs import segment_codec_string, video_codec_string

    empty_stsd = _box(b"stsd", bytes(8))
    stbl = _box(b"mdia", _box(b"minf", _box(b"stbl", empty_stsd)))
    moov = _box(b"moov", _box(b"mvhd", bytes(100)) + _box(b"trak", _box(b"tkhd", bytes(84))))
    assert video_codec_string(moov) is None  # a track without mdia
    assert video_codec_string(_box(b"moov", _box(b"trak", stbl))) is None  # no sample entry
    # A file that is no fragmented MP4 is refused.
    path = tmp_path / "odd.mp4"
    path.write_bytes(_box(b"ftyp", b"isom" + bytes(4)) + _box(b"free", bytes(16)))
    with pytest.raises(ValueError, match="not a fragmented MP4"):
        segment_codec_string(path)  # the callers skip such files
