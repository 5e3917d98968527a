"""The stitched export's byte copy: reserved output, short sources, no fallocate.

Real files throughout; the one monkeypatch (another platform) stands in for an
operating system this machine is not.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys

import pytest

from custom_components.cctv_nvr.engine import export as export_module
from custom_components.cctv_nvr.engine.export import ExportError


def test_copy_appends_the_range_in_buffer_sized_pieces(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    data = os.urandom(10_000)
    source.write_bytes(data)
    out = tmp_path / "out.bin"
    src = os.open(source, os.O_RDONLY)
    dst = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        export_module._preallocate(dst, 9_000)
        assert os.fstat(dst).st_size == 0  # reserved, the length unchanged
        export_module._copy(src, dst, 1_000, 9_000, memoryview(bytearray(4096)))
    finally:
        os.close(src)
        os.close(dst)
    assert out.read_bytes() == data[1_000:]


def test_a_source_shorter_than_its_fragments_say_fails_the_write(tmp_path: Path) -> None:
    source = tmp_path / "short.bin"
    source.write_bytes(b"x" * 100)
    out = tmp_path / "out.bin"
    src = os.open(source, os.O_RDONLY)
    dst = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(ExportError) as err:
            export_module._copy(src, dst, 50, 200, memoryview(bytearray(64)))
    finally:
        os.close(src)
        os.close(dst)
    assert err.value.reason == "write_failed"


def test_without_fallocate_nothing_is_reserved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_module._fallocate.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        assert export_module._fallocate() is None
        out = tmp_path / "out.bin"
        fd = os.open(out, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            export_module._preallocate(fd, 1_000_000)  # no call, no error
            assert os.fstat(fd).st_blocks == 0
        finally:
            os.close(fd)
    finally:
        export_module._fallocate.cache_clear()
