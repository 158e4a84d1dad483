"""Tokenized-set reuse: what a second finetune_adapter run on the same dataset and tokenizer saves.

On every SFT conversation of the real LLaMA-Factory glaive tool-call demo (via the canonical
rows), with the tiny byte-level BPE tokenizer trained locally on the shared datasets:

* baseline: tokenizing inside training, as every run did before (``tokenized_sft_dataset``);
* run 1: ``build_set`` builds the set (tokenize + loss-mask check + Parquet write);
* run 2: ``build_set`` finds the key and reuses it; training reads the Parquet.

    python benchmarks/tokenized_set.py [--max-length 1024] [--packing none|greedy|first_fit]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

from include.config.training import DataSettings  # noqa: E402
from include.training import dataset as ds  # noqa: E402
from include.training import tokenization as tk  # noqa: E402
from include.training import tokenized_set as tks  # noqa: E402
from scripts.tiny_model import build_from_datasets, load_sample_rows  # noqa: E402

DATASETS = REPO.parent / "shared" / "datasets"


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--packing", default="none")
    p.add_argument("--datasets", default=str(DATASETS))
    a = p.parse_args()
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        model = build_from_datasets(Path(tmp) / "tiny", a.datasets)
        tok = AutoTokenizer.from_pretrained(model)
        template = tk.resolve_chat_template(tok, None, True)[0]
        rows = load_sample_rows(a.datasets, n_sft=10**6, n_preference=0)
        ts = ds.build_training_set(rows, "sft", eval_fraction=0.1)
        data = DataSettings(max_length=a.max_length, packing=a.packing)
        cache = str(Path(tmp) / "_tokenized")
        tk.tokenized_sft_dataset(
            ts.train[:20], tok, template, a.max_length, True
        )  # warm-up (template compile)
        _, base = timed(lambda: tk.tokenized_sft_dataset(ts.train, tok, template, a.max_length, True))
        first, t1 = timed(lambda: tks.prepare(ts, tok, template, data, cache))
        second, t2 = timed(lambda: tks.prepare(ts, tok, template, data, cache))
        ts.info["tokenized"] = second
        _, t_load = timed(lambda: tks.load_datasets(ts, tok, template, data))
    st = first["stats"]["train"]
    print(
        f"{len(ts.train)} train / {len(ts.eval)} eval conversations, {st['tokens_total']} train tokens "
        f"({st['pct_tokens_trained']}% supervised, {st['truncated']} truncated), max_length={a.max_length}, "
        f"packing={a.packing} -> {st['sequences']} sequences\n"
    )
    print("| step | seconds |\n|---|---|")
    print(f"| baseline: tokenize inside training (every run) | {base:.2f} |")
    print(f"| run 1 build_set: tokenize + mask check + write Parquet | {t1:.2f} |")
    print(f"| run 2 build_set: reuse by key (reused={second['reused']}) | {t2:.3f} |")
    print(f"| run 2 training: read the tokenized Parquet | {t_load:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
