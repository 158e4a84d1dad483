"""Training config: documented defaults, hyperparameter overrides, errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from include.config import ConfigError
from include.config.training import (
    DEFAULT_TRAINING_CONFIG_PATH,
    TrainingConfig,
    hyperparameters_to_overrides,
    load_training_config,
)


def test_yaml_defaults_match_the_model_defaults():
    cfg = load_training_config()
    assert cfg.lora.r == 8  # the seed's default rank
    assert cfg.peft == "lora" and cfg.method == "sft" and cfg.backend == "local"
    assert cfg.data.assistant_only_loss is True
    assert cfg.quantization.quant_type == "nf4" and cfg.quantization.double_quant is True
    assert [g.name for g in cfg.planner.catalog] == [
        "L4-24GB",
        "A10G-24GB",
        "A100-40GB",
        "A100-80GB",
        "H100-80GB",
        "H200-141GB",
    ]
    assert cfg.planner.catalog[-1].sagemaker_instance == "ml.p5en.48xlarge"
    # every YAML key exists in the model and the YAML repeats the model's own defaults (catalog aside)
    dumped = TrainingConfig().to_dict()
    data = yaml.safe_load(DEFAULT_TRAINING_CONFIG_PATH.read_text())
    data["planner"].pop("catalog")
    dumped["planner"].pop("catalog")
    assert data == dumped


def test_hyperparameters_sections_and_bare_train_keys():
    over = hyperparameters_to_overrides(
        {"learning_rate": 1e-4, "max_steps": 5, "lora": {"r": 16}, "train": {"seed": 3}}
    )
    assert over == {"train": {"learning_rate": 1e-4, "max_steps": 5, "seed": 3}, "lora": {"r": 16}}
    cfg = load_training_config(over, base_model="m")
    assert cfg.train.max_steps == 5 and cfg.lora.r == 16 and cfg.lora.alpha == 16 and cfg.base_model == "m"
    with pytest.raises(ConfigError, match="hyperparameters: unknown key\\(s\\) 'lr'"):
        hyperparameters_to_overrides({"lr": 1})


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"lora": {"r": 0}}, "lora.r"),
        ({"lora": {"rank": 8}}, "lora.rank: unknown key"),
        ({"method": "ppo"}, "method"),
        ({"peft": "ia3"}, "peft"),
        ({"train": {"optim": "adam"}}, "train.optim"),
        ({"data": {"eval_fraction": 1.5}}, "data.eval_fraction"),
        ({"method": "grpo"}, "grpo.reward_model is required"),
        ({"peft": "lora", "method": "dpo", "dpo": {"reference_model": "x"}}, "only used with peft=none"),
        ({"planner": {"gpu": "TPUv5"}}, "planner.gpu 'TPUv5' is not in the catalog"),
    ],
)
def test_bad_config_names_the_key(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_training_config(override)
    assert fragment in str(err.value)


def test_digest_is_stable_and_config_is_frozen():
    a, b = load_training_config({"lora": {"r": 4}}), load_training_config({"lora": {"r": 4}})
    assert a.digest() == b.digest() != load_training_config().digest()
    with pytest.raises(Exception):  # noqa: B017 - pydantic frozen model
        a.method = "dpo"


def test_every_setting_has_a_description():
    """Config docs as data: each field of every section (and of its nested models) says what it does."""
    from pydantic import BaseModel

    from include.config.training import SECTIONS

    seen, todo, missing = set(), [TrainingConfig], []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, f in model.model_fields.items():
            if len((f.description or "").strip()) < 8:
                missing.append(f"{model.__name__}.{name}")
            for arg in (f.annotation, *getattr(f.annotation, "__args__", ())):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    todo.append(arg)
    assert missing == []
    assert len(seen) == len(SECTIONS) + 3  # the root, GpuSpec and Toleration besides the sections
    assert SECTIONS[0] == "data" and SECTIONS[-1] == "sagemaker"
