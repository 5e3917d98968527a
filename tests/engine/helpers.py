"""Helpers of the engine tests: inspect segment files with PyAV and ffprobe."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import socket
import struct
import subprocess
import time

import av
import pytest


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (on ``host``; "" for every interface)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_ffmpeg(*args: str) -> None:
    """Run the ffmpeg CLI quietly (overwriting outputs); fail the test on an error."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


def box(kind: bytes, body: bytes) -> bytes:
    """An ISO BMFF box with a 32-bit size."""
    return struct.pack(">I4s", 8 + len(body), kind) + body


def large_box(kind: bytes, body: bytes) -> bytes:
    """A box with a 64-bit size (size field 1)."""
    return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body


@dataclass
class FileFacts:
    """What a segment file really holds."""

    video_packets: int
    decoded_frames: int
    first_is_keyframe: bool
    first_pts: float
    duration: float  # last pts + duration - first pts, video
    codec: str
    codec_tag: str
    audio_codec: str | None


def inspect_file(path: Path, *, decode: bool = True) -> FileFacts:
    """Demux (and decode) every video packet of a segment file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        packets = 0
        frames = 0
        first_key = None
        first = None
        last = 0.0
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            if first_key is None:
                first_key = bool(packet.is_keyframe)
            start = float(packet.pts * packet.time_base)
            first = start if first is None else min(first, start)
            last = max(last, start + float((packet.duration or 0) * packet.time_base))
            packets += 1
            if decode:
                frames += len(packet.decode())
        if decode:
            frames += len(video.codec_context.decode(None))
        return FileFacts(
            video_packets=packets,
            decoded_frames=frames,
            first_is_keyframe=bool(first_key),
            first_pts=first or 0.0,
            duration=last - (first or 0.0),
            codec=video.codec_context.name,
            codec_tag=video.codec_tag,
            audio_codec=audio,
        )


def ffprobe(path: Path) -> dict:
    """Return ffprobe's JSON description of a file (fails the test if ffprobe fails)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return json.loads(out.stdout)


async def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.2) -> float:
    """Wait until predicate() is truthy; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
    return time.monotonic() - start


@contextmanager
def mounted_tmpfs(mount: Path, size: int) -> Iterator[Path]:
    """Mount a tmpfs of `size` bytes at `mount` (an existing empty folder) for a test.

    A full disk made for real: mounting needs root (the dev root and CI run as root);
    elsewhere the test is skipped and says why.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (run the tests in the dev root or CI)")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_disk(path: Path, leave: int) -> None:
    """Write a filler file at path so that only about `leave` bytes stay free."""
    free = shutil.disk_usage(path.parent).free
    size = max(0, free - leave)
    chunk = b"\0" * 2**20
    with path.open("wb") as handle:
        while size > 0:
            handle.write(chunk[: min(size, len(chunk))])
            size -= len(chunk)


def decode_strictly(path: Path) -> tuple[int, int]:
    """Decode every video frame with strict error detection; return (packets, frames).

    Any decoder error (a frame cut short, damaged data) raises; one thread, so an error
    is reported for its own packet.
    """
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
        video.codec_context.thread_count = 1
        packets = frames = 0
        for packet in container.demux(video):
            if packet.pts is None and not packet.size:
                continue
            packets += 1
            frames += len(packet.decode())
        frames += len(video.codec_context.decode(None))
        return packets, frames
