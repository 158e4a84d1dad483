"""Heuristic quality signals (Gopher / C4 style) of the answer text, and refusal / empty checks.

Signals (stored as JSON in ``signals``): words, mean word length, symbol ratio ('#', '...'),
alphabetic-word fraction, duplicate-line fraction, bullet / ellipsis line fractions,
top 2/3/4-gram character fraction, duplicate 5..10-gram character fraction, refusal, empty.

Repetition (datatrove's ``GopherRepetitionFilter`` thresholds: duplicate lines / paragraphs,
their character shares, top and duplicated n-grams) fails as ``repetition``, dropped by
default (``repetition_action``): a degenerate answer teaches the model to loop. The other
heuristics fail as ``low_quality`` (``action``, flag by default: they misfire on code). A
conversation without a user turn (kept by ``ingest.require_user_turn: false``) fails as
``no_user_turn`` (``no_user_turn_action``). :func:`action_for` says what each reason does.
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


def _ngram_fractions(words: list[str], n: int, total: int) -> tuple[float, float]:
    """datatrove's Gopher n-gram measures over ``total`` characters of text: (characters of the
    most frequent n-gram x its count, characters of n-grams repeating an earlier one, each
    repeat skipping ahead n words) / total."""
    if len(words) < n or not total:
        return 0.0, 0.0
    counts = Counter(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    top, top_n = counts.most_common(1)[0]
    top_frac = len(top) * top_n / total if top_n > 1 else 0.0
    seen, repeated, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = "".join(words[i : i + n])
        if gram in seen:
            repeated += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return top_frac, repeated / total


def _dup_fractions(items: list[str], total: int) -> tuple[float, float]:
    """(duplicated items / items, characters in duplicated items / ``total``), as datatrove."""
    if not items or not total:
        return 0.0, 0.0
    seen, dup, dup_chars = set(), 0, 0
    for it in items:
        if it in seen:
            dup += 1
            dup_chars += len(it)
        seen.add(it)
    return dup / len(items), dup_chars / total


def action_for(reason: str, cfg) -> str:
    """``drop`` or ``flag``: what a failed check with ``reason`` does under ``cfg``."""
    if reason in ("empty_answer", "refusal_only"):
        return "drop"
    if reason == "repetition":
        return cfg.repetition_action
    if reason == "no_user_turn":
        return cfg.no_user_turn_action
    return cfg.action


def signals(row: dict) -> dict:
    text = answer_text(row)
    words = _WORDS.findall(text)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    paragraphs = [p.strip() for p in re.split(r"\n{2,}", text) if p.strip()]
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
        "duplicate_line_char_fraction": round(_dup_fractions(lines, len(text))[1], 4),
        "duplicate_paragraph_fraction": round(_dup_fractions(paragraphs, len(text))[0], 4),
        "duplicate_paragraph_char_fraction": round(_dup_fractions(paragraphs, len(text))[1], 4),
        "no_user_turn": row.get("kind") != "pretrain"
        and bool(row.get("messages") or row.get("chosen"))
        and not any(m.get("role") == "user" for m in row.get("messages") or ()),
    }
    for k in (2, 3, 4):
        out[f"top_{k}gram_fraction"] = round(_ngram_fractions(words, k, len(text))[0], 4)
    for k in range(5, 11):
        out[f"dup_{k}gram_fraction"] = round(_ngram_fractions(words, k, len(text))[1], 4)
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
    if sig.get("no_user_turn"):
        out.append(("no_user_turn", "the conversation has no user turn"))
    bad = [detail for failed, detail in checks if failed]
    if bad:
        out.append(("low_quality", "; ".join(bad)))
    if sig["words"] >= cfg.min_words_for_repetition:
        rep = [
            (sig["duplicate_line_fraction"] > cfg.max_duplicate_line_fraction, "duplicate_line_fraction"),
            (
                sig.get("duplicate_line_char_fraction", 0) > cfg.max_duplicate_line_char_fraction,
                "duplicate_line_char_fraction",
            ),
            (
                sig.get("duplicate_paragraph_fraction", 0) > cfg.max_duplicate_paragraph_fraction,
                "duplicate_paragraph_fraction",
            ),
            (
                sig.get("duplicate_paragraph_char_fraction", 0) > cfg.max_duplicate_paragraph_char_fraction,
                "duplicate_paragraph_char_fraction",
            ),
        ]
        rep += [
            (sig[f"top_{k}gram_fraction"] > v, f"top_{k}gram_fraction")
            for k, v in cfg.max_top_ngram_fraction.items()
        ]
        rep += [
            (sig[f"dup_{k}gram_fraction"] > v, f"dup_{k}gram_fraction")
            for k, v in cfg.max_duplicate_ngram_fraction.items()
        ]
        failed = [f"{name} {sig.get(name)}" for hit, name in rep if hit]
        if failed:
            out.append(("repetition", "; ".join(failed)))
    return out
