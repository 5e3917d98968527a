"""A frame cut short at the end of a segment is found (strict decode) and dropped in place.

Real files from ffmpeg (video, and video with AAC audio interleaved in the same
fragments); the cut is made the way a vanishing camera makes it: the last access unit
loses its tail.
"""

from __future__ import annotations

from pathlib import Path
import struct

import av
import pytest

from custom_components.cctv_nvr.engine.fmp4 import last_frame_damaged
from custom_components.cctv_nvr.engine.mp4box import (
    Mp4Error,
    drop_last_video_sample,
    last_gop,
    top_level_boxes,
    video_fragment_span,
)
from tests.engine.helpers import run_ffmpeg

FPS = 15


def make(path: Path, seconds: float, *, audio: bool, frag: float = 1.0) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"]
    args += ["-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS)]
    args += ["-pix_fmt", "yuv420p", "-bf", "0"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "32k"]
    args += [
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof",
        "-frag_duration",
        str(int(frag * 1_000_000)),
        str(path),
    ]
    run_ffmpeg(*args)
    return path


def decode(path: Path) -> tuple[int, int, int]:
    """(video packets, video frames, audio frames), strict: any decoder error raises."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.codec_context.options = {"err_detect": "crccheck+bitstream+buffer+explode"}
        video.codec_context.thread_count = 1
        packets = frames = sound = 0
        for packet in container.demux():
            if packet.pts is None and not packet.size:
                continue
            if packet.stream.type == "video":
                packets += 1
                frames += len(packet.decode())
            else:
                sound += len(packet.decode())
        frames += len(video.codec_context.decode(None))
        return packets, frames, sound


def cut_last_frame(path: Path, from_end: int = 1) -> None:
    """Overwrite the tail of the last video sample's data with zeros (a cut access unit).

    ``from_end``: 1 cuts the last frame, 2 the one before it.

    The sizes stay (as when ffmpeg writes a short access unit it was still receiving):
    what the decoder gets is a slice whose data ends early.
    """
    boxes = [box for box in top_level_boxes(path) if box.kind != b"mfra"]
    moof, mdat = boxes[-2], boxes[-1]
    assert (moof.kind, mdat.kind) == (b"moof", b"mdat")
    data = bytearray(path.read_bytes())
    # The video traf comes first; its trun's last entry holds the last sample's size.
    body = data[moof.offset : moof.end]
    trun = body.index(b"trun") - 4
    flags = int.from_bytes(body[trun + 9 : trun + 12], "big")
    count = struct.unpack_from(">I", body, trun + 12)[0]
    offset = struct.unpack_from(">i", body, trun + 16)[0]
    pos = trun + 20 + (4 if flags & 0x4 else 0)
    fields = [f for f in (0x100, 0x200, 0x400, 0x800) if flags & f]
    sizes = []
    for index in range(count):
        values = dict(
            zip(
                fields,
                struct.unpack_from(f">{len(fields)}I", body, pos + 4 * len(fields) * index),
                strict=True,
            )
        )
        sizes.append(values[0x200])
    start = moof.offset + offset + sum(sizes[:-from_end])
    keep = 12  # the NAL length and the first slice header bytes stay
    size = sizes[-from_end]
    data[start + keep : start + size] = bytes(size - keep)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("audio", [False, True], ids=["video", "video_audio"])
def test_cut_last_frame_is_found_and_dropped(tmp_path: Path, audio: bool) -> None:
    path = make(tmp_path / "seg.mp4", 3.2, audio=audio)
    packets, frames, sound = decode(path)
    assert packets == frames == 48
    span = video_fragment_span(path)
    assert span is not None
    # With audio, ffmpeg lengthens the first frame to the audio's priming samples.
    assert span == pytest.approx(48 / FPS, abs=1e-6) if not audio else span > 48 / FPS
    assert not last_frame_damaged(path)  # a whole file: nothing to drop

    cut_last_frame(path)
    assert last_frame_damaged(path)
    with pytest.raises(av.error.InvalidDataError):
        decode(path)
    size = path.stat().st_size
    removed = drop_last_video_sample(path)
    assert removed == pytest.approx(1 / FPS, abs=1e-6)  # the last frame's duration
    assert path.stat().st_size < size
    # Every frame left decodes; audio is untouched; the span lost exactly that frame.
    assert decode(path) == (47, 47, sound)
    assert video_fragment_span(path) == pytest.approx(span - removed, abs=1e-6)
    assert not last_frame_damaged(path)


def test_fragment_of_one_frame_is_removed(tmp_path: Path) -> None:
    """A last fragment holding only the cut frame goes, with the mfra index after it."""
    path = make(tmp_path / "seg.mp4", 2.0 + 1 / FPS, audio=False)
    kinds = [box.kind for box in top_level_boxes(path)]
    assert kinds[-1] == b"mfra"  # ffmpeg indexes the fragments at the end
    cut = tmp_path / "cut.mp4"
    # Without the mfra, as ffmpeg leaves a segment it could not finish.
    path.write_bytes(path.read_bytes()[: top_level_boxes(path)[-1].offset])
    path.rename(cut)
    before = decode(cut)
    assert before[0] == 31
    assert drop_last_video_sample(cut) == pytest.approx(1 / FPS, abs=1e-6)
    assert [box.kind for box in top_level_boxes(cut)].count(b"moof") == 2
    assert decode(cut) == (30, 30, 0)


def test_nothing_to_drop_and_odd_files(tmp_path: Path) -> None:
    init_only = make(tmp_path / "a.mp4", 1.0, audio=False)
    moof = next(box for box in top_level_boxes(init_only) if box.kind == b"moof")
    init_only.write_bytes(init_only.read_bytes()[: moof.offset])
    assert drop_last_video_sample(init_only) == 0.0
    assert video_fragment_span(init_only) is None
    not_mp4 = tmp_path / "b.mp4"
    not_mp4.write_bytes(b"\0" * 64)
    with pytest.raises(Mp4Error):
        drop_last_video_sample(not_mp4)


def test_last_gop_stands_alone_and_damage_before_the_last_frame_is_not_cut(
    tmp_path: Path,
) -> None:
    """The last group of pictures decodes alone; a frame damaged before the last is kept."""
    path = make(tmp_path / "seg.mp4", 3.2, audio=True)
    gop = last_gop(path)
    assert gop is not None
    data, frames = gop
    assert frames == 48 - 45  # keyframes every 15 frames: the last GOP holds 3
    alone = tmp_path / "gop.mp4"
    alone.write_bytes(data)
    assert decode(alone)[:2] == (3, 3)
    # The camera damaged the frame before the last (garbage): not ours to cut.
    earlier = make(tmp_path / "earlier.mp4", 3.2, audio=False)
    cut_last_frame(earlier, from_end=2)
    with pytest.raises(av.error.InvalidDataError):
        decode(earlier)
    assert not last_frame_damaged(earlier)
