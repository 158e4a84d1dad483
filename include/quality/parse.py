"""Strict parsing of judge answers, with a bounded, explicit repair.

A verdict is exactly one JSON object with one entry per rubric criterion,
``{"score": <int 1..5>, "why": "<text>"}``. Repair only removes wrapping the JSON
(Markdown code fences, text before or after the one object, trailing commas); it never
invents or clamps a score. Anything else raises :class:`JudgeParseError` with the reason.
"""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class JudgeParseError(ValueError):
    """The answer is not a valid verdict; the message says why (short, safe to store)."""


def _objects(text: str) -> list[str]:
    """Top-level ``{...}`` spans of ``text`` (string-aware brace matching)."""
    spans, depth, start, in_str, esc = [], 0, None, False, False
    for i, ch in enumerate(text):
        if in_str:
            esc = not esc and ch == "\\"
            if ch == '"' and not esc:
                in_str = False
            continue
        if ch == '"' and depth:
            in_str, esc = True, False
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans


def load_json_object(text: str) -> tuple[dict, bool]:
    """The answer's one JSON object and whether repair was needed; raises JudgeParseError."""
    text = (text or "").strip()
    if not text:
        raise JudgeParseError("empty answer")
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj, False
        raise JudgeParseError(f"answer is a JSON {type(obj).__name__}, not an object")
    except json.JSONDecodeError:
        pass
    fenced = _FENCE.findall(text)
    candidates = _objects(fenced[0] if len(fenced) == 1 else text)
    if not candidates:
        raise JudgeParseError("no JSON object in the answer")
    if len(candidates) > 1:
        raise JudgeParseError(f"{len(candidates)} JSON objects in the answer, expected one")
    blob = candidates[0]
    for attempt in (blob, _TRAILING_COMMA.sub(r"\1", blob)):
        try:
            return json.loads(attempt), True
        except json.JSONDecodeError as exc:
            err = exc
    raise JudgeParseError(f"invalid JSON: {err.msg} at char {err.pos}")


def parse_verdict(text: str, criteria: tuple[str, ...] | list[str]) -> tuple[dict, bool]:
    """``({criterion: {"score": int, "why": str}}, repaired)``; raises JudgeParseError."""
    obj, repaired = load_json_object(text)
    obj = {str(k).strip().lower(): v for k, v in obj.items()}
    missing = [c for c in criteria if c not in obj]
    if missing:
        raise JudgeParseError(f"missing criteria: {', '.join(missing)}")
    extra = sorted(set(obj) - set(criteria))
    if extra:
        raise JudgeParseError(f"unexpected keys: {', '.join(extra)}")
    out = {}
    for c in criteria:
        entry = obj[c]
        if not isinstance(entry, dict):
            raise JudgeParseError(f"{c}: expected an object with score and why")
        score, why = entry.get("score"), entry.get("why")
        if (
            isinstance(score, bool)
            or not isinstance(score, int)
            and not (isinstance(score, float) and score.is_integer())
        ):
            raise JudgeParseError(f"{c}.score: expected an integer 1-5, got {score!r}"[:200])
        if not 1 <= int(score) <= 5:
            raise JudgeParseError(f"{c}.score: {int(score)} is outside 1-5")
        if not isinstance(why, str) or not why.strip():
            raise JudgeParseError(f"{c}.why: expected a non-empty justification")
        out[c] = {"score": int(score), "why": " ".join(why.split())[:500]}
    return out, repaired


def parse_preference(text: str) -> tuple[str, bool]:
    """``("A" | "B", repaired)`` from a pairwise answer ``{"better": "A"|"B", "why": ...}``."""
    obj, repaired = load_json_object(text)
    better = obj.get("better")
    if not isinstance(better, str) or better.strip().upper() not in ("A", "B"):
        raise JudgeParseError(f'better: expected "A" or "B", got {better!r}'[:200])
    return better.strip().upper(), repaired


def mean_score(verdict: dict) -> float:
    return sum(v["score"] for v in verdict.values()) / len(verdict)
