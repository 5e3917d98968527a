"""One source of strings: translations/en.json is generated from strings.json, and every
translation key the code raises or shows exists there; no user-facing error is untranslated."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path
import sys
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
INTEGRATION = ROOT / "custom_components" / "cctv_nvr"
# Errors that reach the user: raised with a translation key, never with a bare message.
USER_ERRORS = {
    "HomeAssistantError",
    "ServiceValidationError",
    "BrowseError",
    "Unresolvable",
    "UpdateFailed",
    "ConfigEntryAuthFailed",
    "ConfigEntryNotReady",
    "ConfigEntryError",
}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_loader(
        "translations_script",
        importlib.machinery.SourceFileLoader(
            "translations_script", str(ROOT / "scripts" / "translations")
        ),
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _strings() -> dict:  # type: ignore[type-arg]
    return json.loads((INTEGRATION / "strings.json").read_text(encoding="utf-8"))


def _sources() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(INTEGRATION.rglob("*.py"))
    ]


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def test_english_translation_is_generated_from_strings() -> None:
    """translations/en.json is exactly what scripts/translations makes of strings.json."""
    rendered = _script().render()
    current = (INTEGRATION / "translations" / "en.json").read_text(encoding="utf-8")
    assert current == rendered, "translations/en.json is stale: run scripts/translations"


def test_every_translation_key_in_the_code_exists() -> None:
    """Exceptions, issues and entities name keys that strings.json has."""
    strings = _strings()
    known = set(strings["exceptions"]) | set(strings["issues"]) | set(strings["selector"])
    for platform in strings["entity"].values():
        known |= set(platform)
    missing = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            keys: list[ast.expr] = []
            if (isinstance(node, ast.keyword) and node.arg == "translation_key") or (
                isinstance(node, ast.Assign)
                and any(_name(target) == "_attr_translation_key" for target in node.targets)
            ):
                keys.append(node.value)
            elif isinstance(node, ast.Call) and _name(node.func) == "WsError" and node.args:
                keys.extend(node.args[1:2])
            elif isinstance(node, ast.Call) and _name(node.func) == "AccessDenied" and node.args:
                keys.extend(node.args[:1])
            missing.extend(
                f"{path.name}:{key.lineno} {key.value}"
                for key in keys
                if isinstance(key, ast.Constant) and key.value not in known
            )
    assert not missing, f"translation keys missing from strings.json: {missing}"
    # Keys built at run time (f"invalid_{key}") exist for every value they take.
    assert {"invalid_pre_roll", "invalid_post_roll"} <= set(strings["exceptions"])


def test_no_untranslated_user_errors() -> None:
    """No user-facing error is raised with a bare message instead of a translation key."""
    bare = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            call = node.exc
            if _name(call.func) not in USER_ERRORS:
                continue
            keywords = {keyword.arg for keyword in call.keywords}
            if "translation_key" not in keywords and None not in keywords:
                bare.append(f"{path.relative_to(INTEGRATION)}:{node.lineno}")
    assert not bare, f"user-facing errors without a translation key: {bare}"


def test_no_unused_exception_strings() -> None:
    """Every exception text of strings.json is used somewhere (no stale copies)."""
    used = set()
    for path in INTEGRATION.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        used |= {key for key in _strings()["exceptions"] if f'"{key}"' in text}
    unused = set(_strings()["exceptions"]) - used - {"invalid_pre_roll", "invalid_post_roll"}
    assert not unused, f"exception strings nobody raises: {sorted(unused)}"
