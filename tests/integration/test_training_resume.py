"""Resumable training (SageMaker managed spot, evicted pods): a run that finds checkpoints resumes from them."""

from __future__ import annotations

import pytest

from include.config.training import load_training_config
from include.training.train import latest_checkpoint, run

pytestmark = [pytest.mark.slow]


def test_second_run_resumes_from_the_newest_checkpoint(tiny_model_dir, canonical_dir, tmp_path, capsys):
    ckpt = tmp_path / "checkpoints"

    def cfg(max_steps: int, out: str):
        return load_training_config(
            {
                "train": {
                    "max_steps": max_steps,
                    "save_steps": 1,
                    "checkpoint_dir": str(ckpt),
                    "learning_rate": 5e-3,
                    "per_device_train_batch_size": 2,
                    "logging_steps": 1,
                    "eval_strategy": "no",
                },
                "data": {"max_length": 128, "max_rows": 8, "eval_fraction": 0.2},
            },
            base_model=str(tiny_model_dir),
            dataset_uri=str(canonical_dir),
            output_uri=str(tmp_path / out),
        )

    assert latest_checkpoint(str(ckpt)) is None
    first = run(cfg(2, "out1"))
    assert first["resumed_from_checkpoint"] is None and first["global_steps"] == 2
    assert sorted(p.name for p in ckpt.iterdir() if p.name.startswith("checkpoint-")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]
    capsys.readouterr()

    second = run(
        cfg(4, "out2")
    )  # e.g. the job restarted on new spot capacity with the same checkpoint folder
    out = capsys.readouterr().out
    assert second["resumed_from_checkpoint"] == "checkpoint-2" and second["global_steps"] == 4
    assert f"resuming from {ckpt / 'checkpoint-2'}" in out
    assert "step 3/4" in out and "step 4/4" in out and "step 1/4" not in out  # only the missing steps ran
    assert latest_checkpoint(str(ckpt)).endswith("checkpoint-4")  # save_total_limit 2 keeps 3 and 4
    assert (tmp_path / "out2" / "adapter_model.safetensors").exists()
