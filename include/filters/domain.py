"""Domain rules: include / exclude keywords and regexes, length and turn bounds, language allow-list."""

from __future__ import annotations

import re

from include.filters.language import detect


def _keywords(words: list[str]) -> re.Pattern | None:
    if not words:
        return None
    alts = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.I)


def _any(patterns: list[str]) -> re.Pattern | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I | re.M) if patterns else None


def turns(row: dict) -> int:
    """User and assistant turns: the conversation's, plus one for a completion (chosen)."""
    n = sum(1 for m in row.get("messages") or () if m.get("role") in ("user", "assistant"))
    return n + (1 if row.get("chosen") else 0)


class DomainRules:
    def __init__(self, cfg):
        self.cfg = cfg
        self.include_kw, self.include_rx = _keywords(cfg.include_keywords), _any(cfg.include_patterns)
        self.exclude_kw, self.exclude_rx = _keywords(cfg.exclude_keywords), _any(cfg.exclude_patterns)

    def check(self, row: dict) -> tuple[str, str] | None:
        """``(reason, detail)`` of the first rule the row breaks, or None."""
        c, text = self.cfg, row.get("text") or ""
        if len(text) < c.min_chars:
            return "too_short", f"{len(text)} characters < min_chars {c.min_chars}"
        if c.max_chars is not None and len(text) > c.max_chars:
            return "too_long", f"{len(text)} characters > max_chars {c.max_chars}"
        n = turns(row)
        if row.get("kind") != "pretrain" and n < c.min_turns:
            return "too_few_turns", f"{n} turns < min_turns {c.min_turns}"
        if c.max_turns is not None and n > c.max_turns:
            return "too_many_turns", f"{n} turns > max_turns {c.max_turns}"
        for rx in (self.exclude_kw, self.exclude_rx):
            m = rx.search(text) if rx else None
            if m:
                return "domain_excluded", f"matches exclude rule: {m.group()[:60]!r}"
        if (self.include_kw or self.include_rx) and not any(
            rx.search(text) for rx in (self.include_kw, self.include_rx) if rx
        ):
            return "domain_not_included", "matches no include keyword or pattern"
        if c.languages:
            lang, prob = detect(text)
            if lang is None or prob < c.min_language_confidence:
                if not c.allow_unknown_language:
                    return "language", f"language unknown (best guess {lang} p={prob:.2f})"
            elif lang not in c.languages:
                return "language", f"language {lang} (p={prob:.2f}) not in {c.languages}"
        return None
