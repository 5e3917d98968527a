"""``python -m tests.simulator [camera_sim.py options]``: run a simulated camera
in the foreground (used by scripts/develop).  The simulator always runs with the
system python (override with $CCTV_SIM_PYTHON) since it needs GStreamer's gi."""

import os
import sys

from . import DEFAULT_PYTHON, SIMULATOR_SCRIPT

if __name__ == "__main__":
    argv = [DEFAULT_PYTHON, str(SIMULATOR_SCRIPT), *sys.argv[1:]]
    sys.stdout.flush()
    os.execv(argv[0], argv)
