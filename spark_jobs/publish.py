"""Stage ``publish``: pass-through until built (see spark_jobs/passthrough.py)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_jobs.common import main
from spark_jobs.passthrough import passthrough

run = passthrough("publish")

if __name__ == "__main__":
    sys.exit(main("publish", run))
