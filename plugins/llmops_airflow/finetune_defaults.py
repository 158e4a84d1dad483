"""What the training DAGs and their tasks share: task ids, deployment defaults, the registry Params,
and :func:`fail`.

Cheap to import (the DAG files import it at parse time).
"""

from __future__ import annotations

import os

from airflow.sdk.exceptions import AirflowFailException

from include.settings import REPO_ROOT
from llmops_airflow.assets import CURATED_DATASET

#: finetune_adapter is scheduled on the curated dataset curate_dataset's publish task emits
#: (event extra: version, rows, manifest, curated, output_uri)
CURATED_DATASET_ASSET = CURATED_DATASET

DEFAULT_WORK_URI = os.environ.get("LLMOPS_FINETUNE_WORK_URI", str(REPO_ROOT / "output" / "finetune"))
DEFAULT_REGISTRY_URI = os.environ.get("LLMOPS_REGISTRY_URI", "s3://llmops-adapters/registry")
DEFAULT_BASE_MODEL = os.environ.get("LLMOPS_BASE_MODEL", "")
DEFAULT_AWS_CONN_ID = os.environ.get("LLMOPS_REGISTRY_AWS_CONN_ID", "")

PLAN_TASK_ID = "plan"
#: the branch task that renders the launch; its XCom ``launch`` is what the remote operators apply
LAUNCH_TASK_ID = "prepare_launch"
LAUNCH_KEY = "launch"
#: the task that runs the training for each backend (prepare_launch branches to one of them)
TRAIN_TASK_IDS = {"local": "train", "kubernetes": "train_kubernetes", "sagemaker": "train_sagemaker"}
#: the operator each remote backend's train task is
TRAIN_OPERATORS = {"kubernetes": "KubernetesPodOperator", "sagemaker": "SageMakerTrainingOperator"}
PRODUCTION_ALIAS = "production"


def registry_uri_param():
    """The ``registry_uri`` Param, the same in every DAG that reads or writes the registry."""
    from airflow.sdk import Param

    return Param(
        DEFAULT_REGISTRY_URI,
        type="string",
        title="Registry URI",
        description="S3 adapter registry root, s3://bucket[/prefix] (endpoint: aws_conn_id or $AWS_ENDPOINT_URL)",
    )


def choice_param(default: str, choices: tuple[str, ...], title: str, description: str):
    """A string Param whose trigger form offers ``choices`` (the config's Literal values)."""
    from airflow.sdk import Param

    return Param(default, type="string", enum=list(choices), title=title, description=description)


def aws_conn_id_param():
    """The ``aws_conn_id`` Param of the registry, the same in every DAG that uses it."""
    from airflow.sdk import Param

    return Param(
        DEFAULT_AWS_CONN_ID,
        type="string",
        title="AWS connection",
        description="Airflow AWS connection for the registry (extra.endpoint_url for MinIO); empty: environment",
    )


def fail(msg: str) -> None:
    """Fail the task for good (no retry): the message says what to change."""
    raise AirflowFailException(msg)
