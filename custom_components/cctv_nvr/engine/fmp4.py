"""Repair of fragmented MP4 files cut short by a crash or by a vanishing camera.

A segment written by a killed ffmpeg ends in the middle of a fragment. The
complete fragments before it are valid; the tail is garbage a decoder chokes
on. Trimming the file back to the end of its last complete fragment keeps
every frame that can be kept and makes the file play cleanly everywhere.

A camera that vanishes mid-frame leaves ffmpeg a cut access unit, which it
writes whole as the segment's last frame: ``last_frame_damaged`` finds it (a
strict decode of the last group of pictures, in an ffmpeg process: decoders
hold tens of MB, which must not stay with Home Assistant) and
``mp4box.drop_last_video_sample`` removes it.
"""

from __future__ import annotations

import os
from pathlib import Path
import subprocess
import tempfile

from .mp4box import drop_last_video_sample, last_gop, top_level_boxes

_STRICT = "crccheck+bitstream+buffer+explode"


def complete_length(path: Path) -> int:
    """Return the length of the file's valid prefix (whole boxes, whole fragments).

    Reads only the top-level box headers, never the media data.
    """
    end = 0
    pending_moof = False
    for box in top_level_boxes(path):
        if box.kind == b"moof":
            pending_moof = True
            continue
        if box.kind == b"mdat" and pending_moof:
            pending_moof = False
        end = box.end
    return end


def trim_incomplete_tail(path: Path) -> int:
    """Cut a fragmented MP4 back to its last complete fragment; return bytes removed."""
    size = path.stat().st_size
    keep = complete_length(path)
    if keep == 0 or keep >= size:
        return 0
    with path.open("r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return size - keep


def last_frame_damaged(path: Path, ffmpeg: str = "ffmpeg", timeout: float = 60.0) -> bool:
    """Return True when the last video frame of a fragmented MP4 does not decode.

    The last group of pictures is decoded strictly (one thread, so an error belongs
    to its frame). When fewer frames come out than went in, the same group without
    its last frame is decoded too: the last frame is the damaged one when the rest
    then decodes whole (damage earlier, sent by the camera, is not ours to cut).
    Raises ``OSError`` or ``subprocess.SubprocessError`` when ffmpeg cannot run.
    """
    gop = last_gop(path)
    if gop is None:
        return False
    data, frames = gop
    with tempfile.TemporaryDirectory(prefix="cctv_nvr-") as folder:
        sample = Path(folder) / "gop.mp4"
        sample.write_bytes(data)
        if _decoded_frames(ffmpeg, sample, timeout) >= frames:
            return False
        if frames == 1 or not drop_last_video_sample(sample):
            return True
        return _decoded_frames(ffmpeg, sample, timeout) >= frames - 1


def _decoded_frames(ffmpeg: str, path: Path, timeout: float) -> int:
    """Return how many video frames ffmpeg decodes from a file with strict error checks."""
    result = subprocess.run(
        [
            ffmpeg, "-hide_banner", "-nostdin", "-v", "quiet", "-threads", "1",
            "-err_detect", _STRICT, "-i", str(path), "-map", "0:v:0",
            "-fps_mode", "passthrough", "-f", "null", "-", "-progress", "pipe:1", "-nostats",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip
    decoded = 0
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        if key == "frame" and value.strip().isdigit():
            decoded = int(value)
    return decoded
