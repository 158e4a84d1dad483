"""
### finetune_adapter

Fine-tunes a base model on a curated dataset, gates it and registers it in the S3 adapter
registry. Runs when `curate_dataset` publishes a dataset version (the `curated_dataset`
asset; the event's `curated` folder is the dataset) or from the UI with Params.

`plan` → `build_set` → `prepare_launch` → one of `train` (local) / `train_kubernetes` /
`train_sagemaker` → `unpack_sagemaker_model` → `evaluate` → `register` → `promote`

* **plan**: validates the Params and the backend settings (a bad one fails here, before any
  work) and plans GPU memory: the smallest GPU / SageMaker instance that fits.
* **build_set**: canonical rows → the trainer's dataset, split by id hash.
* **prepare_launch**: writes the launch config and branches on the `backend` Param
  (switching needs no code change).
* **train** (`local`, a subprocess of the worker) / **train_kubernetes** (a GPU pod) /
  **train_sagemaker** (a training job; **unpack_sagemaker_model** brings its model back).
* **evaluate**: output complete? then the gate, vs the base model and the `production` adapter.
* **register**: the next immutable version with its lineage manifest; a passing one is `latest`.
* **promote**: a failed gate fails the run here; a passing version becomes `production` when
  the `promote` Param is on, else waits for the `promote_adapter` DAG.

Each task's doc (in the task's details) says more.

`hyperparameters` is deep-merged over `include/config/training_default.yaml`: sections
(`{"lora": {"r": 16}, "train": {"max_steps": 50}}`) or bare train keys
(`{"learning_rate": 1e-4}`); backend settings are sections too (`kubernetes`, `sagemaker`).
Remote backends need `dataset_uri` and `work_uri` on S3. Set-up per backend: README,
"Running finetune_adapter".
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param
from llmops_airflow.dag_defaults import dag_args
from llmops_airflow.finetune_defaults import (
    CURATED_DATASET_ASSET,
    DEFAULT_BASE_MODEL,
    DEFAULT_WORK_URI,
    TRAIN_TASK_IDS,
    aws_conn_id_param,
    choice_param,
    optional_name_param,
    optional_text_param,
    registry_uri_param,
    switch_param,
)
from llmops_airflow.finetune_tasks import (
    build_set,
    evaluate,
    plan,
    prepare_launch,
    promote,
    register,
    train,
    unpack_sagemaker_model,
)
from llmops_airflow.forms import hyperparameters_schema
from llmops_airflow.launchers import kubernetes_training_task, sagemaker_training_task

from include.config.training import BACKENDS, METHODS, PEFT_MODES

with DAG(
    dag_id="finetune_adapter",
    description="Curated dataset -> memory plan -> training set -> fine-tuned adapter -> gate -> S3 registry",
    schedule=[CURATED_DATASET_ASSET],
    # unpaused: it runs on curate_dataset's events; paused, it would miss them
    **dag_args("training", "peft", unpaused=True),
    doc_md=__doc__,
    params={
        "dataset_uri": optional_text_param(
            "",
            "Dataset URI",
            "Folder of canonical Parquet (a published version's curated/, or any stage's curated/), "
            "local or s3://. Empty: the curated/ folder of the triggering curated_dataset event",
            "Data",
        ),
        "base_model": optional_text_param(
            DEFAULT_BASE_MODEL,
            "Base model",
            "Hub id (served from the HF cache) or a local model folder. Empty: the training "
            "profile's (asset-triggered runs), else LLMOPS_BASE_MODEL",
            "Training",
        ),
        "method": choice_param(
            "sft",
            METHODS,
            "Method",
            "sft: supervised fine-tuning; reward: reward model on preference pairs; dpo: direct "
            "preference optimisation; grpo: RL from a trained reward model (hyperparameters.grpo.reward_model)",
        ),
        "peft": choice_param(
            "lora",
            PEFT_MODES,
            "PEFT",
            "none: full fine-tuning; lora: LoRA adapter on a frozen base; qlora: 4-bit NF4 base + LoRA",
        ),
        "backend": choice_param(
            "local",
            BACKENDS,
            "Backend",
            "Where training runs: local (subprocess of the worker), kubernetes (GPU pod, settings in "
            "hyperparameters.kubernetes) or sagemaker (training job, hyperparameters.sagemaker)",
        ),
        "registry_uri": registry_uri_param(),
        "adapter_name": optional_name_param(
            "Adapter name",
            "Registry name (letters, digits, . _ -). Empty: <base model>-<method>-<peft>",
            "Registry",
        ),
        "hyperparameters": Param(
            {},
            type="object",
            section="Training",
            title="Hyperparameters",
            description='Deep-merged over include/config/training_default.yaml, e.g. {"lora": {"r": 16}, '
            '"train": {"max_steps": 100, "learning_rate": 0.0002}} or bare train keys',
            **hyperparameters_schema(),
        ),
        "work_uri": Param(
            DEFAULT_WORK_URI,
            type="string",
            minLength=1,
            section="Data",
            title="Work folder",
            description="Run files go to <work_uri>/<run_id>/ (plan, training set, model, evaluation)",
        ),
        "aws_conn_id": aws_conn_id_param(),
        "promote": switch_param(
            "Promote to production",
            "Move the registry alias 'production' to the new version when it passes the gate; "
            "off: it becomes 'latest' only and waits for the promote_adapter DAG",
            "Registry",
        ),
    },
) as dag:
    train_kubernetes = kubernetes_training_task(
        TRAIN_TASK_IDS["kubernetes"], execution_timeout=timedelta(hours=24)
    )
    train_sagemaker = sagemaker_training_task(
        TRAIN_TASK_IDS["sagemaker"], execution_timeout=timedelta(hours=48)
    )

    run = plan()
    branch = prepare_launch(run, build_set(run))
    local = train(run)
    unpacked = unpack_sagemaker_model(run, train_sagemaker.output)
    branch >> [local, train_kubernetes, train_sagemaker]
    evaluation = evaluate(run)
    [local, train_kubernetes, unpacked] >> evaluation
    promote(run, register(run, evaluation))
