"""``backend: kubernetes``: the pieces of the GPU pod that runs the training entry point.

:func:`pod_spec` turns a validated training config and the memory plan into plain data
(JSON-serialisable, so it travels as XCom); ``llmops_airflow.launchers`` maps it onto a
``KubernetesPodOperator``. What the pod gets:

* the training image (its ENTRYPOINT is ``python -m include.training.train``) with
  ``--config $(LLMOPS_TRAINING_CONFIG_URI) --dataset-uri $(LLMOPS_DATASET_URI) --output-uri
  $(LLMOPS_OUTPUT_URI)`` (Kubernetes expands ``$(VAR)`` from the container env), and
  ``--tokenized-uri $(LLMOPS_TOKENIZED_URI)`` when ``build_set`` wrote a tokenized set;
* resources: ``nvidia.com/gpu`` limit, CPU request (``cpus_per_gpu`` x GPUs) and memory request
  from the planner (required GB + host overhead), memory limit = request;
* ``node_selector`` / ``tolerations`` of the GPU node pool, service account;
* env: the S3 URIs and settings (no secrets); credentials only through ``envFrom`` of the
  Kubernetes Secret named by ``kubernetes.credentials_secret`` (or the service account's cloud
  identity). Env keys that look like credentials are refused.
"""

from __future__ import annotations

import hashlib
import math
import re

from include.config.training import TrainingConfig
from include.training.backends import BackendError, require_remote_uris

ENV_CONFIG = "LLMOPS_TRAINING_CONFIG_URI"
ENV_DATASET = "LLMOPS_DATASET_URI"
ENV_OUTPUT = "LLMOPS_OUTPUT_URI"
ENV_TOKENIZED = "LLMOPS_TOKENIZED_URI"
ENTRYPOINT_ARGS = [
    "--config",
    f"$({ENV_CONFIG})",
    "--dataset-uri",
    f"$({ENV_DATASET})",
    "--output-uri",
    f"$({ENV_OUTPUT})",
]
SECRET_LIKE = re.compile(r"(SECRET|PASSWORD|TOKEN|CREDENTIAL|ACCESS_KEY|PRIVATE_KEY)", re.IGNORECASE)
GIB = 2**30


def _label(value: str) -> str:
    """A valid label value (<= 63 chars of [A-Za-z0-9._-], alphanumeric at both ends)."""
    v = re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-._")
    if len(v) > 63:
        v = v[:54].rstrip("-._") + "-" + hashlib.sha256(value.encode()).hexdigest()[:8]
    return v


def pod_name(adapter_name: str) -> str:
    """DNS-1123 pod name prefix (the operator appends a random suffix)."""
    base = re.sub(r"[^a-z0-9-]+", "-", adapter_name.lower()).strip("-")[:40].strip("-")
    return f"llmops-train-{base}" if base else "llmops-train"


def memory_request(cfg: TrainingConfig, plan: dict) -> str:
    if cfg.kubernetes.memory_request:
        return cfg.kubernetes.memory_request
    required = float(plan.get("required_gb") or 0.0) * 1e9
    return f"{math.ceil(required / GIB) + cfg.kubernetes.host_overhead_gib}Gi"


def validate(cfg: TrainingConfig) -> None:
    k = cfg.kubernetes
    if not k.image:
        raise BackendError(
            "backend 'kubernetes' needs kubernetes.image: the training image built from "
            "Dockerfile.training (see README 'Where training runs')"
        )
    secretish = sorted(key for key in k.env if SECRET_LIKE.search(key))
    if secretish:
        raise BackendError(
            f"kubernetes.env must not carry credentials ({', '.join(secretish)}): put them in the "
            "Kubernetes Secret named by kubernetes.credentials_secret"
        )
    require_remote_uris(cfg, "kubernetes")


def pod_spec(
    cfg: TrainingConfig,
    plan: dict,
    *,
    config_uri: str,
    run_id: str,
    adapter_name: str,
    tokenized_uri: str | None = None,
) -> dict:
    """Everything the pod needs, as plain data (see the module doc); with ``tokenized_uri`` the pod
    trains from that tokenized set (``--tokenized-uri``) instead of tokenizing again."""
    validate(cfg)
    k = cfg.kubernetes
    node_selector = dict(k.node_selector)
    if k.select_gpu_product and plan.get("k8s_gpu_product"):
        node_selector["nvidia.com/gpu.product"] = plan["k8s_gpu_product"]
    memory = memory_request(cfg, plan)
    env = {
        ENV_CONFIG: config_uri,
        ENV_DATASET: cfg.dataset_uri,
        ENV_OUTPUT: cfg.output_uri,
        **({ENV_TOKENIZED: tokenized_uri} if tokenized_uri else {}),
        "PYTHONUNBUFFERED": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **({"AWS_ENDPOINT_URL": k.s3_endpoint_url} if k.s3_endpoint_url else {}),
        **k.env,
    }
    labels = {
        "app.kubernetes.io/name": "llmops-training",
        "app.kubernetes.io/component": "trainer",
        "llmops/adapter": _label(adapter_name),
        "llmops/method": cfg.method,
        "llmops/config-hash": cfg.digest(),
        **{key: _label(v) for key, v in k.labels.items()},
    }
    return {
        "kubernetes_conn_id": k.kubernetes_conn_id,
        "namespace": k.namespace,
        "name": pod_name(adapter_name),
        "image": k.image,
        "image_pull_policy": k.image_pull_policy,
        "arguments": [
            *ENTRYPOINT_ARGS,
            *(["--tokenized-uri", f"$({ENV_TOKENIZED})"] if tokenized_uri else []),
        ],
        "env": [{"name": key, "value": str(value)} for key, value in env.items()],
        "env_from_secrets": [k.credentials_secret] if k.credentials_secret else [],
        "resources": {
            "limits": {k.gpu_resource: str(k.gpus), "memory": memory},
            "requests": {"cpu": k.cpu_request or str(k.cpus_per_gpu * k.gpus), "memory": memory},
        },
        "node_selector": node_selector,
        "tolerations": [t.model_dump(exclude_none=True) for t in k.tolerations],
        "service_account_name": k.service_account,
        "labels": labels,
        "annotations": {"llmops/run-id": run_id, "llmops/gpu": str(plan.get("gpu"))},
        "startup_timeout_seconds": k.startup_timeout_seconds,
        "active_deadline_seconds": k.active_deadline_seconds,
        "on_finish_action": k.on_finish_action,
        "deferrable": k.deferrable,
    }
