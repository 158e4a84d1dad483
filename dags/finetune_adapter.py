"""
### finetune_adapter

Fine-tunes a base model on a curated dataset, gates it and registers it in the S3 adapter
registry. Runs when `curate_dataset` publishes a dataset version (the `curated_dataset`
asset; the event's `curated` folder is the dataset) or from the UI with Params.

`plan` → `build_set` → `prepare_launch` → one of `train` (local) / `train_kubernetes` /
`train_sagemaker` → `unpack_sagemaker_model` → `evaluate` → `register` → `promote`

* **plan**: validates the Params (bad ones fail here, before any work, with the key
  named), checks the dataset, the base model's config and the backend's settings, and
  estimates peak GPU memory (weights + gradients + optimizer states + activations) to pick
  the smallest GPU / SageMaker instance of the catalog that fits with a margin.
* **build_set**: canonical rows → the trainer's dataset (`messages` for SFT,
  `prompt`/`chosen`/`rejected` for reward and DPO, `prompt` for GRPO), split by id hash.
* **prepare_launch** (branch on the `backend` Param; switching needs no code change):
  writes `launch_config.json` (pointing the gate at the adapter aliased `production`, when
  one exists for the same base model and method) and renders the pod / job.
* **train** (`local`): `python -m include.training.train --config …` in a subprocess of
  the worker, progress streamed into this log.
* **train_kubernetes**: a `KubernetesPodOperator` pod from the training image on the GPU
  node pool: `nvidia.com/gpu` limit, CPU/memory requests from the plan, node selector and
  tolerations, service account, S3 URIs as env and credentials only from a Kubernetes
  Secret (`envFrom`), deferrable, 30 min startup timeout for node scale-up, pod log
  streamed. The pod writes the model to `<work_uri>/<run>/model/` on S3.
* **train_sagemaker**: a `SageMakerTrainingOperator` job (instance type from the plan,
  channel `train` = the published dataset, optional managed spot with checkpoints). The
  job name is fixed per DAG run and try; a retry adopts a running or finished job instead
  of starting a second one. **unpack_sagemaker_model** unpacks its `model.tar.gz` into
  `model/`.
* **evaluate**: checks the output is complete and applies the gate (thresholds in
  `hyperparameters.gate`): eval loss / perplexity vs the base model on the held-out split,
  vs the `production` adapter on the same split (drift over repeated fine-tunes; skipped and
  recorded when there is none), reward accuracy…
* **register**: `<registry_uri>/<adapter_name>/v<N>/` with `manifest.json` (base model and
  hash, tokenizer/template hash, dataset manifest and content hash, config, metrics, gate
  with its reasons, code and library versions). Every version is recorded; a passing one
  becomes `latest`.
* **promote**: a failed gate fails the run here (the version stays recorded with
  `gate: failed`, no alias moves). A passing version becomes `production` when the
  `promote` Param is on; otherwise trigger the `promote_adapter` DAG.

`hyperparameters` is deep-merged over `include/config/training_default.yaml`: sections
(`{"lora": {"r": 16}, "train": {"max_steps": 50}}`) or bare train keys
(`{"learning_rate": 1e-4}`). Backend settings are sections too:
`{"kubernetes": {"image": "…", "node_selector": {…}}}`, `{"sagemaker": {"image_uri": "…",
"role_arn": "…", "use_spot": true, "checkpoint_s3_uri": "s3://…"}}`. Remote backends need
`dataset_uri` and `work_uri` on S3.

**Set-up per backend** (details and commands: README, "Where training runs"):

* `local`: nothing; the worker's GPU when it has one.
* both remote backends: the training image, `docker build -f Dockerfile.training -t
  <registry>/llmops-training:<tag> .` and `docker push` (ECR for SageMaker).
* `kubernetes`: Airflow connection `kubernetes_default` (extra `{"in_cluster": true}` inside
  the cluster); a GPU node pool with the NVIDIA device plugin, its labels in
  `kubernetes.node_selector` and its taint tolerated (`nvidia.com/gpu:NoSchedule` by default);
  namespace `llmops` with service account `llmops-training`; a Secret `llmops-training-s3` with
  `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or a cloud identity on the service account).
* `sagemaker`: AWS connection `aws_default` allowed `sagemaker:CreateTrainingJob` /
  `DescribeTrainingJob`, `iam:PassRole` and CloudWatch Logs reads; an execution role
  (`sagemaker.role_arn`) with S3 access to the dataset, work, registry and checkpoint
  prefixes, ECR pull and CloudWatch Logs.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task
from llmops_airflow.finetune import (
    CURATED_DATASET_ASSET,
    DEFAULT_BASE_MODEL,
    DEFAULT_WORK_URI,
    PLAN_TASK_ID,
    TRAIN_TASK_IDS,
    aws_conn_id_param,
    registry_uri_param,
)
from llmops_airflow.launchers import (
    LAUNCH_KEY,
    LAUNCH_TASK_ID,
    kubernetes_training_task,
    sagemaker_training_task,
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
            "",
            type="string",
            title="Dataset URI",
            description="Folder of canonical Parquet (a published version's curated/, or any stage's curated/), "
            "local or s3://. Empty: the curated/ folder of the triggering curated_dataset event",
        ),
        "base_model": Param(
            DEFAULT_BASE_MODEL,
            type="string",
            title="Base model",
            description="Hub id (served from the HF cache) or a local model folder",
        ),
        "method": Param(
            "sft",
            type="string",
            enum=["sft", "reward", "dpo", "grpo"],
            title="Method",
            description="sft: supervised fine-tuning; reward: reward model on preference pairs; dpo: direct "
            "preference optimisation; grpo: RL from a trained reward model (hyperparameters.grpo.reward_model)",
        ),
        "peft": Param(
            "lora",
            type="string",
            enum=["none", "lora", "qlora"],
            title="PEFT",
            description="none: full fine-tuning; lora: LoRA adapter on a frozen base; qlora: 4-bit NF4 base + LoRA",
        ),
        "backend": Param(
            "local",
            type="string",
            enum=["local", "kubernetes", "sagemaker"],
            title="Backend",
            description="Where training runs: local (subprocess of the worker), kubernetes (GPU pod, settings in "
            "hyperparameters.kubernetes) or sagemaker (training job, hyperparameters.sagemaker)",
        ),
        "registry_uri": registry_uri_param(),
        "adapter_name": Param(
            "",
            type="string",
            title="Adapter name",
            description="Registry name (letters, digits, . _ -). Empty: <base model>-<method>-<peft>",
        ),
        "hyperparameters": Param(
            {},
            type="object",
            title="Hyperparameters",
            description='Deep-merged over include/config/training_default.yaml, e.g. {"lora": {"r": 16}, '
            '"train": {"max_steps": 100, "learning_rate": 0.0002}} or bare train keys',
        ),
        "work_uri": Param(
            DEFAULT_WORK_URI,
            type="string",
            title="Work folder",
            description="Run files go to <work_uri>/<run_id>/ (plan, training set, model, evaluation)",
        ),
        "aws_conn_id": aws_conn_id_param(),
        "promote": Param(
            False,
            type="boolean",
            title="Promote to production",
            description="Move the registry alias 'production' to the new version when it passes the gate; "
            "off: it becomes 'latest' only and waits for the promote_adapter DAG",
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

    @task.branch(task_id=LAUNCH_TASK_ID)
    def prepare_launch(run: dict, trainset: dict, dag=None, ti=None) -> str:
        from llmops_airflow.finetune import prepare_launch as prepare

        task_id, launch = prepare(run, dag.dag_id)
        ti.xcom_push(key=LAUNCH_KEY, value=launch)
        return task_id

    @task(task_id=TRAIN_TASK_IDS["local"], execution_timeout=timedelta(hours=24))
    def train(run: dict) -> dict:
        from llmops_airflow.finetune import train as run_training

        return run_training(run)

    train_kubernetes = kubernetes_training_task(
        TRAIN_TASK_IDS["kubernetes"], execution_timeout=timedelta(hours=24)
    )
    train_sagemaker = sagemaker_training_task(
        TRAIN_TASK_IDS["sagemaker"], execution_timeout=timedelta(hours=48)
    )

    @task(task_id="unpack_sagemaker_model")
    def unpack_sagemaker_model(run: dict, training: dict) -> dict:
        from llmops_airflow.finetune import unpack_sagemaker_model as unpack

        return unpack(run, training)

    @task(task_id="evaluate", trigger_rule="none_failed_min_one_success")
    def evaluate(run: dict) -> dict:
        from llmops_airflow.finetune import evaluate as run_gate

        return run_gate(run)

    @task(task_id="register")
    def register(run: dict, evaluation: dict) -> dict:
        from llmops_airflow.finetune import register as run_register

        return run_register(run, evaluation)

    @task(task_id="promote")
    def promote(run: dict, registration: dict) -> dict:
        from llmops_airflow.finetune import promote as run_promote

        return run_promote(run, registration)

    run = plan()
    branch = prepare_launch(run, build_set(run))
    local = train(run)
    unpacked = unpack_sagemaker_model(run, train_sagemaker.output)
    branch >> [local, train_kubernetes, train_sagemaker]
    evaluation = evaluate(run)
    [local, train_kubernetes, unpacked] >> evaluation
    promote(run, register(run, evaluation))
