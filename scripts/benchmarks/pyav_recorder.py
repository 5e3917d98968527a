#!/usr/bin/env python3
"""Minimal PyAV recorder of one RTSP URL, for comparison with the ffmpeg CLI.

    python scripts/benchmarks/pyav_recorder.py URL OUTDIR SECONDS

Demuxes the first video stream (RTSP over TCP) and remuxes its packets, without
re-encoding, into fragmented MP4 segments of ~10 s cut at keyframes
(seg000.mp4, seg001.mp4, ...). Timestamps are rebased so every segment starts
at 0. Packets before the first keyframe with a timestamp are skipped (ffmpeg's
RTSP reader may hand out a first packet without pts/dts). Stops after SECONDS
of wall time or on SIGTERM/SIGINT, closing the open segment cleanly.

Prints one JSON line on stdout at the end: segments, packets written, packets
skipped (and why), so a caller can check it recorded what it received.
"""

from __future__ import annotations

import json
from pathlib import Path
import signal
import sys
import time

import av

SEGMENT_SECONDS = 10.0
MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"


class SignalledError(Exception):
    """Asked to stop (signal)."""


def _stop(signum: int, frame: object) -> None:
    raise SignalledError


def record(url: str, outdir: Path, seconds: float) -> dict[str, object]:
    outdir.mkdir(parents=True, exist_ok=True)
    stats: dict[str, object] = {
        "segments": 0,
        "packets": 0,
        "skipped_before_keyframe": 0,
        "skipped_no_pts": 0,
        "files": [],
    }
    deadline = time.monotonic() + seconds
    inp = av.open(
        url,
        options={"rtsp_transport": "tcp", "timeout": "5000000"},
        timeout=(10.0, 5.0),
    )
    out = None
    try:
        in_video = inp.streams.video[0]
        tb = in_video.time_base
        out_video = None
        seg_start = None  # input pts of the current segment's first keyframe
        offset = 0  # subtracted from pts/dts in the current segment
        last_dts = None
        started = False
        for packet in inp.demux(in_video):
            if time.monotonic() >= deadline:
                break
            if packet.size == 0:  # demuxer flush packet
                continue
            if not started:
                if not packet.is_keyframe or packet.pts is None:
                    stats["skipped_before_keyframe"] += 1
                    continue
                started = True
            if packet.pts is None:
                # Mid-stream packet without timestamp: nothing sane to write it at.
                stats["skipped_no_pts"] += 1
                continue
            if packet.dts is None:
                packet.dts = packet.pts  # (no B-frames assumed for the fallback)
            if packet.is_keyframe and (
                out is None or float((packet.pts - seg_start) * tb) >= SEGMENT_SECONDS
            ):
                if out is not None:
                    out.close()
                path = outdir / f"seg{stats['segments']:03d}.mp4"
                out = av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS})
                out_video = out.add_stream_from_template(in_video)
                seg_start = packet.pts
                offset = min(packet.pts, packet.dts)
                last_dts = None
                stats["segments"] += 1
                stats["files"].append(path.name)
            pts, dts = packet.pts - offset, packet.dts - offset
            if last_dts is not None and dts <= last_dts:
                # The muxer rejects non-increasing dts (e.g. the first two packets
                # of a fresh RTSP session sharing one timestamp): nudge it.
                dts = last_dts + 1
                pts = max(pts, dts)
            last_dts = dts
            packet.pts, packet.dts = pts, dts
            packet.stream = out_video
            out.mux(packet)
            stats["packets"] += 1
    except SignalledError:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish writing, then exit
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if out is not None:
            out.close()
        inp.close()
    return stats


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    url, outdir, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        stats = record(url, outdir, seconds)
    except SignalledError:
        stats = {"segments": 0, "packets": 0, "error": "stopped before the stream opened"}
    except av.error.FFmpegError as err:
        print(json.dumps({"error": str(err)}), flush=True)
        return 1
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
