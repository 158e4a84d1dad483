"""``DATA_CARD.md``: sources, licences where known, counts, filters applied with their settings,
known limits. Generated from the same numbers as the report."""

from __future__ import annotations

import json

from include.dataset_report.data import LANGUAGE_SAMPLE

#: config sections that are not curation stages (left out of "filters applied")
NOT_STAGES = ("lakehouse", "spark", "storage", "publish")


def _licences(manifest: dict) -> list[str]:
    found = []
    for f in manifest.get("input_files", []):
        lic = f.get("license") or f.get("licence")
        if lic:
            found.append(f"{f.get('relative')}: {lic}")
    return found


def known_limits(data: dict) -> list[str]:
    m, stages = data["manifest"], {st["stage"]: st for st in data["funnel"]}
    limits = []
    for name in ("pii", "near_dedup", "filters", "quality", "validate"):
        if name in stages and not stages[name]["enabled"]:
            limits.append(f"stage `{name}` was disabled for this version")
    if "pii" in stages and not stages["pii"]["enabled"]:
        limits.append("text was not PII-scrubbed: reject examples show no text")
    if not data["dist"]["classifier"]:
        limits.append("no quality-classifier scores (classifier not configured)")
    if data["dist"]["rows"] > LANGUAGE_SAMPLE:
        limits.append(f"language mix measured on a sample of {LANGUAGE_SAMPLE} rows")
    limits.append(
        "lengths in tokens are whitespace tokens; a model's tokenizer gives more (see finetune token stats)"
    )
    if not _licences(m):
        limits.append("licences are not recorded in the manifest: check each source's terms before use")
    return limits


def render(data: dict) -> str:
    m, acc = data["manifest"], data["manifest"].get("accounting", {})
    lines = [
        f"# Data card: {m.get('version') or m.get('run_id')}",
        "",
        f"Published {m.get('published_at')} by run `{m.get('run_id')}` (config `{m.get('config_hash')}`, "
        f"code `{m.get('code_version')}`).",
        "",
        "## Sources",
        "",
        f"Source: `{m.get('source_uri')}`",
        "",
        "| file | format | records | rows | rejected at ingest |",
        "|---|---|---:|---:|---:|",
    ]
    for f in m.get("input_files", []):
        lines.append(
            f"| {f.get('relative')} | {f.get('format')} | {f.get('records')} | {f.get('rows')} | {f.get('rejected')} |"
        )
    lines += [
        "",
        "Curated rows per source: " + ", ".join(f"{k}: {v}" for k, v in data["sources"].items()),
        "",
    ]
    lines += ["## Licences", ""] + ([f"- {x}" for x in _licences(m)] or ["Not recorded."]) + [""]
    lines += [
        "## Counts",
        "",
        f"- source records: {acc.get('source_records')}",
        f"- curated rows: {acc.get('curated_rows')} (kinds: {data['kinds']})",
        f"- rejected: {acc.get('rejected_total')} ({acc.get('records_rejected_at_ingest')} at ingest, "
        f"{acc.get('rows_rejected_after_ingest')} after)",
        f"- every row accounted for: {acc.get('ok')}",
        "",
        "| stage | in | out | rejected | by reason |",
        "|---|---:|---:|---:|---|",
    ]
    for st in data["funnel"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in st["by_reason"].items())
        state = "" if st["enabled"] else "disabled"
        lines.append(f"| {st['stage']} | {st['in']} | {st['out']} | {st['rejected']} | {reasons or state} |")
    lines += ["", "## Filters applied, with their settings", ""]
    cfg = m.get("config", {})
    for st in data["funnel"]:
        if st["enabled"] and st["stage"] in cfg and st["stage"] not in NOT_STAGES:
            settings = json.dumps(cfg[st["stage"]], sort_keys=True, ensure_ascii=False)
            lines += [
                f"<details><summary>{st['stage']}</summary>",
                "",
                "```json",
                settings,
                "```",
                "</details>",
                "",
            ]
    lines += ["## Known limits", ""] + [f"- {x}" for x in known_limits(data)] + [""]
    return "\n".join(lines)
