"""Inappropriate language: word lists matched on whole words, with obfuscation handling.

A text is tokenized into words (Unicode-aware, so lists in any language work). A word
matches when it, or one of its de-obfuscated forms, is on the list: l33t digits and
symbols mapped back to letters (``sh1t``, ``@ss``, ``$hit``), letter runs squeezed
(``fuuuuck``), letters spelled apart (``f.u.c.k``, ``f u c k``) and masked letters
(``f*ck``). Multi-word terms match on consecutive words. Whole-word matching keeps
"Scunthorpe" and "class" clean.

A de-obfuscated form counts only for a free-standing word: not a part of an identifier,
path or expression (``v1.a55``, ``a55-b``, ``x=a55``) and with at least as many letters as
digits, so ids, hashes and numbers (``a55``, ``b00b5``, ``a 5 5``) are not read as l33t.
The word exactly as written is matched as before.
"""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources
from pathlib import Path

from include.settings import REPO_ROOT

LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "8": "b",
        "9": "g",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "+": "t",
        "€": "e",
    }
)
_WORD = re.compile(r"[\w@$!|+*€]+")
_SPACED = re.compile(r"(?<![\w])(?:\w[ .\-_*]){2,}\w(?![\w])")
#: a neighbour that makes a token part of an identifier, path or expression
_JOINERS = set(".-_/\\:=#<>[](){}'\"`")


def shipped_list(lang: str) -> tuple[set[str], set[str]]:
    """Words and default allow-list of ``include/filters/data/profanity_<lang>.json``."""
    data = json.loads(
        resources.files("include.filters")
        .joinpath("data")
        .joinpath(f"profanity_{lang}.json")
        .read_text(encoding="utf-8")
    )
    return set(data["words"]), set(data.get("allow", []))


def read_word_file(path: str) -> set[str]:
    p = Path(path) if Path(path).is_absolute() else REPO_ROOT / path
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        data = json.loads(text)
        return set(data["words"] if isinstance(data, dict) else data)
    return {w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")}


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class WordList:
    """Single words and multi-word phrases; ``find(text)`` returns the terms found."""

    def __init__(self, words, obfuscation: bool = True):
        self.words: set[str] = set()
        self.phrases: dict[int, set[tuple[str, ...]]] = {}
        for w in words:
            toks = tuple(_WORD.findall(_norm(w)))
            if len(toks) == 1:
                self.words.add(toks[0])
            elif toks:
                self.phrases.setdefault(len(toks), set()).add(toks)
        self.obfuscation = obfuscation
        self._by_len: dict[int, list[str]] = {}
        for w in self.words:
            self._by_len.setdefault(len(w), []).append(w)

    def _variants(self, tok: str) -> set[str]:
        out = {tok}
        if not self.obfuscation:
            return out
        if any(c.isalpha() for c in tok):
            out.add(tok.translate(LEET))
        for v in list(out):
            out.add(re.sub(r"(.)\1{2,}", r"\1", v))
            out.add(re.sub(r"(.)\1{2,}", r"\1\1", v))
            out.add(re.sub(r"(.)\1+", r"\1", v))
        return {v.strip("!|+*") or v for v in out}

    def _masked(self, tok: str) -> str | None:
        if "*" not in tok or tok.count("*") > 2 or sum(c.isalpha() for c in tok) < 2:
            return None
        rx = re.compile(re.escape(tok).replace(r"\*", "[a-z]"))
        return next((w for w in self._by_len.get(len(tok), ()) if rx.fullmatch(w)), None)

    @staticmethod
    def _free_standing(text: str, start: int, end: int, tok: str) -> bool:
        """May a de-obfuscated form of ``text[start:end]`` count (see the module docstring)?"""
        if sum(c.isdigit() for c in tok) > sum(c.isalpha() for c in tok):
            return False
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        sentence_end = after in ".:" and (end + 1 >= len(text) or text[end + 1].isspace())
        return before not in _JOINERS and (after not in _JOINERS or sentence_end)

    def find(self, text: str) -> list[str]:
        text = _norm(text)
        matches = list(_WORD.finditer(text))
        tokens = [m.group() for m in matches]
        found = []
        for m in matches:
            tok = m.group()
            if tok in self.words:
                found.append(tok)
                continue
            if not self.obfuscation or not self._free_standing(text, m.start(), m.end(), tok):
                continue
            hit = next((v for v in self._variants(tok) if v in self.words), None) or self._masked(tok)
            if hit:
                found.append(hit)
        if self.obfuscation:
            for m in _SPACED.finditer(text):
                joined = re.sub(r"[ .\-_*]", "", m.group())
                if not self._free_standing(text, m.start(), m.end(), joined):
                    continue
                hit = next((v for v in self._variants(joined) if v in self.words), None)
                if hit and not any(hit == t for t in tokens):
                    found.append(hit)
        if self.phrases:
            views = [tokens] + ([[t.translate(LEET) for t in tokens]] if self.obfuscation else [])
            for n, phrases in self.phrases.items():
                for i in range(len(tokens) - n + 1):
                    hit = next((v[i : i + n] for v in views if tuple(v[i : i + n]) in phrases), None)
                    if hit:
                        found.append(" ".join(hit))
        return found


def build_wordlist(cfg) -> WordList:
    """The effective list of a ``ProfanityConfig``: shipped lists + files + extra - allow."""
    words, allow = set(), set()
    for lang in cfg.languages:
        w, a = shipped_list(lang)
        words |= w
        allow |= a
    for f in cfg.word_files:
        words |= read_word_file(f)
    extra = {_norm(w) for w in cfg.extra_words}
    allow = ({_norm(w) for w in allow} - extra) | {_norm(w) for w in cfg.allow_words}
    return WordList({_norm(w) for w in words} - allow | extra, cfg.obfuscation)
