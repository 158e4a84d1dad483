"""Whole-DAG speed: ``airflow dags test curate_dataset`` end to end, default config.

    python benchmarks/curate_dag.py                       # the bundled demo data (35 records)
    python benchmarks/curate_dag.py --records 10000 100000 --datatrove-path /tmp/dt

Each size runs with the stages in process (``spark.in_process: true``, the default: one Spark
session for the whole ``dags test``) and, side by side in the same run, as one
``python -m spark_jobs.<stage>`` subprocess per stage (``in_process: false``, the previous
default). Each run gets a fresh ``AIRFLOW_HOME`` (migrated before the clock starts) and prints
per stage: seconds (from the stage's stats) and rows/s; then the wall time of the whole
``dags test`` and the peak RSS of its process tree (Airflow, JVM, Python workers), sampled.

``--records N`` builds N Alpaca-format records (instruction = first sentence, output = the
rest) from the real texts in ``../shared/datasets`` (benchmarks/near_dedup.py: Alpaca, C4,
HH-RLHF, OASST), with exact and near duplicates (~30 % of the originals get 1-3 edited variants)
and a name / e-mail / phone planted in 5 % of the answers.

``--datatrove-path DIR`` (a ``pip install --target DIR datatrove orjson`` folder) adds, on the
same records in the same run, the single-node baseline for the dedup and filter steps:
datatrove's MinHash dedup + Gopher filters on a local executor with one worker per core
(``benchmarks/datatrove_baseline.py``), beside our exact_dedup + near_dedup + filters.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.near_dedup import build_dataset, sample_peak_rss  # noqa: E402
from include.config import STAGES  # noqa: E402

SAMPLE = REPO / "include" / "sample_data"
MODES = {"in process": True, "subprocess per stage": False}
PLANTS = (
    "Please forward this to {name} at {email} or call {phone}.",
    "My colleague {name} ({phone}) can confirm; write to {email}.",
)


def make_records(n: int, folder: Path, seed: int = 11) -> Path:
    """``n`` Alpaca records from real texts (duplicates, near duplicates, planted PII)."""
    from faker import Faker

    fake, rnd = Faker("en_US"), random.Random(seed)
    Faker.seed(seed)
    docs, _ = build_dataset(n, seed)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "bench.jsonl").open("w") as fh:
        for doc in docs:
            head, _, rest = doc.partition(". ")
            answer = rest or doc
            if rnd.random() < 0.05:
                answer += " " + rnd.choice(PLANTS).format(
                    name=fake.name(), email=fake.email(), phone=fake.phone_number()
                )
            fh.write(json.dumps({"instruction": head + ".", "input": "", "output": answer}) + "\n")
    return folder


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins")]),
        SPARK_LOCAL_IP="127.0.0.1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
    )
    return env


def run_dag(source: Path, work: Path, in_process: bool) -> dict:
    home, out = work / "airflow", work / "out"
    home.mkdir(parents=True)
    env = _env(home)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    conf = {
        "source_uri": str(source),
        "output_uri": str(out),
        "config": {"spark": {"in_process": in_process}},
    }
    log = work / "dags-test.log"
    started = time.time()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [airflow, "dags", "test", "curate_dataset", "--conf", json.dumps(conf)],
            env=env,
            cwd=work,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        peak, sampler = sample_peak_rss(proc, interval=0.5)
        rc = proc.wait()
        sampler.join()
    wall = time.time() - started
    latest = out / "_latest"
    if rc != 0 or not latest.exists():
        raise SystemExit(f"dags test failed (rc {rc}); log {log}:\n" + log.read_text()[-3000:])
    manifest = json.loads((out / "versions" / latest.read_text().strip() / "manifest.json").read_text())
    return {
        "wall": wall,
        "peak_rss": peak[0],
        "stages": manifest["stages"],
        "accounting": manifest["accounting"],
    }


def table(label: str, results: dict[str, dict]) -> None:
    names = list(results)
    first = results[names[0]]
    print(f"\n### {label}: {first['accounting']['source_records']:,} source records\n")
    print("| stage | rows in | " + " | ".join(f"{n}: s (rows/s)" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for stage in STAGES:
        st = first["stages"].get(stage) or {}
        if not st.get("enabled", True) or st.get("seconds") is None:
            continue
        cells = []
        for n in names:
            s = results[n]["stages"][stage]
            rate = f"{(s.get('in') or 0) / s['seconds']:,.0f}" if s.get("seconds") else "-"
            cells.append(f"{s['seconds']:.1f} ({rate})")
        print(f"| {stage} | {st.get('in') or 0:,} | " + " | ".join(cells) + " |")
    print(
        "| **whole `dags test` (wall)** | | "
        + " | ".join(f"**{results[n]['wall']:.0f}**" for n in names)
        + " |"
    )
    print(
        "| peak RSS, process tree | | "
        + " | ".join(f"{results[n]['peak_rss'] / 2**30:.1f} GiB" for n in names)
        + " |"
    )
    same = len({json.dumps(r["accounting"], sort_keys=True) for r in results.values()}) == 1
    print(
        f"\naccounting identical across modes: {same}; curated rows: {first['accounting']['curated_rows']:,}"
    )


def run_datatrove(source: Path, work: Path, datatrove_path: str) -> dict:
    cmd = [sys.executable, str(REPO / "benchmarks" / "datatrove_baseline.py"), str(source), str(work)]
    log = work.with_suffix(".log")
    started = time.time()
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [*cmd, "--datatrove-path", datatrove_path], stdout=subprocess.PIPE, stderr=fh, text=True
        )
        peak, sampler = sample_peak_rss(proc, interval=0.5)
        out, _ = proc.communicate()
        sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"datatrove baseline failed; log {log}:\n" + log.read_text()[-3000:])
    return {**json.loads(out.strip().splitlines()[-1]), "wall": time.time() - started, "peak_rss": peak[0]}


DEDUP_FILTER_STAGES = ("exact_dedup", "near_dedup", "filters")


def baseline_table(ours: dict, dt: dict) -> None:
    """Our dedup + filter stages vs datatrove's MinHash + Gopher steps on the same records."""
    st = ours["stages"]
    ours_s = sum(st[s]["seconds"] for s in DEDUP_FILTER_STAGES if st.get(s, {}).get("seconds"))
    docs_in = st["exact_dedup"]["in"]
    print(f"\n#### dedup + filter steps, same records: ours vs datatrove ({os.cpu_count()} workers)\n")
    print("| pipeline | step | seconds | docs/s |\n|---|---|---|---|")
    for s in DEDUP_FILTER_STAGES:
        if st.get(s, {}).get("seconds"):
            print(
                f"| ours (Spark local) | {s} | {st[s]['seconds']:.1f} | {st[s]['in'] / st[s]['seconds']:,.0f} |"
            )
    print(f"| **ours** | **exact + near dedup + filters** | **{ours_s:.1f}** | **{docs_in / ours_s:,.0f}** |")
    for step, sec in dt["seconds"].items():
        print(f"| datatrove | {step} | {sec:.1f} | {dt['docs_in'] / sec:,.0f} |")
    total = sum(dt["seconds"].values())
    print(
        f"| **datatrove** | **MinHash dedup + Gopher filters** | **{total:.1f}** | **{dt['docs_in'] / total:,.0f}** |"
    )
    near = st["near_dedup"]
    removed = sum(
        (st[s].get("rejected_by_reason") or {}).get(r, 0)
        for s, r in (("exact_dedup", "exact_duplicate"), ("near_dedup", "near_duplicate"))
    )
    print(
        f"\nrows after our filters: {st['filters']['out']:,} of {docs_in:,} (duplicates removed {removed:,}; "
        f"near_dedup in {near['in']:,}); datatrove {dt['docs_out']:,} of {dt['docs_in']:,} "
        f"(peak RSS {dt['peak_rss'] / 2**30:.1f} GiB, wall {dt['wall']:.0f} s). The filters differ "
        "(ours: injection / malicious / profanity / heuristic quality; datatrove: Gopher repetition + quality)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, nargs="*", default=[0], help="0 = the bundled demo data")
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    ap.add_argument("--datatrove-path", help="pip install --target folder with datatrove + orjson")
    a = ap.parse_args()
    print(f"cores: {os.cpu_count()}; Python {sys.version.split()[0]}")
    for n in a.records:
        tmp = Path(tempfile.mkdtemp(prefix="curate-dag-"))
        try:
            source = SAMPLE if n == 0 else make_records(n, tmp / "source")
            results = {m: run_dag(source, tmp / m.replace(" ", "_"), MODES[m]) for m in a.modes}
            table("demo data (include/sample_data)" if n == 0 else f"{n:,} records", results)
            if a.datatrove_path and n:
                dt = run_datatrove(source / "bench.jsonl", tmp / "datatrove", a.datatrove_path)
                baseline_table(results[a.modes[0]], dt)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
