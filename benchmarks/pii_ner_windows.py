"""spaCy NER on windows around capitalized words (``pii.ner_context_tokens: 8``, opt-in)
beside NER on the whole text (``null``, the default), same engine otherwise, same run.

* **gold** (presidio-research, ``benchmarks/pii_presidio.py``'s template split): recall and
  leakage per entity on the tuning and check halves, as single sentences and as long texts
  (``--join`` consecutive sentences of a half joined into one, spans shifted);
* **agreement** on public text nobody here wrote and no one labelled (C4 web pages from the
  LLaMA-Factory demo, HH-RLHF harmless-base test dialogues, OASST messages): of the PERSON and
  LOCATION spans the whole-text engine reports, the share the windowed engine reports too
  (same start and end), and the spans only one of them reports;
* **speed**: texts and characters per second of ``PiiEngine.analyze`` on each corpus (one core,
  the second of two passes).

Run: ``python -m benchmarks.pii_ner_windows [--join 10] [--limit 400]``.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import time

from benchmarks.pii_presidio import ROWS, joined, load, run_ours, split

SHARED = load.__defaults__[0].parents[1]
MODES = {"whole text": None, "windows (8)": 8}
NER_TYPES = ("PERSON", "LOCATION")


def public_texts(limit: int) -> dict[str, list[str]]:
    c4 = [json.loads(x)["text"] for x in (SHARED / "llamafactory/c4_demo.jsonl").read_text().splitlines()]
    with gzip.open(SHARED / "hh-rlhf/harmless-base-test.jsonl.gz", "rt") as f:
        hh = [json.loads(x)["chosen"] for x in itertools.islice(f, limit)]
    oasst: list[str] = []

    def walk(m):
        oasst.append(m["text"])
        for r in m.get("replies") or []:
            walk(r)

    for line in (SHARED / "oasst/en_100_tree.jsonl").read_text().splitlines():
        walk(json.loads(line)["prompt"])
    return {"C4 web pages": c4[:limit], "HH-RLHF dialogues": hh, "OASST messages": oasst[:limit]}


def ner_spans(engine, texts: list[str]) -> tuple[list[set], float]:
    """PERSON / LOCATION spans per text and seconds of the second pass."""
    engine.analyze(texts)
    t0 = time.perf_counter()
    results = engine.analyze(texts)
    secs = time.perf_counter() - t0
    spans = [{(r.entity_type, r.start, r.end) for r in res if r.entity_type in NER_TYPES} for res in results]
    return spans, secs


def agreement(limit: int) -> None:
    from include.config import load_config
    from include.pii.engine import get_engine

    base = load_config().pii.model_copy(update={"cache_size": 0})
    engines = {m: get_engine(base.model_copy(update={"ner_context_tokens": c})) for m, c in MODES.items()}
    print("\n### agreement and speed on unlabelled public text\n")
    print(
        "| corpus | texts | mean chars | spans whole text | also found with windows | windows only "
        "| texts/s whole / windows | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, texts in public_texts(limit).items():
        (whole, t_whole), (win, t_win) = (ner_spans(e, texts) for e in engines.values())
        n_whole = sum(len(s) for s in whole)
        both = sum(len(a & b) for a, b in zip(whole, win, strict=True))
        only = sum(len(b - a) for a, b in zip(whole, win, strict=True))
        chars = sum(map(len, texts)) / len(texts)
        print(
            f"| {name} | {len(texts)} | {chars:.0f} | {n_whole} | {both / max(1, n_whole):.1%} | {only} "
            f"| {len(texts) / t_whole:.1f} / {len(texts) / t_win:.1f} | {t_whole / t_win:.2f}× |"
        )


def gold(join: int) -> None:
    _, halves = split(load())
    for half, recs in halves.items():
        for label, data in (
            (f"{half} half, sentences", recs),
            (f"{half} half, {join} joined", joined(recs, join)),
        ):
            scores = {m: run_ours(data, ner_context_tokens=c)[0]["rows"] for m, c in MODES.items()}
            whole, win = scores.values()
            print(f"\n### presidio-research {label}: {len(data)} texts\n")
            print("| entity | gold | recall whole / windows | leakage whole / windows |")
            print("|---|---|---|---|")
            for row in ROWS:
                if whole[row]["gold"]:
                    print(
                        f"| {row} | {whole[row]['gold']} | {whole[row]['recall']:.3f} / {win[row]['recall']:.3f} "
                        f"| {whole[row]['leakage']:.1%} / {win[row]['leakage']:.1%} |"
                    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--join", type=int, default=10, help="sentences per long text in the gold check")
    ap.add_argument("--limit", type=int, default=400, help="texts per unlabelled corpus")
    args = ap.parse_args(argv)
    gold(args.join)
    agreement(args.limit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
