"""finetune_adapter's remote backends, without a cluster or an AWS account.

* kubernetes: the exact ``V1Pod`` the DAG's ``train_kubernetes`` operator would submit, rendered from
  a real plan and launch (S3 on moto's server), checked field by field and for leaked secrets;
* sagemaker: the whole DAG with ``backend=sagemaker`` run by ``dag.test()``; the real
  ``SageMakerTrainingOperator`` talks to moto's SageMaker + S3 server on 127.0.0.1 through an Airflow
  AWS connection. moto completes jobs at once without running the image, so the job's
  ``model.tar.gz`` is produced beforehand by the real entry point in the SageMaker container layout
  (``python -m include.training.train train``) and uploaded where the job's output goes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import pytest

from tests.dags.test_finetune_adapter_e2e import HP, _states
from tests.dags.test_finetune_adapter_e2e import dag as dag  # noqa: F401 - module fixture

pytestmark = [pytest.mark.dag, pytest.mark.slow]

SM = {
    "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/llmops-training:1.0",
    "role_arn": "arn:aws:iam::123456789012:role/llmops-training",
}
CONN_SECRET = "conn-pa55word-7d1e"  # in the Airflow connection
ENV_SECRET = "env-s3cr3t-key-42aa"  # in the worker's environment


def _upload_dir(local: Path, bucket: str, prefix: str) -> str:
    s3 = boto3.client("s3")
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        s3.upload_file(str(f), bucket, f"{prefix}/{f.relative_to(local).as_posix()}")
    return f"s3://{bucket}/{prefix}"


@pytest.fixture
def moto_conn(s3_server, monkeypatch):
    """An Airflow AWS connection to moto's server (endpoint in extra), with a recognisable password."""
    conn = {
        "conn_type": "aws",
        "login": "AKIACONNLOGIN",
        "password": CONN_SECRET,
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LLMOPS_MOTO", json.dumps(conn))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET)  # moto accepts any key
    return "llmops_moto"


def _conf(tiny_model_dir, dataset_uri, bucket, backend, moto_conn, **backend_cfg):
    hp = {**HP, backend: backend_cfg}
    return {
        "dataset_uri": dataset_uri,
        "base_model": str(tiny_model_dir),
        "method": "sft",
        "peft": "lora",
        "backend": backend,
        "registry_uri": f"s3://{bucket}/adapters",
        "adapter_name": "tiny-remote",
        "hyperparameters": hp,
        "work_uri": f"s3://{bucket}/work",
        "aws_conn_id": moto_conn,
        "promote": False,
    }


def test_kubernetes_pod_the_operator_would_submit(dag, tiny_model_dir, canonical_dir, s3_bucket, moto_conn):  # noqa: F811
    from llmops_airflow.finetune import plan_run, prepare_launch
    from llmops_airflow.launchers import LAUNCH_TASK_ID

    dataset = _upload_dir(canonical_dir, s3_bucket, "data/curated")
    conf = _conf(
        tiny_model_dir,
        dataset,
        s3_bucket,
        "kubernetes",
        moto_conn,
        image="ghcr.io/acme/llmops-training:1.0",
        namespace="ml-train",
        service_account="trainer",
        node_selector={"cloud.google.com/gke-accelerator": "nvidia-l4"},
        select_gpu_product=True,
        credentials_secret="llmops-s3",
        s3_endpoint_url="http://minio.llmops:9000",
        env={"HF_HUB_OFFLINE": "1"},
    )
    run = plan_run(conf, "manual__k8s")
    task_id, launch = prepare_launch(run, "finetune_adapter")
    assert task_id == "train_kubernetes" and launch["production"]["skipped"].startswith(
        "no production adapter"
    )

    op = dag.get_task("train_kubernetes")
    assert op.launch_task_id == LAUNCH_TASK_ID
    op.apply_spec(launch["kubernetes"])
    pod = op.build_pod_request_obj(dry_run=True)  # what execute() submits, minus the run's labels
    assert pod.metadata.namespace == "ml-train" and pod.metadata.name.startswith("llmops-train-tiny-remote-")
    spec = pod.spec
    (c,) = spec.containers
    assert (
        c.image == "ghcr.io/acme/llmops-training:1.0" and c.name == "base" and spec.restart_policy == "Never"
    )
    assert c.args == [
        "--config",
        "$(LLMOPS_TRAINING_CONFIG_URI)",
        "--dataset-uri",
        "$(LLMOPS_DATASET_URI)",
        "--output-uri",
        "$(LLMOPS_OUTPUT_URI)",
    ]
    required_gib = math.ceil(
        run["plan"]["required_gb"] * 1e9 / 2**30
    )  # the planner's estimate (CUDA overhead incl.)
    mem = f"{required_gib + 8}Gi"  # + host_overhead_gib
    assert mem == "10Gi"
    assert c.resources.limits == {"nvidia.com/gpu": "1", "memory": mem}
    assert c.resources.requests == {"cpu": "4", "memory": mem}
    assert spec.node_selector == {
        "cloud.google.com/gke-accelerator": "nvidia-l4",
        "nvidia.com/gpu.product": "NVIDIA-L4",
    }
    assert [(t.key, t.operator, t.effect) for t in spec.tolerations] == [
        ("nvidia.com/gpu", "Exists", "NoSchedule")
    ]
    assert spec.service_account_name == "trainer"
    env = {e.name: e.value for e in c.env}
    root = f"s3://{s3_bucket}/work/manual__k8s"
    assert env["LLMOPS_TRAINING_CONFIG_URI"] == f"{root}/launch_config.json"
    assert env["LLMOPS_DATASET_URI"] == f"{root}/trainset" and env["LLMOPS_OUTPUT_URI"] == f"{root}/model"
    assert env["AWS_ENDPOINT_URL"] == "http://minio.llmops:9000" and env["HF_HUB_OFFLINE"] == "1"
    assert [e.secret_ref.name for e in c.env_from] == ["llmops-s3"]  # credentials only by reference
    assert pod.metadata.labels["llmops/method"] == "sft" and pod.metadata.labels["app.kubernetes.io/name"]
    assert op.startup_timeout_seconds == 1800 and op.deferrable is True and op.get_logs is True
    assert op.on_finish_action.value == "delete_succeeded_pod"
    launch_cfg = json.loads(
        boto3.client("s3")
        .get_object(Bucket=s3_bucket, Key="work/manual__k8s/launch_config.json")["Body"]
        .read()
    )
    assert launch_cfg["backend"] == "kubernetes" and launch_cfg["output_uri"] == f"{root}/model"

    serialized = json.dumps(pod.to_dict(), default=str) + json.dumps(launch) + json.dumps(launch_cfg)
    for secret in (CONN_SECRET, ENV_SECRET, os.environ["AWS_SECRET_ACCESS_KEY"], "AKIACONNLOGIN"):
        assert secret not in serialized


@pytest.fixture(scope="module")
def container_model_tar(tmp_path_factory, tiny_model_dir, canonical_dir):
    """model.tar.gz as a SageMaker job uploads it: the entry point run as the image runs it
    (``<entrypoint> train``) in the /opt/ml layout (rooted in a temp folder)."""
    from include.config.training import hyperparameters_to_overrides, load_training_config
    from include.training.backends import sagemaker as sm

    root = tmp_path_factory.mktemp("opt_ml")
    paths = sm.container_paths(str(root))
    cfg = load_training_config(
        hyperparameters_to_overrides(HP),
        base_model=str(tiny_model_dir),
        backend="sagemaker",
        dataset_uri="s3://any/trainset",
        output_uri="s3://any/model",
        sagemaker=SM,
    )
    paths["config_dir"].mkdir(parents=True)
    (paths["config_dir"] / "launch_config.json").write_text(json.dumps(cfg.to_dict()))
    paths["hyperparameters"].parent.mkdir(parents=True)
    paths["hyperparameters"].write_text(json.dumps(sm.hyperparameters(cfg)))
    shutil.copytree(canonical_dir, paths["train"])
    # the tokenized channel: the set build_set makes for this dataset and config
    from include.training.dataset import prepare_training_set
    from include.training.tokenized_set import prepare_for_config

    tok = prepare_for_config(
        cfg, prepare_training_set(str(canonical_dir), "sft", cfg.data), str(root / "cache")
    )
    shutil.copytree(tok["uri"], paths["tokenized"])
    env = {**os.environ, sm.SM_ROOT_ENV: str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "include.training.train", "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "step 3/3" in proc.stdout and (paths["model"] / "adapter_model.safetensors").exists()
    assert f"reading tokenized set {tok['key']} from {paths['tokenized']} (no tokenization)" in proc.stdout
    tar_path = root / "model.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for f in sorted(paths["model"].iterdir()):
            tar.add(f, arcname=f.name)
    return tar_path


def test_sagemaker_backend_end_to_end_on_moto(
    dag,
    tiny_model_dir,
    canonical_dir,
    s3_bucket,
    moto_conn,  # noqa: F811
    container_model_tar,
):
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    from include.run import safe_run_id
    from include.training.backends.sagemaker import job_base_name, model_artifact_uri

    dataset = _upload_dir(canonical_dir, s3_bucket, "data/curated")
    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=when, run_after=when)
    job = job_base_name("llmops", "finetune_adapter", run_id)  # try 1: the base name
    safe_run = safe_run_id(run_id)
    artifact = model_artifact_uri(f"s3://{s3_bucket}/work/{safe_run}/sagemaker", job)
    boto3.client("s3").upload_file(str(container_model_tar), s3_bucket, artifact.split("/", 3)[3])

    conf = _conf(
        tiny_model_dir,
        dataset,
        s3_bucket,
        "sagemaker",
        moto_conn,
        **SM,
        aws_conn_id=moto_conn,
        check_interval_seconds=1,
        deferrable=False,
        print_log=False,
        use_spot=True,
        checkpoint_s3_uri=f"s3://{s3_bucket}/checkpoints",
    )
    dr = dag.test(run_after=when, logical_date=when, run_conf=conf)
    states = _states(dr)
    assert str(dr.state) == "success", states
    assert states["train"] == "skipped" and states["train_kubernetes"] == "skipped"
    assert states["train_sagemaker"] == states["unpack_sagemaker_model"] == "success"

    desc = boto3.client("sagemaker", region_name="us-east-1").describe_training_job(TrainingJobName=job)
    assert desc["TrainingJobStatus"] == "Completed" and desc["RoleArn"] == SM["role_arn"]
    assert desc["AlgorithmSpecification"]["TrainingImage"] == SM["image_uri"]
    assert desc["ResourceConfig"]["InstanceType"] == "ml.g6.xlarge"  # the planner's instance
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in desc["InputDataConfig"]}
    build = next(ti for ti in dr.get_task_instances() if ti.task_id == "build_set").xcom_pull(
        task_ids="build_set"
    )
    assert build["tokenized"]["uri"].startswith(f"s3://{s3_bucket}/work/_tokenized/")
    assert channels == {
        "train": dataset + "/",
        "config": f"s3://{s3_bucket}/work/{safe_run}/launch_config.json",
        "tokenized": build["tokenized"]["uri"] + "/",  # the job reads it instead of tokenizing again
    }
    assert desc["EnableManagedSpotTraining"] is True
    assert desc["CheckpointConfig"]["S3Uri"] == f"s3://{s3_bucket}/checkpoints/{job}/"
    assert (
        desc["HyperParameters"]["max_steps"] == "3" and desc["ModelArtifacts"]["S3ModelArtifacts"] == artifact
    )

    s3 = boto3.client("s3")
    reg = json.loads(s3.get_object(Bucket=s3_bucket, Key=f"work/{safe_run}/registration.json")["Body"].read())
    assert reg["version"] == 1 and reg["gate"] == "passed"
    manifest = json.loads(
        s3.get_object(Bucket=s3_bucket, Key="adapters/tiny-remote/v1/manifest.json")["Body"].read()
    )
    assert manifest["config"]["backend"] == "sagemaker" and manifest["metrics"]["global_steps"] == 3
    assert manifest["training_run"]["model_uri"] == f"s3://{s3_bucket}/work/{safe_run}/model"


def test_a_retry_adopts_the_job_of_an_earlier_try(dag, s3_bucket, moto_conn):  # noqa: F811
    """Try 2 finds try 1's job (completed on moto) instead of starting a second one."""
    from include.config.training import load_training_config
    from include.training.backends import sagemaker as sm

    boto3.client("s3").put_object(Bucket=s3_bucket, Key="d/curated/part-0.parquet", Body=b"x")
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="w/launch_config.json", Body=b"{}")
    cfg = load_training_config(
        base_model="m",
        dataset_uri=f"s3://{s3_bucket}/d/curated",
        output_uri=f"s3://{s3_bucket}/w/model",
        sagemaker=SM,
    )
    base = sm.job_base_name("llmops", "finetune_adapter", f"manual__retry_{s3_bucket}")
    config = sm.training_job_config(
        cfg,
        {"sagemaker_instance": "ml.g6.xlarge"},
        name=base,
        base_name=base,
        config_uri=f"s3://{s3_bucket}/w/launch_config.json",
        dataset_uri=f"s3://{s3_bucket}/d/curated",
        output_s3_uri=f"s3://{s3_bucket}/w/sm",
    )
    op = dag.get_task("train_sagemaker")
    spec = {
        "base_name": base,
        "config": config,
        "aws_conn_id": moto_conn,
        "region_name": "us-east-1",
        "check_interval_seconds": 1,
        "deferrable": False,
        "print_log": False,
    }
    op.apply_spec(spec, try_number=2)
    assert op.config["TrainingJobName"] == f"{base}-t2" and op.reusable_job(2) is None
    op.hook.get_conn().create_training_job(**{**config, "TrainingJobName": base})  # try 1 started it
    op.apply_spec(spec, try_number=2)
    name, desc = op.reusable_job(2)
    assert name == base and desc["TrainingJobStatus"] == "Completed"
