"""The panel's frontend: Vitest unit tests, the TypeScript check, and the committed bundle.

They run node from ``frontend/`` (``scripts/setup`` runs ``npm ci`` there). Without node they
are skipped on a developer's machine, and fail in CI (the ``CI`` environment variable set, as
CI services do): there a missing node must not pass as a green run.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import shutil
import subprocess

import pytest

from custom_components.cctv_nvr import websocket_api

ROOT = Path(__file__).resolve().parents[1]
FRONTEND = ROOT / "frontend"
BUNDLE = ROOT / "custom_components" / "cctv_nvr" / "frontend" / "cctv-panel.js"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _node_ready() -> None:
    if shutil.which("node") is None or shutil.which("npx") is None:
        message = "node/npx are not installed: the frontend cannot be built or tested here"
        if _in_ci():
            pytest.fail(f"{message} (CI is set: the panel's checks must run)")
        pytest.skip(message)
    if not (FRONTEND / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("frontend/node_modules is missing: run scripts/setup (npm ci in frontend/)")


def _npx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npx", "--no-install", *args],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_vitest_timeline_unit_tests() -> None:
    """`npx vitest run` passes (timeline logic, the camera view's state, the data wrappers)."""
    _node_ready()
    result = _npx("vitest", "run", "--reporter=verbose")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "the fall-back day has 25 hours" in output
    assert "a cursor leaving the view brings the view along" in output
    assert "wrappers send one message each" in output
    assert " failed" not in output.split("Tests", 1)[-1]


def test_typescript_type_check() -> None:
    """`tsc --noEmit` (strict, with the project's extra checks) finds nothing in src/ and test/."""
    _node_ready()
    result = _npx("tsc", "--noEmit")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "error TS" not in output


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


@pytest.mark.parametrize(("ci", "outcome"), [("true", "fail"), ("1", "fail"), ("", "skip")])
def test_missing_node_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: str
) -> None:
    """With no node on PATH the frontend checks skip locally but fail when CI is set."""
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no node, no npx
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="node/npx are not installed"):
        _node_ready()


def test_panel_wraps_exactly_the_websocket_commands() -> None:
    """src/data has a wrapper for each `cctv_nvr/*` command the integration registers, and the
    elements call Home Assistant only through src/data."""
    registered = {
        command._ws_command
        for command in vars(websocket_api).values()
        if callable(command) and hasattr(command, "_ws_command")
    }
    assert len(registered) == 18, registered
    data = FRONTEND / "src" / "data"
    wrapped = {
        match
        for source in data.glob("*.ts")
        for match in re.findall(r'type: "(cctv_nvr/[a-z_/]+)"', source.read_text(encoding="utf-8"))
    }
    assert wrapped == registered
    outside = [
        source.relative_to(FRONTEND).as_posix()
        for source in (FRONTEND / "src").rglob("*.ts")
        if data not in source.parents and "callWS" in source.read_text(encoding="utf-8")
    ]
    assert outside == []
