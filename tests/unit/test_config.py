import pytest

from include.config import STAGES, ConfigError, deep_merge, load_config


def test_defaults_load_and_every_stage_but_the_opt_in_ones_enabled():
    cfg = load_config()
    # semantic_dedup needs a model: opt-in; decontaminate is on once benchmarks are listed,
    # quality once its judge or classifier is enabled
    assert [s for s in STAGES if not cfg.enabled(s)] == ["decontaminate", "semantic_dedup", "quality"]
    assert STAGES.index("filters") + 1 == STAGES.index("semantic_dedup") == STAGES.index("quality") - 1
    assert cfg.normalize.unicode_form == "NFKC"
    assert cfg.ingest.format == "auto"


def test_overrides_deep_merge_and_disable_a_stage():
    cfg = load_config({"pii": {"enabled": False}, "spark": {"conf": {"spark.executor.memory": "4g"}}})
    assert not cfg.enabled("pii")
    assert cfg.enabled("filters")
    assert cfg.spark.master == "local[*]"  # untouched sibling keys keep their defaults
    assert cfg.spark.conf == {"spark.executor.memory": "4g"}


def test_validate_stage_key_round_trips_by_its_public_name():
    cfg = load_config({"validate": {"enabled": False}})
    assert not cfg.enabled("validate")
    assert cfg.to_dict()["validate"]["enabled"] is False
    assert load_config(cfg.to_dict()).enabled("validate") is False  # the dump loads back


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"normalise": {"enabled": False}}, "normalise: unknown key"),
        ({"ingest": {"oasst_paths": "longest"}}, "ingest.oasst_paths"),
        ({"exact_dedup": {"keep": "random"}}, "exact_dedup.keep"),
        ({"spark": {"shuffle_partitions": 0}}, "spark.shuffle_partitions"),
        ({"ingest": {"format": "csv"}}, "ingest.format: unknown format 'csv'"),
        ({"ingest": {"enabled": False}}, "ingest.enabled"),
        ({"pii": {"enabeld": False}}, "pii.enabeld: unknown key"),
        ({"filters": {"domain": {"exclude_patterns": ["(unclosed"]}}}, "filters.domain.exclude_patterns"),
    ],
)
def test_bad_config_names_the_key(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(override)
    assert fragment in str(err.value)


def test_config_from_json_string_and_yaml_file(tmp_path):
    assert not load_config('{"pii": {"enabled": false}}').enabled("pii")
    f = tmp_path / "c.yaml"
    f.write_text("filters:\n  enabled: false\n")
    assert not load_config(str(f)).enabled("filters")
    with pytest.raises(ConfigError, match="mapping"):
        load_config("[1, 2]")


def test_digest_changes_with_config():
    assert load_config().digest() == load_config({}).digest()
    assert load_config().digest() != load_config({"pii": {"enabled": False}}).digest()


def test_deep_merge_does_not_mutate_inputs():
    base = {"a": {"b": 1, "c": 2}}
    out = deep_merge(base, {"a": {"b": 3}})
    assert out == {"a": {"b": 3, "c": 2}} and base == {"a": {"b": 1, "c": 2}}


def _settings(model, path=""):
    """(dotted path, FieldInfo) of every setting, nested models included."""
    import typing

    from pydantic import BaseModel

    for name, info in model.model_fields.items():
        dotted = f"{path}.{info.alias or name}" if path else (info.alias or name)
        yield dotted, info
        for t in (info.annotation, *typing.get_args(info.annotation)):
            if isinstance(t, type) and issubclass(t, BaseModel):
                yield from _settings(t, dotted)


def test_every_setting_has_a_description():
    from include.config import PipelineConfig

    missing = [p for p, info in _settings(PipelineConfig) if len((info.description or "").strip()) < 8]
    assert missing == []


def test_default_yaml_repeats_the_model_defaults():
    """default.yaml is the reference users read: it validates to exactly the model's defaults."""
    from pathlib import Path

    import yaml

    from include.config import PipelineConfig

    path = Path(__file__).resolve().parents[2] / "include" / "config" / "default.yaml"
    assert PipelineConfig.model_validate(yaml.safe_load(path.read_text())) == PipelineConfig()
