"""The benchmark behind scripts/bench: the recorder against the simulated camera.

    scripts/bench              # full run, about 12 min (sections 4 and 7 run beside the others)
    scripts/bench --quick      # about 1 min: short windows, 4 cameras, 200k-row index, 2-min export
    scripts/bench --list       # the sections; --sections 1,3 or --sections lag,soak runs some

Layout: common.py (constants, measuring helpers, the simulator, the Bench context a section
gets, the Section record, the table), one module per section, registry.py (the sections in
run order), cli.py (options, machine rows, running the sections, printing the table) and
pyav_recorder.py (the PyAV recorder section 1 runs as a separate process). The bench
imports only the engine (custom_components/cctv_nvr/engine), tests.simulator,
tests.gcs_emulator (section 11) and, for section 14, tests/e2e (Home Assistant as a process,
Chromium with hls.js: tests/e2e/chromium.py).

Sections: 1 cpu.py, 2 concurrent_cameras.py, 3 snapshot.py, 4 index_queries.py,
5 export.py, 6 loop_lag.py, 7 memory_soak.py, 8 access.py, 9 chaos.py, 10 durability.py,
11 cloud.py (the cloud tier against fake-gcs-server), 12 transcode.py, 13 push.py; each
module's docstring says what it measures. 9 and 10 (long soaks) run only when asked for
(--sections chaos,durability or --sections all).

Adding a section is adding one module and one line in registry.SECTIONS: the module defines
`async def run(bench: Bench) -> list[Row]` (quick/full sizes from bench.quick, the simulator
from `await bench.simulator()`, its files under bench.work / "s<number>"; raise to report
it failed) and `SECTION = Section(number, alias, title, run, simulator=..., beside=..., default=...)`.
The number orders its rows and starts its title; --sections, --help and --list pick it up.
"""
