"""The engine stands alone: it imports nothing of Home Assistant and nothing outside itself.

Checked twice: statically (every import statement of engine/) and for real (a fresh Python
imports every engine module as a top-level package with Home Assistant made unimportable,
then lists the third-party modules that got loaded).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
import subprocess
import sys

ENGINE = Path(__file__).resolve().parents[2] / "custom_components" / "cctv_nvr" / "engine"
# Third-party packages the engine may use (besides the standard library): PyAV, and for the
# cloud tier (engine/gcs.py only) google-cloud-storage with google-auth, google-api-core,
# google-crc32c, and requests (which resumable chunks are sent with).
ALLOWED_THIRD_PARTY = {"av", "google", "google_crc32c", "requests"}
# What importing google-cloud-storage and requests loads on their own (their dependencies).
LOADED_BY_THEM = {
    "bcrypt",
    "certifi",
    "charset_normalizer",
    "cryptography",
    "grpc",
    "idna",
    "opentelemetry",
    "typing_extensions",
    "urllib3",
    "proto",
    "pyasn1",
    "pyasn1_modules",
    "rsa",
    "cachetools",
}


def _modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(ENGINE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in ENGINE.rglob("*.py")
    )


def test_engine_imports_only_itself_the_stdlib_and_av() -> None:
    """No import statement in engine/ reaches Home Assistant or the integration around it."""
    bad = []
    for path in sorted(ENGINE.rglob("*.py")):
        depth = (
            len(path.relative_to(ENGINE).parts) - 1
        )  # 0 for engine/x.py, 1 for engine/index/x.py
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.level > depth + 1:  # climbs out of engine/
                    bad.append(f"{path.name}:{node.lineno} from {'.' * node.level}{node.module}")
                continue
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ALLOWED_THIRD_PARTY:
                    bad.append(f"{path.name}:{node.lineno} import {name}")
    assert not bad, f"engine/ imports outside itself: {bad}"


def test_engine_imports_without_home_assistant() -> None:
    """A fresh interpreter imports every engine module with homeassistant unimportable."""
    code = f"""
import json, sys
sys.modules["homeassistant"] = None  # any import of it fails
sys.modules["custom_components"] = None
sys.path.insert(0, {str(ENGINE.parent)!r})
import importlib
before = set(sys.modules)
for name in {_modules()!r}:
    importlib.import_module(name)
new = {{m.split(".")[0] for m in set(sys.modules) - before}}
# Compiled helpers of av (Cython runtime modules) start with an underscore or "cython".
print(json.dumps(sorted(
    m for m in new
    if m not in sys.stdlib_module_names and not m.startswith(("_", "cython"))
)))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    third_party = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "engine" in third_party
    assert third_party - {"engine"} <= ALLOWED_THIRD_PARTY | LOADED_BY_THEM, third_party
