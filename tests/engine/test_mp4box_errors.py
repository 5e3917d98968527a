"""Error and rare paths of the pure-Python MP4 box tooling (engine/mp4box.py).

No mocks: every case starts from a real file written by ffmpeg, then bytes are
rewritten with ``struct`` (64-bit box headers, version-1 headers, renamed or cut
boxes...). Where a rewrite is meant to stay a valid file, PyAV or ffprobe reads
it back to prove the crafted bytes are sound before mp4box is judged on them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import re
import struct

import av
import pytest

from custom_components.cctv_nvr.engine import mp4box
from custom_components.cctv_nvr.engine.mp4box import Box, Mp4Error, iter_boxes
from tests.engine.helpers import box, ffprobe, large_box, run_ffmpeg

_TIMESCALE = 10240  # what ffmpeg picks for a 10 fps video track
_FRAMES = 20
_BIG_SHIFT = 1_000_000.0  # seconds: pushes a 32-bit tfdt past 2**32 ticks
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"moof", b"traf"})


def _fragmented(tmp_path: Path, name: str, movflags: str) -> Path:
    """A 2 s, 10 fps H.264 fragmented file: one fragment per second (keyframe)."""
    path = tmp_path / name
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-t", "2",
        "-c:v", "libx264", "-g", "10", "-movflags", movflags, str(path),
    )  # fmt: skip
    return path


def _flat(tmp_path: Path, name: str, *maps: str) -> Path:
    """A 1 s plain (moov at the end) file with an AAC track and an H.264 track."""
    path = tmp_path / name
    run_ffmpeg(
        "-f", "lavfi", "-i", "sine=duration=1", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10",
        *maps, "-t", "1", "-c:v", "libx264", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def _rebuild(data: bytes, node: Box, edit: Callable[[bytes, bytes], bytes | None]) -> bytes:
    """Copy a box tree, letting ``edit(kind, whole_box)`` replace any box; resize parents."""
    if node.kind not in _CONTAINERS:
        raw = data[node.offset : node.end]
        return edit(node.kind, raw) or raw
    body = b"".join(_rebuild(data, child, edit) for child in iter_boxes(data, node.body, node.end))
    rebuilt = box(node.kind, body)
    return edit(node.kind, rebuilt) or rebuilt


def _find_all(data: bytes, kind: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    """Every box of ``kind`` in a tree, depth first."""
    found = []
    for node in iter_boxes(data, start, end):
        if node.kind == kind:
            found.append(node)
        if node.kind in _CONTAINERS:
            found.extend(_find_all(data, kind, node.body, node.end))
    return found


def _to_version_1(raw: bytes) -> bytes:
    """An mvhd/mdhd of version 0 rewritten as version 1 (64-bit times and duration)."""
    header = 8
    flags = raw[header + 1 : header + 4]
    created, modified, timescale, duration = struct.unpack_from(">IIII", raw, header + 4)
    rest = raw[header + 20 :]
    body = struct.pack(">B3sQQIQ", 1, flags, created, modified, timescale, duration) + rest
    return box(raw[4:8], body)


def _rewrite_moov(path: Path, out: Path, edit: Callable[[bytes, bytes], bytes | None]) -> None:
    """Write ``path`` to ``out`` with its moov rebuilt (the moov must be the last box)."""
    data = path.read_bytes()
    moov = next(b for b in iter_boxes(data) if b.kind == b"moov")
    assert moov.end == len(data), "only a trailing moov can grow without moving chunk offsets"
    out.write_bytes(data[: moov.offset] + _rebuild(data, moov, edit))


def _craft_fragments(
    path: Path,
    out: Path,
    *,
    large_moof: bool = False,
    large_traf: bool = False,
    tfdt_v0: bool = False,
    drop_tfhd: bool = False,
) -> None:
    """Rewrite every moof of a default-base-is-moof file, keeping trun offsets right.

    ``large_moof``/``large_traf``: 64-bit box headers; ``tfdt_v0``: tfdt becomes
    version 0; ``drop_tfhd``: the tfhd is renamed to a free box.
    """
    data = path.read_bytes()
    result = bytearray()
    for top in iter_boxes(data):
        if top.kind != b"moof":
            result += data[top.offset : top.end]
            continue
        parts = []
        for child in iter_boxes(data, top.body, top.end):
            raw = data[child.offset : child.end]
            if child.kind == b"traf":
                traf_parts = []
                for part in iter_boxes(data, child.body, child.end):
                    piece = data[part.offset : part.end]
                    if part.kind == b"tfdt" and tfdt_v0:
                        assert piece[8] == 1  # ffmpeg writes a version-1 tfdt
                        value = struct.unpack_from(">Q", piece, 12)[0]
                        piece = box(b"tfdt", b"\0\0\0\0" + struct.pack(">I", value))
                    elif part.kind == b"tfhd" and drop_tfhd:
                        piece = box(b"free", piece[8:])
                    traf_parts.append(piece)
                body = b"".join(traf_parts)
                raw = large_box(b"traf", body) if large_traf else box(b"traf", body)
            parts.append(raw)
        body = b"".join(parts)
        moof = bytearray(large_box(b"moof", body) if large_moof else box(b"moof", body))
        growth = len(moof) - top.size
        for trun in _find_all(bytes(moof), b"trun"):
            assert moof[trun.body + 3] & 0x01  # data offset present, relative to the moof
            (offset,) = struct.unpack_from(">i", moof, trun.body + 8)
            struct.pack_into(">i", moof, trun.body + 8, offset + growth)
        result += moof
    out.write_bytes(bytes(result))


def _packets(path: Path) -> list[tuple[int, bytes]]:
    """(dts, payload) of every video packet, as ffmpeg's own demuxer reads them."""
    with av.open(str(path)) as container:
        return [
            (packet.dts, bytes(packet))
            for packet in container.demux(video=0)
            if packet.size and packet.dts is not None
        ]


def _tfdt_values(media: bytes) -> list[tuple[int, int]]:
    """(version, baseMediaDecodeTime) of every tfdt in a run of moof/mdat boxes."""
    values = []
    for tfdt in _find_all(media, b"tfdt"):
        version = media[tfdt.body]
        fmt, size = (">Q", 8) if version == 1 else (">I", 4)
        assert tfdt.size == tfdt.header + 4 + size
        values.append((version, struct.unpack_from(fmt, media, tfdt.body + 4)[0]))
    return values


def test_parse_moov_rejects_other_boxes(tmp_path: Path) -> None:
    """Bytes that do not start with a moov box are refused."""
    path = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    data = path.read_bytes()
    ftyp = iter_boxes(data)[0]
    with pytest.raises(Mp4Error, match="not a moov box"):
        mp4box.parse_moov(data[ftyp.offset : ftyp.end])
    with pytest.raises(Mp4Error, match="not a moov box"):
        mp4box.parse_moov(b"")
    moov = next(b for b in iter_boxes(data) if b.kind == b"moov")
    assert mp4box.parse_moov(data[moov.offset : moov.end])[0] == {1: _TIMESCALE}


def test_track_without_mdia_is_skipped(tmp_path: Path) -> None:
    """A trak without mdia has no timescale and is passed over when looking for video."""
    # Audio first (track 1), video second (track 2).
    path = _flat(tmp_path, "flat.mp4", "-map", "0:a", "-map", "1:v")
    moov = next(b for b in mp4box.top_level_boxes(path) if b.kind == b"moov")
    data = path.read_bytes()
    timescales, digest = mp4box.parse_moov(data[moov.offset : moov.end])
    assert timescales == {1: 44100, 2: _TIMESCALE}
    # Rename the audio track's mdia to free (same size, so nothing else moves).
    audio_mdia = _find_all(data, b"mdia", moov.offset, moov.end)[0]
    broken = bytearray(data)
    broken[audio_mdia.offset + 4 : audio_mdia.offset + 8] = b"free"
    mutated = tmp_path / "no_mdia.mp4"
    mutated.write_bytes(bytes(broken))
    timescales_after, digest_after = mp4box.parse_moov(bytes(broken[moov.offset : moov.end]))
    assert timescales_after == {2: _TIMESCALE}
    assert digest_after != digest  # the audio sample description went with the mdia
    assert mp4box.video_duration(path) == pytest.approx(1.0)
    assert mp4box.video_duration(mutated) == pytest.approx(1.0)


def test_version_1_duration_headers(tmp_path: Path) -> None:
    """mvhd and mdhd of version 1 (64-bit times) give the same durations as version 0."""
    path = _flat(tmp_path, "flat.mp4")
    assert mp4box.movie_duration(path) == pytest.approx(1.0, abs=0.05)
    assert mp4box.video_duration(path) == pytest.approx(1.0)
    v1 = tmp_path / "v1.mp4"
    _rewrite_moov(
        path, v1, lambda kind, raw: _to_version_1(raw) if kind in {b"mvhd", b"mdhd"} else None
    )
    data = v1.read_bytes()
    headers = _find_all(data, b"mvhd") + _find_all(data, b"mdhd")
    assert len(headers) == 3
    assert all(data[h.body] == 1 for h in headers)
    # ffprobe still reads the rewritten file, and agrees on the duration.
    assert float(ffprobe(v1)["format"]["duration"]) == pytest.approx(
        float(ffprobe(path)["format"]["duration"]), abs=0.01
    )
    assert mp4box.movie_duration(v1) == mp4box.movie_duration(path)
    assert mp4box.video_duration(v1) == pytest.approx(1.0)


def test_unusable_or_missing_durations(tmp_path: Path) -> None:
    """Zero/unknown durations, a zero timescale, no moov, no video track: None."""
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    # An empty moov declares duration 0.
    assert mp4box.movie_duration(frag) is None
    assert mp4box.video_duration(frag) is None

    flat = _flat(tmp_path, "flat.mp4")
    assert mp4box.movie_duration(flat) is not None

    def mvhd_field(offset: int, value: int) -> Callable[[bytes, bytes], bytes | None]:
        def edit(kind: bytes, raw: bytes) -> bytes | None:
            if kind != b"mvhd":
                return None
            changed = bytearray(raw)
            struct.pack_into(">I", changed, 8 + offset, value)
            return bytes(changed)

        return edit

    no_timescale = tmp_path / "no_timescale.mp4"
    _rewrite_moov(flat, no_timescale, mvhd_field(12, 0))
    assert mp4box.movie_duration(no_timescale) is None
    unknown = tmp_path / "unknown.mp4"
    _rewrite_moov(flat, unknown, mvhd_field(16, 0xFFFFFFFF))
    assert mp4box.movie_duration(unknown) is None
    assert mp4box.video_duration(unknown) == pytest.approx(1.0)  # mdhd untouched

    # No moov at all: only ftyp and mdat.
    data = flat.read_bytes()
    moov = next(b for b in iter_boxes(data) if b.kind == b"moov")
    headless = tmp_path / "headless.mp4"
    headless.write_bytes(data[: moov.offset])
    assert mp4box.movie_duration(headless) is None
    assert mp4box.video_duration(headless) is None

    audio = tmp_path / "audio.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(audio))
    assert mp4box.movie_duration(audio) == pytest.approx(1.0, abs=0.05)
    assert mp4box.video_duration(audio) is None


def test_moov_too_large(tmp_path: Path) -> None:
    """A moov over the 16 MiB cap is refused without being read."""
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    data = frag.read_bytes()
    boxes = iter_boxes(data)
    ftyp = boxes[0]
    first_moof = next(b for b in boxes if b.kind == b"moof")
    huge = tmp_path / "huge.mp4"
    moov_size = 16 * 1024 * 1024 + 8
    with huge.open("wb") as handle:
        handle.write(data[ftyp.offset : ftyp.end])
        handle.write(struct.pack(">I4s", moov_size, b"moov"))
        handle.seek(ftyp.end + moov_size)  # a sparse hole: the body is never read
        handle.write(data[first_moof.offset :])
    kinds = [b.kind for b in mp4box.top_level_boxes(huge)]
    assert kinds[:3] == [b"ftyp", b"moov", b"moof"]
    with pytest.raises(Mp4Error, match=re.escape("huge.mp4: moov box too large")):
        mp4box.layout(huge)
    assert mp4box.movie_duration(huge) is None
    assert mp4box.video_duration(huge) is None


def test_layout_without_a_complete_fragment(tmp_path: Path) -> None:
    """A moof whose mdat is missing or cut is not a fragment."""
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    data = frag.read_bytes()
    boxes = iter_boxes(data)
    moof = next(b for b in boxes if b.kind == b"moof")
    mdat = next(b for b in boxes if b.kind == b"mdat")
    assert mdat.offset == moof.end
    whole = mp4box.layout(frag)
    assert (whole.init_end, whole.media_end) == (moof.offset, len(data))
    for name, end in (("moof_only.mp4", moof.end), ("cut.mp4", mdat.offset + mdat.size // 2)):
        path = tmp_path / name
        path.write_bytes(data[:end])
        with pytest.raises(Mp4Error, match=re.escape(f"{name} holds no complete fragment")):
            mp4box.layout(path)


def test_shift_rejects_broken_media(tmp_path: Path) -> None:
    """Cut media, an unknown track id, a traf without tfhd and an empty traf are errors."""
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    file_layout = mp4box.layout(frag)
    media = mp4box.read_media(frag, file_layout)
    assert len(mp4box.shift_fragments(media, file_layout.timescales, 1.0)) == len(media)
    with pytest.raises(Mp4Error, match="media part ends inside a box"):
        mp4box.shift_fragments(media[:-10], file_layout.timescales, 1.0)
    with pytest.raises(Mp4Error, match="fragment of unknown track 1"):
        mp4box.shift_fragments(media, {2: 90000}, 1.0)

    no_tfhd = tmp_path / "no_tfhd.mp4"
    _craft_fragments(frag, no_tfhd, drop_tfhd=True)
    assert no_tfhd.stat().st_size == frag.stat().st_size
    with pytest.raises(Mp4Error, match="traf without tfhd"):
        mp4box.shifted_media(no_tfhd, mp4box.layout(no_tfhd), 1.0)

    # Not reachable through shift_fragments (a traf cut out of a whole moof is always
    # a whole box), so the per-traf function is given a broken box directly.
    broken = bytearray(struct.pack(">I4s", 4, b"traf"))
    with pytest.raises(Mp4Error, match="broken traf box"):
        mp4box._shift_traf(broken, file_layout.timescales, 1.0, 0, first=True)


def test_negative_decode_times(tmp_path: Path) -> None:
    """Moving a fragment before zero fails, for version-1 and version-0 tfdt alike."""
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    file_layout = mp4box.layout(frag)
    media = mp4box.read_media(frag, file_layout)
    assert [v for v, _ in _tfdt_values(media)] == [1, 1]
    with pytest.raises(Mp4Error, match="negative decode time"):
        mp4box.shift_fragments(media, file_layout.timescales, -0.5)

    v0 = tmp_path / "v0.mp4"
    _craft_fragments(frag, v0, tfdt_v0=True)
    assert _packets(v0) == _packets(frag)  # still a sound file
    v0_layout = mp4box.layout(v0)
    v0_media = mp4box.read_media(v0, v0_layout)
    assert _tfdt_values(v0_media) == [(0, 0), (0, _TIMESCALE)]
    with pytest.raises(Mp4Error, match="negative decode time"):
        mp4box.shift_fragments(v0_media, v0_layout.timescales, -0.5)
    # Back to exactly zero is allowed.
    moved = mp4box.shift_fragments(v0_media, v0_layout.timescales, 1.0)
    back = mp4box.shift_fragments(moved, v0_layout.timescales, -1.0)
    assert _tfdt_values(back) == [(0, 0), (0, _TIMESCALE)]


def _sample_pointers_hit_mdat(media: bytes) -> bool:
    """Each moof's first trun data offset (counted from the moof) lands on its mdat body."""
    boxes = iter_boxes(media)
    hits = []
    for index, moof in enumerate(boxes):
        if moof.kind != b"moof":
            continue
        mdat = boxes[index + 1]
        trun = _find_all(media, b"trun", moof.offset, moof.end)[0]
        offset = struct.unpack_from(">i", media, trun.body + 8)[0]
        hits.append(mdat.kind == b"mdat" and moof.offset + offset == mdat.body)
    return bool(hits) and all(hits)


def _mdat_payloads(media: bytes) -> list[bytes]:
    return [media[b.body : b.end] for b in iter_boxes(media) if b.kind == b"mdat"]


def test_shift_keeps_64_bit_traf_headers(tmp_path: Path) -> None:
    """A traf with a 64-bit header is shifted in place; ffmpeg reads the result alike."""
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    large = tmp_path / "large_traf.mp4"
    _craft_fragments(frag, large, large_traf=True, tfdt_v0=True)
    original = _packets(frag)
    assert len(original) == _FRAMES
    assert _packets(large) == original  # ffmpeg reads the crafted file the same

    file_layout = mp4box.layout(large)
    shifted = mp4box.shifted_media(large, file_layout, _BIG_SHIFT)
    for moof in (b for b in iter_boxes(shifted) if b.kind == b"moof"):
        assert moof.header == 8
        trafs = [b for b in iter_boxes(shifted, moof.body, moof.end) if b.kind == b"traf"]
        assert [t.header for t in trafs] == [16]
        assert struct.unpack_from(">I", shifted, trafs[0].offset)[0] == 1
    ticks = round(_BIG_SHIFT * _TIMESCALE)
    # The v0 tfdt outgrew 32 bits: it became version 1 (traf and moof grew by 4).
    assert _tfdt_values(shifted) == [(1, ticks), (1, _TIMESCALE + ticks)]
    assert _sample_pointers_hit_mdat(shifted)

    out = tmp_path / "shifted.mp4"
    out.write_bytes(mp4box.read_init(large, file_layout) + shifted)
    moved = _packets(out)
    assert [payload for _, payload in moved] == [payload for _, payload in original]
    assert moved[0][0] - original[0][0] == ticks


def test_shift_keeps_64_bit_moof_headers(tmp_path: Path) -> None:
    """A moof with a 64-bit header keeps it, and its sample pointers stay on the mdat.

    Checked on the bytes rather than with ffmpeg: ffmpeg's demuxer takes every moof
    to start 8 bytes before its payload, so it misreads a 64-bit moof header.
    """
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    large = tmp_path / "large_moof.mp4"
    _craft_fragments(frag, large, large_moof=True, large_traf=True, tfdt_v0=True)
    file_layout = mp4box.layout(large)
    media = mp4box.read_media(large, file_layout)
    assert _sample_pointers_hit_mdat(media)
    source_payloads = _mdat_payloads(media)
    assert source_payloads == _mdat_payloads(mp4box.read_media(frag, mp4box.layout(frag)))

    shifted = mp4box.shifted_media(large, file_layout, _BIG_SHIFT)
    moofs = [b for b in iter_boxes(shifted) if b.kind == b"moof"]
    assert len(moofs) == 2
    for moof in moofs:
        assert moof.header == 16
        assert struct.unpack_from(">I4sQ", shifted, moof.offset) == (1, b"moof", moof.size)
        trafs = [b for b in iter_boxes(shifted, moof.body, moof.end) if b.kind == b"traf"]
        assert [t.header for t in trafs] == [16]
    ticks = round(_BIG_SHIFT * _TIMESCALE)
    assert _tfdt_values(shifted) == [(1, ticks), (1, _TIMESCALE + ticks)]
    assert len(shifted) == len(media) + 2 * 4
    assert _sample_pointers_hit_mdat(shifted)
    assert _mdat_payloads(shifted) == source_payloads


def test_shift_rebases_explicit_base_data_offsets(tmp_path: Path) -> None:
    """Without default-base-is-moof, the tfhd base data offsets follow the moved bytes."""
    path = _fragmented(tmp_path, "explicit.mp4", "frag_keyframe+empty_moov")
    data = path.read_bytes()
    tfhds = _find_all(data, b"tfhd")
    assert tfhds
    for tfhd in tfhds:
        assert data[tfhd.body + 3] & 0x01  # ffmpeg wrote an explicit base data offset
    original = _packets(path)
    assert len(original) == _FRAMES
    file_layout = mp4box.layout(path)
    ticks = round(_BIG_SHIFT * _TIMESCALE)

    def check_offsets(out: bytes, base_of_out: int) -> None:
        """Each traf's base + trun offset lands on its mdat's first byte."""
        boxes = iter_boxes(out)
        for index, moof in enumerate(boxes):
            if moof.kind != b"moof":
                continue
            mdat = boxes[index + 1]
            assert mdat.kind == b"mdat"
            tfhd = _find_all(out, b"tfhd", moof.offset, moof.end)[0]
            trun = _find_all(out, b"trun", moof.offset, moof.end)[0]
            base = struct.unpack_from(">Q", out, tfhd.body + 8)[0]
            offset = struct.unpack_from(">i", out, trun.body + 8)[0]
            assert base + offset - base_of_out == mdat.body

    # The media part alone: offsets count from the start of the returned bytes.
    shifted = mp4box.shifted_media(path, file_layout, _BIG_SHIFT)
    assert len(shifted) == file_layout.media_end - file_layout.init_end  # tfdt already v1
    check_offsets(shifted, 0)
    assert _tfdt_values(shifted) == [(1, ticks), (1, _TIMESCALE + ticks)]

    # The whole file shifted in one go is a playable file with the same samples.
    whole = mp4box.shift_fragments(data, file_layout.timescales, _BIG_SHIFT)
    check_offsets(whole, 0)
    out = tmp_path / "whole_shifted.mp4"
    out.write_bytes(whole)
    moved = _packets(out)
    assert [payload for _, payload in moved] == [payload for _, payload in original]
    assert moved[0][0] - original[0][0] == ticks


def test_layout_of_plain_file_and_zero_shift(tmp_path: Path) -> None:
    """A plain (unfragmented) file is refused; a zero shift returns the media untouched."""
    flat = _flat(tmp_path, "flat.mp4")
    with pytest.raises(Mp4Error, match=re.escape("flat.mp4 is not a fragmented MP4")):
        mp4box.layout(flat)
    frag = _fragmented(tmp_path, "frag.mp4", "frag_keyframe+empty_moov+default_base_moof")
    file_layout = mp4box.layout(frag)
    media = mp4box.read_media(frag, file_layout)
    assert mp4box.shifted_media(frag, file_layout, 0.0) == media
    assert _tfdt_values(mp4box.shifted_media(frag, file_layout, 1.0)) == [
        (1, _TIMESCALE),
        (1, 2 * _TIMESCALE),
    ]
