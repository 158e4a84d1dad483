"""Rebuild the shipped prompt-injection detector (``include/filters/models/<name>/``).

    python scripts/train_injection_detector.py [--out include/filters/models/injection-tfidf-lr-v1]
        [--check]   # only verify the data hashes recorded in the shipped artifact

Data (read from ``../shared/datasets`` or ``$LLMOPS_SHARED_DATASETS``; nothing is downloaded):

* injections and benign prompts: deepset/prompt-injections **train** split (Apache-2.0; the
  Hugging Face parquet file, also at github.com/sinanw/llm-security-prompt-injection
  ``data/raw/``). The **test** split is never read here: it is the evaluation
  (``benchmarks/injection.py``).
* benign prompts: the system / user / tool texts of :data:`TRAIN_BENIGN` (Alpaca-format demo,
  OASST trees, a ShareGPT preference demo, the Self-Instruct seed tasks). The other benign
  sources (:data:`HELD_OUT_BENIGN`) are never used for training: the benchmark measures the
  false-positive rate on them (split by source).

Model: hashed character (2-5, within word boundaries) and word (1-2) n-gram TF-IDF ->
logistic regression (``class_weight=balanced``, fixed seed), trained with composites of
training rows (an injection before / after a benign prompt; two benign prompts). The threshold is chosen on
5-fold out-of-fold scores of the training data only: the lowest one whose out-of-fold
false-positive rate stays within ``--max-fp-deepset`` on deepset's benign prompts and
``--max-fp-benign`` on the other benign prompts. Every input file's sha256 is recorded in
``model.json``; ``--check`` fails when a file differs from the recorded one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("LLMOPS_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
NAME = "injection-tfidf-lr-v1"
SEED = 18
DEEPSET_TRAIN = "prompt-injection/deepset/train-00000-of-00001-9564e8b05b4757ab.parquet"
TRAIN_BENIGN = [
    "llamafactory/alpaca_en_demo.json",
    "oasst/en_100_tree.jsonl",
    "llamafactory/dpo_en_demo.json",
    "alpaca/seed_tasks.jsonl",
]
HELD_OUT_BENIGN = [
    "hh-rlhf/harmless-base-test.jsonl.gz",
    "llamafactory/v1_sft_demo.jsonl",
    "llamafactory/kto_en_demo.json",
    "llamafactory/glaive_toolcall_en_demo.json",
    "llamafactory/reason_tool_use_demo_50.jsonl",
    "llamafactory/c4_demo.jsonl",
    "eval-benchmarks/gsm8k_test.jsonl",
    "eval-benchmarks/HumanEval.jsonl.gz",
]
#: the texts a detector scores by default (config ``malicious.detector.scope``)
SCOPE = ("system", "user", "tool")
BLOCKS = [
    {"name": "char", "analyzer": "char_wb", "ngram_range": [2, 5], "n_features": 2**18},
    {"name": "word", "analyzer": "word", "ngram_range": [1, 2], "n_features": 2**18},
]
#: training texts are cut to TRAIN_CHARS; the stage scores windows of WINDOW_CHARS every WINDOW_STRIDE
#: (chosen on validation: an injection buried in a long benign text is diluted in a longer window)
TRAIN_CHARS, WINDOW_CHARS, WINDOW_STRIDE, MAX_WINDOWS, SENTENCE_MIN_CHARS = 1500, 400, 200, 32, 20
PIECES = {
    "window_chars": WINDOW_CHARS,
    "window_stride": WINDOW_STRIDE,
    "sentence_min_chars": SENTENCE_MIN_CHARS,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def canonical_rows(rel: str) -> list[dict]:
    """Canonical rows of a shared file (the ingest adapters; eval benchmarks as one user turn each)."""
    from include.ingest import convert_file, iter_records

    path = SHARED / rel
    if rel.startswith("eval-benchmarks/"):
        key = "question" if "gsm8k" in rel else "prompt"
        out = []
        for i, (_, rec) in enumerate(iter_records(str(path))):
            msgs = [{"role": "user", "content": rec[key]}, {"role": "assistant", "content": "..."}]
            out.append({"id": f"{rel}:{i}", "source": rel, "format": "openai", "messages": msgs})
        return out
    rows, _, _ = convert_file(str(path), rel, source=rel)
    return rows


def scoped(rows: list[dict], scope=SCOPE) -> list[str]:
    from include.filters.fields import scoped_texts

    return [t for r in rows for _, t in scoped_texts(r, scope)]


def deepset(path: Path) -> tuple[list[str], list[int]]:
    import pyarrow.parquet as pq

    t = pq.read_table(path).to_pydict()
    return list(t["text"]), [int(x) for x in t["label"]]


def training_data() -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, labels, group): group 0 = deepset, 1 = other benign; exact duplicates removed."""
    texts, labels = deepset(SHARED / DEEPSET_TRAIN)
    group = [0] * len(texts)
    seen = set(texts)
    for rel in TRAIN_BENIGN:
        for t in scoped(canonical_rows(rel)):
            if t not in seen:
                seen.add(t)
                texts.append(t)
                labels.append(0)
                group.append(1)
    return [t[:TRAIN_CHARS] for t in texts], np.asarray(labels), np.asarray(group)


def fit(texts: list[str], y: np.ndarray, c: float) -> dict:
    """IDF + logistic-regression weights per block (the arrays ``weights.npz`` holds)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    from include.filters.injection import vectorizer

    mats, idfs = [], {}
    for b in BLOCKS:
        t = TfidfTransformer(sublinear_tf=True).fit(vectorizer(b).transform(texts))
        idfs[b["name"]] = t.idf_.astype(np.float32)
        mats.append(t.transform(vectorizer(b).transform(texts)))
    lr = LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=SEED)
    lr.fit(hstack(mats).tocsr(), y)
    out, lo = {"intercept": float(lr.intercept_[0])}, 0
    for b in BLOCKS:
        out[f"idf_{b['name']}"] = idfs[b["name"]]
        out[f"coef_{b['name']}"] = lr.coef_[0, lo : lo + b["n_features"]].astype(np.float32)
        lo += b["n_features"]
    return out


def score(weights: dict, texts: list[str]) -> np.ndarray:
    from include.filters.injection import InjectionDetector

    meta = {"blocks": BLOCKS, "intercept": weights["intercept"], **PIECES}
    return np.asarray(InjectionDetector.from_weights(meta, weights).scores(texts, MAX_WINDOWS))


def augmented(idx, texts, y, group, seed: int, per_injection: int = 2) -> tuple[list[str], np.ndarray]:
    """The rows ``idx`` plus composites made from them only: a benign prompt (cut to 300
    characters) before or after an injection (label 1), and two benign prompts (label 0), as
    many of each. Injections buried in a benign request are the common shape of real attacks."""
    import random

    rnd = random.Random(seed)
    inj = [texts[i] for i in idx if y[i] == 1]
    ben = [texts[i] for i in idx if y[i] == 0 and group[i] == 0]
    other = [texts[i] for i in idx if y[i] == 0 and group[i] == 1]
    out, labels = [texts[i] for i in idx], [int(y[i]) for i in idx]
    for t in inj:
        for _ in range(per_injection):
            b = rnd.choice(ben if rnd.random() < 0.7 else other)[:300]
            out.append(f"{b} {t}" if rnd.random() < 0.7 else f"{t} {b}")
            labels.append(1)
    for _ in range(len(inj) * per_injection):
        out.append(f"{rnd.choice(ben)[:300]} {rnd.choice(ben + other)[:300]}")
        labels.append(0)
    return out, np.asarray(labels)


def out_of_fold(texts, y, group, c: float, folds: int = 5) -> np.ndarray:
    """Scores of every training row by a model fitted (with augmentation) on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    oof = np.zeros(len(y))
    strata = y * 2 + group
    for k, (tr, te) in enumerate(
        StratifiedKFold(folds, shuffle=True, random_state=SEED).split(texts, strata)
    ):
        oof[te] = score(fit(*augmented(tr, texts, y, group, SEED + k), c), [texts[i] for i in te])
    return oof


def choose_threshold(oof, y, group, max_fp_deepset: float, max_fp_benign: float) -> tuple[float, dict]:
    """Lowest threshold within both false-positive budgets (out-of-fold), and its metrics."""
    t = lowest_threshold(
        oof, y, group, max_fp_deepset, max_fp_benign, np.round(np.arange(0.30, 0.991, 0.01), 2)
    )
    if t is None:
        raise SystemExit("no threshold meets the false-positive budgets")
    return t, {**split_metrics(oof >= t, y, group), **split_counts(y, group)}


def data_record(texts: list[str], y: np.ndarray) -> dict:
    """What an artifact's ``model.json`` records of its training data: files, row counts, sha256."""
    return {
        "injections_and_benign": DEEPSET_TRAIN,
        "benign": TRAIN_BENIGN,
        "held_out_benign_never_trained": HELD_OUT_BENIGN,
        "rows": {"total": len(texts), "injections": int(y.sum())},
        "sha256": {f: sha256(SHARED / f) for f in [DEEPSET_TRAIN, *TRAIN_BENIGN]},
    }


def split_masks(y: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of deepset's injections, deepset's benign rows (group 0), the other benign rows (group 1)."""
    return (y == 1), (y == 0) & (group == 0), (y == 0) & (group == 1)


def split_metrics(flag: np.ndarray, y: np.ndarray, group: np.ndarray) -> dict:
    """Recall on the injections and the false-positive rate on each benign group, for ``flag``."""
    pos, neg_d, neg_o = split_masks(y, group)
    return {
        "recall_deepset_injections": round(float(flag[pos].mean()), 4),
        "fp_rate_deepset_benign": round(float(flag[neg_d].mean()), 4),
        "fp_rate_other_benign": round(float(flag[neg_o].mean()), 4),
    }


def split_counts(y: np.ndarray, group: np.ndarray) -> dict:
    pos, neg_d, neg_o = split_masks(y, group)
    return {
        "injections": int(pos.sum()),
        "deepset_benign": int(neg_d.sum()),
        "other_benign": int(neg_o.sum()),
    }


def lowest_threshold(scores, y, group, max_fp_deepset: float, max_fp_benign: float, grid, base_flag=None):
    """The lowest ``t`` in ``grid`` at which ``base_flag | (scores >= t)`` keeps both benign groups'
    false-positive rates within budget; None when none does."""
    _, neg_d, neg_o = split_masks(y, group)
    base = np.zeros(len(y), dtype=bool) if base_flag is None else base_flag
    for t in grid:
        flag = base | (scores >= t)
        if flag[neg_d].mean() <= max_fp_deepset and flag[neg_o].mean() <= max_fp_benign:
            return float(t)
    return None


def check_hashes(meta: dict) -> None:
    bad = [f for f, h in meta["data"]["sha256"].items() if sha256(SHARED / f) != h]
    if bad:
        raise SystemExit(f"data differs from the artifact's recorded sha256: {bad}")
    print("data hashes match", meta["name"])


def artifact_parser(
    doc: str, name: str, max_fp_deepset: float, max_fp_benign: float
) -> argparse.ArgumentParser:
    """The options every injection-artifact script has: ``--out``, the two false-positive budgets
    of its threshold and ``--check``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "include/filters/models" / name))
    ap.add_argument("--max-fp-deepset", type=float, default=max_fp_deepset)
    ap.add_argument("--max-fp-benign", type=float, default=max_fp_benign)
    ap.add_argument("--check", action="store_true", help="only verify the recorded data hashes")
    return ap


def hashes_checked(args) -> bool:
    """With ``--check``: verify the data hashes recorded in ``--out``'s model.json; True when done."""
    if args.check:
        check_hashes(json.loads((Path(args.out) / "model.json").read_text()))
    return args.check


def main(argv=None) -> int:
    ap = artifact_parser(__doc__, NAME, 0.015, 0.005)
    ap.add_argument("--c", type=float, default=10.0, help="inverse L2 strength of the logistic regression")
    args = ap.parse_args(argv)
    if hashes_checked(args):
        return 0
    out = Path(args.out)
    texts, y, group = training_data()
    oof = out_of_fold(texts, y, group, args.c)
    threshold, metrics = choose_threshold(oof, y, group, args.max_fp_deepset, args.max_fp_benign)
    weights = fit(*augmented(range(len(y)), texts, y, group, SEED), args.c)
    import sklearn

    meta = {
        "name": out.name,
        "kind": "hashed n-gram tf-idf + logistic regression",
        "blocks": BLOCKS,
        **PIECES,
        "intercept": weights.pop("intercept"),
        "threshold": threshold,
        "training": {
            "c": args.c,
            "seed": SEED,
            "class_weight": "balanced",
            "augmentation": "per injection 2 benign+injection composites; as many benign+benign",
            "scikit_learn": sklearn.__version__,
        },
        "threshold_rule": {
            "out_of_fold": 5,
            "max_fp_deepset_benign": args.max_fp_deepset,
            "max_fp_other_benign": args.max_fp_benign,
        },
        "validation_out_of_fold": metrics,
        "data": data_record(texts, y),
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "weights.npz", **weights)
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps({"threshold": threshold, **metrics}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
