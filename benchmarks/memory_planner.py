"""Memory planner vs measured peak GPU memory.

For a few model shapes (randomly initialised Llama configs, nothing downloaded) and
methods (full fine-tuning, LoRA, QLoRA), trains 3 steps with the same model loading and
trl ``SFTTrainer`` arguments as ``include/training`` and compares
``torch.cuda.max_memory_allocated()`` with the planner's estimate (without the CUDA
overhead term, which the allocator does not count)::

    python benchmarks/memory_planner.py                 # default shapes; needs a CUDA GPU to measure
    python benchmarks/memory_planner.py --estimate-only # print the estimates (any machine)
    python benchmarks/memory_planner.py --json out.json --shapes 160m --methods lora,qlora

Without a GPU it prints the estimates and says that nothing was measured. ``ratio`` is
measured / estimated (1.00 = exact; < 1 = the planner is conservative).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from include.training import planner as pl  # noqa: E402

SHAPE_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
)
SHAPES = {  # name: Llama config (random init); vocab 32000 like Llama-2
    name: dict(zip(SHAPE_KEYS, values, strict=True))
    for name, values in {
        "160m": (768, 2048, 12, 12, 12, 32000),
        "0.5b": (1024, 4096, 24, 16, 8, 32000),
        "1.2b": (2048, 5632, 22, 32, 4, 32000),
        "tiny": (64, 128, 2, 4, 2, 512),
    }.items()
}
CASES = {  # method label -> (peft, train overrides)
    "full": ("none", {}),
    "lora": ("lora", {}),
    "qlora": ("qlora", {}),
    "lora-nockpt": ("lora", {"gradient_checkpointing": False}),
    "lora-8bit": ("lora", {"optim": "paged_adamw_8bit"}),
}


def save_model(shape: dict, folder: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").exists():
        return folder
    config = LlamaConfig(max_position_embeddings=4096, tie_word_embeddings=False, **shape)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def make_tokenizer(folder: Path, vocab: int):
    """A word-level tokenizer saved next to the model (the benchmark feeds token ids directly)."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"t{i}": i for i in range(vocab)}, unk_token="t0"))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="t1", pad_token="t2")
    fast.save_pretrained(folder)


def training_config(model_dir: Path, peft: str, batch: int, seq: int, train_over: dict):
    from include.config.training import load_training_config

    return load_training_config(
        {
            "data": {"max_length": seq},
            "train": {
                "max_steps": 3,
                "per_device_train_batch_size": batch,
                "learning_rate": 1e-4,
                "eval_strategy": "no",
                **train_over,
            },
        },
        base_model=str(model_dir),
        method="sft",
        peft=peft,
        dataset_uri="-",
        output_uri="-",
    )


def measure(cfg, seq: int, batch: int, out: Path) -> float | None:
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    from include.training import methods, models

    if not torch.cuda.is_available():
        return None
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    tok = models.load_tokenizer(cfg)
    model = models.load_model(cfg)
    if cfg.peft == "none":
        model = model.cuda()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    rows = [
        {"input_ids": ids, "labels": ids}
        for ids in torch.randint(3, vocab, (batch * 4, seq), generator=g).tolist()
    ]
    args = methods.sft_config(methods.common_args(cfg, str(out), has_eval=False), seq)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        peft_config=models.lora_config(cfg) if cfg.peft != "none" else None,
    )
    trainer.train()
    peak = torch.cuda.max_memory_allocated()
    del trainer, model
    gc.collect()
    torch.cuda.empty_cache()
    return float(peak)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="160m,0.5b,1.2b")
    p.add_argument("--methods", default="full,lora,qlora,lora-nockpt,lora-8bit")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--estimate-only", action="store_true")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--workdir", default=None)
    args = p.parse_args(argv)

    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    except ImportError:
        gpu, bf16 = None, False
    if not gpu and not args.estimate_only:
        print("no CUDA GPU here: printing estimates only (run on a GPU machine to measure)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="planner-bench-"))
    rows = []
    print(
        f"{'shape':6} {'case':12} {'params':>8} {'batch x seq':>12} {'estimate GB':>12} {'measured GB':>12} "
        f"{'ratio':>6}  components (GB)"
    )
    for shape_name in args.shapes.split(","):
        shape_cfg = SHAPES[shape_name]
        shape = pl.ModelShape.from_config({"model_type": "llama", **shape_cfg})
        for case in args.methods.split(","):
            peft, over = CASES[case]
            model_dir = work / shape_name
            measured = None
            if gpu and not args.estimate_only:
                save_model(shape_cfg, model_dir)
                make_tokenizer(model_dir, shape_cfg["vocab_size"])
            cfg = training_config(model_dir, peft, args.batch, args.seq, over)
            inputs = pl.inputs_from_config(cfg)
            if not bf16:
                inputs.compute_dtype = "bfloat16"  # the planner plans for a bf16 GPU
            est = pl.estimate(shape, inputs)
            if gpu and not args.estimate_only:
                t = time.time()
                measured = measure(cfg, args.seq, args.batch, work / f"out-{shape_name}-{case}")
                print(f"  ({shape_name}/{case} measured in {time.time() - t:.0f}s)", file=sys.stderr)
            ratio = measured / est.total if measured else None
            row = {
                "shape": shape_name,
                "case": case,
                "params": shape.param_counts()["total"],
                "batch": args.batch,
                "seq": args.seq,
                "estimate_gb": round(est.total / 1e9, 3),
                "measured_gb": round(measured / 1e9, 3) if measured else None,
                "ratio": round(ratio, 3) if ratio else None,
                "components_gb": est.gb(),
                "gpu": gpu,
            }
            rows.append(row)
            comps = ", ".join(f"{k} {v:.2f}" for k, v in est.gb().items() if k != "total")
            print(
                f"{shape_name:6} {case:12} {row['params'] / 1e9:7.2f}B {args.batch:>5} x {args.seq:<5} "
                f"{row['estimate_gb']:12.3f} {row['measured_gb'] if measured else '-':>12} "
                f"{row['ratio'] if ratio else '-':>6}  {comps}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
