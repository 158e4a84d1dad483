"""Text normalization for fingerprints (never for the text kept for training).

NFKC (configurable form) -> case folding -> punctuation/symbols to spaces ->
whitespace collapsed. ``norm_hash`` is the hash exact dedup groups by.
"""

from __future__ import annotations

import hashlib
import re
import sys
import unicodedata
from dataclasses import dataclass

_WS = re.compile(r"\s+")
# Every Unicode punctuation (P*) and symbol (S*) code point maps to a space (str.translate: a C loop).
_PUNCT_TABLE = {c: " " for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] in ("P", "S")}


@dataclass(frozen=True)
class NormalizeOptions:
    unicode_form: str = "NFKC"
    lowercase: bool = True
    strip_punctuation: bool = True
    collapse_whitespace: bool = True

    @classmethod
    def from_config(cls, cfg) -> NormalizeOptions:
        return cls(
            unicode_form=cfg.unicode_form,
            lowercase=cfg.lowercase,
            strip_punctuation=cfg.strip_punctuation,
            collapse_whitespace=cfg.collapse_whitespace,
        )


def normalize_text(text: str | None, opts: NormalizeOptions = NormalizeOptions()) -> str:
    if not text:
        return ""
    out = unicodedata.normalize(opts.unicode_form, text)
    if opts.lowercase:
        out = out.casefold()
    if opts.strip_punctuation:
        out = out.translate(_PUNCT_TABLE)
    if opts.collapse_whitespace:
        out = _WS.sub(" ", out).strip()
    return out


def text_hash(normalized: str) -> str:
    """128-bit BLAKE2b of the normalized text, hex."""
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def norm_hash(text: str | None, opts: NormalizeOptions = NormalizeOptions()) -> str:
    return text_hash(normalize_text(text, opts))
