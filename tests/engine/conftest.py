"""Fixtures of the engine tests (no Home Assistant): a fresh index per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from custom_components.cctv_nvr.engine.index import SegmentIndex


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SegmentIndex]:
    """A new, empty segment index in the test's folder."""
    idx = SegmentIndex(tmp_path / "index.db")
    yield idx
    idx.close()


def pytest_configure(config: pytest.Config) -> None:
    """Register the marks of the engine tests."""
    config.addinivalue_line(
        "markers", "limits(limits): IngestLimits for test_ingest.py's push fixture"
    )
