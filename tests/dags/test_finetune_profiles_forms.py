"""finetune_adapter / promote_adapter as a user meets them: training profiles for asset-triggered runs,
plan's fail-early reachability checks, and trigger forms that accept their own defaults."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException, ParamValidationError


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dagbag import DAGS

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag.dags


def _defaults(dag) -> dict:
    return {k: dag.params[k] for k in dag.params}


def _event(canonical_dir, output_uri: str):
    from llmops_airflow.finetune import CURATED_DATASET_ASSET

    extra = {
        "version": "v1",
        "rows": 5,
        "manifest": "m",
        "curated": str(canonical_dir),
        "output_uri": output_uri,
    }
    return {CURATED_DATASET_ASSET: [SimpleNamespace(extra=extra)]}


def _profiles(tmp_path, monkeypatch, *profiles) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(yaml.safe_dump({"profiles": list(profiles)}))
    monkeypatch.setenv("LLMOPS_TRAINING_PROFILES", str(path))


def test_asset_triggered_run_takes_the_matching_profile(
    dags, tiny_model_dir, canonical_dir, tmp_path, s3_bucket, monkeypatch
):
    from llmops_airflow.finetune import plan_run

    _profiles(
        tmp_path,
        monkeypatch,
        {"match": "s3://lake/other/*", "base_model": "/nowhere"},
        {
            "match": "/data/support*",
            "base_model": str(tiny_model_dir),
            "registry_uri": f"s3://{s3_bucket}/reg",
            "adapter_name": "support-bot",
            "hyperparameters": {"train": {"max_steps": 7}},
        },
        {"match": "*", "base_model": str(tiny_model_dir), "registry_uri": f"s3://{s3_bucket}/any"},
    )
    params = {**_defaults(dags["finetune_adapter"]), "work_uri": str(tmp_path / "work")}
    run = plan_run(params, "asset_1", _event(canonical_dir, "/data/support/curated_dataset"), conf=None)
    assert run["adapter_name"] == "support-bot" and run["registry_uri"] == f"s3://{s3_bucket}/reg"
    assert run["config"]["base_model"] == str(tiny_model_dir) and run["config"]["train"]["max_steps"] == 7
    assert run["profile"]["profile"] == "/data/support*"
    # a manual run's Params override the profile
    conf = {"adapter_name": "manual-name", "dataset_uri": str(canonical_dir)}
    run = plan_run({**params, **conf}, "manual_1", None, conf=conf)
    assert run["adapter_name"] == "manual-name" and run["profile"]["from_conf"] == [
        "adapter_name",
        "dataset_uri",
    ]


def test_no_profile_and_no_base_model_fails_in_plan_naming_what_to_set(
    dags, canonical_dir, tmp_path, monkeypatch
):
    from llmops_airflow.finetune import plan_run

    _profiles(tmp_path, monkeypatch, {"match": "s3://elsewhere/*", "base_model": "/x"})
    params = {**_defaults(dags["finetune_adapter"]), "base_model": None}
    with pytest.raises(AirflowFailException) as err:
        plan_run(params, "asset_2", _event(canonical_dir, "/data/new"), conf=None)
    msg = str(err.value)
    assert "base_model is empty" in msg and str(tmp_path / "profiles.yaml") in msg
    assert "LLMOPS_TRAINING_PROFILES" in msg and "LLMOPS_BASE_MODEL" in msg


def test_plan_fails_early_when_the_registry_or_work_folder_is_not_writable(
    dags, tiny_model_dir, canonical_dir, tmp_path, s3_bucket
):
    from llmops_airflow.finetune import plan_run

    base = {
        **_defaults(dags["finetune_adapter"]),
        "dataset_uri": str(canonical_dir),
        "base_model": str(tiny_model_dir),
        "work_uri": str(tmp_path / "work"),
    }
    with pytest.raises(
        AirflowFailException, match=r"Param registry_uri='s3://no-such-bucket/r' is not writable"
    ):
        plan_run({**base, "registry_uri": "s3://no-such-bucket/r"}, "m1", None, conf={})
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AirflowFailException, match=r"Param work_uri=.* is not writable"):
        plan_run({**base, "registry_uri": f"s3://{s3_bucket}/r", "work_uri": str(blocker / "w")}, "m2", None)


@pytest.mark.parametrize("dag_id", ["curate_dataset", "finetune_adapter", "promote_adapter"])
def test_every_form_validates_its_own_defaults(dags, dag_id):
    dag = dags[dag_id]
    dag.params.validate()  # what the trigger form checks before it enables "Trigger"
    for name in dag.params:
        param = dag.params.get_param(name)
        assert param.schema.get("section"), f"{dag_id}.{name} has no form section"
        if param.value in (None, ""):  # empty allowed: the schema says so (no "This field is required")
            assert "null" in param.schema["type"], f"{dag_id}.{name}"


def test_forms_check_names_and_choices_like_the_registry(dags):
    from include.registry.layout import NAME_RE

    for dag_id in ("finetune_adapter", "promote_adapter"):
        param = dags[dag_id].params.get_param("adapter_name")
        param.resolve(None)
        param.resolve("")
        param.resolve("good-name_1.2")
        with pytest.raises(ParamValidationError):
            param.resolve("bad name")
    assert NAME_RE.pattern in str(dags["promote_adapter"].params.get_param("alias").schema)
    method = dags["finetune_adapter"].params.get_param("method").schema
    assert set(method["values_display"]) == set(method["enum"])


def test_event_dags_are_not_paused_on_creation(dags):
    assert dags["finetune_adapter"].is_paused_upon_creation is False
    assert dags["promote_adapter"].is_paused_upon_creation is False


def test_hyperparameters_are_checked_in_the_form_against_the_training_config(dags):
    """The hyperparameters Param's JSON schema is derived from TrainingConfig: sections and bare
    train keys pass with values of their type; an unknown key or a wrongly typed value is refused
    at trigger, before any task runs."""
    from include.config.training import hyperparameters_to_overrides, load_training_config

    param = dags["finetune_adapter"].params.get_param("hyperparameters")
    for good in (
        {},
        {"lora": {"r": 16, "alpha": 32}},
        {"train": {"max_steps": 100, "learning_rate": 0.0002}},
        {"max_steps": 10, "learning_rate": 1e-4},
        {"gate": {"max_eval_loss_ratio": 1.0}},
    ):
        param.resolve(good)
        load_training_config(hyperparameters_to_overrides(good))  # the run accepts what the form does
    for bad in (
        {"lora": {"rank": 16}},  # no such lora key
        {"max_step": 10},  # a typo of a train key
        {"train": {"max_steps": "ten"}},
        {"lora": "r=16"},
    ):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)
