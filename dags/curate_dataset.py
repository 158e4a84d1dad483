"""
### curate_dataset

Turns raw instruction, conversation and preference data from lakehouse storage into
a curated dataset in the canonical schema, with Spark. One task per stage:

`prepare_run` → `ingest` → `normalize` → `exact_dedup` → `decontaminate` → `near_dedup` → `pii` →
`filters` → `semantic_dedup` → `quality` → `validate` → `publish` → `finalize_run`

`decontaminate` (on once `config.decontaminate.benchmarks` lists evaluation sets) removes
rows sharing 13-grams with GSM8K, HumanEval or any benchmark file. With
`config.near_dedup.index.enabled`, `exact_dedup` and `near_dedup` also reject records that
duplicate one already published, using the band index `publish` extends after its commit.

`semantic_dedup` (embedding-based duplicates, SemDeDup-style; off by default, it needs a
local sentence-transformers model) can also check each night's records against every
record already published, in a Qdrant collection that `publish` updates after its commit.

* **Params**: `source_uri` (file, folder or glob of `.json` / `.jsonl` / `.jsonl.gz` /
  `.parquet`, local or `s3://`/`s3a://`), `output_uri`, `config` (an object deep-merged
  over `include/config/default.yaml`; `{"pii": {"enabled": false}}` turns a stage off).
  A bad config fails `prepare_run` with a message naming the key; nothing else runs.
* **Spark**: local mode in a subprocess of the worker, or `spark-submit` to a cluster
  (`config.spark.conn_id`; see README).
* **Output**: stages work in `<output_uri>/_staging/<run_id>/<stage>/{curated,rejects,stats.json}`.
  `validate` (Great Expectations) stops the run before publish when the suite fails.
  `publish` commits `<output_uri>/versions/<version>/` (`curated/`, `rejects/<stage>/`,
  `data_docs/`, `manifest.json`; `finalize_run` adds `report.html` and `DATA_CARD.md`, opened
  from the publish task's "Dataset report" link), then `<output_uri>/_latest`, and emits the
  `curated_dataset` Asset event (extra: version, rows, manifest, curated) that
  `finetune_adapter` is scheduled on. The version id derives from the input snapshot,
  the config and the code: a rerun on unchanged input skips every stage and publishes
  nothing new. `finalize_run` fails if input rows ≠ curated + rejected rows.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, chain
from llmops_airflow.assets import CURATED_DATASET
from llmops_airflow.curation import finalize_task, prepare_task, stage_operator
from llmops_airflow.dag_defaults import dag_args
from llmops_airflow.forms import override_schema

from include.config import STAGES, PipelineConfig
from include.settings import DEFAULT_OUTPUT_URI, DEFAULT_SOURCE_URI

with DAG(
    dag_id="curate_dataset",
    description="Raw lakehouse data -> canonical, deduplicated, cleaned dataset (Spark)",
    schedule="0 2 * * *",
    **dag_args("curation", "spark"),
    doc_md=__doc__,
    params={
        "source_uri": Param(
            DEFAULT_SOURCE_URI,
            type="string",
            minLength=1,
            title="Source URI",
            description="Raw data: a file, folder or glob (.json, .jsonl, .jsonl.gz, .parquet), local or s3://. "
            "Default: LLMOPS_SOURCE_URI, else the bundled sample data",
            section="Data",
        ),
        "output_uri": Param(
            DEFAULT_OUTPUT_URI,
            type="string",
            minLength=1,
            title="Output URI",
            description="Where the run writes _staging/<run_id>/ and publishes versions/ (curated, rejects, "
            "manifest.json), local or s3://. Default: LLMOPS_OUTPUT_URI, else $AIRFLOW_HOME/llmops/curated_dataset",
            section="Data",
        ),
        "config": Param(
            {},
            type="object",
            title="Config overrides",
            description='Deep-merged over include/config/default.yaml, e.g. {"pii": {"enabled": false}}; '
            "keys and types are checked here against the pipeline config model",
            section="Pipeline",
            **override_schema(PipelineConfig),
        ),
    },
) as dag:
    run = prepare_task()
    stages = [stage_operator(s, outlets=[CURATED_DATASET] if s == "publish" else []) for s in STAGES]
    chain(run, *stages, finalize_task(run))
