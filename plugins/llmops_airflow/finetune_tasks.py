"""The TaskFlow tasks of ``finetune_adapter`` and ``promote_adapter``; the DAG files only wire them.

Each docstring is the task's doc in the Airflow UI. The bodies import the logic
(``llmops_airflow.finetune`` / ``llmops_airflow.registration``) when the task runs.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import task

from llmops_airflow.finetune_defaults import LAUNCH_KEY, LAUNCH_TASK_ID, PLAN_TASK_ID, TRAIN_TASK_IDS


@task(task_id=PLAN_TASK_ID)
def plan(params=None, run_id=None, triggering_asset_events=None, dag_run=None) -> dict:
    """Apply the training profile (asset-triggered runs: include/training/profiles.py), validate the
    Params (a bad one fails here, before any work, naming the key), check the registry and work folder
    are writable with the configured connection, check the dataset,
    the base model's config and the backend's settings, and estimate peak GPU memory (weights +
    gradients + optimizer states + activations) to pick the smallest GPU / SageMaker instance of the
    catalog that fits with a margin. Writes `<work_uri>/<run>/plan.json`."""
    from llmops_airflow.planning import plan_run

    return plan_run(params, run_id, triggering_asset_events, conf=getattr(dag_run, "conf", None))


@task(task_id="build_set")
def build_set(run: dict) -> dict:
    """Canonical rows → the trainer's dataset under `<run>/trainset` (`messages` for SFT,
    `prompt`/`chosen`/`rejected` for reward and DPO, `prompt` for GRPO), split by id hash."""
    from llmops_airflow.finetune import build_set as build

    return build(run)


@task.branch(task_id=LAUNCH_TASK_ID)
def prepare_launch(run: dict, trainset: dict, dag=None, ti=None) -> str:
    """Write `launch_config.json` (pointing the gate at the adapter aliased `production`, when one
    exists for the same base model and method), render the pod / job for a remote backend into the
    XCom `launch`, and branch to the `backend` Param's train task."""
    from llmops_airflow.finetune import prepare_launch as prepare

    task_id, launch = prepare(run, dag.dag_id)
    ti.xcom_push(key=LAUNCH_KEY, value=launch)
    return task_id


@task(task_id=TRAIN_TASK_IDS["local"], execution_timeout=timedelta(hours=24))
def train(run: dict) -> dict:
    """Backend `local`: `python -m include.training.train --config …` in a subprocess of the worker
    (its GPU when it has one), progress streamed into this log. A failure is retried."""
    from llmops_airflow.finetune import train as run_training

    return run_training(run)


@task(task_id="unpack_sagemaker_model")
def unpack_sagemaker_model(run: dict, training: dict) -> dict:
    """Backend `sagemaker`: the finished job's `model.tar.gz` → the run's `model/` folder."""
    from llmops_airflow.finetune import unpack_sagemaker_model as unpack

    return unpack(run, training)


@task(task_id="evaluate", trigger_rule="none_failed_min_one_success")
def evaluate(run: dict) -> dict:
    """Check the output is complete (fails when not) and apply the gate (thresholds in
    `hyperparameters.gate`): eval loss / perplexity vs the base model on the held-out split, vs the
    `production` adapter on the same split (skipped and recorded when there is none), reward
    accuracy… The result is recorded; `promote` acts on it."""
    from llmops_airflow.registration import evaluate as run_gate

    return run_gate(run)


@task(task_id="register")
def register(run: dict, evaluation: dict) -> dict:
    """Upload the model as `<registry_uri>/<adapter_name>/v<N>/` with `manifest.json` (base model and
    hash, tokenizer/template hash, dataset manifest and content hash, config, metrics, gate with its
    reasons, code and library versions). Every version is recorded; a passing one becomes `latest`;
    the same content again returns the existing version."""
    from llmops_airflow.registration import register as run_register

    return run_register(run, evaluation)


@task(task_id="promote")
def promote(run: dict, registration: dict) -> dict:
    """A failed gate fails the run here (the version stays recorded with `gate: failed`, no alias
    moves). A passing version becomes `production` when the `promote` Param is on; otherwise it
    waits for the `promote_adapter` DAG."""
    from llmops_airflow.registration import promote as run_promote

    return run_promote(run, registration)


@task(task_id="review")
def review_promotion(params=None) -> dict:
    """`promote_adapter`: resolve the adapter (empty: the one registered last) and the version, read its
    manifest, and say whether a human must approve (`require_approval` and alias `production`)."""
    from llmops_airflow.approval import review

    return review(params)


@task(task_id="promote", trigger_rule="none_failed")
def promote_version(reviewed: dict, params=None) -> dict:
    """`promote_adapter`: point `alias` at the reviewed version; a version whose gate failed is refused
    unless `force` (then recorded in the alias pointer). A refused promotion fails without retry;
    a rejected approval skips this task."""
    from llmops_airflow.registration import promote_version as run_promotion

    return run_promotion(params, reviewed)
