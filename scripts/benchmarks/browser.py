"""Section 14 (also "browser"): latency in a real browser against a real Home Assistant.

A real Home Assistant process (tests/e2e: its configuration, onboarding, config flows) with
8 simulated cameras recording (4 of the simulator's H.264 mounts, each under two host names), and a day of indexed
footage per camera: one real 1080p H.264 10-second fMP4 clip (ffmpeg, GOP 1 s) hard-linked
to every segment file of the local day before today, the rows written into the index while
Home Assistant is stopped, then Home Assistant started again on it. Debian's Chromium,
driven by Playwright (tests/e2e/conftest.py's way), loads a test page on Home Assistant's
origin with the hls.js the panel uses (.cache/browser-test), which does what the panel's
player does (cctv-camera-view.ts `_play`/`_attach`): WebSocket `cctv_nvr/playback` for the
range the panel asks (playbackRange: from the clicked moment, an hour at most), then hls.js
with ``startPosition`` at the clicked moment. "Before" clicks, rotated with the others, ask for a
playlist to the end of that day, as the panel did before (a day's playlist is about 800 KiB). All times are taken in the page
(``performance.now()``, the click event's timeStamp, ``requestVideoFrameCallback``):

0. open the panel → every live tile moving: a new page of a browser context logged in as the
   frontend keeps it (localStorage ``hassTokens``) goes to ``/cctv`` (1920x1080: the 8 tiles in
   view); from the navigation start until each of the 8 H.264 cameras' tiles shows a video
   whose ``currentTime`` and decoded frames both advanced past its first frame (read every
   50 ms, in the page, through the shadow roots). The cameras record, so by default their
   tiles play the panel's own live video (``cctv_nvr/live``: HLS made from the recording being
   written, hls.js; the playlist's EXT-X-START puts the player on a keyframe fragment); a tile
   that plays Home Assistant's picture-entity card (its stream component's HLS, which answers
   its master playlist once 2 segments are ready) is reported as "HA card video". Cold: the
   first open after Home Assistant started (nothing in the browser's cache), once every camera
   records and its live playlist answers (a camera still connecting would show Home Assistant's
   card: not what a user of recording cameras gets); reopened after
   45 s without a viewer (Home Assistant stops its streams then; the browser's cache warm);
   warm: reopened 2 s after closing. Then the same with the cameras' live video kept to the
   panel (``cctv_nvr/access/set_defaults``, the Access tab's switch: their tiles play the own
   live video whether recording or not), and back. Breakdown per tile: ``camera/stream`` (or
   ``cctv_nvr/live``) asked/answered (the page's WebSocket, wrapped), the (master) playlist
   asked/answered (Resource Timing), first part, first frame, moving.
1. click → first frame: from the click to the first frame presented.
2. seek within playing footage → new frame: ``currentTime`` set (what the video's own
   controls do) → the first frame presented at the new position.
3. playing across segment boundaries (1x): stalls (``waiting`` events after playback began)
   in 20 boundaries (4 with --quick).
4. the media browser's hour list of a camera-day (``media_source/browse_media``, WebSocket).
5. click → first frame for H.265 footage, as Chromium without HEVC gets it: 2 more cameras
   (the simulator's H.265 mount under both host names) with a day of one real 10 s 1080p15
   H.265 segment (libx265 like section 12's source: GOP 15, hvc1, 1 s fragments) hard-linked
   the same way, rows with ``video_codec`` "hevc". The page does what the panel's
   ``fetchPlayback`` does: the playback answer's codecs are H.265 and
   ``MediaSource.isTypeSupported`` is asked (its answer is reported), then a second
   ``cctv_nvr/playback`` with ``hevc: false`` returns a playlist of H.264 rendition parts,
   each made by ffmpeg when first asked for (its init request waits for the transcode).
   Cold cache: each click (8, 2 with --quick, after the H.264 click of the same round) is on
   a 10 s segment no earlier click asked for or had made ahead (same camera: 10 segments
   apart at least), once no transcode of this Home Assistant runs (the 2 parts made ahead of
   the previous click). Warm: the same moment again once those are done. Compared with the
   H.264 clicks of the same run; target ≤ 1.5 s.

Baselines from the same run (the ratio column): for 1-3, the same page and hls.js loading
the same playlist text with its URLs pointed at a plain aiohttp static server holding the
same init and media parts (prepared before the clicks): the floor, without the WebSocket
call, index query, signing, auth and per-request work. For 4, a WebSocket ``ping`` round trip
on the same connection, alternated with the browse calls.

Each latency is taken several times (10, 4 with --quick) at random moments of the day:
median and p90. A breakdown (WebSocket answer, for H.265 the second one, playlist loaded,
first fragment loaded, frame; for H.265 the init part's first byte) is logged and reported
as medians. Not in the default run (Home Assistant start-up and the footage take minutes);
ask for it with --sections browser.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import random
import re
import shutil
import statistics
import subprocess
import time
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from custom_components.cctv_nvr.engine import hls
from custom_components.cctv_nvr.engine.index import Segment, SegmentIndex
from custom_components.cctv_nvr.engine.layout import STRFTIME_NAME, hour_dir, relative
from custom_components.cctv_nvr.engine.media import probe_file
from tests.e2e import chromium

from .common import FPS, SEGMENT_SECONDS, Bench, Row, Section, log
from .transcode import make_hevc_segment

TITLE = "14 Browser latency"
CAMERAS = 8
HEVC_CAMERAS = 2  # cameras 9 and 10: the simulator's H.265 mount, H.265 footage
ZONE = ZoneInfo("Europe/Amsterdam")  # config/configuration.yaml's time zone
USER = ("bench", "bench-password")
# A camera is its stream's host, port and path (config_flow.camera_unique_id), and the
# simulator listens on 127.0.0.1 only: 8 cameras are 4 of its mounts under two host names.
STREAMS = [(host, mount) for host in ("127.0.0.1", "localhost")
           for mount in ("main", "bframes", "audio", "longgop")]  # fmt: skip
HEVC_STREAMS = [("127.0.0.1", "h265"), ("localhost", "h265")][:HEVC_CAMERAS]
# What the panel gives hls.js (cctv-camera-view.ts _attach); startPosition is added per click.
PANEL_HLS = {"maxBufferLength": 30}
# The most the panel asks for at once (camera-state.ts MAX_PLAYBACK_SECONDS); before, a day:
# the "day" kind of click measures that in the same run.
PLAYBACK_SECONDS = 3600
# Open the panel → every live tile moving (issue 15: "where a person waits").
TILES_TARGET_MS = 3000
# Home Assistant's stream component drops an HLS output after 30 s without a request
# (stream/const.py OUTPUT_IDLE_TIMEOUT) and stops the stream when it has none left.
IDLE_WAIT = 45.0

PAGE = """<!doctype html><html><body style="margin:0;background:#000">
<button id="go">go</button>
<video id="v" muted playsinline style="width:640px;height:360px"></video>
<script>
const video = document.getElementById("v");
performance.setResourceTimingBufferSize(100000);
const B = window.B = {hls: null, next: null, result: null, ws: null, seq: 0, waiting: {}};
B.connect = (token) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`ws://${location.host}/api/websocket`);
  const seen = [];
  ws.onclose = (ev) => reject(new Error(`websocket closed ${ev.code} ${ev.reason} after ${seen}`));
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    seen.push(msg.type);
    if (msg.type === "auth_required") ws.send(JSON.stringify({type: "auth", access_token: token}));
    else if (msg.type === "auth_ok") { B.ws = ws; resolve(true); }
    else if (msg.type === "auth_invalid") reject(new Error("auth_invalid"));
    else if (msg.id in B.waiting) { B.waiting[msg.id](msg); delete B.waiting[msg.id]; }
  };
});
B.call = (message) => new Promise((resolve) => {
  const id = ++B.seq;
  B.waiting[id] = resolve;
  B.ws.send(JSON.stringify({id, ...message}));
});
B.timed = async (message) => {
  const t0 = performance.now();
  const answer = await B.call(message);
  return {ms: performance.now() - t0, ok: answer.success !== false, error: answer.error || null};
};
// The media requests since t0 (Resource Timing): time to first byte and to the last byte.
B.fetched = (t0) => performance.getEntriesByType("resource")
  .filter((e) => e.startTime >= t0 && /media|m4s/.test(e.name))
  .map((e) => ({ttfb: e.responseStart - e.startTime, total: e.responseEnd - e.startTime,
                bytes: e.encodedBodySize}));
// The init parts requested since t0 (a rendition's init waits for its transcode).
B.inits = (t0) => performance.getEntriesByType("resource")
  .filter((e) => e.startTime >= t0 && /init/.test(e.name))
  .map((e) => ({ttfb: e.responseStart - e.startTime, total: e.responseEnd - e.startTime}));
B.stop = () => { if (B.hls) { B.hls.destroy(); B.hls = null; } };
// One "click": what the panel's _play/_attach do, timed from the click event.
B.play = async (t0, job) => {
  B.stop();
  const r = {t0, fatal: null};
  let url = job.url, offset = job.offset;
  if (job.ws) {
    let answer = await B.call(job.ws);
    r.ws = performance.now() - t0;
    if (!answer.success) { r.fatal = JSON.stringify(answer.error); B.result = r; return; }
    // The panel's fetchPlayback: H.265 footage this browser cannot decode (or, with
    // job.rendition, as such a browser) is asked again with hevc: false (H.264 renditions).
    const hevc = (answer.result.codecs || []).filter((c) => /^(hvc1|hev1)[.]/.test(c));
    if (hevc.length) {
      r.hevcPlays = hevc.every((c) => MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`));
      if (!r.hevcPlays || job.rendition) {
        answer = await B.call({...job.ws, hevc: false});
        r.ws2 = performance.now() - t0;
        if (!answer.success) { r.fatal = JSON.stringify(answer.error); B.result = r; return; }
      }
    }
    r.rendition = answer.result.rendition;
    url = answer.result.url;
    offset = Math.max(0, job.at - answer.result.first);
  }
  const hls = B.hls = new Hls({...job.config, startPosition: offset});
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) { r.fatal = d.details; B.result = r; } });
  hls.on(Hls.Events.MANIFEST_LOADED, (_e, d) => {
    r.manifest = performance.now() - t0;
    r.manifestBytes = d.stats ? d.stats.total : null;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.playbackRate = job.rate; video.play().catch(() => {}); });
  hls.on(Hls.Events.FRAG_LOADED, (_e, d) => {
    if (r.frag === undefined && d.frag.sn !== "initSegment") r.frag = performance.now() - t0;
  });
  // The first frame presented at the clicked moment (hls.js may show the fragment's first
  // frame before it moves to startPosition).
  const step = (now, meta) => {
    if (r.first === undefined) r.first = performance.now() - t0;
    if (Math.abs(meta.mediaTime - offset) < 1) {
      r.frame = performance.now() - t0; r.mediaTime = meta.mediaTime; r.fetch = B.fetched(t0);
      r.inits = B.inits(t0);
      B.result = r;
    } else if (B.hls === hls) video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
  hls.loadSource(url);
  hls.attachMedia(video);
};
document.getElementById("go").addEventListener("click", (ev) => {
  B.result = null;
  B.play(ev.timeStamp, B.next);
});
// A seek while playing: the first frame presented at the new position.
B.seek = (delta) => new Promise((resolve) => {
  const target = video.currentTime + delta;
  const t0 = performance.now();
  const done = setTimeout(() => resolve({ms: null, target}), 30000);
  const step = (now, meta) => {
    if (Math.abs(meta.mediaTime - target) < 1.5) {
      clearTimeout(done); resolve({ms: performance.now() - t0, target, fetch: B.fetched(t0)});
    } else video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
  video.currentTime = target;
});
// Play on across boundaries: count the stalls ("waiting" after playback began).
B.watch = (until) => new Promise((resolve) => {
  let stalls = 0, gap = 0, last = performance.now();
  const onWaiting = () => { stalls += 1; };
  video.addEventListener("waiting", onWaiting);
  const step = (now, meta) => {
    const t = performance.now(); gap = Math.max(gap, t - last); last = t;
    if (meta.mediaTime >= until || B.result && B.result.fatal) {
      video.removeEventListener("waiting", onWaiting);
      resolve({stalls, maxGap: gap, reached: meta.mediaTime, fatal: B.result && B.result.fatal});
    } else video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
});
</script></body></html>"""


# The live grid, watched from the page's first script (add_init_script) on: every 50 ms each
# watched tile's <video> (in Home Assistant's picture-entity card, in shadow roots) is read:
# its first frame (readyState >= 2, frames decoded) and the moment it moves (currentTime and
# frames decoded both advanced past that first frame). Home Assistant's WebSocket calls for the
# camera streams (camera/stream: the HLS URL) are timed by wrapping the page's WebSocket, and
# each stream's HLS requests are found in Resource Timing by the URL's token. Times are ms from
# the navigation start (performance.now()).
TILES_WATCH = """
(() => {
  const cfg = %s;
  localStorage.setItem("hassTokens", JSON.stringify(cfg.tokens));
  const T = window.__tiles = {tiles: {}, calls: [], panel: null, done: false, timedOut: false};
  const pending = {};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        let msgs; try { msgs = JSON.parse(ev.data); } catch (e) { return; }
        for (const m of Array.isArray(msgs) ? msgs : [msgs]) {
          const sent = pending[m.id];
          if (!sent) continue;
          delete pending[m.id];
          T.calls.push({...sent, answered: performance.now(), ok: m.success !== false,
                        url: m.result && m.result.url || null});
        }
      });
    }
    send(data) {
      try {
        const msgs = JSON.parse(data);
        for (const m of Array.isArray(msgs) ? msgs : [msgs]) {
          if (m.type && (m.type.startsWith("camera/") || m.type === "cctv_nvr/live")) {
            pending[m.id] = {type: m.type, entity: m.entity_id || `camera.${m.camera}`,
                             sent: performance.now()};
          }
        }
      } catch (e) { /* not JSON */ }
      return super.send(data);
    }
  };
  performance.setResourceTimingBufferSize(100000);
  const deep = (root, selector, out = []) => {
    root.querySelectorAll(selector).forEach((e) => out.push(e));
    root.querySelectorAll("*").forEach((e) => { if (e.shadowRoot) deep(e.shadowRoot, selector, out); });
    return out;
  };
  const tick = () => {
    const now = performance.now();
    if (!T.panel) {
      const panel = deep(document, "cctv-panel")[0];
      if (panel) { T.panel = now; T.el = panel; }
    }
    if (T.el) {
      for (const tile of deep(T.el.shadowRoot || T.el, "section.tile")) {
        const cam = tile.dataset.camera;
        if (!cfg.cameras.includes(cam)) continue;
        const st = T.tiles[cam] = T.tiles[cam] || {tile: now};
        const video = deep(tile, "video")[0];
        // What the tile plays: the panel's own live video, or Home Assistant's card's video.
        const own = deep(tile, "cctv-live-video").length > 0;
        st.kind = video ? (own ? "own video" : "HA card video") : (deep(tile, "img").length ? "img" : "none");
        if (!video) continue;
        if (st.video === undefined) st.video = now;
        if (st.el !== video) { st.el = video; st.base = undefined; }
        const frames = video.getVideoPlaybackQuality().totalVideoFrames;
        if (video.readyState < 2 || frames === 0) continue;
        if (st.frame === undefined) st.frame = now;
        if (st.base === undefined) st.base = {time: video.currentTime, frames};
        else if (st.moving === undefined && video.currentTime > st.base.time + 0.1
                 && frames > st.base.frames) st.moving = now;
      }
    }
    const moving = cfg.cameras.filter((c) => T.tiles[c] && T.tiles[c].moving !== undefined);
    if (moving.length === cfg.cameras.length) T.done = true;
    else if (now > cfg.timeout) { T.done = true; T.timedOut = true; }
    if (!T.done) setTimeout(tick, 50);
  };
  setTimeout(tick, 0);
  T.result = () => {
    const loaded = performance.getEntriesByType("resource");
    const tiles = {};
    for (const cam of cfg.cameras) {
      const st = T.tiles[cam] || {};
      // Home Assistant's stream (camera/stream: /api/hls/<token>/...), or the panel's own live
      // video (cctv_nvr/live: /api/cctv_nvr/live/<camera>/...).
      const call = T.calls.find((c) => (c.type === "camera/stream" || c.type === "cctv_nvr/live")
                                       && c.entity === `camera.${cam}`);
      let key = null;
      if (call && call.url) {
        key = call.type === "camera/stream" ? `/api/hls/${call.url.split("/")[3]}/`
                                            : `/api/cctv_nvr/live/${cam}/`;
      }
      const mine = key ? loaded.filter((e) => e.name.includes(key)) : [];
      const master = mine.find((e) => /master_playlist|live[.]m3u8/.test(e.name));
      const media = mine.find((e) => /segment|init|[.]m4s/.test(e.name));
      tiles[cam] = {kind: st.kind || "none", tile: st.tile, video: st.video, frame: st.frame,
                    moving: st.moving, streamAsked: call ? call.sent : undefined,
                    streamAnswered: call ? call.answered : undefined,
                    masterAsked: master ? master.startTime : undefined,
                    masterAnswered: master ? master.responseStart : undefined,
                    firstPart: media ? media.responseEnd : undefined};
    }
    return {panel: T.panel, timedOut: T.timedOut, tiles,
            calls: T.calls.map((c) => c.type).filter((t, i, a) => a.indexOf(t) === i)};
  };
})();
"""

# -- footage ---------------------------------------------------------------------------


def _clip(work: Path) -> tuple[Path, float]:
    """One real 1080p H.264 fMP4 clip of 10 s (GOP 1 s, 4 Mbit/s), the recorder's kind of file."""
    path = work / "clip-1080p.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size=1920x1080:rate={FPS}", "-t", "10",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-pix_fmt", "yuv420p",
            "-b:v", "4M", "-maxrate", "4M", "-bufsize", "8M",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", str(path),
        ],
        check=True, timeout=300,
    )  # fmt: skip
    info = probe_file(path, measure=True)
    assert info.duration
    return path, info.duration


def _hevc_clip(work: Path, cache: Path) -> tuple[Path, float]:
    """One real 10 s 1080p15 H.265 segment as the recorder writes them (section 12's source).

    libx265 from testsrc2, GOP 15, hvc1, 1 s fragments; encoded once per bench cache.
    """
    source = cache / "transcode-src" / f"hevc-{SEGMENT_SECONDS}s-1080p{FPS}.mp4"
    make_hevc_segment(source)
    path = work / "clip-1080p-h265.mp4"
    shutil.copyfile(source, path)
    info = probe_file(path, measure=True)
    assert info.duration
    return path, info.duration


def _footage(
    base: Path,
    clip: Path,
    duration: float,
    cameras: list[str],
    start: float,
    end: float,
    codec: str = "h264",
) -> int:
    """Hard-link the clip to every segment file of [start, end) per camera; index them.

    ``codec`` is the rows' ``video_codec`` (what the recorder writes: "h264", "hevc"); a
    playback asked with ``hevc: false`` lists "hevc" rows as H.264 renditions.
    """
    root = base / "recordings"
    index = SegmentIndex(base / "index.db")
    count = 0
    try:
        for camera in cameras:
            # A copy of the clip per camera: a file takes at most 65,000 links (ext4).
            source = clip.with_name(f"{camera}.mp4")
            shutil.copyfile(clip, source)
            segments = []
            moment = start
            while moment + duration <= end:
                when = datetime.fromtimestamp(moment, UTC)
                directory = hour_dir(root, camera, when)
                directory.mkdir(parents=True, exist_ok=True)
                path = directory / f"{when.strftime(STRFTIME_NAME)}-bench.mp4"
                os.link(source, path)
                segments.append(Segment(
                    camera=camera, path=relative(root, path), start=moment,
                    end=moment + duration, bytes=path.stat().st_size, video_codec=codec,
                    width=1920, height=1080, fps=float(FPS), run_id="bench",
                ))  # fmt: skip
                moment += duration
            count += index.add_segments(segments)
    finally:
        index.close()
    return count


# -- Home Assistant -----------------------------------------------------------------------


def _start_home_assistant(work: Path) -> Any:
    from tests.e2e.harness import start_home_assistant

    return start_home_assistant(work / "ha")


def _restart(running: Any) -> None:
    from tests.e2e.harness import start_process, wait_until_up

    running.process = start_process(running.config_dir)
    wait_until_up(running)


def _add_cameras(running: Any, port: int) -> list[str]:
    """Onboard a user, add 8 H.264 then 2 H.265 cameras with the config flow."""
    api = running.api()
    api.wait_until_up()
    api.onboard(*USER)
    for number, (host, mount) in enumerate(STREAMS + HEVC_STREAMS, start=1):
        rtsp = f"rtsp://{host}:{port}"
        result = api.config_flow(
            "cctv_nvr",
            {"name": f"Cam {number}", "main_url": f"{rtsp}/{mount}", "sub_url": f"{rtsp}/sub",
             "rtsp_transport": "tcp"},
        )  # fmt: skip
        if result.get("type") != "create_entry":
            raise RuntimeError(f"adding Cam {number} failed: {result}")
    return [f"cam_{number}" for number in range(1, CAMERAS + HEVC_CAMERAS + 1)]


def _record(running: Any) -> None:
    from tests.e2e.harness import login_tokens

    api = running.api()
    running.tokens = login_tokens(api, *USER)  # as the frontend stores them (the panel's page)
    running.token = running.tokens["access_token"]
    api.token = running.token
    for number in range(1, CAMERAS + HEVC_CAMERAS + 1):
        switch = f"switch.cam_{number}_continuous_recording"
        for _ in range(120):
            if api.state(switch) is not None:
                break
            time.sleep(0.5)
        api.call_service("switch", "turn_on", {"entity_id": switch})


# -- the static floor -----------------------------------------------------------------------

_INIT = re.compile(r"/api/cctv_nvr/init/[^\"\n]+")
_MEDIA = re.compile(r"^/api/cctv_nvr/media/\d+/(\d+)\.m4s\?\S*$", re.MULTILINE)


class StaticFloor:
    """A plain aiohttp static server: the page, hls.js, playlists and parts prepared ahead."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.files: dict[str, tuple[bytes, str]] = {}
        self.runner: web.AppRunner | None = None
        self.url = ""

    def add_playlist(self, name: str, text: str, parts: int) -> str:
        """Our playlist's text, its URLs pointed here; the first ``parts`` media parts made."""
        text = _INIT.sub("/static/init.mp4", text)
        text = _MEDIA.sub(r"/static/media/\1.m4s", text)
        self.files.setdefault("init.mp4", (hls.init_bytes(self.clip), "video/mp4"))
        for offset in re.findall(r"^/static/media/(\d+)\.m4s$", text, re.MULTILINE)[:parts]:
            key = f"media/{offset}.m4s"
            if key not in self.files:
                self.files[key] = (
                    hls.media_bytes(self.clip, int(offset) / 1000),
                    "video/iso.segment",
                )
        self.files[f"{name}.m3u8"] = (text.encode(), "application/vnd.apple.mpegurl")
        return f"{self.url}/static/{name}.m3u8"

    async def _blank(self, _request: web.Request) -> web.StreamResponse:
        return web.Response(text="", content_type="text/html")

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self.files and name.startswith("media/"):  # beyond the prepared parts
            offset = int(name.split("/")[1].split(".")[0]) / 1000
            self.files[name] = (
                await asyncio.to_thread(hls.media_bytes, self.clip, offset),
                "video/iso.segment",
            )
        if name not in self.files:
            raise web.HTTPNotFound
        body, kind = self.files[name]
        return web.Response(body=body, content_type=kind, headers={"Cache-Control": "no-cache"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(chromium.BLANK, self._blank)
        app.router.add_get("/static/{name:.+}", self._serve)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


# -- measuring ---------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _stats(values: list[float]) -> str:
    if not values:
        return "no result"
    return f"median {statistics.median(values):.0f} ms / p90 {_pct(values, 0.9):.0f} ms"


async def _signed_playlist(base: str, token: str, ws_msg: dict[str, Any]) -> tuple[str, float]:
    from tests.e2e.harness import ws_call

    (answer,) = await ws_call(base, token, ws_msg)
    if not answer.get("success"):
        raise RuntimeError(f"cctv_nvr/playback failed: {answer}")
    async with aiohttp.ClientSession() as session, session.get(base + answer["result"]["url"]) as response:
        response.raise_for_status()
        return await response.text(), float(answer["result"]["first"])


async def _page(browser: Any, origin: str) -> Any:
    page = await browser.new_page()
    await page.goto(origin + chromium.BLANK)  # any answer sets the origin (HA: 404)
    await page.set_content(PAGE)
    await page.add_script_tag(path=str(chromium.HLSJS))
    return page


async def _click(page: Any, job: dict[str, Any]) -> dict[str, Any]:
    await page.evaluate("job => { window.B.next = job; window.B.result = null; }", job)
    await page.click("#go")
    await page.wait_for_function("window.B.result !== null", timeout=60_000)
    return dict(await page.evaluate("window.B.result"))


async def _panel_only(base: str, token: str, cameras: list[str], on: bool) -> None:
    """Keep the cameras' live video to the panel (on) or not: the Access tab's switch."""
    from tests.e2e.harness import ws_session

    async with ws_session(base, token) as ws:
        for number, camera in enumerate(cameras, start=1):
            await ws.send_json({"id": number, "type": "cctv_nvr/access/set_defaults",
                                "camera": camera, "live_panel_only": on})  # fmt: skip
            answer = await ws.receive_json()
            if not answer.get("success"):
                raise RuntimeError(f"set_defaults failed: {answer}")


async def _wait_live(base: str, token: str, cameras: list[str], timeout: float = 180.0) -> float:
    """Wait until every camera records and its live playlist answers; return the seconds waited.

    What a user gets by default is a panel opened on recording cameras: without this wait the
    cold open (right after Home Assistant's restart) would catch cameras still connecting, whose
    tiles show Home Assistant's card (the panel's own live video needs the recording).
    """
    from tests.e2e.harness import ws_session

    started = time.monotonic()
    async with aiohttp.ClientSession() as session, ws_session(base, token) as ws:
        number = 0
        waiting = set(cameras)
        while waiting:
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"cameras not recording live after {timeout:.0f} s: {waiting}")
            number += 1
            await ws.send_json({"id": number, "type": "cctv_nvr/cameras"})
            listed = (await ws.receive_json())["result"]["cameras"]
            recording = {c["id"] for c in listed if c["recording"]}
            for camera in sorted(waiting & recording):
                number += 1
                await ws.send_json({"id": number, "type": "cctv_nvr/live", "camera": camera})
                answer = await ws.receive_json()
                if not answer.get("success"):
                    continue
                async with session.get(base + answer["result"]["url"]) as response:
                    if response.status == 200:
                        waiting.discard(camera)
            if waiting:
                await asyncio.sleep(1)
    return time.monotonic() - started


async def _open_tiles(context: Any, base: str) -> dict[str, Any]:
    """Open the panel in a new page; watch its 8 live tiles until each one's video moves.

    The context's init script (TILES_WATCH) keeps the tokens where the frontend looks and
    times the tiles from the navigation start; the page is closed after (its streams idle).
    """
    page = await context.new_page()
    try:
        await page.goto(f"{base}/cctv", wait_until="commit")
        await page.wait_for_function("window.__tiles && window.__tiles.done", timeout=120_000)
        return dict(await page.evaluate("window.__tiles.result()"))
    finally:
        await page.close()


def _tiles_summary(result: dict[str, Any]) -> dict[str, Any]:
    """All tiles moving (the slowest tile), the first and median tile, or what did not move."""
    tiles = result["tiles"]
    moving = {cam: t["moving"] for cam, t in tiles.items() if t.get("moving") is not None}
    still = sorted(set(tiles) - set(moving))
    summary: dict[str, Any] = {"still": still, "kinds": sorted({t["kind"] for t in tiles.values()})}
    if moving and not still:
        slowest = max(moving, key=lambda cam: moving[cam])
        summary |= {"all": moving[slowest], "slowest": slowest}
    if moving:
        summary |= {"first": min(moving.values()), "median": statistics.median(moving.values())}
    return summary


def _tiles_row(label: str, results: list[dict[str, Any]], limit_ms: float) -> Row:
    """A row of panel opens: time to all tiles moving, target, breakdown (medians over tiles)."""
    summaries = [_tiles_summary(r) for r in results]
    alls = [s["all"] for s in summaries if "all" in s]
    failed = [s["still"] for s in summaries if s["still"]]
    text = (
        f"all {CAMERAS} tiles moving {_stats(alls)}"
        if len(alls) > 1
        else (
            f"all {CAMERAS} tiles moving in **{alls[0]:.0f} ms**" if alls else "not all tiles moved"
        )
    )
    slowest = [f"{s['slowest']} {s['all']:.0f}" for s in summaries if "all" in s]
    firsts = [s["first"] for s in summaries if "first" in s]
    medians = [s["median"] for s in summaries if "median" in s]
    if firsts:
        text += f"; per tile: first {statistics.median(firsts):.0f} ms, "
        text += f"median {statistics.median(medians):.0f} ms"
    notes = f"{_target(alls, limit_ms)}" if alls and not failed else "target MISSED"
    notes += f"; {len(results)} open(s); slowest tile (ms): {', '.join(slowest) or '-'}"
    if failed:
        notes += f"; not moving within 60 s: {failed}"
    parts = []
    for key, name in (("tile", "tile drawn"), ("streamAsked", "stream URL asked (camera/stream or cctv_nvr/live)"),
                      ("streamAnswered", "answered"), ("masterAsked", "(master) playlist asked"),
                      ("masterAnswered", "answered"), ("firstPart", "1st part loaded"),
                      ("frame", "1st frame"), ("moving", "moving")):  # fmt: skip
        values = [t[key] for r in results for t in r["tiles"].values() if t.get(key) is not None]
        if values:
            parts.append(f"{name} {statistics.median(values):.0f}")
    panels = [r["panel"] for r in results if r.get("panel") is not None]
    if panels:
        parts.insert(0, f"panel element {statistics.median(panels):.0f}")
    notes += "; medians over tiles (ms from navigation): " + ", ".join(parts)
    kinds = sorted({k for s in summaries for k in s["kinds"]})
    notes += f"; tiles showed: {'/'.join(kinds)}"
    return (TITLE, label, text, notes)


def _ratio(ours: list[float], floor: list[float]) -> str:
    if not ours or not floor:
        return "?"
    return f"{statistics.median(ours) / statistics.median(floor):.2f}x"


def _target(values: list[float], limit_ms: float) -> str:
    if not values:
        return "no result"
    return (
        f"≤ {limit_ms / 1000:g} s: {'met' if statistics.median(values) <= limit_ms else 'MISSED'}"
    )


def _breakdown(results: list[dict[str, Any]]) -> str:
    parts = []
    for key, label in (("ws", "WS answer"), ("ws2", "2nd WS answer (hevc: false)"),
                       ("manifest", "playlist"), ("frag", "1st fragment"),
                       ("frame", "frame")):  # fmt: skip
        values = [r[key] for r in results if r.get(key) is not None]
        if values:
            parts.append(f"{label} {statistics.median(values):.0f}")
    sizes = [r["manifestBytes"] for r in results if r.get("manifestBytes")]
    size = f"; playlist {statistics.median(sizes) / 1024:.0f} KiB" if sizes else ""
    return "medians at (ms from click): " + ", ".join(parts) + size


def _transcodes(config_dir: Path) -> int:
    """Count this Home Assistant's rendition ffmpeg processes (their output is in .renditions)."""
    markers = {str(config_dir).encode(), str(config_dir.resolve()).encode()}
    count = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ffmpeg" in cmd and b".renditions" in cmd and any(m in cmd for m in markers):
            count += 1
    return count


def _renditions_idle(config_dir: Path, timeout: float = 120.0) -> float:
    """Wait until no rendition is being made (the parts made ahead); return the seconds waited."""
    t0 = time.monotonic()
    while _transcodes(config_dir) and time.monotonic() - t0 < timeout:
        time.sleep(0.2)
    return time.monotonic() - t0


def _hevc_moments(
    rng: random.Random, cameras: list[str], day: tuple[float, float], count: int
) -> list[tuple[str, float]]:
    """Moments on the H.265 cameras whose parts no other click asks for or makes ahead.

    A click asks for its 10 s segment (and hls.js for the next ones while it buffers); serving
    it makes the 2 parts after it ahead. Moments on the same camera are 10 segments apart at
    least, so every click finds its parts cold.
    """
    slots = int((day[1] - day[0]) // 10) - 4
    chosen: list[tuple[str, int]] = []
    while len(chosen) < count:
        camera = cameras[len(chosen) % len(cameras)]
        slot = rng.randrange(slots)
        if all(c != camera or abs(s - slot) >= 10 for c, s in chosen):
            chosen.append((camera, slot))
    return [(camera, day[0] + 10 * slot + rng.uniform(2, 8)) for camera, slot in chosen]


async def _measure(
    bench: Bench,
    running: Any,
    clip: Path,
    day: tuple[float, float],
    cameras: list[str],
    hevc_cameras: list[str],
) -> list[Row]:
    from playwright.async_api import async_playwright

    reps = 4 if bench.quick else 10
    hevc_moments = _hevc_moments(random.Random(265), hevc_cameras, day, 2 if bench.quick else 8)
    boundaries = 4 if bench.quick else 20
    rng = random.Random(14)
    token = running.token
    base = running.url
    floor = StaticFloor(clip)
    await floor.start()
    rows: list[Row] = []
    # The clicked moments: random, not on a boundary, leaving footage for seeks and boundaries.
    usable = day[1] - day[0] - (boundaries + 4) * 10
    moments = [day[0] + 10 * rng.randrange(int(usable // 10)) + rng.uniform(2, 8)
               for _ in range(reps)]  # fmt: skip
    jobs = []
    log("section 14: fetching the playlists (the floor's copies)")
    for number, at in enumerate(moments):
        camera = cameras[number % len(cameras)]
        ws_msg = {"type": "cctv_nvr/playback", "camera": camera, "start": int(at),
                  "end": min(int(day[1]), int(at) + PLAYBACK_SECONDS)}  # fmt: skip
        ws_day = ws_msg | {"end": int(day[1])}
        text, first = await _signed_playlist(base, token, ws_msg)
        url = await asyncio.to_thread(floor.add_playlist, f"p{number}", text, boundaries + 6)
        jobs.append((at, ws_msg, ws_day, url, max(0.0, at - first)))
    clicks: dict[str, list[dict[str, Any]]] = {"ours": [], "floor": [], "day": []}
    seeks: dict[str, list[float]] = {"ours": [], "floor": [], "day": []}
    fetches: dict[str, list[dict[str, float]]] = {"ours": [], "floor": [], "day": []}
    hevc: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    settled: list[float] = []  # seconds from the cold click's frame to no transcode running
    tiles: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": [], "idle": [], "panel": []}
    warm_opens, idle_opens = (2, 2) if bench.quick else (5, 3)
    waited = await _wait_live(base, token, cameras)
    log(f"section 14: every camera records, live playlists answer (waited {waited:.1f} s)")
    log("section 14: starting Chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium.executable(), args=chromium.ARGS
        )
        try:
            # 0: the panel's live grid, opened in a new page of a fresh context (cold: the first
            # open after Home Assistant started, nothing cached), then again a few seconds after
            # closing it (warm).
            tiles_context = await browser.new_context(viewport={"width": 1920, "height": 1080})
            watch = {"tokens": running.tokens, "cameras": cameras, "timeout": 60_000}
            await tiles_context.add_init_script(script=TILES_WATCH % json.dumps(watch))
            for number in range(1 + warm_opens):
                kind = "cold" if number == 0 else "warm"
                if number:
                    await asyncio.sleep(2)
                result = await _open_tiles(tiles_context, base)
                tiles_closed = time.monotonic()
                log(f"section 14: panel open {number} ({kind}): {json.dumps(result)}")
                tiles[kind].append(result)
            # 0 with the cameras' live video kept to the panel (their tiles play the own live
            # video whether recording or not), then back.
            await _panel_only(base, token, cameras, True)
            for number in range(1 + warm_opens):
                if number:
                    await asyncio.sleep(2)
                result = await _open_tiles(tiles_context, base)
                log(f"section 14: panel open {number} (panel's live video): {json.dumps(result)}")
                tiles["panel"].append(result)
            await _panel_only(base, token, cameras, False)
            tiles_closed = time.monotonic()
            # Each page is set on its origin (Home Assistant's, the static server's), then gets
            # the test page and hls.js (a page fulfilled by Playwright's routing could not open
            # Home Assistant's WebSocket: closed 1006).
            page_ours = await _page(browser, base)
            log("section 14: page on Home Assistant's origin loaded; connecting its WebSocket")
            await asyncio.wait_for(
                page_ours.evaluate("token => window.B.connect(token)", token), 60
            )
            page_floor = await _page(browser, floor.url)
            # 1 + 2: clicks, then a seek while playing; ours (an hour's playlist), the floor
            # and ours as it was (a playlist to the end of the day), rotated.
            for number, (at, ws_msg, ws_day, url, offset) in enumerate(jobs):
                order = [("ours", page_ours), ("floor", page_floor), ("day", page_ours)]
                order = order[number % 3 :] + order[: number % 3]
                for name, page in order:
                    job: dict[str, Any] = {
                        "ours": {"ws": ws_msg, "at": at},
                        "day": {"ws": ws_day, "at": at},
                        "floor": {"url": url, "offset": offset},
                    }[name]
                    job |= {"config": PANEL_HLS, "rate": 1}
                    result = await _click(page, job)
                    log(f"section 14: click {number} {name}: {json.dumps(result)}")
                    if result.get("fatal"):
                        raise RuntimeError(f"{name} playback failed: {result['fatal']}")
                    clicks[name].append(result)
                    await page.wait_for_timeout(1500)
                    seek = await page.evaluate("d => window.B.seek(d)", rng.choice((45, 75, -1)))
                    log(f"section 14: seek {number} {name}: {seek}")
                    if seek["ms"] is not None:
                        seeks[name].append(seek["ms"])
                    if seek.get("fetch"):
                        fetches[name].append(seek["fetch"][0])
                    await page.evaluate("window.B.stop()")
                # H.265 footage (as a browser without HEVC gets it): a cold click, then the
                # same moment again once the parts made ahead are done (warm).
                if number < len(hevc_moments):
                    camera, moment = hevc_moments[number]
                    request = {"type": "cctv_nvr/playback", "camera": camera,
                               "start": int(moment),
                               "end": min(int(day[1]), int(moment) + PLAYBACK_SECONDS)}  # fmt: skip
                    job = {"ws": request, "at": moment, "rendition": True, "config": PANEL_HLS,
                           "rate": 1}  # fmt: skip
                    await asyncio.to_thread(_renditions_idle, running.config_dir)
                    for kind in ("cold", "warm"):
                        result = await _click(page_ours, job)
                        log(f"section 14: click {number} H.265 {kind}: {json.dumps(result)}")
                        if result.get("fatal"):
                            raise RuntimeError(f"H.265 playback failed: {result['fatal']}")
                        if not result.get("rendition"):
                            raise RuntimeError(f"no H.264 rendition listed: {result}")
                        hevc[kind].append(result)
                        await page_ours.evaluate("window.B.stop()")
                        waited = await asyncio.to_thread(_renditions_idle, running.config_dir)
                        if kind == "cold":
                            settled.append(waited)
            # 3: play on across boundaries at 1x from the first click's moment.
            stalls: dict[str, dict[str, Any]] = {}
            at, ws_msg, _day, url, offset = jobs[0]
            for name, page in (("ours", page_ours), ("floor", page_floor)):
                job = ({"ws": ws_msg, "at": at} if name == "ours"
                       else {"url": url, "offset": offset})  # fmt: skip
                job |= {"config": PANEL_HLS, "rate": 1}
                result = await _click(page, job)
                until = result.get("mediaTime", 0) + boundaries * 10 + 1
                stalls[name] = await page.evaluate("u => window.B.watch(u)", until)
                log(f"section 14: boundaries {name}: {stalls[name]}")
                await page.evaluate("window.B.stop()")
            # 4: the media browser's hour list of a camera-day, against a WS ping.
            day_id = datetime.fromtimestamp(day[0] + 3600, ZONE).date().isoformat()
            browse_ms: list[float] = []
            ping_ms: list[float] = []
            for number in range(reps * 2):
                camera = cameras[number % len(cameras)]
                browse = {"type": "media_source/browse_media",
                          "media_content_id": f"media-source://cctv_nvr/day/{camera}/{day_id}"}  # fmt: skip
                for kind, msg in (("browse", browse), ("ping", {"type": "ping"})):
                    answer = await page_ours.evaluate("m => window.B.timed(m)", msg)
                    if not answer["ok"]:
                        raise RuntimeError(f"{msg['type']} failed: {answer['error']}")
                    (browse_ms if kind == "browse" else ping_ms).append(answer["ms"])
            # 0 again: opens once Home Assistant stopped the streams (idle 30 s without a viewer).
            for number in range(idle_opens):
                await asyncio.sleep(max(0.0, tiles_closed + IDLE_WAIT - time.monotonic()))
                result = await _open_tiles(tiles_context, base)
                tiles_closed = time.monotonic()
                log(f"section 14: panel open {number} (streams idle): {json.dumps(result)}")
                tiles["idle"].append(result)
        finally:
            await browser.close()
            await floor.stop()
    rows.append(_tiles_row(
        f"open the panel → all {CAMERAS} live tiles moving (cold: 1st open after start; "
        "recording cameras: the panel's own live video)",
        tiles["cold"], TILES_TARGET_MS,
    ))  # fmt: skip
    rows.append(_tiles_row(
        f"the same, reopened after {IDLE_WAIT:.0f} s without a viewer (HA's streams stopped)",
        tiles["idle"], TILES_TARGET_MS,
    ))  # fmt: skip
    rows.append(_tiles_row(
        "the same, reopened 2 s after closing",
        tiles["warm"], TILES_TARGET_MS,
    ))  # fmt: skip
    rows.append(_tiles_row(
        "the same, the tiles playing the panel's own live video (live kept to the panel)",
        tiles["panel"], TILES_TARGET_MS,
    ))  # fmt: skip
    first_ours = [r["frame"] for r in clicks["ours"]]
    first_floor = [r["frame"] for r in clicks["floor"]]
    first_day = [r["frame"] for r in clicks["day"]]
    text = f"{_stats(first_ours)}; floor {_stats(first_floor)}: "
    text += f"**{_ratio(first_ours, first_floor)}**"
    notes = f"{_target(first_ours, 1000)}; {len(first_ours)} clicks; "
    notes += f"before (a playlist to the day's end): {_stats(first_day)}, "
    notes += f"{_ratio(first_day, first_floor)}; ours {_breakdown(clicks['ours'])}; "
    notes += f"before {_breakdown(clicks['day'])}; floor {_breakdown(clicks['floor'])}"
    rows.append((TITLE, "click on the timeline → first frame (H.264 1080p)", text, notes))
    rows += _hevc_rows(hevc, first_ours, settled, hevc_cameras)
    text = f"{_stats(seeks['ours'])}; floor {_stats(seeks['floor'])}: "
    text += f"**{_ratio(seeks['ours'], seeks['floor'])}**"
    notes = f"{_target(seeks['ours'], 500)}; {len(seeks['ours'])} seeks "
    notes += "(+45 s, +75 s or -1 s), 1.5 s after the first frame; before (a day's playlist): "
    notes += f"{_stats(seeks['day'])}, {_ratio(seeks['day'], seeks['floor'])}"
    for name in ("ours", "floor"):
        if fetches[name]:
            ttfb = statistics.median(f["ttfb"] for f in fetches[name])
            total = statistics.median(f["total"] for f in fetches[name])
            notes += f"; {name}: media part fetched in {total:.0f} ms (first byte {ttfb:.0f})"
    rows.append((TITLE, "seek within playing footage → new frame", text, notes))
    mine, bare = stalls["ours"], stalls["floor"]
    text = f"{mine['stalls']} stalls (longest frame gap {mine['maxGap']:.0f} ms); "
    text += f"floor {bare['stalls']} stalls ({bare['maxGap']:.0f} ms)"
    notes = f"target 0 stalls: {'met' if mine['stalls'] == 0 else 'MISSED'}; "
    notes += "a stall = a 'waiting' event after playback began"
    rows.append((TITLE, f"play across {boundaries} segment boundaries (1x)", text, notes))
    text = f"{_stats(browse_ms)}; WS ping {_stats(ping_ms)}: **{_ratio(browse_ms, ping_ms)}**"
    notes = f"{_target(browse_ms, 300)}; {len(browse_ms)} calls, alternated with pings"
    rows.append((TITLE, "media browser: hour list of a camera-day", text, notes))
    return rows


def _hevc_rows(
    hevc: dict[str, list[dict[str, Any]]],
    h264: list[float],
    settled: list[float],
    cameras: list[str],
) -> list[Row]:
    """The H.265 clicks' rows: cold and warm rendition cache, against the H.264 clicks."""
    rows: list[Row] = []
    plays = {r.get("hevcPlays") for r in hevc["cold"]}
    for kind, label in (
        ("cold", "click → first frame, H.265 footage (H.264 rendition made on demand, cold cache)"),
        ("warm", "the same, warm cache (the same moments again, their parts cached)"),
    ):
        results = hevc[kind]
        frames = [r["frame"] for r in results]
        text = f"{_stats(frames)}; H.264 footage (same run) {_stats(h264)}: "
        text += f"**{_ratio(frames, h264)}** the H.264 click"
        notes = f"{_target(frames, 1500)}; p90 "
        notes += f"{'met' if frames and _pct(frames, 0.9) <= 1500 else 'MISSED'}; "
        notes += f"{len(frames)} clicks on {len(cameras)} H.265 cameras"
        notes += " " if kind == "cold" else "; "
        if kind == "cold":
            notes += "(1080p15 libx265, GOP 15, hvc1, 1 s fragments), each on a 10 s segment no "
            notes += "earlier click asked for or had made ahead, after the transcodes of the one "
            notes += "before ended; Chromium's MediaSource.isTypeSupported(hvc1) said "
            notes += f"{'/'.join(str(p).lower() for p in plays)} (the rendition asked as the panel "
            notes += "does without HEVC: a 2nd playback call with hevc: false); "
        inits = [r["inits"][0]["ttfb"] for r in results if r.get("inits")]
        notes += _breakdown(results)
        if inits:
            notes += f"; the init part's first byte {statistics.median(inits):.0f} ms after "
            notes += "its request" + (" (the transcode)" if kind == "cold" else "")
        if kind == "cold" and settled:
            notes += f"; the 2 parts made ahead were done {statistics.median(settled):.1f} s "
            notes += "(median) after the frame"
        rows.append((TITLE, label, text, notes))
    return rows


async def run(bench: Bench) -> list[Row]:
    chromium.executable()  # before the work: Chromium and hls.js are there
    work = bench.work / "s14"
    work.mkdir(parents=True, exist_ok=True)
    sim = await bench.simulator()
    log("section 14: encoding the 1080p clip; starting Home Assistant")
    clip, duration = await asyncio.to_thread(_clip, work)
    hevc_clip, hevc_duration = await asyncio.to_thread(_hevc_clip, work, bench.cache)
    running = await asyncio.to_thread(_start_home_assistant, work)
    rows: list[Row] = []
    try:
        every = await asyncio.to_thread(_add_cameras, running, sim.rtsp_port)
        cameras, hevc_cameras = every[:CAMERAS], every[CAMERAS:]
        await asyncio.to_thread(running.stop)
        today = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
        start = (today - timedelta(days=1)).timestamp()
        end = today.timestamp() if not bench.quick else start + 2 * 3600
        log(f"section 14: a day of footage for {CAMERAS} + {HEVC_CAMERAS} (H.265) cameras")
        base = running.config_dir / "cctv_nvr"
        count = await asyncio.to_thread(_footage, base, clip, duration, cameras, start, end)
        count += await asyncio.to_thread(
            _footage, base, hevc_clip, hevc_duration, hevc_cameras, start, end, "hevc"
        )
        log(f"section 14: {count} segments indexed; restarting Home Assistant")
        await asyncio.to_thread(_restart, running)
        await asyncio.to_thread(_record, running)
        log("section 14: Home Assistant is up, the cameras record; measuring")
        rows += await _measure(bench, running, clip, (start, end), cameras, hevc_cameras)
        setup = f"{CAMERAS} H.264 + {HEVC_CAMERAS} H.265 cameras recording, "
        setup += f"{count:,} segments indexed "
        setup += f"({(end - start) / 3600:g} h per camera)"
        how = "Chromium (Debian) + hls.js via Playwright; floor = the same playlist text and "
        how += "parts from a static aiohttp server"
        rows.append((TITLE, "setup", setup, how))
    finally:
        await asyncio.to_thread(running.stop)
    return rows


SECTION = Section("14", "browser", TITLE, run, default=False)
