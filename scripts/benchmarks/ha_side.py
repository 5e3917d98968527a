#!/usr/bin/env python3
"""The Home Assistant side of section 10, as a process to kill: record and index until killed.

    python scripts/benchmarks/ha_side.py WORK URL CAMERAS SEGMENT_SECONDS

Does what the coordinators do with the engine: one SegmentIndex (WORK/index.db) shared
by CAMERAS Recorders of URL writing under WORK/rec, and a reader querying the index,
as the panel and the sensors do. The engine is imported as a package of its own (as
tests/engine/test_standalone.py does), without the integration around it, so this
process loads no Home Assistant: it starts in a fraction of a second and nothing of
Home Assistant's start-up can fail it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "custom_components" / "cctv_nvr"))

from engine.index import SegmentIndex
from engine.recorder import Recorder, RecorderConfig


async def main(work: Path, url: str, cameras: int, segment_seconds: float) -> None:
    index = SegmentIndex(work / "index.db")
    recorders = [
        Recorder(
            RecorderConfig(
                camera=f"cam{n}",
                root=work / "rec",
                url=url,
                segment_seconds=segment_seconds,
                fps_hint=15,
            ),
            index,
        )
        for n in range(cameras)
    ]
    await asyncio.gather(*(r.start() for r in recorders))
    loop = asyncio.get_running_loop()
    while True:
        for recorder in recorders:
            await loop.run_in_executor(None, index.segments, recorder.config.camera, 0, 1e12)
        await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
