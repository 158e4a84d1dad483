"""Typed settings of the remote training backends: ``kubernetes`` (a GPU pod) and ``sagemaker``
(a training job). Sections of :class:`include.config.training.TrainingConfig`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.config.base import _Strict

K8S_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class Toleration(_Strict):
    """A Kubernetes toleration of a node taint."""

    key: str | None = Field(None, description="taint key, e.g. nvidia.com/gpu")
    operator: Literal["Exists", "Equal"] = Field("Exists", description="Exists: any value; Equal: `value`")
    value: str | None = Field(None, description="taint value (operator Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        None, description="taint effect; null: every effect"
    )


class KubernetesSettings(_Strict):
    """``backend: kubernetes``: a GPU pod started with the cncf-kubernetes ``KubernetesPodOperator``."""

    image: str = Field(
        "",
        description="training image built from Dockerfile.training, e.g. "
        "registry.example.com/llmops-training:1.0 (required)",
    )
    namespace: str = Field("llmops", description="namespace of the pod")
    kubernetes_conn_id: str = Field(
        "kubernetes_default",
        description="Airflow connection; its extra in_cluster: true when Airflow runs in the cluster",
    )
    service_account: str | None = Field(
        "llmops-training",
        description="service account of the pod (IRSA / Workload Identity can replace the Secret)",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="when the node pulls the image"
    )
    gpus: int = Field(1, ge=1, description="nvidia.com/gpu limit")
    gpu_resource: str = Field("nvidia.com/gpu", description="extended resource name of the GPUs")
    cpu_request: str | None = Field(None, pattern=K8S_QUANTITY, description="null: cpus_per_gpu x gpus")
    cpus_per_gpu: int = Field(4, ge=1, description="CPU request per GPU when cpu_request is null")
    memory_request: str | None = Field(
        None,
        pattern=K8S_QUANTITY,
        description="null: the planner's required GB + host_overhead_gib (weights are staged in host RAM)",
    )
    host_overhead_gib: int = Field(8, ge=0, description="host memory added to the planner's estimate")
    node_selector: dict[str, str] = Field(
        {}, description='GPU node pool labels, e.g. {"cloud.google.com/gke-accelerator": "nvidia-l4"}'
    )
    select_gpu_product: bool = Field(
        False,
        description="also require nvidia.com/gpu.product=<planner's GPU> (NVIDIA GPU feature discovery)",
    )
    tolerations: list[Toleration] = Field(
        [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        description="taints of the GPU node pool the pod tolerates",
    )
    credentials_secret: str | None = Field(
        "llmops-training-s3",
        description="Secret whose keys become env (AWS_ACCESS_KEY_ID, ...); null: none",
    )
    s3_endpoint_url: str | None = Field(None, description="AWS_ENDPOINT_URL in the pod (MinIO); null: AWS")
    env: dict[str, str] = Field(
        {}, description="extra non-secret environment (credential-like keys are refused)"
    )
    labels: dict[str, str] = Field({}, description="extra pod labels")
    startup_timeout_seconds: int = Field(
        1800, ge=60, description="how long the pod may wait to start (GPU node scale-up takes minutes)"
    )
    active_deadline_seconds: int | None = Field(
        None, ge=60, description="the pod is stopped after this long; null: no deadline"
    )
    on_finish_action: Literal["delete_pod", "delete_succeeded_pod", "keep_pod"] = Field(
        "delete_succeeded_pod", description="what happens to the pod when it ends"
    )
    deferrable: bool = Field(True, description="wait in the triggerer, not in a worker slot")


class SagemakerSettings(_Strict):
    """``backend: sagemaker``: a SageMaker training job started with the amazon ``SageMakerTrainingOperator``."""

    image_uri: str = Field("", description="ECR image built from Dockerfile.training (required)")
    role_arn: str = Field(
        "",
        description="execution role with S3 read/write on the dataset, work and registry buckets (required)",
    )
    aws_conn_id: str = Field(
        "aws_default", description="Airflow AWS connection that starts and watches the job"
    )
    region_name: str | None = Field(None, description="AWS region of the job; null: the connection's")
    instance_type: str | None = Field(None, description="null: the planner's sagemaker_instance")
    instance_count: int = Field(1, ge=1, description="instances of the job")
    volume_size_gb: int = Field(100, ge=1, description="EBS volume per instance (model, data, checkpoints)")
    max_runtime_seconds: int = Field(86400, ge=60, description="the job is stopped after this long")
    use_spot: bool = Field(False, description="managed spot training (needs checkpoint_s3_uri)")
    max_wait_seconds: int | None = Field(
        None, ge=60, description="spot: >= max_runtime_seconds; null = 2 x max_runtime_seconds"
    )
    checkpoint_s3_uri: str | None = Field(
        None, description="the job syncs /opt/ml/checkpoints to <this>/<job base name>/"
    )
    output_s3_uri: str | None = Field(
        None,
        description="null: <run folder>/sagemaker (model.tar.gz lands in <this>/<job name>/output/)",
    )
    job_name_prefix: str = Field(
        "llmops", pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,30}$", description="job names: <prefix>-<run hash>"
    )
    check_interval_seconds: int = Field(60, ge=1, description="how often the job's status is polled")
    deferrable: bool = Field(True, description="wait in the triggerer, not in a worker slot")
    print_log: bool = Field(True, description="stream the job's CloudWatch log into the task log")
    tags: dict[str, str] = Field({}, description="extra tags of the job")

    @model_validator(mode="after")
    def _spot_needs_checkpoints(self):
        if self.use_spot and not self.checkpoint_s3_uri:
            raise ValueError(
                "sagemaker.checkpoint_s3_uri is required with sagemaker.use_spot (spot capacity is "
                "reclaimed; training resumes from the checkpoints)"
            )
        if (
            self.use_spot
            and self.max_wait_seconds is not None
            and self.max_wait_seconds < self.max_runtime_seconds
        ):
            raise ValueError("sagemaker.max_wait_seconds must be >= sagemaker.max_runtime_seconds")
        return self
