"""SageMaker backend: the rendered create_training_job request, job naming, container config, unpacking."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from include.config import ConfigError
from include.config.training import load_training_config
from include.training.backends import BackendError
from include.training.backends import sagemaker as sm
from include.training.sagemaker_container import sagemaker_config

PLAN = {"gpu": "L4-24GB", "sagemaker_instance": "ml.g6.xlarge", "required_gb": 7.2}
SM = {
    "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/llmops-training:1.0",
    "role_arn": "arn:aws:iam::123456789012:role/llmops-training",
}


def _cfg(**sagemaker):
    return load_training_config(
        {"train": {"max_steps": 50, "learning_rate": 2e-4}},
        base_model="org/tiny",
        backend="sagemaker",
        dataset_uri="s3://work/run/trainset",
        output_uri="s3://work/run/model",
        sagemaker={**SM, **sagemaker},
    )


def _render(cfg, name="llmops-abc", base="llmops-abc"):
    return sm.training_job_config(
        cfg,
        PLAN,
        name=name,
        base_name=base,
        config_uri="s3://work/run/launch_config.json",
        dataset_uri="s3a://data/versions/ds-1/curated",
        output_s3_uri="s3://work/run/sagemaker",
    )


def test_rendered_request():
    cfg = _cfg()
    c = _render(cfg)
    assert c["TrainingJobName"] == "llmops-abc" and c["RoleArn"] == SM["role_arn"]
    assert c["AlgorithmSpecification"] == {"TrainingImage": SM["image_uri"], "TrainingInputMode": "File"}
    channels = {ch["ChannelName"]: ch["DataSource"]["S3DataSource"]["S3Uri"] for ch in c["InputDataConfig"]}
    assert channels == {
        "train": "s3://data/versions/ds-1/curated/",
        "config": "s3://work/run/launch_config.json",
    }
    assert c["OutputDataConfig"] == {"S3OutputPath": "s3://work/run/sagemaker"}
    assert c["ResourceConfig"] == {"InstanceType": "ml.g6.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
    assert c["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert c["EnableManagedSpotTraining"] is False and "CheckpointConfig" not in c
    hp = c["HyperParameters"]
    assert all(isinstance(v, str) for v in hp.values())
    assert hp["config_hash"] == cfg.digest() and hp["max_steps"] == "50" and hp["learning_rate"] == "0.0002"
    assert hp["method"] == "sft" and hp["peft"] == "lora" and hp["checkpoints"] == "false"
    assert json.dumps(c)  # plain data: travels as XCom
    forced = _render(_cfg(instance_type="ml.g5.2xlarge", instance_count=2))
    assert (
        forced["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge"
        and forced["ResourceConfig"]["InstanceCount"] == 2
    )


def test_tokenized_set_travels_as_a_channel_and_as_the_pod_argument():
    from include.training.backends.kubernetes import pod_spec

    tokenized = "s3://work/_tokenized/0123abcd"
    c = sm.training_job_config(
        _cfg(),
        PLAN,
        name="j",
        base_name="j",
        config_uri="s3://work/run/launch_config.json",
        dataset_uri="s3://data/curated",
        output_s3_uri="s3://work/run/sagemaker",
        tokenized_uri=tokenized,
    )
    channels = {ch["ChannelName"]: ch["DataSource"]["S3DataSource"]["S3Uri"] for ch in c["InputDataConfig"]}
    assert channels["tokenized"] == tokenized + "/"  # copied to /opt/ml/input/data/tokenized
    assert sm.container_paths("/opt/ml")["tokenized"].as_posix() == "/opt/ml/input/data/tokenized"

    k8s = load_training_config(
        {},
        base_model="org/tiny",
        backend="kubernetes",
        dataset_uri="s3://work/run/trainset",
        output_uri="s3://work/run/model",
        kubernetes={"image": "img:1"},
    )
    pod = pod_spec(k8s, PLAN, config_uri="s3://c", run_id="r", adapter_name="a", tokenized_uri=tokenized)
    assert pod["arguments"][-2:] == ["--tokenized-uri", "$(LLMOPS_TOKENIZED_URI)"]
    assert {"name": "LLMOPS_TOKENIZED_URI", "value": tokenized} in pod["env"]
    plain = pod_spec(k8s, PLAN, config_uri="s3://c", run_id="r", adapter_name="a")
    assert "--tokenized-uri" not in plain["arguments"]
    assert all(e["name"] != "LLMOPS_TOKENIZED_URI" for e in plain["env"])


def test_managed_spot_needs_and_uses_a_per_run_checkpoint_prefix():
    with pytest.raises(ConfigError, match="sagemaker.checkpoint_s3_uri is required with sagemaker.use_spot"):
        _cfg(use_spot=True)
    c = _render(
        _cfg(use_spot=True, checkpoint_s3_uri="s3://ckpt/llmops", max_runtime_seconds=3600),
        name="b-t2",
        base="b",
    )
    assert c["EnableManagedSpotTraining"] is True
    assert c["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    # the base name, not the try's name: a retry resumes the checkpoints of the try before it
    assert c["CheckpointConfig"] == {"S3Uri": "s3://ckpt/llmops/b/", "LocalPath": "/opt/ml/checkpoints"}
    assert c["HyperParameters"]["checkpoints"] == "true"


def test_job_names_are_deterministic_per_run_and_try():
    a = sm.job_base_name("llmops", "finetune_adapter", "manual__2026-01-01T00:00:00+00:00")
    assert a == sm.job_base_name("llmops", "finetune_adapter", "manual__2026-01-01T00:00:00+00:00")
    assert a != sm.job_base_name("llmops", "finetune_adapter", "manual__2026-01-02T00:00:00+00:00")
    assert a.startswith("llmops-") and len(a) <= 63
    assert sm.job_name(a, 1) == a and sm.job_name(a, 3) == f"{a}-t3"
    assert sm.earlier_job_names(a, 3) == [f"{a}-t2", a] and sm.earlier_job_names(a, 1) == []


def test_validation():
    with pytest.raises(BackendError, match="needs sagemaker.role_arn"):
        sm.validate(
            load_training_config(
                base_model="m", dataset_uri="s3://b/d", output_uri="s3://b/o", sagemaker={"image_uri": "img"}
            )
        )
    with pytest.raises(BackendError, match="sagemaker.output_s3_uri must be s3://"):
        sm.validate(_cfg(output_s3_uri="/tmp/out"))
    with pytest.raises(BackendError, match="no SageMaker instance type"):
        sm.training_job_config(
            _cfg(),
            {},
            name="n",
            base_name="n",
            config_uri="s3://b/c.json",
            dataset_uri="s3://b/d",
            output_s3_uri="s3://b/o",
        )


def test_container_config_from_the_sagemaker_layout(tmp_path, monkeypatch):
    cfg = _cfg(use_spot=True, checkpoint_s3_uri="s3://ckpt/x")
    paths = sm.container_paths(str(tmp_path))
    paths["config_dir"].mkdir(parents=True)
    (paths["config_dir"] / "launch_config.json").write_text(json.dumps(cfg.to_dict()))
    paths["hyperparameters"].parent.mkdir(parents=True)
    paths["hyperparameters"].write_text(json.dumps(sm.hyperparameters(cfg)))
    monkeypatch.setenv(sm.SM_ROOT_ENV, str(tmp_path))
    inside = sagemaker_config()
    assert inside.dataset_uri == str(tmp_path / "input/data/train") and inside.output_uri == str(
        tmp_path / "model"
    )
    assert inside.train.checkpoint_dir == str(tmp_path / "checkpoints") and inside.train.max_steps == 50
    paths["hyperparameters"].write_text(json.dumps({**sm.hyperparameters(cfg), "config_hash": "0" * 16}))
    with pytest.raises(ConfigError, match="the job was started with another config"):
        sagemaker_config()


def _tar(tmp_path, members: dict) -> str:
    path = tmp_path / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_unpack_model_tar_locally_and_refuses_escapes(tmp_path):
    tar = _tar(tmp_path, {"./adapter_config.json": b"{}", "sub/extra.txt": b"x"})
    assert sm.unpack_model_tar(tar, str(tmp_path / "model")) == ["adapter_config.json", "sub/extra.txt"]
    assert (tmp_path / "model" / "sub" / "extra.txt").read_bytes() == b"x"
    cases = [
        ({"../evil": b"x"}, "escapes the model folder"),
        ({"/abs": b"x"}, "escapes"),
        ({"link": None}, "is a link or device"),
    ]
    for i, (bad, message) in enumerate(cases):
        d = tmp_path / f"bad{i}"
        d.mkdir()
        with pytest.raises(BackendError, match=message):
            sm.unpack_model_tar(_tar(d, bad), str(d / "model"))
    with pytest.raises(BackendError, match="model artifact not found"):
        sm.unpack_model_tar(str(tmp_path / "missing.tar.gz"), str(tmp_path / "m2"))
