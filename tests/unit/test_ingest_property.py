"""Property-style ingest test (seeded generator; hypothesis is not pinned): random mixes of good and
broken records and files in every supported container (JSONL, JSON array, JSONL.gz, Parquet) and
several record formats. For each mix: nothing raises, ``records = converted + rejected``, every
reject names its file and line, and every good record comes out as a row."""

from __future__ import annotations

import gzip
import json
import random
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.ingest import convert_file
from tests.bad_inputs import sentence

SEEDS = range(12)
BROKEN_LINES = (
    "{not json",
    "[1, 2, 3]",
    '{"messages": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"messages": [{"role": "user", "content": "x \\udfff"}, {"role": "assistant", "content": "y"}]}',
    '{"messages": [{"role": "assistant", "content": "no question"}]}',
    '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}',
    '{"messages": 5}',
)


def good_record(rng: random.Random, fmt: str, key: str) -> dict:
    q, a = f"{key} {sentence(rng)}?", f"{key} {sentence(rng, 10)}"
    if fmt == "alpaca":
        return {"instruction": q, "output": a}
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def write_mix(rng: random.Random, folder, idx: int) -> tuple[str, set[str], int]:
    """One random file; returns (name, keys of the good records, broken records written)."""
    fmt = rng.choice(["openai", "alpaca"])
    container = rng.choice(["jsonl", "json", "jsonl.gz", "parquet"])
    keys = {f"k{idx}x{i}" for i in range(rng.randint(0, 12))}
    recs = [json.dumps(good_record(rng, fmt, k)) for k in sorted(keys)]
    broken = 0
    if container in ("jsonl", "jsonl.gz"):
        for _ in range(rng.randint(0, 4)):
            recs.insert(rng.randint(0, len(recs)), rng.choice(BROKEN_LINES))
            broken += 1
        if rng.random() < 0.3:
            recs.insert(rng.randint(0, len(recs)), "\udcff")  # becomes invalid UTF-8 bytes below
            broken += 1
    name = f"f{idx}.{container}"
    path = folder / name
    data = b"".join(r.encode("utf-8", "surrogateescape") + b"\n" for r in recs)
    if container == "jsonl":
        path.write_bytes(data)
    elif container == "jsonl.gz":
        blob = gzip.compress(data)
        if keys and rng.random() < 0.4:  # truncate: the records after the cut are one reject
            blob = blob[: rng.randint(10, len(blob) - 1)]
            kept = _complete_lines(blob)
            keys = {k for k in keys if any(k in ln for ln in kept)}
            broken = -1  # unknown split: checked through the accounting only
        path.write_bytes(blob)
    elif container == "json":
        items = [json.loads(r) for r in recs]
        if rng.random() < 0.3:
            items.insert(rng.randint(0, len(items)), "a string, not an object")
            broken += 1
        path.write_text(json.dumps(items))
    else:
        if rng.random() < 0.2:  # not Parquet at all
            path.write_text("plain text\n")
            keys, broken = set(), 1
        else:
            rows = [json.loads(r) for r in recs]
            table = pa.Table.from_pylist(rows) if rows else pa.table({"x": pa.array([], pa.string())})
            pq.write_table(table, path)
    return name, keys, broken


def _complete_lines(blob: bytes) -> list[str]:
    d = zlib.decompressobj(31)
    text = d.decompress(blob).decode("utf-8", "replace")
    return text.split("\n")[:-1]  # the lines before the cut (the partial last one is lost)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_mixes_lose_nothing_and_name_every_reject(tmp_path, seed):
    rng = random.Random(seed)
    for idx in range(rng.randint(2, 5)):
        name, keys, broken = write_mix(rng, tmp_path, idx)
        rows, rejects, report = convert_file(str(tmp_path / name), name, source="prop")
        assert report.records == report.converted + report.rejected == report.converted + len(rejects)
        for r in rejects:
            assert r["source_file"] == name and r["reason"] and r["line"] is not None
            assert r["detail"].startswith(f"{name}:{r['line']}: ")
            json.dumps(r, ensure_ascii=False).encode("utf-8")  # writable: no lone surrogates
        texts = "\n".join(r["text"] for r in rows)
        assert all(k in texts for k in keys), f"good records lost in {name}"
        assert all(r["source_file"] == name and r["line"] >= 1 for r in rows)
        if broken >= 0:
            assert report.rejected == broken, [(r["reason"], r["detail"]) for r in rejects]
