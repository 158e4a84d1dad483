"""What the training DAGs and their tasks share: task ids, deployment defaults, the registry Params,
and :func:`fail`.

Cheap to import (the DAG files import it at parse time).
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from include.registry.layout import NAME_RE
from include.settings import (  # noqa: F401  (re-exported: the DAG files import them from here)
    DEFAULT_AWS_CONN_ID,
    DEFAULT_BASE_MODEL,
    DEFAULT_REGISTRY_URI,
    DEFAULT_WORK_URI,
)
from llmops_airflow.assets import CURATED_DATASET

#: finetune_adapter is scheduled on the curated dataset curate_dataset's publish task emits
#: (event extra: version, rows, manifest, curated, output_uri)
CURATED_DATASET_ASSET = CURATED_DATASET

#: the registry's name rule as a JSON-schema pattern (the form checks what the registry checks)
NAME_PATTERN = NAME_RE.pattern

PLAN_TASK_ID = "plan"
#: the branch task that renders the launch; its XCom ``launch`` is what the remote operators apply
LAUNCH_TASK_ID = "prepare_launch"
LAUNCH_KEY = "launch"
#: the task that runs the training for each backend (prepare_launch branches to one of them)
TRAIN_TASK_IDS = {"local": "train", "kubernetes": "train_kubernetes", "sagemaker": "train_sagemaker"}
#: the operator each remote backend's train task is
TRAIN_OPERATORS = {"kubernetes": "KubernetesPodOperator", "sagemaker": "SageMakerTrainingOperator"}
PRODUCTION_ALIAS = "production"
#: what the trigger form shows for the method / peft / backend choices
CHOICE_LABELS = {
    "sft": "SFT: supervised fine-tuning",
    "reward": "Reward model (preference pairs)",
    "dpo": "DPO: direct preference optimisation",
    "grpo": "GRPO: RL from a reward model",
    "none": "None: full fine-tuning",
    "lora": "LoRA",
    "qlora": "QLoRA: 4-bit base + LoRA",
    "local": "Local worker",
    "kubernetes": "Kubernetes GPU pod",
    "sagemaker": "SageMaker training job",
}


def registry_uri_param():
    """The ``registry_uri`` Param, the same in every DAG that reads or writes the registry."""
    from airflow.sdk import Param

    return Param(
        DEFAULT_REGISTRY_URI,
        type="string",
        pattern=r"^s3a?://[^/]+",
        title="Registry URI",
        description="S3 adapter registry root, s3://bucket[/prefix] (endpoint: aws_conn_id or $AWS_ENDPOINT_URL). "
        "Default: LLMOPS_REGISTRY_URI",
        section="Registry",
    )


def choice_param(default: str, choices: tuple[str, ...], title: str, description: str):
    """A string Param whose trigger form offers ``choices`` (the config's Literal values)."""
    from airflow.sdk import Param

    return Param(
        default,
        type="string",
        enum=list(choices),
        values_display={c: CHOICE_LABELS.get(c, c) for c in choices},
        title=title,
        description=description,
        section="Training",
    )


def optional_name_param(title: str, description: str, section: str):
    """An optional registry name: empty/null allowed, else the registry's name rule."""
    from airflow.sdk import Param

    return Param(
        None,
        type=["null", "string"],
        anyOf=[
            {"type": "null"},
            {"type": "string", "maxLength": 0},
            {"type": "string", "pattern": NAME_PATTERN},
        ],
        title=title,
        description=description,
        section=section,
    )


def aws_conn_id_param():
    """The ``aws_conn_id`` Param of the registry, the same in every DAG that uses it."""

    return optional_text_param(
        DEFAULT_AWS_CONN_ID,
        "AWS connection",
        "Airflow AWS connection for the registry (extra.endpoint_url for MinIO); empty: the AWS "
        "environment variables of the workers. Default: LLMOPS_REGISTRY_AWS_CONN_ID",
        "Registry",
    )


def optional_text_param(default: str, title: str, description: str, section: str):
    """A string Param the form may leave empty (``["null", "string"]``: no "required")."""
    from airflow.sdk import Param

    return Param(
        default or None, type=["null", "string"], title=title, description=description, section=section
    )


def switch_param(title: str, description: str, section: str, default: bool = False):
    """An on / off Param (a switch in the trigger form)."""
    from airflow.sdk import Param

    return Param(default, type="boolean", title=title, description=description, section=section)


def fail(msg: str) -> None:
    """Fail the task for good (no retry): the message says what to change."""
    raise AirflowFailException(msg)
