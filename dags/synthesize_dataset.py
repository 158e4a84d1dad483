"""
### synthesize_dataset

When examples are few, generates more from seed examples with an OpenAI-compatible LLM
(self-instruct) and sends seeds and new rows through the same curation.

`prepare_run` → `generate` → `curate` (triggers `curate_dataset`)

* **prepare_run**: validates the Params, the configs and the generator endpoint (a bad one fails
  here, before any request) and reads the seeds: a published version (folder with
  `manifest.json`), a `curated/` folder, or raw files in any format the ingest reads. A seed is
  a conversation ending in an assistant answer. Warns (log and manifest) when the generator and
  the curation's quality judge are of one model family: a judge prefers its own family's outputs.
* **generate**: each request shows `config.demonstrations` sampled seeds and asks for one new
  instruction and its answer (JSON). Responses are parsed robustly; unusable ones (unparseable,
  too short or long, copies of a seed, duplicates) go to `rejects.jsonl` with a reason. Uses the
  judge's client: bounded concurrency, retries with backoff, a request/token budget, a response
  cache (reruns pay nothing), the API key from `generator_conn_id` or `$LLMOPS_SYNTH_API_KEY`
  (never logged). Each row's `meta` and the run's `manifest.json` name the generator model and
  the prompt (name, hash, text).
* **curate**: triggers `curate_dataset` on `<output_uri>/runs/<run>/data/` (seeds + new rows):
  exact and near dedup against the seeds and each other, filters, quality judge, validation,
  publish — and so `finetune_adapter`, on the published version's asset event. A paused
  `curate_dataset` keeps the triggered run queued until it is unpaused.
"""

from __future__ import annotations

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, chain
from llmops_airflow.dag_defaults import dag_args
from llmops_airflow.finetune_defaults import optional_text_param
from llmops_airflow.forms import override_schema
from llmops_airflow.synthesis import CURATE_CONF, generate_task, prepare_task

from include.config import PipelineConfig
from include.config.synthesize import SynthesizeConfig
from include.settings import (
    DEFAULT_OUTPUT_URI,
    DEFAULT_SOURCE_URI,
    DEFAULT_SYNTH_BASE_URL,
    DEFAULT_SYNTH_MODEL,
    DEFAULT_SYNTH_OUTPUT_URI,
)

with DAG(
    dag_id="synthesize_dataset",
    description="Seed examples -> LLM self-instruct generation -> curate_dataset (same curation)",
    schedule=None,
    # manual only (no schedule): unpaused, a trigger runs at once
    **dag_args("curation", "synthetic", unpaused=True),
    doc_md=__doc__,
    params={
        "seeds_uri": Param(
            DEFAULT_SOURCE_URI,
            type="string",
            minLength=1,
            title="Seeds URI",
            description="Seed examples: a published version folder, a curated/ folder of canonical Parquet, "
            "or raw files (.json, .jsonl, .jsonl.gz, .parquet) in any format curate_dataset reads; local or "
            "s3://. Default: LLMOPS_SOURCE_URI, else the bundled sample data",
            section="Seeds",
        ),
        "target_count": Param(
            50,
            type="integer",
            minimum=1,
            maximum=100000,
            title="Target count",
            description="New examples to generate (at most target x config.max_attempts_factor requests)",
            section="Seeds",
        ),
        "generator_base_url": optional_text_param(
            DEFAULT_SYNTH_BASE_URL,
            "Generator base URL",
            "OpenAI-compatible endpoint, e.g. http://vllm:8000/v1 (or config.generator.base_url); empty: "
            "the connection's host. Default: LLMOPS_SYNTH_BASE_URL",
            "Generator",
        ),
        "generator_model": optional_text_param(
            DEFAULT_SYNTH_MODEL,
            "Generator model",
            "Model name sent to the endpoint (a big model; of another family than the quality judge). "
            "Default: LLMOPS_SYNTH_MODEL",
            "Generator",
        ),
        "generator_conn_id": optional_text_param(
            "",
            "Generator connection",
            "Airflow connection: password = API key, host (or extra base_url) = URL; empty: "
            "$LLMOPS_SYNTH_API_KEY for the key",
            "Generator",
        ),
        "config": Param(
            {},
            type="object",
            title="Generation config",
            description='Overrides of the generation settings, e.g. {"demonstrations": 4, "generator": '
            '{"temperature": 1.0, "budget_requests": 500}}; keys and types are checked against the model',
            section="Generator",
            **override_schema(SynthesizeConfig),
        ),
        "output_uri": Param(
            DEFAULT_SYNTH_OUTPUT_URI,
            type="string",
            minLength=1,
            title="Output URI",
            description="Where each run writes runs/<run>/ (data/seeds.jsonl, data/synthetic.jsonl, "
            "rejects.jsonl, manifest.json) and the response cache. Default: LLMOPS_SYNTH_OUTPUT_URI, else "
            "$AIRFLOW_HOME/llmops/synthetic",
            section="Curation",
        ),
        "curated_output_uri": Param(
            DEFAULT_OUTPUT_URI,
            type="string",
            minLength=1,
            title="Curated output URI",
            description="output_uri of the curate_dataset run that curates seeds + new rows. Default: "
            "LLMOPS_OUTPUT_URI (curate_dataset's default, so finetune_adapter follows)",
            section="Curation",
        ),
        "curate_config": Param(
            {},
            type="object",
            title="Curation config overrides",
            description="config of the curate_dataset run (deep-merged over include/config/default.yaml), e.g. "
            'a quality judge: {"quality": {"judge": {"enabled": true, "model": "...", "base_url": "..."}}}',
            section="Curation",
            **override_schema(PipelineConfig),
        ),
    },
) as dag:
    plan = prepare_task()
    curate = TriggerDagRunOperator(
        task_id="curate",
        trigger_dag_id="curate_dataset",
        conf=CURATE_CONF,
        wait_for_completion=False,
        doc_md="Triggers curate_dataset on the run's data/ folder (seeds + generated rows) with "
        "curated_output_uri and curate_config; its publish emits the asset finetune_adapter runs on.",
    )
    chain(generate_task(plan), curate)
