"""Deployment defaults read from the environment (cheap to import at DAG parse time).

Each ``LLMOPS_*`` variable sets the default of a DAG Param (the trigger form's pre-filled value
and what scheduled and asset-triggered runs use). Outputs default to ``$AIRFLOW_HOME/llmops/``,
never to the checkout. ``make up`` sets them all for its local stack (``scripts/live.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO_ROOT / "include" / "sample_data"
#: where the product writes by default: ``$AIRFLOW_HOME/llmops`` (``~/airflow/llmops`` without AIRFLOW_HOME)
DATA_HOME = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "llmops"

#: curate_dataset ``source_uri``: where raw data is read from
DEFAULT_SOURCE_URI = os.environ.get("LLMOPS_SOURCE_URI", str(SAMPLE_DATA))
#: curate_dataset ``output_uri``: where curated data, rejects, stats and manifests are written
DEFAULT_OUTPUT_URI = os.environ.get("LLMOPS_OUTPUT_URI", str(DATA_HOME / "curated_dataset"))
#: finetune_adapter ``work_uri``: run files (plan, training set, model, evaluation)
DEFAULT_WORK_URI = os.environ.get("LLMOPS_FINETUNE_WORK_URI", str(DATA_HOME / "finetune"))
#: finetune_adapter / promote_adapter ``registry_uri``: the S3 adapter registry
DEFAULT_REGISTRY_URI = os.environ.get("LLMOPS_REGISTRY_URI", "s3://llmops-adapters/registry")
#: finetune_adapter ``base_model``: a local model folder or a hub id in the HF cache
DEFAULT_BASE_MODEL = os.environ.get("LLMOPS_BASE_MODEL", "")
#: finetune_adapter / promote_adapter ``aws_conn_id``: empty = the AWS environment variables
DEFAULT_AWS_CONN_ID = os.environ.get("LLMOPS_REGISTRY_AWS_CONN_ID", "")
#: synthesize_dataset ``output_uri``: seeds, generated records, rejects and manifests per run
DEFAULT_SYNTH_OUTPUT_URI = os.environ.get("LLMOPS_SYNTH_OUTPUT_URI", str(DATA_HOME / "synthetic"))
#: synthesize_dataset ``generator_base_url`` / ``generator_model``: the generating endpoint
DEFAULT_SYNTH_BASE_URL = os.environ.get("LLMOPS_SYNTH_BASE_URL", "")
DEFAULT_SYNTH_MODEL = os.environ.get("LLMOPS_SYNTH_MODEL", "")
