"""Residual PII patterns the gate refuses in any text column: e-mail, phone, card.

Deliberately narrow (no NER): it is a last check after the ``pii`` stage, so it
must be precise. Card numbers must pass the Luhn check; typed placeholders such as
``<EMAIL>`` never match.
"""

from __future__ import annotations

import re

from include.pii.validators import luhn_ok  # one Luhn check for the whole package

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
PHONE = re.compile(
    r"(?<![\w+])(?<!\d[\s.-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}"
    r"(?![\w-])(?![\s.]\d)"
)
#: not the digits after a decimal point: 0.0072973525693 (the fine-structure constant) passes Luhn
CARD = re.compile(r"(?<!\d)(?<!\d[.,])(?:\d[ -]?){12,18}\d(?!\d)")


def residual_pii(text: str | None) -> str | None:
    """The first residual PII kind found in ``text`` (``email``, ``phone``, ``card``) or None."""
    if not text:
        return None
    if EMAIL.search(text):
        return "email"
    for m in CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return "card"
    if PHONE.search(text):
        return "phone"
    return None


def text_fields(row: dict):
    """Every text value of a canonical row: system, turns, tool-call arguments, completions."""
    if row.get("system"):
        yield "system", row["system"]
    for key in ("messages", "chosen", "rejected"):
        for i, m in enumerate(row.get(key) or ()):
            if m.get("content"):
                yield f"{key}[{i}].content", m["content"]
            for j, call in enumerate(m.get("tool_calls") or ()):
                if call.get("arguments"):
                    yield f"{key}[{i}].tool_calls[{j}].arguments", call["arguments"]


def row_residual_pii(row: dict) -> str | None:
    """``"<kind> in <field>"`` for the first residual PII found in the row, else None."""
    for where, text in text_fields(row):
        kind = residual_pii(text)
        if kind:
            return f"{kind} in {where}"
    if row.get("kind") == "pretrain":
        kind = residual_pii(row.get("text"))
        return f"{kind} in text" if kind else None
    return None
