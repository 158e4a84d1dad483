"""finetune_adapter run for real with dag.test(): tiny model, local backend, registry on a real S3 server."""

from __future__ import annotations

import json

import boto3
import pytest
from airflow.sdk.exceptions import AirflowFailException

pytestmark = [pytest.mark.dag, pytest.mark.slow]

HP = {
    "max_steps": 3,
    "learning_rate": 5e-3,
    "per_device_train_batch_size": 2,
    "logging_steps": 1,
    "data": {"max_length": 128, "max_rows": 12, "eval_fraction": 0.2},
}


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags["finetune_adapter"]


def _states(dag_run) -> dict:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _conf(tiny_model_dir, canonical_dir, tmp_path, bucket, **over):
    conf = {
        "dataset_uri": str(canonical_dir),
        "base_model": str(tiny_model_dir),
        "method": "sft",
        "peft": "lora",
        "backend": "local",
        "registry_uri": f"s3://{bucket}/adapters",
        "adapter_name": "tiny-sft",
        "hyperparameters": HP,
        "work_uri": str(tmp_path / "work"),
        "aws_conn_id": "",
        "promote": False,
    }
    conf.update(over)
    return conf


def test_shape_schedule_and_params(dag):
    order = ["plan", "build_set", "prepare_launch", "train", "evaluate", "register", "promote"]
    remote = ["train_kubernetes", "train_sagemaker", "unpack_sagemaker_model"]
    assert {t.task_id for t in dag.tasks} == set(order + remote)
    for a, b in zip(order, order[1:], strict=False):
        assert b in dag.get_task(a).downstream_task_ids
    assert dag.get_task("prepare_launch").downstream_task_ids == {
        "train",
        "train_kubernetes",
        "train_sagemaker",
    }
    assert dag.get_task("train_sagemaker").downstream_task_ids == {"unpack_sagemaker_model"}
    assert dag.get_task("evaluate").upstream_task_ids >= {
        "train",
        "train_kubernetes",
        "unpack_sagemaker_model",
    }
    assert dag.get_task("evaluate").trigger_rule == "none_failed_min_one_success"
    assert type(dag.get_task("train_kubernetes")).__mro__[1].__name__ == "KubernetesPodOperator"
    assert type(dag.get_task("train_sagemaker")).__mro__[1].__name__ == "SageMakerTrainingOperator"
    assert dag.params.get_param("promote").schema["type"] == "boolean" and dag.params["promote"] is False
    assert all(t.retries >= 2 for t in dag.tasks)
    from llmops_airflow.finetune import CURATED_DATASET_ASSET

    assert CURATED_DATASET_ASSET in dag.timetable.asset_condition.objects  # scheduled on the curated dataset
    for name in (
        "dataset_uri",
        "base_model",
        "method",
        "peft",
        "backend",
        "registry_uri",
        "adapter_name",
        "hyperparameters",
    ):
        param = dag.params.get_param(name)
        assert param.schema.get("title") and len(param.description or "") > 20, name
    assert dag.params.get_param("method").schema["enum"] == ["sft", "reward", "dpo", "grpo"]
    assert dag.params.get_param("peft").schema["enum"] == ["none", "lora", "qlora"]
    assert dag.params.get_param("backend").schema["enum"] == ["local", "kubernetes", "sagemaker"]
    assert dag.params.get_param("hyperparameters").schema["type"] == "object"
    for t in dag.tasks:  # the UI shows each task's doc (TaskFlow: the function's docstring)
        assert len(t.doc_md or "") > 60, t.task_id


def test_promote_adapter_task_has_its_doc(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    dag = DagBag(dag_folder=str(DAGS)).dags["promote_adapter"]
    assert [t.task_id for t in dag.tasks] == ["review", "approve", "promote"]
    assert "force" in dag.get_task("promote").doc_md
    assert "require_approval" in dag.get_task("approve").doc_md


def test_end_to_end_local_backend_registers_the_adapter(
    dag, tiny_model_dir, canonical_dir, tmp_path, s3_bucket
):
    dr = dag.test(run_conf=_conf(tiny_model_dir, canonical_dir, tmp_path, s3_bucket))
    assert str(dr.state) == "success", _states(dr)
    runs = [p for p in (tmp_path / "work").iterdir() if p.name != "_tokenized"]  # + the shared cache
    assert len(runs) == 1
    run_dir = runs[0]
    plan = json.loads((run_dir / "plan.json").read_text())
    assert plan["plan"]["gpu"] == "L4-24GB" and plan["plan"]["sagemaker_instance"] == "ml.g6.xlarge"
    trainset = json.loads((run_dir / "trainset" / "trainset.json").read_text())
    assert trainset["method"] == "sft" and trainset["train_rows"] == 12
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert evaluation["passed"] and evaluation["outputs"]["kind"] == "adapter"
    reg = json.loads((run_dir / "registration.json").read_text())
    assert reg["version"] == 1 and reg["created"] and reg["uri"] == f"s3://{s3_bucket}/adapters/tiny-sft/v1"
    assert _states(dr)["train_kubernetes"] == "skipped" and _states(dr)["unpack_sagemaker_model"] == "skipped"
    promotion = json.loads((run_dir / "promotion.json").read_text())
    assert promotion["current"] == {"latest": 1} and promotion["aliases"] == {}  # Param promote off
    prod = next(c for c in evaluation["checks"] if "production" in c["check"])
    assert prod["skipped"] and "no production adapter" in prod["reason"]

    s3 = boto3.client("s3")
    m = json.loads(s3.get_object(Bucket=s3_bucket, Key="adapters/tiny-sft/v1/manifest.json")["Body"].read())
    assert m["base_model"] == str(tiny_model_dir) and len(m["base_model_hash"]) == 64
    assert (
        m["tokenizer_hash"] and m["chat_template_hash"] and m["chat_template_source"] == "named:llmops_chatml"
    )
    assert (
        m["dataset_uri"] == str(canonical_dir)
        and m["dataset_content_hash"] == trainset["dataset_content_hash"]
    )
    assert m["method"] == "sft" and m["config"]["lora"]["r"] == 8 and m["config"]["output_uri"] == ""
    assert m["metrics"]["global_steps"] == 3 and m["metrics"]["pct_tokens_trained"] > 0
    assert m["gate"]["passed"] and m["code_version"] and m["library_versions"]["peft"] == "0.21.2"
    assert m["created_at"] and m["parent_version"] is None and m["plan"]["gpu"] == "L4-24GB"
    keys = {
        o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket, Prefix="adapters/tiny-sft/v1/")["Contents"]
    }
    assert "adapters/tiny-sft/v1/adapter_model.safetensors" in keys


@pytest.mark.parametrize(
    "override",
    [
        {"method": "grpo"},  # no grpo.reward_model: a cross-key rule the form's schema cannot say
        {"backend": "kubernetes"},  # no kubernetes.image
        {"dataset_uri": "/nonexistent/curated"},
    ],
)
def test_invalid_params_fail_plan_and_run_nothing(
    dag, tiny_model_dir, canonical_dir, tmp_path, s3_bucket, override
):
    """What the form lets through but the typed config refuses fails plan (an unknown
    hyperparameter never gets that far: test_finetune_profiles_forms)."""
    dr = dag.test(run_conf=_conf(tiny_model_dir, canonical_dir, tmp_path, s3_bucket, **override))
    states = _states(dr)
    assert str(dr.state) == "failed"
    assert states["plan"] == "failed"
    assert all(s in ("upstream_failed", "None", "skipped") for t, s in states.items() if t != "plan"), states
    assert not list((tmp_path / "work").glob("*/trainset"))


def _plan(params, tiny_model_dir, canonical_dir, tmp_path, **over):
    from llmops_airflow.finetune import plan_run

    conf = _conf(tiny_model_dir, canonical_dir, tmp_path, "b", **over)
    return plan_run(conf, "manual__1")


@pytest.mark.parametrize(
    "override, message",
    [
        ({"hyperparameters": {"lr": 0.1}}, "hyperparameters: unknown key(s) 'lr'"),
        ({"hyperparameters": {"lora": {"r": 0}}}, "lora.r: Input should be greater than or equal to 1"),
        ({"backend": "sagemaker"}, "backend 'sagemaker' needs sagemaker.image_uri, sagemaker.role_arn"),
        (
            {"backend": "kubernetes", "hyperparameters": {"kubernetes": {"image": "img:1"}}},
            "backend 'kubernetes' needs s3:// URIs",
        ),
        (
            {
                "backend": "kubernetes",
                "hyperparameters": {"kubernetes": {"image": "i", "env": {"AWS_SECRET_ACCESS_KEY": "x"}}},
            },
            "kubernetes.env must not carry credentials (AWS_SECRET_ACCESS_KEY)",
        ),
        ({"hyperparameters": {"sagemaker": {"use_spot": True}}}, "sagemaker.checkpoint_s3_uri is required"),
        ({"method": "ppo"}, "Param method='ppo' is invalid"),
        ({"method": "grpo"}, "grpo.reward_model is required"),
        ({"registry_uri": "/local/path"}, "registry_uri must be s3://"),
        ({"adapter_name": "bad name"}, "adapter_name='bad name' is invalid"),
        ({"base_model": ""}, "Param base_model is empty and no training profile gives one"),
        ({"base_model": "/nonexistent/model"}, "cannot read its config"),
        ({"dataset_uri": ""}, "dataset_uri is empty"),
        (
            {
                "peft": "none",
                "hyperparameters": {
                    "planner": {"gpu": "L4-24GB"},
                    "data": {"max_length": 999999},
                    "per_device_train_batch_size": 4096,
                },
            },
            "memory plan: the run does not fit the forced GPU L4-24GB with a 10% margin",
        ),
    ],
)
def test_plan_error_messages(tiny_model_dir, canonical_dir, tmp_path, override, message):
    with pytest.raises(AirflowFailException) as err:
        _plan(None, tiny_model_dir, canonical_dir, tmp_path, **override)
    assert message in str(err.value)


def test_dataset_uri_from_the_triggering_asset_event(tiny_model_dir, canonical_dir, tmp_path, s3_bucket):
    from types import SimpleNamespace

    from llmops_airflow.finetune import CURATED_DATASET_ASSET, plan_run

    conf = _conf(tiny_model_dir, canonical_dir, tmp_path, s3_bucket, dataset_uri="")
    extra = {
        "version": "ds-1",
        "rows": 68,
        "manifest": "m.json",
        "curated": str(canonical_dir),
        "output_uri": "o",
    }
    events = {CURATED_DATASET_ASSET: [SimpleNamespace(extra=extra)]}
    run = plan_run(conf, "asset_run", events)
    assert run["config"]["dataset_uri"] == str(canonical_dir)
    assert run["adapter_name"] == "tiny-sft" and run["paths"]["model"].endswith("asset_run/model")


def test_gate_vs_production_failed_versions_and_manual_promotion(
    dag, airflow_db, tiny_model_dir, canonical_dir, tmp_path, s3_bucket
):
    """Run 1 is promoted; run 2 is evaluated against it on the same split, fails the drift threshold and is
    recorded with gate: failed without moving an alias; promote_adapter refuses it unless forced."""
    from airflow.dag_processing.dagbag import DagBag

    from include.registry import AdapterRegistry
    from tests.dags.test_dagbag import DAGS

    reg = AdapterRegistry(f"s3://{s3_bucket}/adapters")
    dr = dag.test(run_conf=_conf(tiny_model_dir, canonical_dir, tmp_path / "r1", s3_bucket, promote=True))
    assert str(dr.state) == "success", _states(dr)
    assert reg.aliases("tiny-sft") == {"latest": 1, "production": 1}

    strict = {**HP, "learning_rate": 4e-3, "gate": {"max_eval_loss_ratio_vs_production": 0.5}}
    dr = dag.test(
        run_conf=_conf(
            tiny_model_dir, canonical_dir, tmp_path / "r2", s3_bucket, promote=True, hyperparameters=strict
        )
    )
    states = _states(dr)
    assert str(dr.state) == "failed" and states["register"] == "success" and states["promote"] == "failed", (
        states
    )
    m2 = reg.get("tiny-sft", 2)
    metrics = m2["metrics"]
    assert metrics["production_check"] == "evaluated" and metrics["production_version"] == 1
    assert (
        metrics["production_eval_loss"] > 0
        and metrics["production_adapter_uri"] == f"s3://{s3_bucket}/adapters/tiny-sft/v1"
    )
    # the production adapter measured by the same code on the same split reproduces its own recorded eval loss
    assert metrics["production_eval_loss"] == pytest.approx(
        reg.get("tiny-sft", 1)["metrics"]["eval_loss"], rel=1e-4
    )
    gate = m2["gate"]
    assert gate["passed"] is False and gate["status"] == "failed"
    assert len(gate["reasons"]) == 1 and gate["reasons"][0].startswith("eval_loss / production v1 eval_loss=")
    assert reg.aliases("tiny-sft") == {"latest": 1, "production": 1}  # nothing moved
    assert reg.resolve("tiny-sft", "latest") == 1 and reg.list_versions("tiny-sft") == [1, 2]

    promote = DagBag(dag_folder=str(DAGS)).dags["promote_adapter"]
    base = {
        "registry_uri": f"s3://{s3_bucket}/adapters",
        "adapter_name": "tiny-sft",
        "aws_conn_id": "",
        "alias": "production",
        "version": "latest",
        "force": False,
    }  # dag.test keeps earlier runs' Params
    refused = promote.test(run_conf={**base, "version": "2"})
    assert str(refused.state) == "failed" and reg.resolve_alias("tiny-sft", "production") == 1
    forced = promote.test(run_conf={**base, "version": "v2", "force": True})
    assert str(forced.state) == "success" and reg.resolve_alias("tiny-sft", "production") == 2
    rollback = promote.test(run_conf={**base})  # version latest = newest passing = v1
    assert str(rollback.state) == "success" and reg.resolve_alias("tiny-sft", "production") == 1
