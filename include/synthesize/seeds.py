"""Seed examples for self-instruct: read a curated version or raw files, keep the usable ones.

``seeds_uri`` may be a published version folder (``manifest.json`` + ``curated/``), any folder of
canonical Parquet (a ``curated/`` folder), or raw files in any format the ingest reads (converted
here by the same adapters, in process: seeds are few). A seed is an ``sft`` row whose final turn
is an assistant answer to a user turn, without tool calls; every other row is counted as skipped
with a reason (the manifest lists them), never silently dropped.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import dataclass, field

from include import storage
from include.synthesize.prompt import Demo

#: columns that mark a Parquet file as canonical rows (not a raw Parquet source such as OASST)
CANONICAL_MARKERS = {"id", "kind", "messages", "text", "format"}


@dataclass
class Seeds:
    demos: list[Demo]
    rows: list[dict]  #: the canonical rows of ``demos``, same order
    uri: str
    kind: str  #: curated | raw
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        return {
            "uri": self.uri,
            "kind": self.kind,
            "usable": len(self.demos),
            "skipped_by_reason": dict(sorted(self.skipped.items())),
        }


def _is_canonical(uri: str, endpoint: str | None) -> bool:
    import pyarrow.parquet as pq

    schema = pq.read_schema(io.BytesIO(storage.read_bytes(uri, endpoint)))
    return set(schema.names) >= CANONICAL_MARKERS


def read_rows(uri: str, pcfg, endpoint: str | None = None) -> tuple[list[dict], str, Counter]:
    """Canonical rows under ``uri``, ``curated`` or ``raw``, and ingest rejects by reason."""
    from include.formats.base import FormatOptions
    from include.ingest import RecordLimits, choose_format, convert_file
    from include.training.dataset import read_canonical

    if storage.exists(storage.join(uri, "manifest.json"), endpoint):  # a published version
        uri = storage.join(uri, "curated")
    files = storage.list_files(uri, pcfg.ingest.extensions, endpoint)
    if all(f.uri.endswith(".parquet") for f in files) and _is_canonical(files[0].uri, endpoint):
        return read_canonical(uri, endpoint), "curated", Counter()
    ing = pcfg.ingest
    rows: list[dict] = []
    rejected: Counter = Counter()
    for f in files:
        got, rejects, _ = convert_file(
            f.uri,
            f.relative,
            s3_endpoint=endpoint,
            source="seeds",
            fmt=choose_format(f.relative, ing.format, ing.formats),
            options=FormatOptions(
                oasst_paths=ing.oasst_paths,
                preference_pairs=ing.preference_pairs,
                oasst_skip_review_failed=ing.oasst_skip_review_failed,
            ),
            detect_sample=ing.detect_sample,
            limits=RecordLimits.from_config(ing),
        )
        rows.extend(got)
        rejected.update(f"ingest:{r['reason']}" for r in rejects)
    return rows, "raw", rejected


def as_demo(row: dict) -> Demo | str:
    """The row as a demonstration, or the reason it cannot be one."""
    if row.get("kind") != "sft":
        return f"kind_{row.get('kind')}"
    msgs = list(row.get("messages") or ())
    if not msgs or msgs[-1].get("role") != "assistant" or msgs[-1].get("tool_calls"):
        return "no_final_answer"
    users = [m for m in msgs[:-1] if m.get("role") == "user"]
    if not users or any(m.get("role") == "tool" or m.get("tool_calls") for m in msgs):
        return "tool_use" if users else "no_user_turn"
    instruction, answer = (users[-1].get("content") or "").strip(), (msgs[-1].get("content") or "").strip()
    if not instruction or not answer:
        return "empty_turn"
    return Demo(str(row["id"]), instruction, answer)


def load_seeds(uri: str, pcfg, max_seeds: int, endpoint: str | None = None) -> Seeds:
    """The first ``max_seeds`` usable seeds under ``uri`` (FileNotFoundError when there is nothing)."""
    rows, kind, skipped = read_rows(uri, pcfg, endpoint)
    seeds = Seeds([], [], uri, kind, skipped)
    for row in rows:
        got = as_demo(row)
        if isinstance(got, str):
            seeds.skipped[got] += 1
        elif len(seeds.demos) >= max_seeds:
            seeds.skipped["over_max_seeds"] += 1
        else:
            seeds.demos.append(got)
            seeds.rows.append(row)
    return seeds


def seed_record(row: dict) -> dict:
    """A seed as an OpenAI-format record (what curation ingests back), marked not synthetic."""
    msgs = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    msgs += [{"role": m["role"], "content": m.get("content") or ""} for m in row["messages"]]
    meta = json.loads(row["meta"]) if row.get("meta") else {}
    return {"id": str(row["id"]), "messages": msgs, "meta": {**meta, "synthetic": False}}
