"""kill -9 of the Home Assistant side while segments are being indexed, 5 times.

The loop is the bench's (scripts/benchmarks/durability.py, section 10, which runs it 50
times): a child process records four cameras into one index with 2 s segments and is
killed with SIGKILL mid-stream; the start-up that follows must find an index that needs
no recovery, passes ``PRAGMA integrity_check`` and, after the recorders' reconcile,
equals the files on disk.
"""

from __future__ import annotations

from pathlib import Path

from scripts.benchmarks.durability import CAMERAS, kill_loop
from tests.simulator import CameraSimulator


async def test_kill_minus_nine_while_indexing(simulator: CameraSimulator, tmp_path: Path) -> None:
    outcome = await kill_loop(tmp_path, simulator.url("sub"), kills=5, seed=12)
    assert outcome.kills == 5
    assert outcome.recovered == 0
    assert outcome.integrity_failures == []
    assert outcome.disagreements == []
    # The killed side's ffmpeg recorded on, orphaned; each start-up ended them.
    assert outcome.orphans >= 5
    assert outcome.leftovers == 0
    # Every kill landed while the recorders were indexing, and footage accumulated.
    assert all(1.0 <= delay <= 5.0 for delay in outcome.killed_after)
    assert outcome.segments >= 5 * CAMERAS
