"""``report.html``: one static, self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

from html import escape

from include.dataset_report.svg import bars, histogram

#: section ids, in page order (the test checks every one is present)
SECTIONS = ("funnel", "lengths", "languages", "scores", "pii", "duplicates", "rejects")

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#1d2430}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ccd;padding-bottom:4px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccd;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.off{color:#889}
.grid{display:flex;flex-wrap:wrap;gap:8px 24px}.chart rect{fill:#4a78c2}.chart text{font-size:11px;fill:#333}
.empty{color:#889}blockquote{margin:4px 0 8px;padding:4px 8px;background:#f4f5f8;white-space:pre-wrap}
code{font-size:12px}
"""


def _num(v) -> str:
    return "–" if v is None else f"{v:,}" if isinstance(v, int) else str(v)


def _funnel(data: dict) -> str:
    rows = []
    for st in data["funnel"]:
        reasons = ", ".join(f"{escape(k)}: {v}" for k, v in st["by_reason"].items()) or ""
        cls = "" if st["enabled"] else ' class="off"'
        rows.append(
            f"<tr{cls}><td>{escape(st['stage'])}</td><td class=n>{_num(st['in'])}</td>"
            f"<td class=n>{_num(st['out'])}</td><td class=n>{_num(st['rejected'])}</td><td>{reasons}"
            f"{'' if st['enabled'] else 'disabled'}</td></tr>"
        )
    acc = data["manifest"].get("accounting", {})
    out = {st["stage"]: st["out"] for st in data["funnel"] if st["enabled"] and st["out"] is not None}
    return (
        f"<p>{_num(acc.get('source_records'))} source records → {_num(acc.get('curated_rows'))} curated rows, "
        f"{_num(acc.get('rejected_total'))} rejected (every row accounted for: {acc.get('ok')}).</p>"
        "<table><tr><th>stage</th><th>in</th><th>out</th><th>rejected</th><th>rejected by reason</th></tr>"
        + "".join(rows)
        + "</table>"
        + bars(out, "rows out per stage")
    )


def _lengths(dist: dict) -> str:
    parts = []
    for group, values in dist["chars"].items():
        parts.append(
            f"<div><h3>{escape(group)}</h3>{histogram(values, 'characters')}"
            f"{histogram(dist['words'][group], 'whitespace tokens')}</div>"
        )
    return '<div class="grid">' + "".join(parts) + "</div>" if parts else '<p class="empty">no rows</p>'


def _scores(dist: dict) -> str:
    return (
        '<div class="grid"><div><h3>quality score (0–1)</h3>'
        + histogram(dist["quality"], "quality")
        + "</div><div><h3>quality classifier score (0–5)</h3>"
        + histogram(dist["classifier"], "classifier score")
        + "</div></div>"
    )


def _duplicates(clusters: dict, dist: dict) -> str:
    return (
        '<div class="grid"><div><h3>near-duplicate clusters by size (MinHash LSH)</h3>'
        + bars(clusters["near"], "near-duplicate clusters", "clusters")
        + "</div><div><h3>exact-duplicate groups by size</h3>"
        + bars(clusters["exact"], "exact-duplicate groups", "groups")
        + f"</div></div><p>{dist['kept_cluster_members']} curated rows are the kept member of a cluster.</p>"
    )


def _rejects(data: dict) -> str:
    parts = []
    for stage, reasons in data["examples"].items():
        parts.append(f"<h3>{escape(stage)}</h3>")
        for reason, examples in reasons.items():
            parts.append(f"<p><b>{escape(reason)}</b></p>")
            for ex in examples:
                text = (
                    f"<blockquote>{escape(ex['text'])}</blockquote>"
                    if ex["text"]
                    else '<span class="off"> (text withheld: rejected before PII scrubbing)</span>'
                )
                rid = (
                    f"<code>{escape(str(ex['id']))}</code> " if ex["id"] is not None else ""
                )  # none before ingest
                parts.append(f"<div>{rid}{escape(ex['detail'])}{text}</div>")
    return "".join(parts) or '<p class="empty">no rejects</p>'


def render(data: dict) -> str:
    m, dist = data["manifest"], data["dist"]
    pii_total = sum(dist["pii"].values())
    body = {
        "funnel": ("Stage funnel", _funnel(data)),
        "lengths": ("Length distributions per kind and source", _lengths(dist)),
        "languages": (
            "Language mix",
            bars(dist["languages"], "languages") + "<p>py3langid on an evenly spread sample of the rows.</p>",
        ),
        "scores": ("Quality and classifier scores", _scores(dist)),
        "pii": (
            f"PII entities scrubbed, per type ({pii_total} in all)",
            bars(dist["pii"], "PII", "entities"),
        ),
        "duplicates": ("Duplicate cluster sizes", _duplicates(data["clusters"], dist)),
        "rejects": ("Reject examples per stage and reason", _rejects(data)),
    }
    sections = "".join(
        f'<section id="{sid}"><h2>{escape(body[sid][0])}</h2>{body[sid][1]}</section>' for sid in SECTIONS
    )
    title = f"Dataset {m.get('version') or m.get('run_id')}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>published {escape(str(m.get('published_at')))} from <code>{escape(str(m.get('source_uri')))}</code>; "
        f"{dist['rows']:,} curated rows; kinds {escape(str(data['kinds']))}; config {escape(str(m.get('config_hash')))}"
        f", code {escape(str(m.get('code_version')))}. See also DATA_CARD.md and the Great Expectations "
        f"data_docs/ next to this file.</p>{sections}</body></html>"
    )
