"""Benchmark decontamination and the cross-night dedup index.

    python benchmarks/decontaminate.py decont --rows 100000
    python benchmarks/decontaminate.py index --index-sizes 100000 300000 1000000 --night 100000

``decont``: ``rows`` training rows (real texts from ../shared/datasets, 1 % of them planted
GSM8K / HumanEval items in six templates) against the real GSM8K test split + HumanEval.
Methods, same rows, same run: our ``decontaminate`` stage (Spark local[2], whole stage
with I/O), its library in one process, the stage with no benchmarks (I/O only), and
datatrove's ``NGramsDecontFilter`` (13-grams, query + answer n-grams; index written with
its own ``NGramsDecontIndexer.compute_hashes``) when datatrove imports (``--datatrove-path``
adds a ``pip install --target`` folder after the venv's packages).

``index``: a published index of N records (documents of real sentences), then a second
night of ``night`` rows, 30 % of them re-sent from the index (half verbatim, half with
their last words changed), through ``exact_dedup`` + ``near_dedup`` with the index on,
beside the same night with the index off. Each measurement runs in its own process; peak
RSS of its process tree (Python, JVM, Python workers) is sampled.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.near_dedup import SHARED, real_texts, sample_peak_rss  # noqa: E402

BENCH = SHARED / "eval-benchmarks"
SPARK = {"master": "local[2]", "shuffle_partitions": 8, "driver_memory": "6g"}


def benchmarks_config() -> dict:
    return {
        "benchmarks": [
            {"name": "gsm8k", "uri": str(BENCH / "gsm8k_test.jsonl"), "preset": "gsm8k"},
            {"name": "humaneval", "uri": str(BENCH / "HumanEval.jsonl.gz"), "preset": "humaneval"},
        ]
    }


def load_benchmarks():
    gsm = [json.loads(x) for x in (BENCH / "gsm8k_test.jsonl").read_text().splitlines()]
    he = [json.loads(x) for x in gzip.decompress((BENCH / "HumanEval.jsonl.gz").read_bytes()).splitlines()]
    return gsm, he


def _reformat(code: str) -> str:
    lines = []
    for line in code.splitlines():
        body = line.lstrip(" ")
        lines.append(" " * ((len(line) - len(body)) // 2) + body.replace('"""', "'''"))
        if body.startswith(("for ", "if ", "while ")):
            lines.append("  # step")
    return "\n".join(lines)


TEMPLATES = {
    "gsm verbatim": lambda g, h: f"{g['question']}\n{g['answer']}",
    "gsm wrapped": lambda g, h: f"### Instruction:\nSolve it.\n{g['question']}\n### Response:\n{g['answer']}",
    "gsm light edit": lambda g, h: " ".join(
        w.upper() if i % 9 == 4 else ("seven" if i == len(g["question"].split()) // 2 else w)
        for i, w in enumerate(g["question"].split())
    ),
    "gsm partial answer": lambda g, h: "assistant: " + " ".join(g["answer"].split()[:16]),
    "he verbatim": lambda g, h: h["prompt"] + h["canonical_solution"],
    "he reformatted": lambda g, h: "```python\n" + _reformat(h["prompt"] + h["canonical_solution"]) + "\n```",
}


def build_rows(n: int, seed: int = 3) -> tuple[list[dict], dict[str, str]]:
    """Rows (id, text) and the template of every planted id."""
    gsm, he = load_benchmarks()
    clean = real_texts()
    rnd = random.Random(seed)
    planted_n = n // 100
    rows, planted = [], {}
    for i in range(planted_n):
        name = list(TEMPLATES)[i % len(TEMPLATES)]
        rid = f"p{i}"
        rows.append(
            {"id": rid, "text": TEMPLATES[name](gsm[rnd.randrange(len(gsm))], he[rnd.randrange(len(he))])}
        )
        planted[rid] = name
    rows += [{"id": f"c{i}", "text": clean[i % len(clean)]} for i in range(n - planted_n)]
    rnd.shuffle(rows)
    return rows, planted


# ------------------------------------------------------------------ decont methods (children)


def child_stage(data: Path, work: Path, with_benchmarks: bool) -> dict:
    from include.config import load_config
    from spark_jobs import decontaminate
    from spark_jobs.common import run_stage

    cfg = load_config(
        {"spark": SPARK, "decontaminate": benchmarks_config() if with_benchmarks else {"enabled": True}}
    )
    started = time.time()
    run_stage("decontaminate", decontaminate.run, str(data), str(work / "out"), cfg)
    seconds = time.time() - started
    import pyarrow.parquet as pq

    rejected = pq.read_table(work / "out" / "rejects", columns=["id"]).column("id").to_pylist()
    return {"seconds": seconds, "flagged": rejected}


def child_library(rows: list[dict]) -> dict:
    from include.config.decontaminate import DecontaminateConfig
    from include.decontam.benchmarks import build_index
    from include.decontam.match import find_contamination

    started = time.time()
    index = build_index(DecontaminateConfig(**benchmarks_config()))
    flagged = []
    for lo in range(0, len(rows), 4096):
        batch = rows[lo : lo + 4096]
        found = find_contamination([r["text"] for r in batch], index)
        flagged += [r["id"] for r, m in zip(batch, found, strict=True) if m]
    return {"seconds": time.time() - started, "flagged": flagged}


def child_datatrove(rows: list[dict], work: Path) -> dict:
    import types

    import numpy as np
    from datatrove.data import Document
    from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter, NGramsDecontIndexer
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    from benchmarks.datatrove_baseline import patch_datatrove_xxhash

    patch_datatrove_xxhash()  # before any create_hash_func: datatrove's steps hash str n-grams
    started = time.time()
    cfg = NGramsDecontConfig(n_grams=13, find_query_ngrams=True)
    hash_func = create_hash_func(cfg.hash_config)
    stub = types.SimpleNamespace(config=cfg, tokenizer=load_word_tokenizer("en"), hash_func=hash_func)
    gsm, he = load_benchmarks()
    index = work / "dt_index"
    index.mkdir(parents=True, exist_ok=True)
    tasks = {
        "gsm8k": {
            h for g in gsm for h in NGramsDecontIndexer.compute_hashes(stub, g["answer"], g["question"])
        },
        "humaneval": {
            h
            for x in he
            for h in NGramsDecontIndexer.compute_hashes(
                stub, x["canonical_solution"] + "\n" + x["test"], x["prompt"]
            )
        },
    }
    for name, hashes in tasks.items():
        np.array(sorted(hashes), dtype=cfg.hash_config.np_descr).tofile(index / f"{name}.index.hashes")
    filt = NGramsDecontFilter(index_folder=str(index), config=cfg)
    flagged = []
    for r in rows:
        keep = filt.filter(Document(text=r["text"], id=r["id"]))
        if keep is not True:
            flagged.append(r["id"])
    return {"seconds": time.time() - started, "flagged": flagged}


# ------------------------------------------------------------------ index (children)


def _docs(n: int, seed: int) -> list[str]:
    sentences = [s for t in real_texts() for s in t.split(". ") if len(s.split()) >= 6]
    rnd = random.Random(seed)
    return [". ".join(rnd.choices(sentences, k=rnd.randint(4, 8))) for _ in range(n)]


def build_index_files(out: Path, n: int) -> dict:
    """A committed version of ``n`` records and its index segment, as publish leaves them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include import dedup_index as di
    from include.config import load_config
    from include.minhash import MinHashParams, band_keys, signatures
    from include.normalize import norm_hash
    from spark_jobs.near_dedup import banding

    cfg = load_config({"near_dedup": {"index": {"enabled": True}}})
    bands, rows_per = banding(cfg.near_dedup)
    texts = _docs(n, seed=11)
    vid, vdir = "ds-bench", out / "versions" / "ds-bench"
    (vdir / "curated").mkdir(parents=True)
    (vdir / di.STAGED_DIR).mkdir()
    started = time.time()
    for lo in range(0, n, 50_000):
        chunk = texts[lo : lo + 50_000]
        ids = [f"pub{lo + i}" for i in range(len(chunk))]
        sig, _ = signatures(chunk, MinHashParams())
        keys = band_keys(sig, bands, rows_per)
        table = pa.table(
            {
                "id": ids,
                "norm_hash": [norm_hash(t) for t in chunk],
                "signature": pa.array(list(sig.view(np.int32)), pa.list_(pa.int32())),
                "bands": pa.array(list(keys), pa.list_(pa.int64())),
            }
        )
        pq.write_table(table, vdir / di.STAGED_DIR / f"part-{lo:08d}.parquet")
        pq.write_table(pa.table({"id": ids}), vdir / "curated" / f"part-{lo:08d}.parquet")
    (vdir / di.STAGED_DIR / di.PARAMS_FILE).write_text(json.dumps(di.params_of(cfg, bands, rows_per)))
    (vdir / "manifest.json").write_text("{}")
    signed = time.time() - started
    started = time.time()
    di.index_published(cfg, str(out), vid)
    size = sum(p.stat().st_size for p in (out / di.INDEX_DIR).rglob("*.parquet"))
    return {"sign_s": signed, "index_write_s": time.time() - started, "index_mb": size / 1e6, "texts": texts}


def child_night(out: Path, data: Path, indexed: bool) -> dict:
    from include.config import load_config
    from spark_jobs import exact_dedup, near_dedup
    from spark_jobs.common import run_stage

    cfg = load_config({"spark": SPARK, "near_dedup": {"index": {"enabled": indexed}}})
    run = out / "_staging" / ("with" if indexed else "without")
    started = time.time()
    ex = run_stage("exact_dedup", exact_dedup.run, str(data), str(run / "exact_dedup"), cfg)
    nd = run_stage(
        "near_dedup", near_dedup.run, str(run / "exact_dedup" / "curated"), str(run / "near_dedup"), cfg
    )
    return {
        "seconds": time.time() - started,
        "exact": ex["rejected_by_reason"],
        "near": nd["rejected_by_reason"],
        "exact_s": ex["seconds"],
        "near_s": nd["seconds"],
    }


# ------------------------------------------------------------------ driver


def measure(args: list[str], extra_path: str | None = None, timeout: float = 3000) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = Path(f.name)
    cmd = [sys.executable, __file__, "--child", *args, "--result", str(result)]
    if extra_path:
        cmd += ["--datatrove-path", extra_path]
    proc = subprocess.Popen(cmd, cwd=REPO)
    peak, _ = sample_peak_rss(proc)
    if proc.wait(timeout) != 0:
        raise RuntimeError(f"{args} failed")
    return {**json.loads(result.read_text()), "peak_gb": peak[0] / 1e9}


def decont_table(n: int, datatrove_path: str | None, work: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, planted = build_rows(n)
    data = work / "rows"
    data.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist([{**r, "source_file": "bench.jsonl", "line": i} for i, r in enumerate(rows)]),
        data / "part-0.parquet",
    )
    (work / "rows.json").write_text(json.dumps(rows))
    methods = [("decontaminate stage, Spark local[2]", ["stage", str(work)])]
    methods += [("stage, no benchmarks (I/O only)", ["passthrough", str(work)])]
    methods += [("library, 1 process", ["library", str(work)])]
    methods += [("datatrove NGramsDecontFilter, 1 process", ["datatrove", str(work)])]
    print(f"\n{n} rows ({len(planted)} planted), GSM8K test (1319) + HumanEval (164), 13-grams\n")
    head = ("method", "seconds", "rows/s", "peak GB", "planted found", "by template", "clean rows flagged")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for label, args in methods:
        try:
            r = measure(args, datatrove_path if args[0] == "datatrove" else None)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"| {label} | failed: {exc} |")
            continue
        flagged = set(r["flagged"])
        found = {t: 0 for t in TEMPLATES}
        for rid, t in planted.items():
            found[t] += rid in flagged
        per = ", ".join(f"{t} {c}/{sum(1 for v in planted.values() if v == t)}" for t, c in found.items())
        clean = len(flagged - set(planted))
        got = sum(found.values()) if args[0] != "passthrough" else "-"
        print(
            f"| {label} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | {r['peak_gb']:.2f} | {got} | "
            f"{per if args[0] != 'passthrough' else '-'} | {clean} |"
        )


def index_table(sizes: list[int], night: int, work: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    head = (
        "index records",
        "index MB",
        "build + write s",
        "night rows",
        "with index s",
        "peak GB",
        "without index s",
        "peak GB ",
        "rejected exact / near (expected)",
    )
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    wo = None
    for size in sizes:
        out = work / f"idx{size}"
        built = measure(["build", str(out), str(size)])
        texts = json.loads((out / "texts.json").read_text())
        rnd = random.Random(5)
        resent = rnd.sample(range(size), int(night * 0.3))
        half = len(resent) // 2
        rows = [{"id": f"v{i}", "text": texts[j]} for i, j in enumerate(resent[:half])]
        rows += [
            {"id": f"e{i}", "text": texts[j].rsplit(" ", 3)[0] + " changed at the end"}
            for i, j in enumerate(resent[half:])
        ]
        rows += [{"id": f"n{i}", "text": t} for i, t in enumerate(_docs(night - len(rows), seed=99))]
        data = out / "night"
        data.mkdir()
        pq.write_table(
            pa.Table.from_pylist([{**r, "source_file": "n.jsonl", "line": i} for i, r in enumerate(rows)]),
            data / "part-0.parquet",
        )
        w = measure(["night", str(out), "1"])
        wo = wo or measure(["night", str(out), "0"])  # the same night without the index: measured once
        rej = f"{w['exact'].get('exact_duplicate_of_published', 0)} / {w['near'].get('near_duplicate_of_published', 0)}"
        print(
            f"| {size:,} | {built['index_mb']:.0f} | {built['sign_s'] + built['index_write_s']:.0f} | {night:,} | "
            f"{w['seconds']:.0f} | {w['peak_gb']:.2f} | {wo['seconds']:.0f} | {wo['peak_gb']:.2f} | "
            f"{rej} ({half} / {len(resent) - half}) |",
            flush=True,
        )


def child(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("method")
    ap.add_argument("args", nargs="*")
    ap.add_argument("--result", required=True)
    ap.add_argument("--datatrove-path")
    a = ap.parse_args(argv)
    if a.datatrove_path:
        # after the venv (its numpy etc. win), except xxhash: datatrove 0.10 hashes str, which
        # xxhash 4 (the venv's) refuses; `pip install --target DIR "xxhash<4"` next to it
        sys.path.insert(0, a.datatrove_path)
        import xxhash  # noqa: F401

        sys.path.remove(a.datatrove_path)
        sys.path.append(a.datatrove_path)
    work = Path(a.args[0])
    if a.method in ("stage", "passthrough"):
        res = child_stage(work / "rows", work / a.method, a.method == "stage")
    elif a.method == "library":
        res = child_library(json.loads((work / "rows.json").read_text()))
    elif a.method == "datatrove":
        res = child_datatrove(json.loads((work / "rows.json").read_text()), work)
    elif a.method == "build":
        res = build_index_files(work, int(a.args[1]))
        (work / "texts.json").write_text(json.dumps(res.pop("texts")))
    else:
        res = child_night(work, work / "night", a.args[1] == "1")
    Path(a.result).write_text(json.dumps(res))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["decont", "index"])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--datatrove-path", default=None, help="folder of `pip install --target DIR datatrove`")
    ap.add_argument("--index-sizes", type=int, nargs="+", default=[100_000, 300_000])
    ap.add_argument("--night", type=int, default=100_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.part == "decont":
            decont_table(a.rows, a.datatrove_path, Path(tmp))
        else:
            index_table(a.index_sizes, a.night, Path(tmp))


if __name__ == "__main__":
    main()
