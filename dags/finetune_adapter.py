"""
### finetune_adapter

Fine-tunes a base model on a curated dataset and registers the result in the S3 adapter
registry. Runs when `curate_dataset` publishes a dataset version (the `curated_dataset`
asset; the event's `curated` folder is the dataset) or from the UI with Params.

`plan` → `build_set` → `train` → `evaluate` → `register`

* **plan**: validates the Params (bad ones fail here, before any work, with the key
  named), checks the dataset and the base model's config, and estimates peak GPU memory
  (weights + gradients + optimizer states + activations) to pick the smallest GPU /
  SageMaker instance of the catalog that fits with a margin. Fails with the numbers when
  nothing fits. `kubernetes` / `sagemaker` backends fail here: not implemented yet (issue #7).
* **build_set**: canonical rows → the trainer's dataset (`messages` for SFT,
  `prompt`/`chosen`/`rejected` for reward and DPO, `prompt` for GRPO), split by id hash.
* **train**: `python -m include.training.train --config …` on the backend (`local`: a
  subprocess of the worker, progress streamed into this log). Methods: `sft` (full, LoRA,
  QLoRA), `reward` (RewardTrainer), `dpo` (DPOTrainer), `grpo` (RL from the trained reward
  model with GRPOTrainer: trl 1.16 has no PPOTrainer).
* **evaluate**: the gate (eval loss vs the base model on the same split, reward accuracy…).
* **register**: `<registry_uri>/<adapter_name>/v<N>/` with `manifest.json` (base model and
  hash, tokenizer/template hash, dataset manifest and content hash, config, metrics, gate,
  code and library versions).

`hyperparameters` is deep-merged over `include/config/training_default.yaml`: sections
(`{"lora": {"r": 16}, "train": {"max_steps": 50}}`) or bare train keys
(`{"learning_rate": 1e-4}`).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task
from llmops_airflow.finetune import (
    CURATED_DATASET_ASSET,
    DEFAULT_AWS_CONN_ID,
    DEFAULT_BASE_MODEL,
    DEFAULT_REGISTRY_URI,
    DEFAULT_WORK_URI,
    PLAN_TASK_ID,
)

with DAG(
    dag_id="finetune_adapter",
    description="Curated dataset -> memory plan -> training set -> fine-tuned adapter -> gate -> S3 registry",
    schedule=[CURATED_DATASET_ASSET],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
    tags=["llmops", "training", "peft"],
    doc_md=__doc__,
    params={
        "dataset_uri": Param(
            "", type="string", title="Dataset URI",
            description="Folder of canonical Parquet (a published version's curated/, or any stage's curated/), "
                        "local or s3://. Empty: the curated/ folder of the triggering curated_dataset event",
        ),
        "base_model": Param(
            DEFAULT_BASE_MODEL, type="string", title="Base model",
            description="Hub id (served from the HF cache) or a local model folder",
        ),
        "method": Param(
            "sft", type="string", enum=["sft", "reward", "dpo", "grpo"], title="Method",
            description="sft: supervised fine-tuning; reward: reward model on preference pairs; dpo: direct "
                        "preference optimisation; grpo: RL from a trained reward model (hyperparameters.grpo.reward_model)",
        ),
        "peft": Param(
            "lora", type="string", enum=["none", "lora", "qlora"], title="PEFT",
            description="none: full fine-tuning; lora: LoRA adapter on a frozen base; qlora: 4-bit NF4 base + LoRA",
        ),
        "backend": Param(
            "local", type="string", enum=["local", "kubernetes", "sagemaker"], title="Backend",
            description="Where training runs: local (subprocess of the worker); kubernetes/sagemaker: issue #7",
        ),
        "registry_uri": Param(
            DEFAULT_REGISTRY_URI, type="string", title="Registry URI",
            description="S3 adapter registry root, s3://bucket[/prefix] (endpoint: aws_conn_id or $AWS_ENDPOINT_URL)",
        ),
        "adapter_name": Param(
            "", type="string", title="Adapter name",
            description="Registry name (letters, digits, . _ -). Empty: <base model>-<method>-<peft>",
        ),
        "hyperparameters": Param(
            {}, type="object", title="Hyperparameters",
            description='Deep-merged over include/config/training_default.yaml, e.g. {"lora": {"r": 16}, '
                        '"train": {"max_steps": 100, "learning_rate": 0.0002}} or bare train keys',
        ),
        "work_uri": Param(
            DEFAULT_WORK_URI, type="string", title="Work folder",
            description="Run files go to <work_uri>/<run_id>/ (plan, training set, model, evaluation)",
        ),
        "aws_conn_id": Param(
            DEFAULT_AWS_CONN_ID, type="string", title="AWS connection",
            description="Airflow AWS connection for the registry (extra.endpoint_url for MinIO); empty: environment",
        ),
    },
) as dag:

    @task(task_id=PLAN_TASK_ID)
    def plan(params=None, run_id=None, triggering_asset_events=None) -> dict:
        from llmops_airflow.finetune import plan_run

        return plan_run(params, run_id, triggering_asset_events)

    @task(task_id="build_set")
    def build_set(run: dict) -> dict:
        from llmops_airflow.finetune import build_set as build

        return build(run)

    @task(task_id="train", execution_timeout=timedelta(hours=24))
    def train(run: dict, trainset: dict) -> dict:
        from llmops_airflow.finetune import train as run_training

        return run_training(run)

    @task(task_id="evaluate")
    def evaluate(run: dict, trained: dict) -> dict:
        from llmops_airflow.finetune import evaluate as run_gate

        return run_gate(run)

    @task(task_id="register")
    def register(run: dict, evaluation: dict) -> dict:
        from llmops_airflow.finetune import register as run_register

        return run_register(run, evaluation)

    run = plan()
    register(run, evaluate(run, train(run, build_set(run))))
