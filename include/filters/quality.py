"""Heuristic quality signals (Gopher / C4 style) of the answer text, and refusal / empty checks.

Signals (stored as JSON in ``signals``): words, mean word length, symbol ratio ('#', '...'),
alphabetic-word fraction, duplicate-line fraction, bullet / ellipsis line fractions,
top 2/3/4-gram character fraction, duplicate 5..10-gram character fraction, refusal, empty.
"""

from __future__ import annotations

import re
from collections import Counter

from include.filters.fields import answer_text, final_answer

_WORDS = re.compile(r"\S+")
REFUSAL = re.compile(
    r"^\W*(?:i'?m\s+(?:really\s+|very\s+)?sorry|i\s+apologi[sz]e|sorry|unfortunately|as\s+an?\s+(?:ai|language\s+model)|"
    r"i\s+(?:can(?:no|')?t|cannot|am\s+(?:not\s+able|unable)|won'?t|will\s+not|must\s+(?:decline|refuse))|"
    r"i'?m\s+(?:not\s+able|unable))[^\n]{0,200}?\b(?:can(?:no|')?t|cannot|unable|not\s+able|won'?t|not\s+"
    r"(?:comfortable|appropriate|allowed|permitted)|decline|refuse|against\s+my|not\s+(?:going|able)\s+to|"
    r"(?:help|assist)\s+with\s+that)",
    re.I,
)


def _ngram_fractions(words: list[str], n: int) -> tuple[float, float]:
    """(characters in the most frequent n-gram, characters in duplicated n-grams) / all characters."""
    total = sum(len(w) for w in words)
    if len(words) < n or not total:
        return 0.0, 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    top, top_n = counts.most_common(1)[0]
    top_frac = sum(len(w) for w in top) * top_n / total if top_n > 1 else 0.0
    dup = set()
    for i, g in enumerate(grams):
        if counts[g] > 1:
            dup.update(range(i, i + n))
    return top_frac, sum(len(words[i]) for i in dup) / total


def signals(row: dict) -> dict:
    text = answer_text(row)
    words = _WORDS.findall(text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    n = len(words)
    final = final_answer(row)
    out = {
        "words": n,
        "mean_word_length": round(sum(map(len, words)) / n, 3) if n else 0.0,
        "symbol_ratio": round((text.count("#") + text.count("...") + text.count("…")) / n, 4) if n else 0.0,
        "alpha_word_fraction": round(sum(any(c.isalpha() for c in w) for w in words) / n, 4) if n else 0.0,
        "duplicate_line_fraction": round(1 - len(set(lines)) / len(lines), 4) if lines else 0.0,
        "bullet_line_fraction": round(
            sum(ln.lstrip().startswith(("•", "-", "*", "·")) for ln in lines) / len(lines), 4
        )
        if lines
        else 0.0,
        "ellipsis_line_fraction": round(
            sum(ln.rstrip().endswith(("...", "…")) for ln in lines) / len(lines), 4
        )
        if lines
        else 0.0,
        "empty_answer": final is not None
        and not (final.get("content") or "").strip()
        and not final.get("tool_calls"),
        "refusal": bool(final and REFUSAL.search(final.get("content") or "")),
        "answer_chars": len((final or {}).get("content") or ""),
    }
    low = [w.lower() for w in words]
    for k in (2, 3, 4):
        out[f"top_{k}gram_fraction"] = round(_ngram_fractions(low, k)[0], 4)
    for k in range(5, 11):
        out[f"dup_{k}gram_fraction"] = round(_ngram_fractions(low, k)[1], 4)
    return out


def failures(sig: dict, cfg, kind: str | None) -> list[tuple[str, str]]:
    """``(reason, detail)`` per failed check; empty answers and refusals first."""
    out = []
    if cfg.drop_empty_answers and sig["empty_answer"]:
        out.append(("empty_answer", "the final assistant turn is empty"))
    if (
        cfg.drop_refusals
        and kind == "sft"
        and sig["refusal"]
        and sig["answer_chars"] <= cfg.refusal_max_chars
    ):
        out.append(("refusal_only", "the answer is only a refusal"))
    checks = [
        (sig["words"] < cfg.min_words, f"words {sig['words']} < {cfg.min_words}"),
        (
            sig["symbol_ratio"] > cfg.max_symbol_ratio,
            f"symbol_ratio {sig['symbol_ratio']} > {cfg.max_symbol_ratio}",
        ),
        (
            sig["words"]
            and not cfg.min_mean_word_length <= sig["mean_word_length"] <= cfg.max_mean_word_length,
            f"mean_word_length {sig['mean_word_length']} outside [{cfg.min_mean_word_length}, "
            f"{cfg.max_mean_word_length}]",
        ),
        (
            sig["words"] and sig["alpha_word_fraction"] < cfg.min_alpha_word_fraction,
            f"alpha_word_fraction {sig['alpha_word_fraction']} < {cfg.min_alpha_word_fraction}",
        ),
        (sig["bullet_line_fraction"] > cfg.max_bullet_line_fraction, "too many bullet lines"),
        (sig["ellipsis_line_fraction"] > cfg.max_ellipsis_line_fraction, "too many lines end in an ellipsis"),
    ]
    if sig["words"] >= cfg.min_words_for_repetition:
        checks.append(
            (
                sig["duplicate_line_fraction"] > cfg.max_duplicate_line_fraction,
                f"duplicate_line_fraction {sig['duplicate_line_fraction']}",
            )
        )
        checks += [
            (sig[f"top_{k}gram_fraction"] > v, f"top_{k}gram_fraction {sig[f'top_{k}gram_fraction']} > {v}")
            for k, v in cfg.max_top_ngram_fraction.items()
        ]
        checks += [
            (sig[f"dup_{k}gram_fraction"] > v, f"dup_{k}gram_fraction {sig[f'dup_{k}gram_fraction']} > {v}")
            for k, v in cfg.max_duplicate_ngram_fraction.items()
        ]
    bad = [detail for failed, detail in checks if failed]
    if bad:
        out.append(("low_quality", "; ".join(bad)))
    return out
