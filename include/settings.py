"""Deployment defaults read from the environment (cheap to import at DAG parse time)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "include" / "sample_data"

#: where curate_dataset reads raw data when the trigger gives no source_uri
DEFAULT_SOURCE_URI = os.environ.get("LLMOPS_SOURCE_URI", str(SAMPLE_DATA))
#: where curated data, rejects, stats and manifests are written
DEFAULT_OUTPUT_URI = os.environ.get("LLMOPS_OUTPUT_URI", str(REPO_ROOT / "output" / "curated_dataset"))
