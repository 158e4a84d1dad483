"""Operators that launch the training entry point remotely, built by small factories the DAG calls.

Operators are created when the DAG file is parsed, but what they launch depends on the run
(Params, memory plan). So ``finetune_adapter``'s ``prepare_launch`` task renders the launch as
plain data (``include.training.backends.kubernetes.pod_spec`` /
``include.training.backends.sagemaker.training_job_config``) into its XCom ``launch``, and these
operator subclasses apply it when they run (and again when they resume after deferral):

* :class:`TrainingPodOperator` (``KubernetesPodOperator``): image, namespace, resources,
  node selector, tolerations, env / envFrom Secret, service account, startup timeout,
  ``on_finish_action``, ``deferrable``; the pod's log is streamed into the task log.
* :class:`TrainingJobOperator` (``SageMakerTrainingOperator``): the ``create_training_job``
  config with a job name per DAG run and try. A retry adopts a running or completed job of an
  earlier try instead of starting a second one.

The provider modules are imported at DAG parse time (the operators must exist then); no
cluster or AWS call happens before a task runs.
"""

from __future__ import annotations

import copy
import logging

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import OnFinishAction

from include.training.backends.sagemaker import earlier_job_names, job_name
from llmops_airflow.finetune_defaults import LAUNCH_KEY, LAUNCH_TASK_ID, TRAIN_TASK_IDS

__all__ = ["LAUNCH_KEY", "LAUNCH_TASK_ID", "TrainingJobOperator", "TrainingPodOperator"]

log = logging.getLogger(__name__)


def _launch(context, launch_task_id: str, backend: str) -> dict:
    launch = context["ti"].xcom_pull(task_ids=launch_task_id, key=LAUNCH_KEY) or {}
    spec = launch.get(backend)
    if not spec:
        raise RuntimeError(f"no {backend} launch spec in XCom {launch_task_id}.{LAUNCH_KEY}")
    return spec


def pod_operator_kwargs(spec: dict) -> dict:
    """``KubernetesPodOperator`` arguments (kubernetes client models) for a ``pod_spec`` dict."""
    from kubernetes.client import models as k8s

    return {
        "kubernetes_conn_id": spec["kubernetes_conn_id"],
        "namespace": spec["namespace"],
        "name": spec["name"],
        "image": spec["image"],
        "image_pull_policy": spec["image_pull_policy"],
        "arguments": list(spec["arguments"]),
        "env_vars": [k8s.V1EnvVar(name=e["name"], value=e["value"]) for e in spec["env"]],
        "env_from": [
            k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=name))
            for name in spec["env_from_secrets"]
        ],
        "container_resources": k8s.V1ResourceRequirements(
            limits=dict(spec["resources"]["limits"]), requests=dict(spec["resources"]["requests"])
        ),
        "node_selector": dict(spec["node_selector"]),
        "tolerations": [k8s.V1Toleration(**t) for t in spec["tolerations"]],
        "service_account_name": spec["service_account_name"],
        "labels": dict(spec["labels"]),
        "annotations": dict(spec["annotations"]),
        "startup_timeout_seconds": spec["startup_timeout_seconds"],
        "active_deadline_seconds": spec["active_deadline_seconds"],
        "on_finish_action": spec["on_finish_action"],
        "deferrable": spec["deferrable"],
    }


class TrainingPodOperator(KubernetesPodOperator):
    """A ``KubernetesPodOperator`` whose pod comes from ``prepare_launch``'s XCom (see module doc)."""

    def __init__(self, *, launch_task_id: str = LAUNCH_TASK_ID, **kwargs):
        kwargs.setdefault("name", "llmops-train")
        kwargs.setdefault("get_logs", True)
        kwargs.setdefault("log_events_on_failure", True)
        super().__init__(**kwargs)
        self.launch_task_id = launch_task_id

    def apply_spec(self, spec: dict) -> None:
        kw = pod_operator_kwargs(spec)
        self.on_finish_action = OnFinishAction(kw.pop("on_finish_action"))
        self._is_delete_operator_pod = self.on_finish_action == OnFinishAction.DELETE_POD
        startup = kw.pop("startup_timeout_seconds")
        self.startup_timeout_seconds = self.schedule_timeout_seconds = startup
        self.env_vars = kw.pop("env_vars")
        for key, value in kw.items():
            setattr(self, key, value)

    def execute(self, context):
        self.apply_spec(_launch(context, self.launch_task_id, "kubernetes"))
        return super().execute(context)

    def trigger_reentry(self, context, event):
        self.apply_spec(_launch(context, self.launch_task_id, "kubernetes"))
        return super().trigger_reentry(context, event)


class TrainingJobOperator(SageMakerTrainingOperator):
    """A ``SageMakerTrainingOperator`` whose job comes from ``prepare_launch``'s XCom (see module doc)."""

    def __init__(self, *, launch_task_id: str = LAUNCH_TASK_ID, **kwargs):
        kwargs.setdefault("config", {})
        kwargs.setdefault("action_if_job_exists", "fail")  # a name clash never starts a renamed second job
        super().__init__(**kwargs)
        self.launch_task_id = launch_task_id
        self.base_name = ""

    def apply_spec(self, spec: dict, try_number: int) -> None:
        self.base_name = spec["base_name"]
        self.config = copy.deepcopy(spec["config"])
        self.config["TrainingJobName"] = job_name(self.base_name, try_number)
        self.aws_conn_id = spec["aws_conn_id"] or None
        self.region_name = spec.get("region_name")
        self.check_interval = spec["check_interval_seconds"]
        self.deferrable = spec["deferrable"]
        self.print_log = spec["print_log"]
        self.max_ingestion_time = spec.get("max_ingestion_time")
        self.__dict__.pop("hook", None)  # built for the connection just set

    def describe(self, name: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.hook.describe_training_job(name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ValidationException":
                return None  # what SageMaker answers for an unknown job name
            raise

    def reusable_job(self, try_number: int) -> tuple[str, dict] | None:
        """A running or completed job of this or an earlier try of this run (newest first)."""
        for name in earlier_job_names(self.base_name, try_number + 1):
            desc = self.describe(name)
            if desc and desc["TrainingJobStatus"] in ("InProgress", "Stopping", "Completed"):
                return name, desc
        return None

    def execute(self, context):
        try_number = int(context["ti"].try_number or 1)
        self.apply_spec(_launch(context, self.launch_task_id, "sagemaker"), try_number)
        found = self.reusable_job(try_number)
        if found is None:
            return super().execute(context)
        name, desc = found
        self.log.info(
            "adopting training job %s (%s) of an earlier try instead of starting another",
            name,
            desc["TrainingJobStatus"],
        )
        if desc["TrainingJobStatus"] != "Completed":
            if self.deferrable:
                self.defer(
                    trigger=SageMakerTrigger(
                        job_name=name,
                        job_type="Training",
                        waiter_delay=self.check_interval,
                        waiter_max_attempts=self.max_attempts,
                        aws_conn_id=self.aws_conn_id,
                        region_name=self.region_name,
                    ),
                    method_name="execute_complete",
                )
            desc = self.hook.check_status(
                name,
                "TrainingJobStatus",
                self.hook.describe_training_job,
                self.check_interval,
                self.max_ingestion_time,
            )
            if desc["TrainingJobStatus"] != "Completed":
                raise RuntimeError(
                    f"SageMaker job {name} ended {desc['TrainingJobStatus']}: {desc.get('FailureReason', '')}"
                )
        return self.serialize_result(name)

    def execute_complete(self, context, event=None):
        self.apply_spec(
            _launch(context, self.launch_task_id, "sagemaker"), int(context["ti"].try_number or 1)
        )
        return super().execute_complete(context, event)


KUBERNETES_TASK_DOC = """Backend `kubernetes`: a pod from the training image on the GPU node pool:
`nvidia.com/gpu` limit, CPU/memory requests from the plan, node selector and tolerations, service
account, S3 URIs as env and credentials only from a Kubernetes Secret (`envFrom`), deferrable, 30 min
startup timeout for node scale-up, pod log streamed. The pod writes the model to
`<work_uri>/<run>/model/` on S3."""

SAGEMAKER_TASK_DOC = """Backend `sagemaker`: a training job (instance type from the plan, channel `train`
= the published dataset, optional managed spot with checkpoints). The job name is fixed per DAG run
and try; a retry adopts a running or finished job instead of starting a second one."""


def kubernetes_training_task(task_id: str = TRAIN_TASK_IDS["kubernetes"], **kwargs):
    """The DAG's Kubernetes launch task (a :class:`TrainingPodOperator`)."""
    kwargs.setdefault("doc_md", KUBERNETES_TASK_DOC)
    return TrainingPodOperator(task_id=task_id, **kwargs)


def sagemaker_training_task(task_id: str = TRAIN_TASK_IDS["sagemaker"], **kwargs):
    """The DAG's SageMaker launch task (a :class:`TrainingJobOperator`)."""
    kwargs.setdefault("doc_md", SAGEMAKER_TASK_DOC)
    return TrainingJobOperator(task_id=task_id, **kwargs)
