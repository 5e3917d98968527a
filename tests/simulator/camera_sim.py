#!/usr/bin/env python3
"""Simulated IP camera: GStreamer RTSP server + tiny HTTP control API.

Run with the *system* python (it needs python3-gi and GstRtspServer):

    /usr/bin/python3 tests/simulator/camera_sim.py --rtsp-port 0 --control-port 0

Short clips are encoded once with the ffmpeg CLI into a cache directory and then
looped forever from memory through ``appsrc`` with freshly computed, continuously
increasing timestamps.  No per-client work besides RTP packetisation/sending
happens in the server, so many cameras and clients cost almost no CPU.

After both ports are bound, exactly one line is printed to stdout:
``READY {"rtsp_port": N, "control_port": M}``.  Logs go to stderr.
See README.md in this folder for mounts and the control API.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

_LOGGER = logging.getLogger("camera_sim")

SECOND = 1_000_000_000
CACHE_VERSION = 1

# mount name -> (video codec, width, height, video bitrate, audio kind or None)
MOUNTS: dict[str, tuple[str, int, int, str, str | None]] = {
    "main": ("h264", 1920, 1080, "2000k", None),
    "sub": ("h264", 640, 360, "500k", None),
    "h265": ("h265", 1920, 1080, "1500k", None),
    "audio": ("h264", 1920, 1080, "2000k", "aac"),
    "pcmu": ("h264", 640, 360, "500k", "pcmu"),
}
AAC_RATE = 16000
PCMU_RATE = 8000
PCMU_CHUNK = 160  # 20 ms of 8 kHz mu-law per buffer


# --------------------------------------------------------------------------
# Clip cache (encoded once with the ffmpeg CLI)
# --------------------------------------------------------------------------


def _video_clip_cmd(codec: str, width: int, height: int, fps: int, secs: int,
                    bitrate: str, out: str) -> list[str]:
    src = f"testsrc2=size={width}x{height}:rate={fps}:duration={secs}"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", src, "-an", "-pix_fmt", "yuv420p",
           "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate]
    if codec == "h264":
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
                "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0",
                "-bf", "0", "-x264-params", "aud=1:repeat-headers=1:open-gop=0",
                "-f", "h264", out]
    else:
        cmd += ["-c:v", "libx265", "-preset", "ultrafast",
                "-x265-params",
                f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0:open-gop=0:"
                "aud=1:repeat-headers=1:log-level=error",
                "-f", "hevc", out]
    return cmd


def _aac_clip_cmd(secs: int, out: str) -> list[str]:
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={AAC_RATE}:duration={secs}",
            "-ac", "1", "-c:a", "aac", "-b:a", "32k", "-f", "adts", out]


def _pcmu_clip_cmd(secs: int, out: str) -> list[str]:
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={PCMU_RATE}:duration={secs}",
            "-ac", "1", "-ar", str(PCMU_RATE), "-c:a", "pcm_mulaw", "-f", "mulaw", out]


def ensure_clips(cache_dir: str, fps: int, secs: int) -> dict[str, str]:
    """Encode all needed clips (in parallel) unless cached. Returns key -> path."""
    os.makedirs(cache_dir, exist_ok=True)
    wanted: dict[str, tuple[str, list[str]]] = {}
    for codec, width, height, bitrate, audio in MOUNTS.values():
        key = f"{codec}_{width}x{height}"
        if key not in wanted:
            name = f"{codec}_{width}x{height}_{fps}fps_{secs}s_{bitrate}_v{CACHE_VERSION}.{codec}"
            path = os.path.join(cache_dir, name)
            wanted[key] = (path, _video_clip_cmd(codec, width, height, fps, secs, bitrate, path))
        if audio == "aac" and "aac" not in wanted:
            path = os.path.join(cache_dir, f"aac_{AAC_RATE}hz_mono_{secs}s_v{CACHE_VERSION}.aac")
            wanted["aac"] = (path, _aac_clip_cmd(secs, path))
        if audio == "pcmu" and "pcmu" not in wanted:
            path = os.path.join(cache_dir, f"pcmu_{PCMU_RATE}hz_mono_{secs}s_v{CACHE_VERSION}.ulaw")
            wanted["pcmu"] = (path, _pcmu_clip_cmd(secs, path))

    lock_path = os.path.join(cache_dir, ".lock")
    with open(lock_path, "w") as lock:
        missing = [(k, p, c) for k, (p, c) in wanted.items() if not os.path.exists(p)]
        if missing:
            # Serialise encoders of concurrently starting simulators.
            fcntl.flock(lock, fcntl.LOCK_EX)
            missing = [(k, p, c) for k, p, c in missing if not os.path.exists(p)]
        procs = []
        for key, path, cmd in missing:
            tmp = f"{path}.{os.getpid()}.tmp"
            cmd = cmd[:-1] + [tmp]
            _LOGGER.info("encoding clip %s -> %s", key, path)
            procs.append((path, tmp, subprocess.Popen(cmd, stdin=subprocess.DEVNULL)))
        for path, tmp, proc in procs:
            if proc.wait() != 0:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise RuntimeError(f"ffmpeg failed to encode {path}")
            os.replace(tmp, path)
    return {k: p for k, (p, _c) in wanted.items()}


# --------------------------------------------------------------------------
# Splitting clips into access units
# --------------------------------------------------------------------------


def split_annexb(data: bytes, codec: str) -> list[tuple[bytes, bool]]:
    """Split an Annex-B stream (encoded with AUDs) into (access unit, is_key)."""
    starts = []  # (position of start code incl. leading zero, nal type)
    pos = 0
    while True:
        idx = data.find(b"\x00\x00\x01", pos)
        if idx < 0 or idx + 3 >= len(data):
            break
        begin = idx - 1 if idx > 0 and data[idx - 1] == 0 else idx
        header = data[idx + 3]
        nal_type = header & 0x1F if codec == "h264" else (header >> 1) & 0x3F
        starts.append((begin, nal_type))
        pos = idx + 3
    aud = 9 if codec == "h264" else 35
    bounds = [b for b, t in starts if t == aud]
    if not bounds:
        raise RuntimeError("clip has no access unit delimiters")
    bounds.append(len(data))
    units = []
    for a, b in zip(bounds, bounds[1:]):
        types = [t for p, t in starts if a <= p < b]
        if codec == "h264":
            key = 5 in types
        else:
            key = any(16 <= t <= 21 for t in types)
        units.append((data[a:b], key))
    return units


def split_adts(data: bytes) -> list[bytes]:
    frames = []
    pos = 0
    while pos + 7 <= len(data):
        if data[pos] != 0xFF or (data[pos + 1] & 0xF0) != 0xF0:
            raise RuntimeError(f"bad ADTS sync at {pos}")
        length = ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
        if (data[pos + 6] & 0x03) != 0:
            raise RuntimeError("ADTS frames with several raw blocks are not supported")
        frames.append(data[pos:pos + length])
        pos += length
    return frames


class Track:
    """An immutable looped clip: GstBuffers (shared memory) + timing."""

    def __init__(self, name: str, caps: str, units: list[tuple[bytes, bool]],
                 unit_num: int, unit_den: int):
        self.name = name
        self.codec = name.split("_")[0]  # h264 / h265 / aac / pcmu
        self.caps = Gst.Caps.from_string(caps)
        self.keys = [key for _data, key in units]
        self.raw = [data for data, _key in units]
        # Duration of one unit is unit_num / unit_den seconds.
        self.unit_num = unit_num
        self.unit_den = unit_den
        self.buffers = []
        for data, key in units:
            buf = Gst.Buffer.new_wrapped(data)
            if not key:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            self.buffers.append(buf)

    def offset_of(self, n: int) -> int:
        return n * self.unit_num * SECOND // self.unit_den


def load_tracks(paths: dict[str, str], fps: int) -> dict[str, Track]:
    tracks = {}
    for key, path in paths.items():
        with open(path, "rb") as fh:
            data = fh.read()
        if key == "aac":
            frames = split_adts(data)
            caps = (f"audio/mpeg,mpegversion=4,stream-format=adts,framed=true,"
                    f"rate={AAC_RATE},channels=1")
            tracks[key] = Track(key, caps, [(f, True) for f in frames], 1024, AAC_RATE)
        elif key == "pcmu":
            chunks = [(data[i:i + PCMU_CHUNK], True)
                      for i in range(0, len(data) - PCMU_CHUNK + 1, PCMU_CHUNK)]
            caps = f"audio/x-mulaw,rate={PCMU_RATE},channels=1"
            tracks[key] = Track(key, caps, chunks, PCMU_CHUNK, PCMU_RATE)
        else:
            codec = key.split("_")[0]
            units = split_annexb(data, codec)
            if not units[0][1]:
                raise RuntimeError(f"{path}: clip does not start with a keyframe")
            bad = [i for i, (_d, k) in enumerate(units) if k != (i % fps == 0)]
            if bad:
                _LOGGER.warning("%s: unexpected keyframe pattern at %s", path, bad[:5])
            if len(units) % fps:
                _LOGGER.warning("%s: %d frames is not a whole number of GOPs", path, len(units))
            media = "video/x-h264" if codec == "h264" else "video/x-h265"
            caps = f"{media},stream-format=byte-stream,alignment=au,framerate={fps}/1"
            tracks[key] = Track(key, caps, units, 1, fps)
        _LOGGER.debug("loaded %s: %d units", key, len(tracks[key].buffers))
    return tracks


# --------------------------------------------------------------------------
# Feeding appsrc elements at real time
# --------------------------------------------------------------------------


class Faults:
    """Per-mount fault state, written by the control API, read by the feeder thread."""

    def __init__(self):
        self.video: dict[str, Track] = {}  # mount -> video track it sends now
        self.garbage: dict[str, tuple[int, str]] = {}  # mount -> (until monotonic ns, mode)

    def garbage_mode(self, mount: str) -> str | None:
        entry = self.garbage.get(mount)
        if entry is None or time.monotonic_ns() >= entry[0]:
            return None
        return entry[1]


_SLICE_TYPES = {"h264": frozenset((1, 5)), "h265": frozenset(range(0, 22))}


def _nal_spans(data: bytes, codec: str) -> list[tuple[int, int, int]]:
    """(payload start after start code, end, nal type) of every NAL unit."""
    spans = []
    pos = 0
    while True:
        idx = data.find(b"\x00\x00\x01", pos)
        if idx < 0 or idx + 3 >= len(data):
            break
        header = data[idx + 3]
        spans.append([idx + 3, len(data),
                      header & 0x1F if codec == "h264" else (header >> 1) & 0x3F])
        pos = idx + 3
    for cur, nxt in zip(spans, spans[1:]):
        end = nxt[0] - 3
        if end > cur[0] and data[end - 1] == 0:
            end -= 1
        cur[1] = end
    return [tuple(s) for s in spans]


def corrupt_unit(data: bytes, codec: str, mode: str, rng: random.Random) -> bytes:
    """Damage one access unit the way a broken camera/encoder/link would.

    ``corrupt``: NAL framing (start codes, NAL and slice headers) is kept but
    ~10 % of the slice data bytes are replaced with random non-zero bytes (no
    start code can appear), so depacketizers/parsers pass it and decoders fail.
    ``noise``: every slice NAL is replaced by one of the same header byte(s)
    followed by random non-zero bytes (non-decodable access units of random size).
    """
    out = bytearray(data)
    head = 1 if codec == "h264" else 2
    if mode == "noise":
        parts = []
        last = 0
        for start, end, nal_type in _nal_spans(data, codec):
            if nal_type in _SLICE_TYPES[codec]:
                parts.append(data[last:start + head])
                size = rng.randint(16, max(32, end - start))
                parts.append(bytes(rng.randint(1, 255) for _ in range(size)))
                last = end
        parts.append(data[last:])
        return b"".join(parts)
    for start, end, nal_type in _nal_spans(data, codec):
        if nal_type not in _SLICE_TYPES[codec]:
            continue
        body = start + head + 8  # keep the slice header parseable
        for i in range(body, end):
            if rng.random() < 0.1:
                out[i] = rng.randint(1, 255)
    return bytes(out)


class TrackFeed:
    def __init__(self, track: Track, appsrc: Gst.Element, mount: str = "",
                 faults: Faults | None = None):
        self.track = track
        self.appsrc = appsrc
        self.mount = mount
        self.faults = faults if track.codec in ("h264", "h265") else None
        self.count = 0  # units pushed
        self.base = 0  # count at which unit 0 of the current track was pushed
        self.offset = 0  # running time of unit 0 (plus freeze shifts)
        self.rng = random.Random(0x5EED)

    def next_pts(self) -> int:
        return self.offset + self.track.offset_of(self.count)

    def _maybe_switch(self) -> None:
        want = self.faults.video.get(self.mount)
        if want is None or want is self.track or want.codec != self.track.codec:
            return
        track = self.track
        if track.keys[(self.count - self.base) % len(track.keys)] and \
                track.unit_num * want.unit_den == want.unit_num * track.unit_den:
            _LOGGER.info("/%s: switching video %s -> %s", self.mount, track.name, want.name)
            self.track = want
            self.base = self.count

    def push_one(self) -> Gst.FlowReturn:
        if self.faults is not None:
            self._maybe_switch()
        track = self.track
        n = (self.count - self.base) % len(track.buffers)
        base = track.buffers[n]
        mode = self.faults.garbage_mode(self.mount) if self.faults is not None else None
        if mode is not None:
            buf = Gst.Buffer.new_wrapped(corrupt_unit(track.raw[n], track.codec, mode, self.rng))
            buf.set_flags(base.get_flags())
        else:
            buf = base.copy()
        pts = self.next_pts()
        buf.pts = pts
        buf.dts = pts
        buf.duration = self.offset + track.offset_of(self.count + 1) - pts
        self.count += 1
        return self.appsrc.emit("push-buffer", buf)


class MediaFeed:
    """All appsrc tracks of one (shared) GstRTSPMedia."""

    def __init__(self, mount: str, media: GstRtspServer.RTSPMedia, feeds: list[TrackFeed]):
        self.mount = mount
        self.media = media
        self.feeds = feeds
        self.pipeline: Gst.Element | None = None
        self.started = False
        self.dead = False

    def _resolve_pipeline(self) -> Gst.Element | None:
        if self.pipeline is None:
            element = self.feeds[0].appsrc
            parent = element.get_parent()
            while parent is not None:
                element = parent
                parent = element.get_parent()
            if isinstance(element, Gst.Pipeline):
                self.pipeline = element
        return self.pipeline

    def service(self, now: int, frozen: bool) -> int | None:
        """Push what is due; return the absolute clock time of the next work."""
        pipeline = self._resolve_pipeline()
        if pipeline is None:
            return now + 20_000_000
        _ret, state, _pending = pipeline.get_state(0)
        if state != Gst.State.PLAYING:
            return now + 10_000_000
        base = pipeline.get_base_time()
        running = now - base
        if running < 0:  # base time may lie slightly in the future
            return base
        if not self.started:
            self.started = True
            for feed in self.feeds:
                feed.offset = running
            if frozen:
                # Prepare needs one buffer per stream to build the SDP.
                for feed in self.feeds:
                    feed.push_one()
        if frozen:
            return None
        lag = running - self.feeds[0].next_pts()
        if lag > 500_000_000:
            # Resumed after a freeze (or starved): jump timestamps forward.
            for feed in self.feeds:
                feed.offset += lag
        for feed in self.feeds:
            while feed.next_pts() <= running:
                ret = feed.push_one()
                if ret != Gst.FlowReturn.OK:
                    if ret == Gst.FlowReturn.FLUSHING:
                        return now + 50_000_000
                    _LOGGER.debug("%s push: %s", self.mount, ret)
                    self.dead = True
                    return None
        return base + min(feed.next_pts() for feed in self.feeds)


class Feeder(threading.Thread):
    def __init__(self):
        super().__init__(name="feeder", daemon=True)
        self._lock = threading.Lock()
        self._medias: list[MediaFeed] = []
        self._wake = threading.Event()
        self.frozen = False
        self._clock = Gst.SystemClock.obtain()

    def add(self, media_feed: MediaFeed) -> None:
        with self._lock:
            self._medias.append(media_feed)
        self._wake.set()

    def remove_media(self, media) -> None:
        with self._lock:
            self._medias = [m for m in self._medias if m.media is not media]

    def set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        self._wake.set()

    def run(self) -> None:
        while True:
            with self._lock:
                medias = list(self._medias)
            now = self._clock.get_time()
            next_due = now + SECOND
            for media in medias:
                try:
                    due = media.service(now, self.frozen)
                except Exception:  # pragma: no cover - keep feeding others
                    _LOGGER.exception("feeding %s failed", media.mount)
                    media.dead = True
                    due = None
                if media.dead:
                    self.remove_media(media.media)
                elif due is not None:
                    next_due = min(next_due, due)
            wait = (next_due - self._clock.get_time()) / SECOND
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()


# --------------------------------------------------------------------------
# The camera
# --------------------------------------------------------------------------


class Camera:
    def __init__(self, args):
        self.bind = args.bind
        self.rtsp_port = args.rtsp_port
        self.fps = args.fps
        self.online = False
        self.tracks = load_tracks(ensure_clips(args.cache_dir, args.fps, args.clip_seconds),
                                  args.fps)
        self.feeder = Feeder()
        self.feeder.start()
        self.faults = Faults()
        for name, (codec, width, height, _bitrate, _audio) in MOUNTS.items():
            self.faults.video[name] = self.tracks[f"{codec}_{width}x{height}"]

        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(self.bind)
        # Lossless unless told otherwise: a client that reads slowly (a loaded
        # test machine) gets its data late, never with RTP packets left out.
        self.server.connect("client-connected", self._on_client_connected)
        mounts = self.server.get_mount_points()
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(Gst.Structure.from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")[0])
        self._permissions = permissions
        for name, (codec, _width, _height, _bitrate, _audio) in MOUNTS.items():
            mounts.add_factory(f"/{name}", self._make_factory(name, codec))

        self.pool = self.server.get_session_pool()
        GLib.timeout_add_seconds(2, self._cleanup_sessions)
        self.set_auth(args.auth, args.user, args.password, drop=False)

        self._sock: Gio.Socket | None = None
        self._watch_id = 0
        self.go_online()

    # -- media ---------------------------------------------------------------
    def _make_factory(self, mount: str, codec: str) -> GstRtspServer.RTSPMediaFactory:
        audio = MOUNTS[mount][4]
        factory = GstRtspServer.RTSPMediaFactory()
        pay = "rtph264pay" if codec == "h264" else "rtph265pay"
        launch = (f"( appsrc name=vsrc ! {codec}parse ! "
                  f"{pay} name=pay0 pt=96 config-interval=-1")
        if audio == "aac":
            launch += " appsrc name=asrc ! aacparse ! rtpmp4gpay name=pay1 pt=97"
        elif audio == "pcmu":
            launch += " appsrc name=asrc ! rtppcmupay name=pay1 pt=0"
        launch += " )"
        factory.set_launch(launch)
        factory.set_shared(True)
        factory.set_permissions(self._permissions)
        factory.connect("media-configure", self._on_media_configure, mount, codec)
        return factory

    def _on_media_configure(self, _factory, media, mount, codec):
        video = self.faults.video[mount]
        if video.codec != codec:  # raced with a codec switch; keep this media consistent
            spec = MOUNTS[mount]
            video = self.tracks[f"{codec}_{spec[1]}x{spec[2]}"]
        tracks = [video]
        audio = MOUNTS[mount][4]
        if audio:
            tracks.append(self.tracks[audio])
        element = media.get_element()
        feeds = []
        for track, name in zip(tracks, ("vsrc", "asrc")):
            src = element.get_by_name(name)
            src.set_property("caps", track.caps)
            src.set_property("format", Gst.Format.TIME)
            src.set_property("is-live", True)
            src.set_property("do-timestamp", False)
            # 30 s of the busiest track (PCMU, 50 units/s) before the oldest
            # are dropped: only a stuck pipeline ever reaches it.
            src.set_property("max-buffers", 30 * 50)
            src.set_property("leaky-type", 2)  # downstream: drop old if blocked
            feeds.append(TrackFeed(track, src, mount, self.faults))
        media.connect("unprepared", self._on_media_unprepared)
        _LOGGER.info("new media for /%s", mount)
        self.feeder.add(MediaFeed(mount, media, feeds))

    @staticmethod
    def _on_client_connected(_server, client):
        client.set_property("drop-backlog", False)

    def _on_media_unprepared(self, media):
        _LOGGER.info("media unprepared")
        self.feeder.remove_media(media)

    def _cleanup_sessions(self):
        self.pool.cleanup()
        return True

    # -- network ---------------------------------------------------------------
    def go_online(self) -> None:
        if self.online:
            return
        sock = Gio.Socket.new(Gio.SocketFamily.IPV4 if ":" not in self.bind else
                              Gio.SocketFamily.IPV6, Gio.SocketType.STREAM,
                              Gio.SocketProtocol.TCP)
        address = Gio.InetSocketAddress.new_from_string(self.bind, self.rtsp_port)
        sock.bind(address, True)
        sock.set_listen_backlog(64)
        sock.listen()
        self.rtsp_port = sock.get_local_address().get_port()
        self._sock = sock
        self._watch_id = GLib.io_add_watch(sock.get_fd(), GLib.PRIORITY_DEFAULT,
                                           GLib.IOCondition.IN, self._on_accept)
        self.online = True
        _LOGGER.info("online on rtsp://%s:%d", self.bind, self.rtsp_port)

    def _on_accept(self, _fd, condition):
        if self._sock is not None:
            GstRtspServer.RTSPServer.io_func(self._sock, condition, self.server)
        return True

    def go_offline(self) -> None:
        if self._watch_id:
            GLib.source_remove(self._watch_id)
            self._watch_id = 0
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self.online = False
        self.drop_clients()
        _LOGGER.info("offline")

    def drop_clients(self) -> None:
        self.server.client_filter(lambda *_a: GstRtspServer.RTSPFilterResult.REMOVE, None)
        self.pool.filter(lambda *_a: GstRtspServer.RTSPFilterResult.REMOVE, None)

    def client_count(self) -> int:
        return len(self.server.client_filter(None, None))

    def drop_mount_clients(self, mount: str) -> int:
        """Close the RTSP connections/sessions that play ``/mount``; return how many."""
        path = f"/{mount}"
        keep = GstRtspServer.RTSPFilterResult.KEEP
        remove = GstRtspServer.RTSPFilterResult.REMOVE

        def uses(session) -> bool:
            found = session.get_media(path)
            if isinstance(found, tuple):
                found = found[0]
            return found is not None

        dropped = [0]

        def client_cb(_server, client, *_a):
            sessions = client.session_filter(None)
            if any(uses(sess) for sess in sessions):
                return remove
            return keep

        def session_cb(_pool, sess, *_a):
            if uses(sess):
                dropped[0] += 1
                return remove
            return keep

        self.server.client_filter(client_cb, None)
        self.pool.filter(session_cb, None)
        return dropped[0]

    # -- faults ------------------------------------------------------------------
    def switch(self, mount: str, to: str) -> dict:
        """Make ``mount`` send the video of mount ``to`` from now on.

        Same codec (e.g. main -> sub: 1920x1080 -> 640x360 H.264): switched in the
        running RTSP session at the next keyframe (new SPS/PPS in band, no new
        SDP), like a camera whose resolution is changed in its web UI without a
        reboot.  Other codec (main -> h265): the mount's media is replaced and its
        RTSP sessions are dropped; the next DESCRIBE announces the new codec (no
        RTP payloader can change codec inside one RTSP session, and real cameras
        restart their streams).
        """
        if mount not in MOUNTS or to not in MOUNTS:
            raise ValueError(f"unknown mount {mount!r} or {to!r}")
        codec, width, height = MOUNTS[to][:3]
        track = self.tracks[f"{codec}_{width}x{height}"]
        current = self.faults.video[mount]
        self.faults.video[mount] = track
        dropped = 0
        if track.codec != current.codec:
            self.server.get_mount_points().add_factory(
                f"/{mount}", self._make_factory(mount, track.codec))
            dropped = self.drop_mount_clients(mount)
        _LOGGER.info("/%s now sends %s (session %s)", mount, track.name,
                     "dropped" if track.codec != current.codec else "kept")
        return {"mount": mount, "video": track.name,
                "session": "dropped" if track.codec != current.codec else "kept",
                "dropped_sessions": dropped}

    def garbage(self, seconds: float, mount: str | None, mode: str) -> dict:
        if mode not in ("corrupt", "noise"):
            raise ValueError(f"unknown garbage mode {mode!r}")
        if mount is not None and mount not in MOUNTS:
            raise ValueError(f"unknown mount {mount!r}")
        until = time.monotonic_ns() + int(float(seconds) * SECOND)
        for name in ([mount] if mount else list(MOUNTS)):
            self.faults.garbage[name] = (until, mode)
        _LOGGER.info("garbage (%s) on %s for %.1f s", mode, mount or "all mounts", seconds)
        return {"mode": mode, "seconds": seconds, "mounts": [mount] if mount else list(MOUNTS)}

    # -- auth ------------------------------------------------------------------
    def set_auth(self, mode: str, user: str, password: str, drop: bool = True) -> None:
        if mode not in ("none", "basic", "digest"):
            raise ValueError(f"unknown auth mode {mode!r}")
        if mode == "none":
            self.server.set_auth(None)
        else:
            auth = GstRtspServer.RTSPAuth()
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", "user")
            if mode == "basic":
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
                auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
            else:
                auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
                auth.add_digest(user, password, token)
            self.server.set_auth(auth)
        self.auth_mode = mode
        _LOGGER.info("auth set to %s", mode)
        if drop:
            self.drop_clients()

    def status(self) -> dict:
        return {
            "online": self.online,
            "frozen": self.feeder.frozen,
            "clients": self.client_count(),
            "auth": self.auth_mode,
            "rtsp_port": self.rtsp_port,
            "mounts": [f"/{name}" for name in MOUNTS],
            "video": {name: track.name for name, track in self.faults.video.items()},
            "garbage": sorted(name for name in MOUNTS if self.faults.garbage_mode(name)),
        }


# --------------------------------------------------------------------------
# Control API
# --------------------------------------------------------------------------


def call_in_main(fn, timeout: float = 10.0):
    done = threading.Event()
    result: dict = {}

    def wrapper():
        try:
            result["value"] = fn()
        except Exception as err:  # noqa: BLE001
            result["error"] = err
        done.set()
        return False

    GLib.idle_add(wrapper)
    if not done.wait(timeout):
        raise TimeoutError("main loop did not answer")
    if "error" in result:
        raise result["error"]
    return result.get("value")


def make_handler(camera: Camera, loop: GLib.MainLoop):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *args):  # noqa: A003
            _LOGGER.debug("control: " + fmt, *args)

        def _reply(self, code: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            if self.path.rstrip("/") == "/status":
                self._reply(200, call_in_main(camera.status))
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.rstrip("/")
            try:
                if path == "/offline":
                    call_in_main(camera.go_offline)
                elif path == "/online":
                    call_in_main(camera.go_online)
                elif path == "/freeze":
                    camera.feeder.set_frozen(True)
                elif path == "/unfreeze":
                    camera.feeder.set_frozen(False)
                elif path == "/auth":
                    body = json.loads(raw or b"{}")
                    call_in_main(lambda: camera.set_auth(
                        body.get("auth", "none"), body.get("user", ""),
                        body.get("password", "")))
                elif path == "/switch":
                    body = json.loads(raw or b"{}")
                    mount = body.get("mount", "main")
                    to = body.get("to", mount)
                    result = call_in_main(lambda: camera.switch(mount, to))
                    self._reply(200, {**call_in_main(camera.status), "switch": result})
                    return
                elif path == "/garbage":
                    body = json.loads(raw or b"{}")
                    result = camera.garbage(body.get("seconds", 5), body.get("mount"),
                                            body.get("mode", "corrupt"))
                    self._reply(200, {**call_in_main(camera.status), "garbage_set": result})
                    return
                elif path == "/stop":
                    self._reply(200, {"stopping": True})
                    GLib.idle_add(loop.quit)
                    return
                else:
                    self._reply(404, {"error": "not found"})
                    return
            except (ValueError, TypeError, KeyError, OSError, GLib.Error) as err:
                self._reply(400, {"error": str(err)})
                return
            self._reply(200, call_in_main(camera.status))

    return Handler


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtsp-port", type=int, default=8554, help="0 = pick a free port")
    parser.add_argument("--control-port", type=int, default=8555, help="0 = pick a free port")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--clip-seconds", type=int, default=10)
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/cctv_nvr_sim"))
    parser.add_argument("--auth", choices=("none", "basic", "digest"), default="none")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin closes (used by the launcher so that a "
                             "dying parent never leaves a simulator behind)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        stream=sys.stderr,
                        format="%(asctime)s camera_sim[%(process)d] %(levelname)s %(message)s")
    Gst.init(None)
    loop = GLib.MainLoop()
    camera = Camera(args)

    httpd = ThreadingHTTPServer((args.bind, args.control_port), make_handler(camera, loop))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="control", daemon=True).start()

    try:
        gi.require_version("GLibUnix", "2.0")
        from gi.repository import GLibUnix
        signal_add = GLibUnix.signal_add
    except (ImportError, ValueError):
        signal_add = GLib.unix_signal_add
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal_add(GLib.PRIORITY_HIGH, signum, lambda *_a: loop.quit() or False)

    if args.exit_on_stdin_eof:
        def watch_stdin():
            with contextlib.suppress(OSError):
                while sys.stdin.buffer.read(4096):
                    pass
            _LOGGER.info("stdin closed, exiting")
            GLib.idle_add(loop.quit)
        threading.Thread(target=watch_stdin, name="stdin", daemon=True).start()

    ready = {"rtsp_port": camera.rtsp_port, "control_port": httpd.server_address[1]}
    sys.stdout.write("READY " + json.dumps(ready) + "\n")
    sys.stdout.flush()
    loop.run()

    _LOGGER.info("shutting down")
    with contextlib.suppress(Exception):
        camera.go_offline()
    with contextlib.suppress(Exception):
        httpd.server_close()
    sys.stderr.flush()
    # Skip interpreter/GStreamer teardown: it can hang with live pipelines.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
