"""The single-node pipeline a user would pick instead of curate_dataset's dedup + filter steps:
datatrove's MinHash deduplication (its four steps: signatures, buckets, clusters, filter) and
its Gopher repetition + quality filters, on a ``LocalPipelineExecutor`` with one worker per core.

    python benchmarks/datatrove_baseline.py SOURCE.jsonl WORK_DIR --datatrove-path /tmp/dt

``SOURCE.jsonl``: Alpaca records (``benchmarks/curate_dag.py --records N`` writes them); the
text of a record is instruction + input + output, as our flattened record. datatrove is not a
project dependency: install it with ``pip install --target DIR datatrove`` (``--datatrove-path``
puts DIR after the venv's packages). Prints one JSON line: seconds per step, documents in / out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def xxhash32_str(data):
    """datatrove 0.10 hashes ``str``; the pinned xxhash (4.x) takes bytes only: encode as UTF-8."""
    import xxhash

    return xxhash.xxh32_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def xxhash64_str(data):
    import xxhash

    return xxhash.xxh64_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def patch_datatrove_xxhash() -> None:
    """Make datatrove's xxhash helpers take ``str`` again (module-level functions: picklable)."""
    import datatrove.utils.hashes.xxhash as dx

    dx.xxhash32, dx.xxhash64 = xxhash32_str, xxhash64_str


def alpaca_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    text = "\n".join(data.get(k) or "" for k in ("instruction", "input", "output") if data.get(k))
    return {"text": text, "id": f"{Path(path).name}/{id_in_file}", "metadata": {}}


def shard(source: Path, folder: Path, shards: int) -> int:
    """Split ``source`` into ``shards`` files (datatrove spreads files, not lines, over tasks)."""
    folder.mkdir(parents=True, exist_ok=True)
    outs = [(folder / f"part-{i:03d}.jsonl").open("w") for i in range(shards)]
    n = 0
    with source.open() as fh:
        for n, line in enumerate(fh, 1):
            outs[n % shards].write(line)
    for o in outs:
        o.close()
    return n


def count_lines(folder: Path) -> int:
    import gzip

    return sum(sum(1 for _ in gzip.open(p, "rt")) for p in folder.rglob("*.jsonl.gz"))


def run(source: Path, work: Path, workers: int) -> dict:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    patch_datatrove_xxhash()
    shards = work / "input"
    docs = shard(source, shards, workers)
    cfg = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, 64-bit xxhash (datatrove's defaults)

    def reader():
        return JsonlReader(str(shards), adapter=alpaca_adapter)

    def executor(pipeline, tasks, step):
        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(work / "logs" / step),
            start_method="fork", skip_completed=False,
        )  # fmt: skip

    steps = {
        "minhash signatures": (
            [reader(), MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)],
            workers,
        ),
        "minhash buckets": (
            [
                MinhashDedupBuckets(
                    input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg
                )
            ],
            cfg.num_buckets,
        ),
        "minhash clusters": (
            [
                MinhashDedupCluster(
                    input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=cfg
                )
            ],
            1,
        ),
        "dedup filter + Gopher filters + write": (
            [
                reader(),
                MinhashDedupFilter(input_folder=str(work / "remove")),
                GopherRepetitionFilter(),
                GopherQualityFilter(),
                JsonlWriter(str(work / "out")),
            ],
            workers,
        ),
    }
    seconds = {}
    for name, (pipeline, tasks) in steps.items():
        started = time.time()
        executor(pipeline, tasks, name.split()[0] + str(len(seconds))).run()
        seconds[name] = time.time() - started
    return {"docs_in": docs, "docs_out": count_lines(work / "out"), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("work", type=Path)
    ap.add_argument("--datatrove-path", required=True)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    sys.path.append(a.datatrove_path)
    print(json.dumps(run(a.source, a.work, a.workers)))


if __name__ == "__main__":
    main()
