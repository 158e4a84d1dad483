"""Memory planner formulas: the seed's 7B table, bytes/param, parameter counts, GPU choice."""

from __future__ import annotations

import pytest

from include.config.training import load_training_config
from include.training import planner as pl

LLAMA2_7B = dict(
    model_type="llama",
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=11008,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=32,
)
GB = 1e9


@pytest.fixture(scope="module")
def llama7b():
    return pl.ModelShape.from_config(LLAMA2_7B)


def test_seed_table_full_finetune_7b_static_parts():
    """7e9 params, bf16 weights: weights 14 + gradients 14 + AdamW (2 fp32 moments) 56 = 84 GB (+ activations)."""
    s = pl.static_bytes(7_000_000_000, 6_500_000_000, 7_000_000_000, peft="none", weights_dtype="bfloat16")
    assert {k: v / GB for k, v in s.items()} == {"weights": 14.0, "gradients": 14.0, "optimizer": 56.0}
    assert sum(s.values()) / GB == 84.0


def test_bytes_per_param_bf16_vs_standard_mixed_precision():
    assert pl.bytes_per_param("none", "bfloat16") == 12.0  # the seed table's accounting
    assert pl.bytes_per_param("none", "float32") == 16.0  # fp32 master + fp32 grads + AdamW (anatomy: 16-18)
    assert pl.bytes_per_param("none", "bfloat16", "adamw_8bit") == 6.0
    assert pl.bytes_per_param("none", "float32", "paged_adamw_8bit") == 10.0


def test_parameter_counts_match_meta_instantiation(llama7b, tiny_model_dir):
    from transformers import AutoConfig, LlamaConfig

    counts = llama7b.param_counts()
    assert counts["total"] == 6_738_415_616  # Llama-2-7B
    exact = pl.meta_parameter_count(LlamaConfig(**{k: v for k, v in LLAMA2_7B.items() if k != "model_type"}))
    assert exact == counts["total"]
    tiny = AutoConfig.from_pretrained(tiny_model_dir)
    assert pl.ModelShape.from_config(tiny).param_counts()["total"] == pl.meta_parameter_count(tiny)
    gqa = pl.ModelShape.from_config({**LLAMA2_7B, "num_key_value_heads": 8, "tie_word_embeddings": True})
    assert gqa.kv_dim == 1024 and gqa.param_counts()["lm_head"] == 0


@pytest.mark.parametrize("batch", [1, 2])
def test_seed_table_lora_and_qlora_7b(llama7b, batch):
    """LoRA ~16-20 GB and QLoRA ~6-10 GB on the reference shape (seq 2048, checkpointing, + CUDA overhead)."""
    overhead = 1024 * pl.MIB
    lora = pl.estimate(llama7b, pl.PlanInputs(peft="lora", batch_size=batch, seq_len=2048))
    qlora = pl.estimate(llama7b, pl.PlanInputs(peft="qlora", batch_size=batch, seq_len=2048))
    assert 13.4 < lora.components["weights"] / GB < 13.5  # frozen bf16 weights (14 GB at a nominal 7e9)
    assert lora.components["adapter"] + lora.components["optimizer"] < 0.15 * GB  # "small adapter/optimizer"
    assert 16 <= (lora.total + overhead) / GB <= 20
    assert 3.5 <= qlora.components["weights"] / GB <= 4.0  # 4-bit weights incl. bf16 embeddings/head
    assert 6 <= (qlora.total + overhead) / GB <= 10
    assert lora.trainable_params == 8 * (4096 + 4096) * 4 * 32  # r * (in + out) for q, k, v, o in 32 layers


def test_qlora_weights_formula(llama7b):
    counts = llama7b.param_counts()
    est = pl.estimate(llama7b, pl.PlanInputs(peft="qlora", double_quant=False))
    expected = counts["linear"] * (0.5 + 4 / 64) + (counts["total"] - counts["linear"]) * 2
    assert est.components["weights"] == pytest.approx(expected)
    dq = pl.estimate(llama7b, pl.PlanInputs(peft="qlora")).components["weights"]
    assert dq < est.components["weights"]  # double quantization saves ~0.37 bit/param


def test_activations_checkpointing_and_method_effects(llama7b):
    base = pl.PlanInputs(peft="lora", batch_size=1, seq_len=1024)
    ck = pl.estimate(llama7b, base).components["activations"]
    no_ck = pl.estimate(llama7b, pl.PlanInputs(**{**base.__dict__, "gradient_checkpointing": False}))
    assert no_ck.components["activations"] > 5 * ck
    # activations and logits scale linearly with tokens
    big = pl.estimate(llama7b, pl.PlanInputs(**{**base.__dict__, "batch_size": 4}))
    assert big.components["logits"] == pytest.approx(4 * pl.estimate(llama7b, base).components["logits"])
    dpo_full = pl.estimate(llama7b, pl.PlanInputs(method="dpo", peft="none", weights_dtype="bfloat16"))
    assert dpo_full.components["reference_model"] == pytest.approx(llama7b.param_counts()["total"] * 2)
    assert dpo_full.tokens_per_step == 2 * 2048  # chosen + rejected
    dpo_lora = pl.estimate(llama7b, pl.PlanInputs(method="dpo", peft="lora"))
    assert "reference_model" not in dpo_lora.components  # adapter disabled = reference
    reward = pl.estimate(llama7b, pl.PlanInputs(method="reward", peft="lora"))
    assert "logits" not in reward.components
    grpo = pl.estimate(llama7b, pl.PlanInputs(method="grpo", peft="lora", seq_len=512))
    assert {"kv_cache", "reward_model"} <= set(grpo.components)


def test_lora_targets(llama7b):
    all_lin, _ = pl.lora_trainable(llama7b, 8, "all-linear")
    attn, _ = pl.lora_trainable(llama7b, 8, ("q_proj", "v_proj"))
    assert all_lin > attn == 8 * (2 * (4096 + 4096)) * 32
    with pytest.raises(pl.PlanError, match="cannot size LoRA targets"):
        pl.lora_trainable(llama7b, 8, ("c_attn",))


def test_choose_gpu_smallest_fit_margin_and_forced():
    cfg = load_training_config()
    catalog = [g.model_dump() for g in cfg.planner.catalog]
    assert pl.choose_gpu(10 * GB, catalog, 0.1).gpu["name"] == "L4-24GB"
    assert pl.choose_gpu(22 * GB, catalog, 0.1).gpu["name"] == "A100-40GB"  # 24.15 GB x 0.9 < 22 GB
    assert pl.choose_gpu(22 * GB, catalog, 0.0).gpu["name"] == "L4-24GB"
    assert pl.choose_gpu(80 * GB, catalog, 0.1).gpu["name"] == "H200-141GB"
    assert pl.choose_gpu(10 * GB, catalog, 0.1, forced="H100-80GB").gpu["name"] == "H100-80GB"
    assert pl.choose_gpu(200 * GB, catalog, 0.1).gpu is None


def test_plan_for_configs(tiny_model_dir):
    from transformers import LlamaConfig

    tiny = load_training_config(base_model=str(tiny_model_dir), data={"max_length": 128})
    p = pl.plan(tiny)
    assert p["gpu"] == "L4-24GB" and p["sagemaker_instance"] == "ml.g6.xlarge"
    assert p["model"]["exact_param_count"] == p["model"]["params"]["total"]
    big = LlamaConfig(**{k: v for k, v in LLAMA2_7B.items() if k != "model_type"})
    full = load_training_config(
        base_model="llama-2-7b",
        peft="none",
        train={"per_device_train_batch_size": 1},
        data={"max_length": 2048},
    )
    with pytest.raises(pl.PlanError) as err:  # fp32 master weights: 16 B/param = 107.8 GB + activations
        pl.plan(
            full.model_copy(update={"planner": full.planner.model_copy(update={"gpu": "H100-80GB"})}),
            big,
            exact_count=False,
        )
    msg = str(err.value)
    assert (
        "does not fit the forced GPU H100-80GB" in msg
        and "weights 26.95, gradients 26.95, optimizer 53.91" in msg
        and "6.74B params" in msg
    )
    p = pl.plan(full, big, exact_count=False)
    assert p["gpu"] == "H200-141GB" and p["sagemaker_instance"] == "ml.p5en.48xlarge"
    lora = pl.plan(
        load_training_config(
            base_model="llama-2-7b", data={"max_length": 2048}, train={"per_device_train_batch_size": 1}
        ),
        big,
        exact_count=False,
    )
    assert lora["gpu"] == "L4-24GB" and 14 < lora["required_gb"] < 18
    with pytest.raises(pl.PlanError, match="any GPU in the catalog"):
        pl.plan(
            load_training_config(
                base_model="x",
                peft="none",
                data={"max_length": 8192},
                train={"per_device_train_batch_size": 16, "gradient_checkpointing": False},
            ),
            big,
            exact_count=False,
        )
