"""What the dataset report shows, computed from one published version: its ``manifest.json``,
``curated/`` and ``rejects/<stage>/`` (Parquet). Numbers only; rendering is elsewhere.

Counts (funnel, rejects by reason, near-duplicate cluster sizes) come from the manifest so the
report says what the manifest says; distributions (lengths, languages, scores, PII entities)
are computed from the curated rows. Reject examples show text only for rows rejected after
the PII stage scrubbed it; earlier rejects show their reason and detail, never their text.
"""

from __future__ import annotations

import io
import json
from collections import Counter, defaultdict

from include import storage

#: columns read from curated / rejects (a version may have many rows; text is the heavy one)
CURATED_COLUMNS = ("id", "kind", "source", "text", "pii", "quality", "signals", "dup_cluster")
REJECT_COLUMNS = ("id", "stage", "reason", "detail", "text", "source", "dup_of")
#: rows whose language is identified (py3langid), spread over the version
LANGUAGE_SAMPLE = 2000
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 300


def read_columns(uri: str, columns: tuple[str, ...], s3_endpoint: str | None = None) -> list[dict]:
    """Rows (only ``columns`` that exist) of every Parquet file under ``uri``; [] when there is none."""
    import pyarrow.parquet as pq

    try:
        files = storage.list_files(uri, (".parquet",), s3_endpoint)
    except FileNotFoundError:
        return []
    rows: list[dict] = []
    for f in files:
        pf = pq.ParquetFile(io.BytesIO(storage.read_bytes(f.uri, s3_endpoint)))
        cols = [c for c in columns if c in pf.schema_arrow.names]
        rows.extend(pf.read(columns=cols).to_pylist())
    return rows


def _json(value) -> dict:
    if not value:
        return {}
    try:
        out = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError:
        return {}
    return out if isinstance(out, dict) else {}


def funnel(manifest: dict) -> list[dict]:
    """One row per stage in run order: enabled, rows in / out / rejected, rejects by reason."""
    from include.config import STAGES

    stages = manifest.get("stages", {})
    order = sorted(stages, key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES))
    out = []
    for name in order:
        st = stages[name]
        out.append(
            {
                "stage": name,
                "enabled": bool(st.get("enabled")),
                "in": st.get("in"),
                "out": st.get("out"),
                "rejected": st.get("rejected") or 0,
                "by_reason": dict(
                    sorted((st.get("rejected_by_reason") or {}).items(), key=lambda kv: -kv[1])
                ),
                "note": st.get("note"),
            }
        )
    return out


def _words(text: str) -> int:
    return len((text or "").split())


def distributions(curated: list[dict]) -> dict:
    """Lengths per kind and source, quality and classifier scores, PII entities, languages."""
    chars, words = defaultdict(list), defaultdict(list)
    quality, classifier, pii = [], [], Counter()
    clusters = Counter()
    for r in curated:
        text = r.get("text") or ""
        for group in (f"kind={r.get('kind')}", f"source={r.get('source')}"):
            chars[group].append(len(text))
            words[group].append(_words(text))
        if r.get("quality") is not None:
            quality.append(float(r["quality"]))
        score = (_json(r.get("signals")).get("classifier") or {}).get("score")
        if score is not None:
            classifier.append(float(score))
        for entity, n in _json(r.get("pii")).items():
            pii[entity] += int(n or 0)
        if r.get("dup_cluster"):
            clusters[r["dup_cluster"]] += 1
    return {
        "rows": len(curated),
        "chars": dict(sorted(chars.items())),
        "words": dict(sorted(words.items())),
        "quality": quality,
        "classifier": classifier,
        "pii": dict(pii.most_common()),
        "languages": languages(curated),
        "kept_cluster_members": len(clusters),
    }


def languages(curated: list[dict], sample: int = LANGUAGE_SAMPLE) -> dict:
    """Language -> rows among an evenly spread sample (``unknown`` when too little prose)."""
    from include.filters.language import detect

    if not curated:
        return {}
    step = max(1, len(curated) // sample)
    counts = Counter((detect(r.get("text") or "")[0] or "unknown") for r in curated[::step][:sample])
    return dict(counts.most_common())


def cluster_sizes(manifest: dict, rejects: dict[str, list[dict]]) -> dict:
    """Near-duplicate cluster sizes (manifest's histogram) and exact-duplicate groups (rows per kept row)."""
    near = (manifest.get("stages", {}).get("near_dedup", {}).get("details") or {}).get(
        "cluster_size_histogram"
    ) or {}
    exact = Counter()
    for r in rejects.get("exact_dedup", []):
        exact[r.get("dup_of") or r.get("id")] += 1
    exact_hist = Counter(n + 1 for n in exact.values())  # + the survivor
    return {
        "near": {str(k): int(v) for k, v in sorted(near.items(), key=lambda kv: int(kv[0]))},
        "exact": {str(k): v for k, v in sorted(exact_hist.items())},
    }


def scrubbed_after(manifest: dict) -> set[str]:
    """Stages whose rows had been through the PII scrub (empty when the PII stage was off)."""
    stages = [st["stage"] for st in funnel(manifest)]
    if "pii" not in stages or not manifest["stages"]["pii"].get("enabled"):
        return set()
    return set(stages[stages.index("pii") + 1 :])


def reject_examples(manifest: dict, rejects: dict[str, list[dict]], per_reason: int = EXAMPLES_PER_REASON):
    """``{stage: {reason: [{id, detail, text|None}]}}``: the first rows per reason; text only when scrubbed."""
    scrubbed = scrubbed_after(manifest)
    out: dict[str, dict[str, list[dict]]] = {}
    for stage, rows in rejects.items():
        by_reason: dict[str, list[dict]] = defaultdict(list)
        for r in rows:
            bucket = by_reason[r.get("reason") or "unknown"]
            if len(bucket) < per_reason:
                text = (r.get("text") or "")[:EXAMPLE_CHARS] if stage in scrubbed else None
                bucket.append(
                    {"id": r.get("id"), "detail": (r.get("detail") or "")[:EXAMPLE_CHARS], "text": text}
                )
        out[stage] = dict(by_reason)
    return out


def collect(version_uri: str, s3_endpoint: str | None = None) -> dict:
    """Everything the report and the data card show, for the version at ``version_uri``."""
    manifest = storage.read_json(storage.join(version_uri, "manifest.json"), s3_endpoint)
    curated = read_columns(storage.join(version_uri, "curated"), CURATED_COLUMNS, s3_endpoint)
    rejects = {
        st["stage"]: read_columns(
            storage.join(version_uri, "rejects", st["stage"]), REJECT_COLUMNS, s3_endpoint
        )
        for st in funnel(manifest)
        if st["rejected"]
    }
    return {
        "manifest": manifest,
        "funnel": funnel(manifest),
        "dist": distributions(curated),
        "clusters": cluster_sizes(manifest, rejects),
        "examples": reject_examples(manifest, rejects),
        "scrubbed_stages": sorted(scrubbed_after(manifest)),
        "sources": dict(Counter(r.get("source") for r in curated).most_common()),
        "kinds": dict(Counter(r.get("kind") for r in curated).most_common()),
    }
