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
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

_LOGGER = logging.getLogger("camera_sim")

SECOND = 1_000_000_000
CACHE_VERSION = 1

@dataclass(frozen=True)
class Mount:
    """What one mount sends. The quirk fields describe camera behaviour of the stream itself."""

    codec: str  # h264 / h265
    width: int
    height: int
    bitrate: str
    audio: str | None = None  # aac / pcmu
    gop: int = 1  # seconds between keyframes
    bframes: int = 0  # B-frames between references (pts != dts, reordered)
    vfr: bool = False  # irregular frame intervals (33/100/67 ms pattern, 15 frames a second)
    sdp_only: bool = False  # SPS/PPS only in the SDP (sprop-parameter-sets), never in band

    @property
    def clip(self) -> str:
        """Key of the encoded clip this mount sends (mounts may share one)."""
        key = f"{self.codec}_{self.width}x{self.height}"
        if self.gop != 1:
            key += f"_g{self.gop}"
        if self.bframes:
            key += f"_b{self.bframes}"
        return key

    @property
    def track(self) -> str:
        """Key of the loaded track (the SDP-only variant is repackaged, length-prefixed)."""
        return self.clip + ("_avc" if self.sdp_only else "")


MOUNTS: dict[str, Mount] = {
    "main": Mount("h264", 1920, 1080, "2000k"),
    "sub": Mount("h264", 640, 360, "500k"),
    "h265": Mount("h265", 1920, 1080, "1500k"),
    "audio": Mount("h264", 1920, 1080, "2000k", "aac"),
    "pcmu": Mount("h264", 640, 360, "500k", "pcmu"),
    # Camera quirks of the stream itself (640x360: cheap for tests to decode).
    "bframes": Mount("h264", 640, 360, "500k", bframes=2),
    "longgop": Mount("h264", 640, 360, "500k", gop=5),
    "vfr": Mount("h264", 640, 360, "500k", vfr=True),
    "sdponly": Mount("h264", 640, 360, "500k", sdp_only=True),
}
# VFR: frame intervals in 1/30 s over each second (15 frames): 33, 100 and 67 ms runs.
VFR_STEPS = (1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2)
RTP_VIDEO_RATE = 90000
AAC_RATE = 16000
PCMU_RATE = 8000
PCMU_CHUNK = 160  # 20 ms of 8 kHz mu-law per buffer


# --------------------------------------------------------------------------
# Clip cache (encoded once with the ffmpeg CLI)
# --------------------------------------------------------------------------


def _video_clip_cmd(codec: str, width: int, height: int, fps: int, secs: int,
                    bitrate: str, out: str, gop: int = 1, bframes: int = 0) -> list[str]:
    src = f"testsrc2=size={width}x{height}:rate={fps}:duration={secs}"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", src, "-an", "-pix_fmt", "yuv420p",
           "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate]
    if codec == "h264" and bframes:
        # B-frames: written to MP4 first, whose packets say each frame's pts and dts;
        # ensure_clips turns it into Annex B plus a list of reorder delays.
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
                "-g", str(fps * gop), "-keyint_min", str(fps * gop), "-sc_threshold", "0",
                "-bf", str(bframes),
                "-x264-params", "aud=1:repeat-headers=1:open-gop=0:b-adapt=0:b-pyramid=none",
                "-f", "mp4", out]
    elif codec == "h264":
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "main",
                "-g", str(fps * gop), "-keyint_min", str(fps * gop), "-sc_threshold", "0",
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
    for spec in MOUNTS.values():
        codec, width, height, bitrate, audio = (spec.codec, spec.width, spec.height,
                                                spec.bitrate, spec.audio)
        key = spec.clip
        if key not in wanted:
            extra = key[len(f"{codec}_{width}x{height}"):]
            name = (f"{codec}_{width}x{height}_{fps}fps_{secs}s_{bitrate}{extra}"
                    f"_v{CACHE_VERSION}.{codec}")
            path = os.path.join(cache_dir, name)
            wanted[key] = (path, _video_clip_cmd(codec, width, height, fps, secs, bitrate, path,
                                                 spec.gop, spec.bframes))
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
            if proc.args[-2] == "mp4":  # B-frames: pts/dts from the MP4, then Annex B
                _mp4_to_annexb(tmp, path, fps)
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
    return {k: p for k, (p, _c) in wanted.items()}


def _mp4_to_annexb(mp4: str, out: str, fps: int) -> None:
    """Annex B of an MP4's video, plus ``out.delays``: each frame's pts - dts in frames."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=pts,dts,duration", "-of", "csv=p=0", mp4],
        capture_output=True, text=True, check=True)
    rows = [line.split(",") for line in probe.stdout.split() if line]
    dts0 = int(rows[0][1])
    step = int(rows[0][2])
    delays = [(int(pts) - dts0) // step - i for i, (pts, _dts, _d) in enumerate(rows)]
    tmp = f"{out}.{os.getpid()}.annexb"
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", mp4,
                    "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", tmp], check=True)
    with open(f"{out}.delays", "w") as fh:
        json.dump(delays, fh)
    os.replace(tmp, out)


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
                 unit_num: int, unit_den: int, delays: list[int] | None = None):
        self.name = name
        # B-frames: per unit (decode order), how many frames its pts lies after its dts.
        self.delays = delays
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
            gop = fps * next((int(part[1:]) for part in key.split("_") if part.startswith("g")
                              and part[1:].isdigit()), 1)
            bad = [i for i, (_d, k) in enumerate(units) if k != (i % gop == 0)]
            if bad:
                _LOGGER.warning("%s: unexpected keyframe pattern at %s", path, bad[:5])
            if len(units) % gop:
                _LOGGER.warning("%s: %d frames is not a whole number of GOPs", path, len(units))
            delays = None
            if os.path.exists(f"{path}.delays"):
                with open(f"{path}.delays") as fh:
                    delays = json.load(fh)
                if len(delays) != len(units):
                    raise RuntimeError(f"{path}: {len(delays)} delays for {len(units)} frames")
            media = "video/x-h264" if codec == "h264" else "video/x-h265"
            caps = f"{media},stream-format=byte-stream,alignment=au,framerate={fps}/1"
            tracks[key] = Track(key, caps, units, 1, fps, delays)
            if codec == "h264" and any(m.sdp_only and m.clip == key for m in MOUNTS.values()):
                tracks[f"{key}_avc"] = sdp_only_track(f"{key}_avc", units, fps)
        _LOGGER.debug("loaded %s: %d units", key, len(tracks[key].buffers))
    return tracks


def sdp_only_track(name: str, units: list[tuple[bytes, bool]], fps: int) -> Track:
    """The clip as a camera that sends SPS/PPS only in the SDP: AVC (length-prefixed)
    access units without parameter sets or delimiters, the parameter sets in codec_data
    (the payloader turns them into sprop-parameter-sets and, with config-interval=0,
    never sends them in band)."""
    sps = pps = None
    repacked = []
    for data, key in units:
        nals = [(data[start:end], nal_type) for start, end, nal_type in _nal_spans(data, "h264")]
        for nal, nal_type in nals:
            if nal_type == 7 and sps is None:
                sps = nal.rstrip(b"\0")
            elif nal_type == 8 and pps is None:
                pps = nal.rstrip(b"\0")
        body = b"".join(len(nal).to_bytes(4, "big") + nal
                        for nal, nal_type in nals if nal_type not in (7, 8, 9))
        repacked.append((body, key))
    if sps is None or pps is None:
        raise RuntimeError(f"{name}: no SPS/PPS in the clip")
    avcc = (bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps
            + bytes([1]) + len(pps).to_bytes(2, "big") + pps)
    caps = (f"video/x-h264,stream-format=avc,alignment=au,framerate={fps}/1,"
            f"codec_data=(buffer){avcc.hex()}")
    return Track(name, caps, repacked, 1, fps)


# --------------------------------------------------------------------------
# Feeding appsrc elements at real time
# --------------------------------------------------------------------------


class Faults:
    """Per-mount fault state, written by the control API, read by the feeder thread."""

    def __init__(self):
        self.video: dict[str, Track] = {}  # mount -> video track it sends now
        self.garbage: dict[str, tuple[int, str]] = {}  # mount -> (until monotonic ns, mode)
        # mount -> ns added to every timestamp it sends (the camera's clock was reset)
        self.clock: dict[str, int] = {}
        self.audio_gap: dict[str, int] = {}  # mount -> until monotonic ns: no audio sent
        self.loss: dict[str, tuple[int, float]] = {}  # mount -> (until ns, drop probability)
        # Medias created while set: RTP timestamps start this many seconds before wrapping.
        self.wrap_in: float | None = None
        # mount -> called after the next video access unit was sent cut short (mid-frame)
        self.cut: dict[str, object] = {}

    def garbage_mode(self, mount: str) -> str | None:
        entry = self.garbage.get(mount)
        if entry is None or time.monotonic_ns() >= entry[0]:
            return None
        return entry[1]

    def audio_silent(self, mount: str) -> bool:
        return time.monotonic_ns() < self.audio_gap.get(mount, 0)

    def loss_rate(self, mount: str) -> float:
        entry = self.loss.get(mount)
        if entry is None or time.monotonic_ns() >= entry[0]:
            return 0.0
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
                 faults: Faults | None = None, vfr: bool = False):
        self.track = track
        self.appsrc = appsrc
        self.mount = mount
        self.is_video = track.codec in ("h264", "h265")
        self.faults = faults if self.is_video else None  # video faults (switch, garbage)
        self.mount_faults = faults  # faults of the whole mount (clock, audio gap)
        self.vfr = vfr
        self.count = 0  # units pushed
        self.base = 0  # count at which unit 0 of the current track was pushed
        self.offset = 0  # running time of unit 0 (plus freeze shifts)
        self.rng = random.Random(0x5EED)
        self.halted = False  # sent a frame cut short: nothing more (the camera is going)

    def offset_of(self, n: int) -> int:
        """Time of unit n from the feed's start (decode order; irregular with vfr)."""
        if not self.vfr:
            return self.track.offset_of(n)
        period, step = divmod(n, len(VFR_STEPS))
        return (period * sum(VFR_STEPS) + sum(VFR_STEPS[:step])) * SECOND // 30

    def next_pts(self) -> int:
        return self.offset + self.offset_of(self.count)

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
        faults = self.mount_faults
        dts = self.next_pts()
        duration = self.offset + self.offset_of(self.count + 1) - dts
        self.count += 1
        if self.halted:
            return Gst.FlowReturn.OK
        if faults is not None and not self.is_video and faults.audio_silent(self.mount):
            return Gst.FlowReturn.OK  # the camera's audio stopped; time goes on
        mode = self.faults.garbage_mode(self.mount) if self.faults is not None else None
        cut = self.faults.cut.pop(self.mount, None) if self.faults is not None else None
        if cut is not None:
            # The camera vanishes mid-frame: this access unit goes out cut short.
            data = track.raw[n]
            buf = Gst.Buffer.new_wrapped(data[:max(len(data) * 2 // 5, 64)])
            buf.set_flags(base.get_flags())
        elif mode is not None:
            buf = Gst.Buffer.new_wrapped(corrupt_unit(track.raw[n], track.codec, mode, self.rng))
            buf.set_flags(base.get_flags())
        else:
            buf = base.copy()
        buf.dts = dts
        buf.pts = dts
        if track.delays is not None:  # B-frames: presented after later-decoded frames
            buf.pts += self.offset_of(self.count - 1 + track.delays[n]) - self.offset_of(
                self.count - 1)
        buf.duration = duration
        ret = self.appsrc.emit("push-buffer", buf)
        if cut is not None:
            self.halted = True
            cut()
        return ret


class MediaFeed:
    """All appsrc tracks of one (shared) GstRTSPMedia."""

    def __init__(self, mount: str, media: GstRtspServer.RTSPMedia, feeds: list[TrackFeed]):
        self.mount = mount
        self.media = media
        self.feeds = feeds
        self.pipeline: Gst.Element | None = None
        self.started = False
        self.dead = False
        # (src pad feeding a payloader, the payloader's src pad) of every stream
        self.clock_pads: list[tuple[Gst.Pad, Gst.Pad]] = []

    def set_clock_shift(self, shift: int) -> None:
        """Move the RTP timestamps (only) by ``shift`` ns: the running time the payloader
        sees is offset, and offset back behind it, so nothing is sent late or early."""
        for upstream, pay_src in self.clock_pads:
            upstream.set_offset(shift)
            pay_src.set_offset(-shift)

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

    def rtp_timestamps(self) -> dict[str, list[int]]:
        with self._lock:
            medias = list(self._medias)
        found: dict[str, list[int]] = {}
        for media in medias:
            found.setdefault(media.mount, []).extend(
                pay_src.get_parent_element().get_property("timestamp")
                for _upstream, pay_src in media.clock_pads)
        return found

    def set_clock_shifts(self, shifts: dict[str, int]) -> None:
        with self._lock:
            medias = list(self._medias)
        for media in medias:
            media.set_clock_shift(shifts.get(media.mount, 0))

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
# A broken or hostile RTSP server on the camera's port
# --------------------------------------------------------------------------

HOSTILE_MODES = ("bad_length", "negative_length", "short_body", "endless_headers",
                 "huge_sdp", "trickle", "garbage")


class HostileServer(threading.Thread):
    """Answers every RTSP request on the camera's port in one broken way.

    ``bad_length``/``negative_length``: a 200 with a non-numeric/negative Content-Length;
    ``short_body``: a body shorter than announced, then the connection closes;
    ``endless_headers``: header lines without end (until the client hangs up, 256 MB at most);
    ``huge_sdp``: a 200 announcing and sending a 16 MB SDP; ``trickle``: a valid-looking
    answer one byte every 0.5 s; ``garbage``: random bytes without end.
    """

    def __init__(self, bind: str, port: int, mode: str):
        super().__init__(name=f"hostile-{mode}", daemon=True)
        self.mode = mode
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((bind, port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.connections = 0
        _LOGGER.info("hostile (%s) on port %d", mode, port)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        self.join(2)
        _LOGGER.info("hostile (%s) ended", self.mode)

    def _send(self, conn: socket.socket, data: bytes) -> bool:
        try:
            conn.sendall(data)
        except OSError:
            return False
        return not self._stop.is_set()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            cseq = b"1"
            for line in request.split(b"\r\n"):
                if line.lower().startswith(b"cseq:"):
                    cseq = line.split(b":", 1)[1].strip()
            ok = b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\n"
            self._answer(conn, ok)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _answer(self, conn: socket.socket, ok: bytes) -> None:
        mode = self.mode
        if mode == "bad_length":
            self._send(conn, ok + b"Content-Type: application/sdp\r\nContent-Length: 12abc\r\n\r\n")
        elif mode == "negative_length":
            self._send(conn, ok + b"Content-Type: application/sdp\r\nContent-Length: -1\r\n\r\n")
        elif mode == "short_body":
            self._send(conn, ok + b"Content-Length: 500\r\n\r\nv=0\r\n")
        elif mode == "endless_headers":
            line = b"X-Padding: " + b"p" * 100 + b"\r\n"
            chunk = line * 600
            self._send(conn, ok)
            for _ in range(256 * 2**20 // len(chunk)):
                if not self._send(conn, chunk):
                    break
        elif mode == "huge_sdp":
            size = 16 * 2**20
            self._send(conn, ok + b"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n" % size)
            line = b"a=x-padding:" + b"p" * 88 + b"\r\n"
            for _ in range(size // len(line)):
                if not self._send(conn, line):
                    break
        elif mode == "trickle":
            for byte in ok + b"Content-Type: application/sdp\r\nContent-Length: 400\r\n\r\n":
                if not self._send(conn, bytes([byte])):
                    break
                time.sleep(0.5)
        elif mode == "garbage":
            rng = random.Random(0xBAD)
            for _ in range(4096):
                if not self._send(conn, bytes(rng.getrandbits(8) for _ in range(4096))):
                    break


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
        for name, spec in MOUNTS.items():
            self.faults.video[name] = self.tracks[spec.track]
        self.max_sessions: int | None = None  # SETUP of more sessions is refused
        self.refusal = 453  # ... with this status (453 Not Enough Bandwidth, or 503)
        self.refused = 0
        self.hostile: HostileServer | None = None
        self._loss_rng = random.Random(0x1055)
        self._loss_pushing = threading.local()

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
        for name, spec in MOUNTS.items():
            mounts.add_factory(f"/{name}", self._make_factory(name, spec.codec))

        self.pool = self.server.get_session_pool()
        GLib.timeout_add_seconds(2, self._cleanup_sessions)
        self.set_auth(args.auth, args.user, args.password, drop=False)

        self._sock: Gio.Socket | None = None
        self._watch_id = 0
        self._port_holder: socket.socket | None = None  # the port, kept while offline
        self.go_online()

    # -- media ---------------------------------------------------------------
    def _make_factory(self, mount: str, codec: str) -> GstRtspServer.RTSPMediaFactory:
        audio = MOUNTS[mount].audio
        factory = GstRtspServer.RTSPMediaFactory()
        pay = "rtph264pay" if codec == "h264" else "rtph265pay"
        if MOUNTS[mount].sdp_only and codec == "h264":
            # AVC with codec_data straight into the payloader: the parameter sets go
            # into the SDP only (config-interval=0: never in band).
            launch = f"( appsrc name=vsrc ! {pay} name=pay0 pt=96 config-interval=0"
        else:
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
        spec = MOUNTS[mount]
        if video.codec != codec:  # raced with a codec switch; keep this media consistent
            video = self.tracks[f"{codec}_{spec.width}x{spec.height}"]
        tracks = [video]
        audio = spec.audio
        if audio:
            tracks.append(self.tracks[audio])
        element = media.get_element()
        clock_pads = []
        for name, rate in (("pay0", RTP_VIDEO_RATE),
                           ("pay1", AAC_RATE if audio == "aac" else PCMU_RATE)):
            pay = element.get_by_name(name)
            if pay is None:
                continue
            if self.faults.wrap_in is not None:
                # RTP timestamps start just short of 2^32 and wrap wrap_in s later.
                pay.set_property("timestamp-offset",
                                 (2**32 - int(self.faults.wrap_in * rate)) % 2**32)
            pay.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self._lossy, mount)
            clock_pads.append((pay.get_static_pad("sink").get_peer(), pay.get_static_pad("src")))
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
            feeds.append(TrackFeed(track, src, mount, self.faults, vfr=spec.vfr))
        media.connect("unprepared", self._on_media_unprepared)
        _LOGGER.info("new media for /%s", mount)
        media_feed = MediaFeed(mount, media, feeds)
        media_feed.clock_pads = clock_pads
        self.feeder.add(media_feed)

    def _lossy(self, pad, info, mount):
        """Drop RTP packets while a loss fault is on, one by one (also from a frame's list).

        A list (the packets of one frame) cannot be changed in place here: the kept
        packets are pushed as a new list (which this probe lets through) and the
        original is dropped.
        """
        rate = self.faults.loss_rate(mount)
        if not rate or getattr(self._loss_pushing, "active", False):
            return Gst.PadProbeReturn.OK
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            packets = info.get_buffer_list()
            kept = [packets.get(i) for i in range(packets.length())
                    if self._loss_rng.random() >= rate]
            if len(kept) == packets.length():
                return Gst.PadProbeReturn.OK
            if kept:
                subset = Gst.BufferList.new()
                for buf in kept:
                    subset.insert(-1, buf)
                self._loss_pushing.active = True
                try:
                    pad.push_list(subset)
                finally:
                    self._loss_pushing.active = False
            return Gst.PadProbeReturn.DROP
        if self._loss_rng.random() < rate:
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    def _on_client_connected(self, _server, client):
        client.set_property("drop-backlog", False)
        client.connect("pre-setup-request", self._on_pre_setup)

    def _on_pre_setup(self, _client, ctx):
        """A camera that allows only so many RTSP sessions refuses the SETUP of another."""
        limit = self.max_sessions
        if limit is None or ctx.session is not None:  # a stream added to a session is fine
            return GstRtsp.RTSPStatusCode.OK
        if self.pool.get_n_sessions() >= limit:
            self.refused += 1
            _LOGGER.info("refusing a session (%d open, limit %d)", self.pool.get_n_sessions(),
                         limit)
            return GstRtsp.RTSPStatusCode(self.refusal)
        return GstRtsp.RTSPStatusCode.OK

    def _on_media_unprepared(self, media):
        _LOGGER.info("media unprepared")
        self.feeder.remove_media(media)

    def _cleanup_sessions(self):
        self.pool.cleanup()
        return True

    # -- network ---------------------------------------------------------------
    def go_online(self) -> None:
        if self.hostile is not None:
            self.hostile.stop()
            self.hostile = None
        if self.online:
            return
        sock = Gio.Socket.new(Gio.SocketFamily.IPV4 if ":" not in self.bind else
                              Gio.SocketFamily.IPV6, Gio.SocketType.STREAM,
                              Gio.SocketProtocol.TCP)
        address = Gio.InetSocketAddress.new_from_string(self.bind, self.rtsp_port)
        sock.bind(address, True)  # allowed beside the holder: both reuse, the holder never listens
        sock.set_listen_backlog(64)
        sock.listen()
        self._release_port()
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
            self._hold_port()
        self.online = False
        self.drop_clients()
        _LOGGER.info("offline")

    def _hold_port(self) -> None:
        """Keep the camera's port while it is offline: bound, never listening.

        A connection is refused as by a closed port, and no other process of a busy machine
        can take the port as its own (an ephemeral port of any connection, another test's
        server): going online again failed with "Address already in use" once in about 30
        loaded passes of the outage tests before the port was held.
        """
        if self._port_holder is not None or not self.rtsp_port:
            return
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        holder = socket.socket(family, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind((self.bind, self.rtsp_port))
        except OSError as err:  # taken in the instant between close and bind: say so
            holder.close()
            _LOGGER.warning("cannot hold port %d while offline: %s", self.rtsp_port, err)
            return
        self._port_holder = holder

    def _release_port(self) -> None:
        if self._port_holder is not None:
            self._port_holder.close()
            self._port_holder = None

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
        track = self.tracks[MOUNTS[to].track]
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

    def _mounts(self, mount: str | None) -> list[str]:
        if mount is not None and mount not in MOUNTS:
            raise ValueError(f"unknown mount {mount!r}")
        return [mount] if mount else list(MOUNTS)

    def clock(self, jump: float | None, mount: str | None, wrap: bool, wrap_in: float | None,
              reset: bool) -> dict:
        """The camera's clock: jump (its timestamps move by ``jump`` s in the running
        session, as when a camera resyncs its clock), wrap (medias created from now on
        start their RTP timestamps ``wrap_in`` s before 2^32), or reset both."""
        if reset:
            self.faults.clock.clear()
            self.faults.wrap_in = None
        if jump:
            for name in self._mounts(mount):
                self.faults.clock[name] = self.faults.clock.get(name, 0) + int(jump * SECOND)
            _LOGGER.info("clock of %s jumps %+.1f s", mount or "all mounts", jump)
        if jump or reset:
            self.feeder.set_clock_shifts(self.faults.clock)
        if wrap:
            self.faults.wrap_in = None if wrap_in is None else float(wrap_in)
            _LOGGER.info("new medias wrap their RTP timestamps after %s s", wrap_in)
        return {"clock": {k: v / SECOND for k, v in self.faults.clock.items()},
                "wrap_in": self.faults.wrap_in}

    def audio_gap(self, seconds: float, mount: str | None) -> dict:
        until = time.monotonic_ns() + int(float(seconds) * SECOND)
        names = [m for m in self._mounts(mount) if MOUNTS[m].audio]
        for name in names:
            self.faults.audio_gap[name] = until
        _LOGGER.info("audio stops on %s for %.1f s", names, seconds)
        return {"seconds": seconds, "mounts": names}

    def loss(self, percent: float, seconds: float, mount: str | None) -> dict:
        until = time.monotonic_ns() + int(float(seconds) * SECOND)
        for name in self._mounts(mount):
            self.faults.loss[name] = (until, float(percent) / 100)
        _LOGGER.info("%.1f %% RTP loss on %s for %.1f s", percent, mount or "all", seconds)
        return {"percent": percent, "seconds": seconds, "mounts": self._mounts(mount)}

    def sessions(self, limit: int | None, status: int) -> dict:
        if limit is not None and int(limit) < 0:
            raise ValueError("max must be >= 0")
        self.max_sessions = None if limit is None else int(limit)
        self.refusal = int(status)
        _LOGGER.info("session limit %s (refused with %d)", self.max_sessions, self.refusal)
        return {"max": self.max_sessions, "status": self.refusal}

    def cut_and_go_offline(self, mount: str | None) -> None:
        """Go offline right after the next video access unit went out cut short."""
        done = threading.Event()

        def after_cut():
            if not done.is_set():
                done.set()
                # Let the cut frame's RTP packets leave first, then vanish.
                GLib.timeout_add(100, lambda: self.go_offline() or False)

        for name in self._mounts(mount):
            self.faults.cut[name] = after_cut
        # No media running (nothing to cut): vanish anyway.
        GLib.timeout_add(2000, lambda: after_cut() or False)

    def set_hostile(self, mode: str | None) -> dict:
        """Answer RTSP like a broken or hostile server (``mode``), or normally (None)."""
        if mode is not None and mode not in HOSTILE_MODES:
            raise ValueError(f"unknown hostile mode {mode!r}")
        if self.hostile is not None:
            self.hostile.stop()
            self.hostile = None
        if mode is None:
            self.go_online()
        else:
            self.go_offline()
            self.hostile = HostileServer(self.bind, self.rtsp_port, mode)
            self.hostile.start()
        return {"hostile": mode}

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
            "clock": {k: v / SECOND for k, v in self.faults.clock.items()},
            "wrap_in": self.faults.wrap_in,
            "audio_gap": sorted(name for name in MOUNTS if self.faults.audio_silent(name)),
            "loss": {name: self.faults.loss_rate(name) * 100 for name in MOUNTS
                     if self.faults.loss_rate(name)},
            "sessions": self.pool.get_n_sessions(),
            "max_sessions": self.max_sessions,
            "refused": self.refused,
            "hostile": self.hostile.mode if self.hostile is not None else None,
            # mount -> the last RTP timestamp of each stream of its running media
            "rtp": self.feeder.rtp_timestamps(),
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
                    body = json.loads(raw or b"{}")
                    if body.get("mid_frame"):
                        camera.cut_and_go_offline(body.get("mount"))
                    else:
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
                elif path == "/clock":
                    body = json.loads(raw or b"{}")
                    result = camera.clock(body.get("jump"), body.get("mount"), "wrap_in" in body,
                                          body.get("wrap_in"), bool(body.get("reset")))
                    self._reply(200, {**call_in_main(camera.status), "clock_set": result})
                    return
                elif path == "/audio_gap":
                    body = json.loads(raw or b"{}")
                    camera.audio_gap(body.get("seconds", 5), body.get("mount"))
                elif path == "/loss":
                    body = json.loads(raw or b"{}")
                    camera.loss(body.get("percent", 5), body.get("seconds", 5), body.get("mount"))
                elif path == "/sessions":
                    body = json.loads(raw or b"{}")
                    camera.sessions(body.get("max"), body.get("status", 453))
                elif path == "/hostile":
                    body = json.loads(raw or b"{}")
                    call_in_main(lambda: camera.set_hostile(body.get("mode")))
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
