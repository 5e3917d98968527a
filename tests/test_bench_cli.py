"""scripts/bench: every section module is registered, and the command line parses and lists.

No benchmark runs here (the sections take minutes and most need the simulator).
"""

from __future__ import annotations

import importlib
from pathlib import Path
import pkgutil
import re
import subprocess
import sys

import pytest

from scripts import benchmarks
from scripts.benchmarks import cli, registry

REPO = Path(__file__).resolve().parent.parent
ENTRY = REPO / "scripts" / "bench"
NOT_SECTIONS = {
    "__main__",
    "cli",
    "common",
    "ha_side",
    "pyav_recorder",
    "registry",
    "supervisor_side",
}


def test_every_section_module_is_registered_once() -> None:
    modules = {info.name for info in pkgutil.iter_modules(benchmarks.__path__)} - NOT_SECTIONS
    assert {"cpu", "export", "memory_soak", "access", "chaos", "durability"} <= modules
    for name in modules:
        module = importlib.import_module(f"scripts.benchmarks.{name}")
        assert registry.SECTIONS.count(module.SECTION) == 1, name
    assert len(registry.SECTIONS) == len(modules)
    numbers = [section.number for section in registry.SECTIONS]
    assert sorted(numbers, key=int) == [str(n) for n in range(1, len(numbers) + 1)]
    aliases = [section.alias for section in registry.SECTIONS]
    assert len(set(aliases)) == len(aliases)
    for section in registry.SECTIONS:
        assert section.title.startswith(f"{section.number} ")
        assert not section.alias.isdigit()


def test_each_section_works_in_its_own_folder() -> None:
    """A section's files go to work/s<its number>: two sharing one refused to start."""
    modules = {info.name for info in pkgutil.iter_modules(benchmarks.__path__)} - NOT_SECTIONS
    for name in modules:
        module = importlib.import_module(f"scripts.benchmarks.{name}")
        folders = set(re.findall(r'bench\.work / "s(\d+)"', Path(module.__file__).read_text()))
        assert folders <= {module.SECTION.number}, name  # none: it keeps no files (cached)


def test_run_order_keeps_the_simulator_sections_together() -> None:
    """The simulator is stopped before a section without it: none needs it again after."""
    needs = [section.simulator for section in registry.SECTIONS]
    assert needs == sorted(needs, reverse=True)
    assert {s.number for s in registry.SECTIONS if s.beside} == {"4", "7"}
    # The long soaks (chaos, durability) and the browser run only when asked for.
    assert {s.number for s in registry.SECTIONS if not s.default} == {"9", "10", "14"}


def test_sections_by_number_or_alias() -> None:
    assert cli.DEFAULT_SECTIONS == "1,2,3,4,5,6,7,8,11,12,13"
    assert cli.parse_sections("index,export") == {"4", "5"}
    assert cli.parse_sections("chaos,durability") == {"9", "10"}
    assert cli.parse_sections("all") == set(cli.NUMBERS)
    assert cli.parse_sections("1, LAG,soak") == {"1", "6", "7"}
    assert cli.parse_sections("browser") == {"14"}
    assert cli.parse_sections(cli.DEFAULT_SECTIONS) == set(cli.NUMBERS) - {"9", "10", "14"}
    with pytest.raises(ValueError, match=r"unknown section 'nope' \(use 1, 2, .* or cpu, "):
        cli.parse_sections("2,nope")


def test_rows_sort_by_section_number() -> None:
    rows = [
        ("10 Later", "a", "", ""),
        ("2 Concurrent cameras", "b", "", ""),
        ("", "simulator", "", ""),
        ("7 (child)", "all", "", ""),
        ("1 CPU / camera-minute", "c", "", ""),
    ]
    rows.sort(key=cli.row_order)
    assert [row[1] for row in rows] == ["simulator", "c", "b", "all", "a"]
    assert cli.beside_note() == "sections 4 and 7 ran in child processes beside the others"


def test_list_prints_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["1", "cpu"],
        ["2", "concurrent"],
        ["3", "snapshot"],
        ["4", "index"],
        ["5", "export"],
        ["6", "lag"],
        ["7", "soak"],
        ["8", "access"],
        ["9", "chaos"],
        ["10", "durability"],
        ["11", "cloud"],
        ["12", "transcode"],
        ["13", "push"],
        ["14", "browser"],
    ]
    assert len(lines) == len(registry.SECTIONS)
    assert lines[3].endswith("4 Index queries (no simulator, child process beside the others)")
    assert lines[8].endswith("9 Chaos soak (no simulator, not in the default run)")
    assert lines[9].endswith("10 Index durability (not in the default run)")
    assert lines[13].endswith("14 Browser latency (not in the default run)")


def test_help_and_unknown_sections(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    helped = capsys.readouterr().out
    for text in ("--quick", "--sections", "--workdir", "--list", "cpu=1", "index=4", "soak=7"):
        assert text in helped
    with pytest.raises(SystemExit) as exited:
        cli.main(["--sections", "1,nope", "--quick"])
    assert exited.value.code == 2
    refused = capsys.readouterr()
    assert "unknown section 'nope'" in refused.err
    assert not refused.out


def test_the_command_runs_the_package() -> None:
    """scripts/bench itself (a small entry that imports the package) lists the sections."""
    listed = subprocess.run(
        [sys.executable, str(ENTRY), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == cli.section_list() + "\n"
