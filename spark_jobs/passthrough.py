"""Stages not built yet: rows pass through unchanged and stats.json says so."""

from __future__ import annotations

from spark_jobs.common import StageOutput, read_parquet

PENDING = {
    "near_dedup": "MinHash LSH near-duplicate removal (issue #3)",
    "pii": "Presidio PII scrubbing (issue #4)",
    "filters": "content filters (issue #4)",
    "validate": "Great Expectations gate (issue #6)",
    "publish": "atomic versioned publish (issue #6)",
}


def passthrough(stage: str):
    def run(spark, cfg, input_uri, ctx) -> StageOutput:
        note = f"not implemented yet: pass-through; {PENDING[stage]}"
        return StageOutput(read_parquet(spark, input_uri, cfg), None, implemented=False, note=note)

    return run
