"""Issue #15 filter changes on real data nobody here wrote (../shared/datasets), side by side.

    python benchmarks/bad_input_filters.py

1. Profanity, l33t handling: hits on the LlamaFactory demo files and Self-Instruct seeds (real
   chat, code, tool calls), and recall on single-substitution l33t forms (better-profanity's
   map: a->@4, e->3, i->1!, o->0, s->$5, t->7) of LDNOOBW's English single words, for
   ``obfuscation: false`` (exact words, the baseline) and the default (free-standing l33t words).
2. Repetition (datatrove's Gopher thresholds): share of the demo rows whose answer fails them,
   per file — what ``repetition_action: drop`` removes — beside the ``low_quality`` heuristics
   that stay flags.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from include.config import load_config  # noqa: E402
from include.config.filters import ProfanityConfig  # noqa: E402
from include.filters import quality  # noqa: E402
from include.filters.profanity import build_wordlist  # noqa: E402
from include.ingest import convert_file  # noqa: E402

DATA = REPO.parent / "shared" / "datasets"
DEMO = DATA / "llamafactory"
LEET = {"a": "@4", "e": "3", "i": "1!", "o": "0", "s": "$5", "t": "7"}


def texts() -> list[str]:
    out = []
    for f in ("alpaca_en_demo.json", "glaive_toolcall_en_demo.json", "dpo_en_demo.json"):
        out += [json.dumps(r, ensure_ascii=False) for r in json.loads((DEMO / f).read_text())]
    for f in (
        DEMO / "c4_demo.jsonl",
        DEMO / "reason_tool_use_demo_50.jsonl",
        DATA / "alpaca/seed_tasks.jsonl",
    ):
        out += f.read_text().splitlines()
    return out


def profanity_table() -> None:
    corpus = texts()
    words = [w.strip() for w in (DATA / "profanity/ldnoobw/en").read_text().splitlines() if w.strip()]
    variants = [
        w[:i] + s + w[i + 1 :]
        for w in words
        if " " not in w
        for i, c in enumerate(w)
        for s in LEET.get(c, "")
    ]
    print(f"profanity: {len(corpus)} real texts, {len(variants)} l33t forms of LDNOOBW en words\n")
    print("| matcher | texts with a hit | hits | l33t forms found |")
    print("|---|---|---|---|")
    for name, obf in (("exact words (obfuscation: false)", False), ("default (free-standing l33t)", True)):
        wl = build_wordlist(ProfanityConfig(obfuscation=obf))
        hits = [wl.find(t) for t in corpus]
        found = sum(bool(wl.find(f"you {v} there")) for v in variants)
        print(
            f"| {name} | {sum(map(bool, hits))} | {sum(map(len, hits))} | "
            f"{found}/{len(variants)} = {found / len(variants):.3f} |"
        )


def repetition_table() -> None:
    q = load_config().filters.quality
    print("\n| file | rows | repetition (dropped) | low_quality (flagged) |")
    print("|---|---|---|---|")
    total = Counter()
    for f in sorted(
        p for p in DEMO.iterdir() if p.suffix in (".json", ".jsonl") and p.name != "dataset_info.json"
    ):
        rows, _, _ = convert_file(str(f), f.name, source="bench")
        c = Counter(r for row in rows for r, _ in quality.failures(quality.signals(row), q, row["kind"]))
        total.update(rows=len(rows), **c)
        print(f"| {f.name} | {len(rows)} | {c['repetition']} | {c['low_quality']} |")
    n = total["rows"]
    print(
        f"| all | {n} | {total['repetition']} ({total['repetition'] / n:.1%}) | "
        f"{total['low_quality']} ({total['low_quality'] / n:.1%}) |"
    )


if __name__ == "__main__":
    profanity_table()
    repetition_table()
