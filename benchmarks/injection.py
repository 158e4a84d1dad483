"""Prompt-injection detection through the real ``filters`` stage, side by side: rules only, the
default (rules + the TF-IDF detector), and the two opt-in detectors added to it (MiniLM embeddings
+ MLP head; the LoRA fine-tuned MiniLM classifier).

    python benchmarks/injection.py --deepset-test PATH [--throughput-rows 20000] [--slow-rows 2000]
        [--cores 2] [--configs NAME ...] [--show-misses] [--json out.json]

Data (none of it written by this project, none of it used to tune the rules' or the detector's
thresholds):

* **deepset/prompt-injections test split** (60 injections, 56 benign; Apache-2.0): the Hugging
  Face parquet file ``test-00000-of-00001-701d16158af87368.parquet`` (sha256 ``39ac797c...``), e.g.
  from github.com/sinanw/llm-security-prompt-injection ``data/raw/``. Not shipped: pass
  ``--deepset-test`` or set ``DEEPSET_TEST_PARQUET``. Each text is one user turn.
* **held-out benign rows**: every canonical row of the benign sources the detector was *not*
  trained on (``HELD_OUT_BENIGN`` in ``scripts/train_injection_detector.py``: split by
  source) from ``../shared/datasets``: HH-RLHF harmless-base test (red-team asks, not
  injections), LLaMA-Factory v1-SFT / KTO / glaive tool-call / reasoning tool-use demos, C4
  documents, GSM8K and HumanEval prompts.

All configurations run in the same process through ``spark_jobs.filters.run`` (local mode,
default config apart from ``malicious.detector`` as in :data:`CONFIGS`). A row counts as detected when the
stage rejects it with a malicious-content reason (``prompt_injection``, ``xss``,
``sql_injection``, ``injection_classifier``). Throughput: ``--throughput-rows`` rows (the rows
above, repeated with new ids) through the same stage; rows/s/core = rows / wall seconds / cores
(this includes Spark's own overhead and whatever else the machine runs: the load average is
printed), and the filter engine alone per CPU second in this process (the per-row cost).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from scripts.train_injection_detector import HELD_OUT_BENIGN, canonical_rows, deepset  # noqa: E402

MALICIOUS = {"prompt_injection", "xss", "sql_injection", "injection_classifier"}
ANSWER = "Understood."
#: name -> ``filters.malicious.detector`` settings
CONFIGS = {
    "rules only": {"enabled": False},
    "default: + tfidf": {},
    "+ minilm (opt-in)": {"embedding": {"enabled": True}},
    "+ lora (opt-in)": {"transformer": {"enabled": True}},
}
#: configurations with a transformer forward pass per text: their throughput runs on ``--slow-rows``
SLOW = {"+ minilm (opt-in)", "+ lora (opt-in)"}


def user_row(i: int, text: str, source: str) -> dict:
    msgs = [{"role": "user", "content": text}, {"role": "assistant", "content": ANSWER}]
    return {"id": f"{source}:{i}", "source": source, "format": "openai", "messages": msgs}


def complete(row: dict, i: int) -> dict:
    """A canonical row with the columns the stage reads (kind, text, ...)."""
    from include.formats.base import flatten_text

    r = {"kind": "sft", "source_file": row.get("source"), "line": i, **row}
    r["text"] = r.get("text") or flatten_text(r)
    return r


def run_filters(spark, rows: list[dict], detector: dict, tmp: str, name: str) -> tuple[dict, float]:
    """Stage rejects by id (reason, detail) and wall seconds of the real stage."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.config import load_config
    from include.schema import arrow_schema
    from spark_jobs import filters
    from spark_jobs.common import run_stage

    cfg = load_config(
        {
            "spark": {"master": spark.conf.get("spark.master")},
            "filters": {"malicious": {"detector": detector}},
        }
    )
    schema = arrow_schema()
    src = f"{tmp}/{name}-in"
    os.makedirs(src, exist_ok=True)
    pq.write_table(
        pa.Table.from_pylist([{f: r.get(f) for f in schema.names} for r in rows], schema=schema),
        f"{src}/part-0.parquet",
    )
    started = time.perf_counter()
    run_stage("filters", filters.run, src, f"{tmp}/{name}-out", cfg, spark=spark)
    seconds = time.perf_counter() - started
    rejects = pq.read_table(f"{tmp}/{name}-out/rejects", columns=["id", "reason", "detail"]).to_pylist()
    return {r["id"]: (r["reason"], r["detail"]) for r in rejects}, seconds


def detected(rejects: dict, ids: list[str]) -> list[str]:
    return [i for i in ids if rejects.get(i, ("",))[0] in MALICIOUS]


def engine_rate(rows: list[dict], detector: dict) -> float:
    """Rows per CPU second of the filter engine alone, in this process (no Spark): the per-core
    cost of the per-row decisions, independent of how loaded the machine is."""
    from include.config.filters import FiltersConfig
    from include.filters import FilterEngine

    engine = FilterEngine(FiltersConfig.model_validate({"malicious": {"detector": detector}}))
    engine.evaluate_rows(rows[:50])
    started = time.process_time()
    for i in range(0, len(rows), 1000):
        engine.evaluate_rows(rows[i : i + 1000])
    return len(rows) / (time.process_time() - started)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deepset-test", default=os.environ.get("DEEPSET_TEST_PARQUET"))
    ap.add_argument("--throughput-rows", type=int, default=20000)
    ap.add_argument("--cores", type=int, default=2, help="Spark local[N]: the cores the stage may use")
    ap.add_argument("--slow-rows", type=int, default=2000, help="throughput rows of the SLOW configurations")
    ap.add_argument(
        "--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), help="a subset to run"
    )
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if not args.deepset_test or not Path(args.deepset_test).is_file():
        ap.error(
            "the deepset test parquet is needed (--deepset-test or DEEPSET_TEST_PARQUET); see the docstring"
        )
    from include.config import load_config
    from spark_jobs.common import get_spark

    texts, labels = deepset(Path(args.deepset_test))
    test = [complete(user_row(i, t, "deepset-test"), i) for i, t in enumerate(texts)]
    inj = [r["id"] for r, y in zip(test, labels, strict=True) if y == 1]
    ben = [r["id"] for r, y in zip(test, labels, strict=True) if y == 0]
    held = [complete(r, i) for rel in HELD_OUT_BENIGN for i, r in enumerate(canonical_rows(rel))]
    by_source = Counter(r["source"] for r in held)
    source = {r["id"]: r["source"] for r in held}
    base = test + held
    big = [{**r, "id": f"{k}:{r['id']}"} for k in range(args.throughput_rows // len(base) + 1) for r in base]
    big = big[: args.throughput_rows]

    spark = get_spark(load_config({"spark": {"master": f"local[{args.cores}]"}}), "injection-bench")
    report: dict = {"held_out_benign_rows": len(held), "by_source": dict(by_source), "cores": args.cores}
    configs = {name: CONFIGS[name] for name in args.configs}
    with tempfile.TemporaryDirectory() as tmp:
        run_filters(spark, base[:200], {}, tmp, "warmup")
        for k, (name, det) in enumerate(configs.items()):
            rej, _ = run_filters(spark, base, det, tmp, f"cfg{k}")
            fp = Counter(source[i] for i in detected(rej, list(source)))
            report[name] = {
                "deepset_recall": len(detected(rej, inj)) / len(inj),
                "deepset_caught": len(detected(rej, inj)),
                "deepset_benign_flagged": len(detected(rej, ben)),
                "held_out_flagged": sum(fp.values()),
                "held_out_fp_rate": sum(fp.values()) / len(held),
                "held_out_flagged_by_source": dict(fp),
                "detector_only": sum("rules: no hit" in (rej.get(i, ("", ""))[1] or "") for i in inj),
                "minilm_fired": sum(
                    bool(re.search(r"minilm\S* [\d.]+ >=", rej.get(i, ("", ""))[1] or "")) for i in inj
                ),
                "lora_fired": sum(
                    bool(re.search(r"lora\S* [\d.]+ >=", rej.get(i, ("", ""))[1] or "")) for i in inj
                ),
            }
            if args.show_misses:
                for i in [i for i in inj if i not in set(detected(rej, inj))]:
                    print(f"  [{name}] missed: {texts[int(i.split(':')[1])][:100]!r}")
                for i in detected(rej, ben) + detected(rej, list(source)):
                    print(f"  [{name}] flagged benign {i}: {rej[i][1][:160]!r}")
        for k, (name, det) in enumerate(configs.items()):
            rows = big[: args.slow_rows] if name in SLOW else big
            _, secs = run_filters(spark, rows, det, tmp, f"tp{k}")
            report[name]["throughput_rows"] = len(rows)
            report[name]["rows_per_s_per_core"] = len(rows) / secs / args.cores
            report[name]["engine_rows_per_cpu_s"] = engine_rate(
                base[: args.slow_rows] if name in SLOW else base, det
            )
    spark.stop()
    report["load_average"] = os.getloadavg()

    print(f"\nheld-out benign rows: {len(held)} ({', '.join(f'{k} {v}' for k, v in by_source.items())})")
    print(
        f"{'config':<18} {'deepset recall':>15} {'benign 56 flagged':>18} {'held-out FP':>14} {'rows/s/core':>12}"
        f" {'engine rows/cpu-s':>18} {'tp rows':>8}"
    )
    for name in configs:
        r = report[name]
        print(
            f"{name:<18} {r['deepset_caught']:>3}/{len(inj)} = {r['deepset_recall']:.3f} "
            f"{r['deepset_benign_flagged']:>12}/{len(ben)} {r['held_out_flagged']:>6} ({r['held_out_fp_rate']:.2%}) "
            f"{r['rows_per_s_per_core']:>18.0f} {r['engine_rows_per_cpu_s']:>18.0f} {r['throughput_rows']:>8}"
        )
        print(f"{'':<18} held-out flagged by source: {r['held_out_flagged_by_source']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
