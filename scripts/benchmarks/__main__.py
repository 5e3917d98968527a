"""`python -m scripts.benchmarks` (from the checkout, in the venv): the same as scripts/bench."""

import sys

from .cli import main

sys.exit(main())
