"""PII benchmark on data we did not write: presidio-research's generated set (``--dataset presidio``).

Data: ``shared/datasets/pii/presidio_research_generated_large.json`` (2,109 sentences, gold spans,
MIT). Each sentence becomes a canonical ``sft`` row (one user turn, a fixed assistant reply) and
goes through the library scrubber the ``pii`` stage uses (``Scrubber.scrub_rows``, default config,
cache off). Default Presidio (``AnalyzerEngine()``, same spaCy model) runs on the same sentences.

**Split** by ``template_id`` (127 templates), fixed: a template is in the *tuning* half when the
first byte of ``sha256(f"{salt}:{template_id}")`` is even, else in the *check* half; ``salt`` is the
first integer 0, 1, 2, ... for which every scored gold type found in at least two templates has
templates in both halves (a rule on labels only, never on results). Rules were tuned by looking
at the tuning half only; the check half is reported as it comes out.

**Scored gold types** (data label -> row): PERSON, ADDRESS -> STREET_ADDRESS, PHONE_NUMBER -> PHONE,
EMAIL_ADDRESS -> EMAIL, CREDIT_CARD, IBAN_CODE -> IBAN, US_SSN, IP_ADDRESS. Not scored (the
default config does not promise them): LOCATION (a bare city or country; opt-in ``LOCATION``),
DATE_TIME, ORGANIZATION, TITLE (job), PREFIX, DOMAIN_NAME, US_DRIVER_LICENSE.

* **leakage**: a gold span leaks when under ``COVER`` (70 %) of its letters and digits lie inside
  scrubbed spans (of any type: a phone scrubbed as something else is still gone);
* **recall**: a gold span is found when a scrubbed span of its own row overlaps it;
* **precision** (per scrubbed type): share of its spans overlapping a gold span of a PII type
  (any scored type, LOCATION, DATE_TIME, PREFIX, DOMAIN_NAME, US_DRIVER_LICENSE). ORGANIZATION and
  TITLE are not PII: scrubbing them counts against precision. Default Presidio's LOCATION
  predictions stand in its STREET_ADDRESS row;
* **kept**: share of records the default record policy (density) keeps.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO.parent / "shared" / "datasets" / "pii" / "presidio_research_generated_large.json"
COVER = 0.7
GOLD_ROW = {
    "PERSON": "PERSON",
    "ADDRESS": "STREET_ADDRESS",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
ROWS = list(dict.fromkeys(GOLD_ROW.values()))
PII_GOLD = set(GOLD_ROW) | {"LOCATION", "DATE_TIME", "PREFIX", "DOMAIN_NAME", "US_DRIVER_LICENSE"}
#: predicted entity type -> row (ours and default Presidio use the data's type names)
PRED_ROW = GOLD_ROW
TARGETS = {r: 0.01 for r in ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS")} | {
    "PERSON": 0.10,
    "STREET_ADDRESS": 0.20,
}
REPLY = "Thanks, noted."


def load(path: Path = DATASET) -> list[dict]:
    return json.loads(Path(path).read_text())


def _half(template_id, salt: int) -> str:
    return "tune" if hashlib.sha256(f"{salt}:{template_id}".encode()).digest()[0] % 2 == 0 else "check"


def split_salt(records: list[dict]) -> int:
    """First salt putting every scored type seen in >= 2 templates into both halves."""
    templates: dict[str, set] = {}
    for r in records:
        for s in r["spans"]:
            if s["entity_type"] in GOLD_ROW:
                templates.setdefault(s["entity_type"], set()).add(r["template_id"])
    for salt in range(1000):
        if all(len({_half(t, salt) for t in ts}) == 2 for ts in templates.values() if len(ts) >= 2):
            return salt
    raise RuntimeError("no balanced split")


def split(records: list[dict]) -> tuple[int, dict[str, list[dict]]]:
    salt = split_salt(records)
    halves: dict[str, list[dict]] = {"tune": [], "check": []}
    for r in records:
        halves[_half(r["template_id"], salt)].append(r)
    return salt, halves


def rows(records: list[dict]) -> list[dict]:
    """Canonical sft rows, one per sentence (the sentence is the user turn)."""
    out = []
    for i, r in enumerate(records):
        messages = [{"role": "user", "content": r["full_text"]}, {"role": "assistant", "content": REPLY}]
        out.append(
            {
                "id": f"p{i}",
                "source": "presidio-research",
                "format": "openai",
                "kind": "sft",
                "system": None,
                "messages": messages,
                "text": f"{r['full_text']}\n\n{REPLY}",
                "source_file": DATASET.name,
                "line": i + 1,
            }
        )
    return out


def _covered_share(text: str, start: int, end: int, preds: list[dict]) -> float:
    idx = [i for i in range(start, end) if text[i].isalnum()]
    if not idx:
        return 1.0
    inside = sum(any(p["start"] <= i < p["end"] for p in preds) for i in idx)
    return inside / len(idx)


def score(records: list[dict], preds: list[list[dict]]) -> dict:
    """Per row: gold, recall, precision, leakage, plus leaked examples for error analysis."""
    n_gold, found, leaked, n_pred, ok_pred = Counter(), Counter(), Counter(), Counter(), Counter()
    examples: dict[str, list[str]] = {r: [] for r in ROWS}
    for rec, pred in zip(records, preds, strict=True):
        text, gold = rec["full_text"], rec["spans"]
        for g in gold:
            row = GOLD_ROW.get(g["entity_type"])
            if row is None:
                continue
            s, e = g["start_position"], g["end_position"]
            n_gold[row] += 1
            found[row] += any(p["row"] == row and p["start"] < e and s < p["end"] for p in pred)
            if _covered_share(text, s, e, pred) < COVER:
                leaked[row] += 1
                examples[row].append(f"{g['entity_value']!r} in {text!r}")
        for p in pred:
            if p["row"] in ROWS:
                n_pred[p["row"]] += 1
                ok_pred[p["row"]] += any(
                    g["entity_type"] in PII_GOLD
                    and p["start"] < g["end_position"]
                    and g["start_position"] < p["end"]
                    for g in gold
                )
    out = {
        row: {
            "gold": n_gold[row],
            "recall": found[row] / n_gold[row] if n_gold[row] else None,
            "precision": ok_pred[row] / n_pred[row] if n_pred[row] else None,
            "predicted": n_pred[row],
            "leakage": leaked[row] / n_gold[row] if n_gold[row] else None,
        }
        for row in ROWS
    }
    return {"rows": out, "examples": examples}


def _pred(results, default: bool = False) -> list[dict]:
    mapping = dict(PRED_ROW, LOCATION="STREET_ADDRESS") if default else PRED_ROW
    return [
        {"row": mapping.get(r.entity_type, r.entity_type), "start": r.start, "end": r.end} for r in results
    ]


def run_ours(records: list[dict], **pii) -> tuple[dict, float]:
    """Default config (``pii`` settings overridden) through ``Scrubber.scrub_rows``; returns scores
    and the share of records kept."""
    from benchmarks.pii import _Recording
    from include.config import load_config
    from include.pii.engine import get_engine
    from include.pii.scrub import Scrubber

    cfg = load_config().pii.model_copy(update={"cache_size": 0, **pii})
    rec = _Recording(get_engine(cfg))
    outcomes = Scrubber(cfg, engine=rec).scrub_rows(rows(records))
    preds = [_pred(rec.seen.get(r["full_text"], [])) for r in records]
    kept = sum(o.reason is None for o in outcomes) / max(1, len(outcomes))
    return score(records, preds), kept


def run_default(records: list[dict]) -> dict:
    """Default Presidio (AnalyzerEngine, its recognizers and NER mapping), same spaCy model."""
    from benchmarks.pii import default_analyzer

    analyzer = default_analyzer()
    preds = [_pred(analyzer.analyze(r["full_text"], language="en"), default=True) for r in records]
    return score(records, preds)


def joined(records: list[dict], k: int, sep: str = " ") -> list[dict]:
    """Groups of ``k`` consecutive records as one text (joined by ``sep``), gold spans shifted."""
    out = []
    for g in range(0, len(records), k):
        text, spans = "", []
        for r in records[g : g + k]:
            if text:
                text += sep
            spans += [
                dict(
                    s,
                    start_position=s["start_position"] + len(text),
                    end_position=s["end_position"] + len(text),
                )
                for s in r["spans"]
            ]
            text += r["full_text"]
        out.append(
            {
                "full_text": text,
                "spans": spans,
                "template_id": records[g]["template_id"],
                "templates": {r["template_id"] for r in records[g : g + k]},
            }
        )
    return out


def table(ours: dict, default: dict) -> str:
    def f(x):
        return "–" if x is None else f"{x:.3f}"

    def pct(x):
        return "–" if x is None else f"{x:.1%}"

    lines = [
        "| entity | gold | recall ours / default | precision ours / default | leakage ours / default "
        "| target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        o, d = ours["rows"][row], default["rows"][row]
        if not o["gold"]:
            continue
        t = TARGETS[row]
        met = (
            o["leakage"] <= t
            and o["leakage"] <= d["leakage"]
            and (o["precision"] is None or o["precision"] >= 0.85)
        )
        lines.append(
            f"| {row} | {o['gold']} | {f(o['recall'])} / {f(d['recall'])} | {f(o['precision'])} / "
            f"{f(d['precision'])} | {pct(o['leakage'])} / {pct(d['leakage'])} | ≤ {t:.0%} | "
            f"{'yes' if met else '**no**'} |"
        )
    return "\n".join(lines)


def main(path: Path = DATASET, show: int = 0, join: int = 0) -> dict:
    """Both halves as sentences; with ``join`` > 1 also as long texts of ``join`` consecutive
    sentences, one a line ("joined by lines") and run on with spaces ("run on with spaces")."""
    records = load(path)
    salt, halves = split(records)
    if join > 1:
        for name in ("tune", "check"):
            halves[f"{name}, {join} joined by lines"] = joined(halves[name], join, "\n")
            halves[f"{name}, {join} run on with spaces"] = joined(halves[name], join, " ")
    result: dict = {"salt": salt}
    for name in halves:
        recs = halves[name]
        ours, kept = run_ours(recs)
        default = run_default(recs)
        n_t = len(set().union(*(r.get("templates", {r["template_id"]}) for r in recs)))
        print(f"\n### {name} half: {len(recs)} texts, {n_t} templates (split salt {salt})\n")
        print(table(ours, default))
        print(f"\nrecords kept by the default policy: {kept:.1%}")
        if show and name == "tune":  # error analysis looks at the tuning half only
            for row in ROWS:
                for ex in ours["examples"][row][:show]:
                    print(f"  leaked {row}: {ex}")
        result[name] = {
            "records": len(recs),
            "templates": n_t,
            "kept": kept,
            "ours": ours["rows"],
            "default": default["rows"],
        }
    return result
