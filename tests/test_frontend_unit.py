"""The panel's frontend: Vitest unit tests of the timeline logic, and the committed bundle.

Both run node from ``frontend/`` (``scripts/setup`` runs ``npm ci`` there). They are skipped
only when node itself is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
BUNDLE = ROOT / "custom_components" / "cctv_nvr" / "frontend" / "cctv-panel.js"


def _node_ready() -> None:
    if shutil.which("node") is None or shutil.which("npx") is None:
        pytest.skip("node/npx are not installed: the frontend cannot be built or tested here")
    if not (FRONTEND / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("frontend/node_modules is missing: run scripts/setup (npm ci in frontend/)")


def test_vitest_timeline_unit_tests() -> None:
    """`npx vitest run` passes (gap/event layout, zoom, 23/24/25-hour days, ticks, playback)."""
    _node_ready()
    result = subprocess.run(
        ["npx", "vitest", "run", "--reporter=verbose"],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "the fall-back day has 25 hours" in output
    assert " failed" not in output.split("Tests", 1)[-1]


def test_committed_bundle_is_up_to_date(tmp_path: Path) -> None:
    """Building the sources again gives exactly the committed bundle, which defines cctv-panel."""
    _node_ready()
    fresh = tmp_path / "cctv-panel.js"
    result = subprocess.run(
        ["node", "build.mjs"],
        cwd=FRONTEND,
        env={**os.environ, "CCTV_PANEL_OUT": str(fresh)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    committed = BUNDLE.read_bytes()
    assert fresh.read_bytes() == committed, (
        "custom_components/cctv_nvr/frontend/cctv-panel.js is stale: "
        "run `npm ci && npm run build` in frontend/"
    )
    assert b'customElements.define("cctv-panel"' in committed
