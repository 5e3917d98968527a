"""The sections of the bench, in the order a run takes them.

A run starts the sections marked beside first (each in a child process, when more than
one section is chosen), then runs the others here in this order, starting the simulator
before a section that needs it and stopping it before one that does not. So the
sections that record the simulator come first, then those that must not compete with it.
Sections 9 (chaos), 10 (durability) and 14 (browser) run only when asked for (--sections,
or all).
"""

from __future__ import annotations

from . import (
    access,
    browser,
    chaos,
    cloud,
    concurrent_cameras,
    cpu,
    durability,
    export,
    index_queries,
    loop_lag,
    memory_soak,
    push,
    snapshot,
    transcode,
)
from .common import Section

SECTIONS: tuple[Section, ...] = (
    cpu.SECTION,
    concurrent_cameras.SECTION,
    snapshot.SECTION,
    loop_lag.SECTION,
    push.SECTION,
    memory_soak.SECTION,
    durability.SECTION,
    browser.SECTION,
    chaos.SECTION,
    index_queries.SECTION,
    export.SECTION,
    access.SECTION,
    cloud.SECTION,
    transcode.SECTION,
)
