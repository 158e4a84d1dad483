"""Near-duplicate detection benchmark: our near_dedup stage vs datasketch vs Spark MLlib.

    python benchmarks/near_dedup.py --sizes 10000 100000 [--methods ours datasketch mllib]

Builds a labelled set from the real texts in ../shared/datasets: originals (real texts,
plus documents made of sentences drawn from them when more are needed), and for 30 %
of them 1-3 variants by word insert/delete/substitute at several edit rates, case /
punctuation / whitespace changes and sentence swaps. Each method runs in its own
process (peak RSS of its whole process tree is sampled) on the same normalized texts,
Jaccard threshold 0.8, word 5-gram shingles:

* ours: the ``near_dedup`` stage with its defaults (Spark local[2], 128 permutations, 17x7
  bands, Jaccard-verified edges);
  predicted pairs = pairs in the same output cluster.
* datasketch: ``MinHash`` (128 permutations) + ``MinHashLSH(threshold=0.8)``,
  one process; predicted pairs = LSH query results.
* mllib: ``NGram(5)`` -> ``HashingTF(binary)`` -> ``MinHashLSH(numHashTables=5)`` ->
  ``approxSimilarityJoin(0.2)``, Spark local[2]; predicted pairs = the join.

Precision, two ways (for ours every pair inside an output cluster is a predicted pair: a
chain A~B~C is one cluster by design, so A-C is predicted even when it is below 0.8):

* ``precision``: a predicted pair is right when the two documents are labelled duplicates
  (generated from the same original) or their exact shingle Jaccard is >= 0.8;
* ``strict``: right only when the exact Jaccard is >= 0.8 (labelled duplicates further
  apart count as errors).

The notes add, for ours, the share of removed documents that are right (by the first rule)
with respect to the survivor named in their ``dup_of``. Recall: share of true pairs
(generated pairs with exact Jaccard >= 0.8, plus any other pair a method found with exact
Jaccard >= 0.8) that were predicted.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("LLMOPS_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
THRESHOLD = 0.8

# ------------------------------------------------------------------ data


def real_texts() -> list[str]:
    out = [r["output"] for r in json.loads((SHARED / "llamafactory/alpaca_en_demo.json").read_text())]
    out += [json.loads(x)["text"] for x in (SHARED / "llamafactory/c4_demo.jsonl").read_text().splitlines()]
    with gzip.open(SHARED / "hh-rlhf/harmless-base-test.jsonl.gz", "rt") as f:
        out += [json.loads(line)["chosen"].rsplit("Assistant:", 1)[-1] for line in f]

    def walk(n):
        yield n["text"]
        for r in n.get("replies") or []:
            yield from walk(r)

    for line in (SHARED / "oasst/en_100_tree.jsonl").read_text().splitlines():
        out.extend(walk(json.loads(line)["prompt"]))
    return [t.strip() for t in dict.fromkeys(out) if len(t.split()) >= 40]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def mutate(text: str, rnd: random.Random) -> str:
    kind = rnd.choice(["edit", "edit", "edit", "case_punct", "shuffle"])
    if kind == "case_punct":
        t = text.upper() if rnd.random() < 0.3 else text.lower()
        t = re.sub(r"[,.;:!?]", lambda m: rnd.choice(["", m.group(), " ,", "!!"]), t)
        return re.sub(r" ", lambda m: rnd.choice([" ", "  ", "\n"]) if rnd.random() < 0.1 else " ", t)
    if kind == "shuffle":
        sents = _sentences(text)
        if len(sents) > 2:
            i, j = rnd.sample(range(len(sents)), 2)
            sents[i], sents[j] = sents[j], sents[i]
        return " ".join(sents)
    rate = rnd.choice([0.01, 0.02, 0.05, 0.1])
    words = text.split()
    vocab = words or ["x"]
    out = []
    for w in words:
        r = rnd.random()
        if r < rate / 3:
            continue  # delete
        if r < 2 * rate / 3:
            out.append(rnd.choice(vocab))  # substitute
        else:
            out.append(w)
        if rnd.random() < rate / 3:
            out.append(rnd.choice(vocab))  # insert
    return " ".join(out)


def build_dataset(n: int, seed: int = 7) -> tuple[list[str], list[int]]:
    """``n`` documents and their generated cluster ids."""
    rnd = random.Random(seed)
    bases = real_texts()
    pool = [s for t in bases for s in _sentences(t) if len(s.split()) >= 6]
    docs, clusters = [], []
    originals = int(n / 1.6)  # ~30 % of originals get 1-3 variants -> ~n documents
    for c in range(originals):
        if len(docs) >= n:
            break
        text = bases[c] if c < len(bases) else " ".join(rnd.sample(pool, rnd.randint(5, 12)))
        docs.append(text)
        clusters.append(c)
        if rnd.random() < 0.3:
            for _ in range(rnd.randint(1, 3)):
                if len(docs) < n:
                    docs.append(mutate(text, rnd))
                    clusters.append(c)
    while len(docs) < n:
        docs.append(" ".join(rnd.sample(pool, rnd.randint(5, 12))))
        clusters.append(-len(docs))
    return docs, clusters


# ------------------------------------------------------------------ methods (each in its own process)


def run_ours(texts: list[str], workdir: Path) -> set[tuple[int, int]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.config import load_config
    from spark_jobs import near_dedup
    from spark_jobs.common import get_spark, run_stage

    src = workdir / "in"
    src.mkdir()
    pq.write_table(
        pa.table({"id": [f"{i:08d}" for i in range(len(texts))], "text": texts}), src / "part-0.parquet"
    )
    cfg = load_config({"spark": {"master": "local[2]", "shuffle_partitions": 8, "driver_memory": "8g"}})
    spark = get_spark(cfg, "bench-near-dedup")
    run_stage("near_dedup", near_dedup.run, str(src), str(workdir / "out"), cfg, spark=spark)
    spark.stop()
    cluster_of: dict[str, list[int]] = {}
    for table in (
        pq.read_table(workdir / "out" / "curated", columns=["id", "dup_cluster"]),
        pq.read_table(workdir / "out" / "rejects", columns=["id", "dup_cluster"]),
    ):
        for rid, c in zip(
            table.column("id").to_pylist(), table.column("dup_cluster").to_pylist(), strict=True
        ):
            if c is not None:
                cluster_of.setdefault(c, []).append(int(rid))
    rej = pq.read_table(workdir / "out" / "rejects", columns=["id", "dup_of"]).to_pylist()
    REMOVALS.extend((int(r["id"]), int(r["dup_of"])) for r in rej)
    return {tuple(sorted(p)) for m in cluster_of.values() for p in itertools.combinations(m, 2)}


REMOVALS: list[tuple[int, int]] = []  # ours: (removed doc, its survivor)


def run_datasketch(texts: list[str], workdir: Path) -> set[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    from include.minhash import MinHashParams, shingles

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=128)
    sigs = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([s.encode() for s in shingles(t, MinHashParams())])
        lsh.insert(i, m)
        sigs.append(m)
    return {tuple(sorted((i, j))) for i, m in enumerate(sigs) for j in lsh.query(m) if i != j}


def run_mllib(texts: list[str], workdir: Path) -> set[tuple[int, int]]:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import HashingTF, MinHashLSH, NGram, Tokenizer
    from pyspark.sql import functions as F

    from include.config import load_config
    from spark_jobs.common import get_spark

    cfg = load_config({"spark": {"master": "local[2]", "shuffle_partitions": 8, "driver_memory": "8g"}})
    spark = get_spark(cfg, "bench-mllib")
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id long, text string")
    feats = (
        Pipeline(
            stages=[
                Tokenizer(inputCol="text", outputCol="words"),
                NGram(n=5, inputCol="words", outputCol="grams"),
                HashingTF(inputCol="grams", outputCol="features", numFeatures=1 << 22, binary=True),
            ]
        )
        .fit(df)
        .transform(df)
        .where(F.size("grams") > 0)
    )
    model = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=5, seed=1).fit(feats)
    pairs = (
        model.approxSimilarityJoin(feats, feats, 1 - THRESHOLD, distCol="d")
        .select(F.col("datasetA.id").alias("a"), F.col("datasetB.id").alias("b"))
        .where("a < b")
        .collect()
    )
    spark.stop()
    return {(r["a"], r["b"]) for r in pairs}


METHODS = {"ours": run_ours, "datasketch": run_datasketch, "mllib": run_mllib}


def child(method: str, data: Path, out: Path) -> None:
    texts = json.loads(data.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pairs = METHODS[method](texts, Path(tmp))
        seconds = time.perf_counter() - t0
    out.write_text(json.dumps({"seconds": seconds, "pairs": sorted(pairs), "removals": REMOVALS}))


# ------------------------------------------------------------------ parent: measure and compare


def _tree_rss(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def sample_peak_rss(proc: subprocess.Popen, interval: float = 0.2) -> tuple[list[int], threading.Thread]:
    """Sample the RSS of ``proc``'s process tree in a thread until it exits: ``peak[0]`` holds the
    highest so far (join the thread for the final value)."""
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    return peak, th


def measure(method: str, data: Path, timeout: float) -> dict:
    out = data.with_suffix(f".{method}.json")
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", method, str(data), str(out)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, th = sample_peak_rss(proc)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"error": f"timeout after {timeout:.0f}s"}
    th.join()
    if proc.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"}
    res = json.loads(out.read_text())
    return {
        "seconds": res["seconds"],
        "pairs": {tuple(p) for p in res["pairs"]},
        "peak_gb": peak[0] / 1e9,
        "removals": res.get("removals") or [],
    }


def jaccard_fn(texts: list[str]):
    """Exact Jaccard of two documents' word 5-gram sets, compared as sorted arrays of their
    32-bit shingle hashes (memory for 1M documents; a collision changes a pair's score by
    about 1e-5)."""
    import numpy as np

    from include.minhash import MinHashParams, _fast_hashes

    cache: dict[int, np.ndarray] = {}

    def sh(i):
        if i not in cache:
            hashes, _ = _fast_hashes([texts[i]], MinHashParams())
            cache[i] = np.unique(hashes)
        return cache[i]

    def jac(i, j):
        a, b = sh(i), sh(j)
        if not len(a) or not len(b):
            return 0.0
        inter = len(np.intersect1d(a, b, assume_unique=True))
        return inter / (len(a) + len(b) - inter)

    return jac


def signature_throughput(texts: list[str], repeats: int = 3) -> tuple[float, float, float]:
    """One core: our signatures (shingle hashing + permutations) vs datasketch's
    ``MinHash.update_batch`` on the same shingles; docs/s each, from normalized texts."""
    from datasketch import MinHash

    from include.minhash import MinHashParams, _fast_hashes, shingles, signatures_from_hashes

    p = MinHashParams()
    signatures_from_hashes(*_fast_hashes(texts[:200], p), p)  # warm-up
    ours = min(_timed(lambda: signatures_from_hashes(*_fast_hashes(texts, p), p)) for _ in range(repeats))
    encoded = [[s.encode() for s in shingles(t, p)] for t in texts]

    def ds():
        for sh in encoded:
            MinHash(num_perm=128, seed=1).update_batch(sh)

    theirs = min(_timed(ds) for _ in range(repeats))
    return len(texts) / ours, len(texts) / theirs, theirs / ours


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument(
        "--mllib-max-docs",
        type=int,
        default=200_000,
        help="skip MLlib above this size (9.4 GB peak at 100k: 1M does not fit in 24 GB)",
    )
    ap.add_argument(
        "--signature-docs", type=int, default=20_000, help="docs for the one-core signature table"
    )
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    from include.normalize import normalize_text

    raw, _ = build_dataset(args.signature_docs)
    ours, theirs, ratio = signature_throughput([normalize_text(t) for t in raw])
    print("| signatures, one core (128 perm, 5-gram) | docs/s |\n|---|---|")
    print(f"| ours (vectorised numpy) | {ours:.0f} |\n| datasketch MinHash.update_batch | {theirs:.0f} |")
    print(f"| ratio | {ratio:.1f}x |\n", flush=True)
    rows = []
    for n in args.sizes:
        raw, clusters = build_dataset(n)
        texts = [normalize_text(t) for t in raw]
        jac = jaccard_fn(texts)
        by_cluster: dict[int, list[int]] = {}
        for i, c in enumerate(clusters):
            by_cluster.setdefault(c, []).append(i)
        true = {p for m in by_cluster.values() for p in itertools.combinations(m, 2) if jac(*p) >= THRESHOLD}
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "docs.json"
            data.write_text(json.dumps(texts))
            results = {
                m: measure(m, data, args.timeout)
                if m != "mllib" or n <= args.mllib_max_docs
                else {"error": f"skipped above --mllib-max-docs {args.mllib_max_docs}"}
                for m in args.methods
            }
        found_true = set(true)
        for r in results.values():
            found_true |= {p for p in r.get("pairs", ()) if jac(*p) >= THRESHOLD}
        for m, r in results.items():
            if "error" in r:
                rows.append((n, m, "-", "-", "-", "-", "-", "-", r["error"]))
                continue
            pred = r["pairs"]
            strict = sum(1 for p in pred if jac(*p) >= THRESHOLD)
            right = sum(1 for p in pred if clusters[p[0]] == clusters[p[1]] or jac(*p) >= THRESHOLD)
            prec = right / len(pred) if pred else 1.0
            rec = len(pred & found_true) / len(found_true) if found_true else 1.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            note = f"{len(pred)} pairs, {r['seconds']:.0f}s"
            if r["removals"]:
                ok = sum(1 for a, b in r["removals"] if clusters[a] == clusters[b] or jac(a, b) >= THRESHOLD)
                note += f"; removed docs right vs their survivor: {ok / len(r['removals']):.3f}"
            rows.append(
                (
                    n,
                    m,
                    f"{prec:.3f}",
                    f"{strict / len(pred) if pred else 1.0:.3f}",
                    f"{rec:.3f}",
                    f"{f1:.3f}",
                    f"{n / r['seconds']:.0f}",
                    f"{r['peak_gb']:.2f}",
                    note,
                )
            )
        print(
            f"n={n}: {len(true)} true pairs (J>={THRESHOLD}) among {len(by_cluster)} generated clusters",
            flush=True,
        )
    head = ("docs", "method", "precision", "strict", "recall", "F1", "docs/s", "peak GB", "notes")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
