"""OpenAI chat ``messages`` (string or typed-part content, tool calls, tools) and the
shared message-list conversion other adapters reuse."""

from __future__ import annotations

from typing import Any

from include.formats.base import (
    Adapter,
    FormatOptions,
    RecordError,
    canonical_role,
    message,
    parse_tool_call_json,
    require_items,
    sft_row,
    tool_call,
)

_TEXT_PARTS = ("text", "input_text", "output_text")
_REASONING_PARTS = ("reasoning", "thinking")


def parse_content(value: Any, where: str) -> tuple[str, str | None, list[dict]]:
    """Content given as text or typed parts -> (text, reasoning, tool calls)."""
    if value is None:
        return "", None, []
    if isinstance(value, str):
        return value, None, []
    if not isinstance(value, list):
        raise RecordError(
            "bad_field", f"{where}: content must be text or a list of parts, got {type(value).__name__}"
        )
    texts, reasoning, calls = [], [], []
    for i, part in enumerate(value):
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict):
            raise RecordError("bad_field", f"{where}[{i}]: content part must be an object")
        kind = part.get("type", "text")
        body = part.get("text", part.get("value"))
        if kind in _TEXT_PARTS:
            if not isinstance(body, str):
                raise RecordError("bad_field", f"{where}[{i}]: text part without text")
            texts.append(body)
        elif kind in _REASONING_PARTS:
            if isinstance(body, str) and body:
                reasoning.append(body)
        elif kind == "tool_call":
            calls.append(parse_tool_call_json(body, f"{where}[{i}]"))
        else:
            raise RecordError(
                "unsupported_content", f"{where}[{i}]: content part type {kind!r} is not supported"
            )
    return "\n".join(texts), ("\n".join(reasoning) or None), calls


def _openai_tool_calls(value: Any, where: str) -> list[dict]:
    if not value:
        return []
    if not isinstance(value, list):
        raise RecordError("bad_tool_call", f"{where}: tool_calls must be a list")
    out = []
    for i, tc in enumerate(value):
        if not isinstance(tc, dict):
            raise RecordError("bad_tool_call", f"{where}[{i}]: tool call must be an object")
        fn = tc.get("function", tc)
        if not isinstance(fn, dict):
            raise RecordError("bad_tool_call", f"{where}[{i}]: function must be an object")
        out.append(tool_call(fn.get("name"), fn.get("arguments"), tc.get("id")))
    return out


def link_tool_calls(messages: list[dict]) -> None:
    """Give tool calls ids where the source has none and point tool results at them, in order."""
    pending: list[str] = []
    n = 0
    for m in messages:
        for call in m.get("tool_calls") or ():
            n += 1
            call["id"] = call["id"] or f"call_{n}"
            pending.append(call["id"])
        if m["role"] == "tool":
            if m["tool_call_id"] is None and pending:
                m["tool_call_id"] = pending.pop(0)
            elif m["tool_call_id"] in pending:
                pending.remove(m["tool_call_id"])


def convert_messages(raw: Any, where: str = "messages") -> tuple[str | None, list[dict]]:
    """An OpenAI-style message list -> (system prompt, canonical messages)."""
    system, out = None, []
    for w, m in require_items(raw, where, "messages"):
        role = "system" if m.get("role") == "developer" else canonical_role(m.get("role"), w)
        text, reasoning, calls = parse_content(m.get("content"), f"{w}.content")
        calls += _openai_tool_calls(m.get("tool_calls"), f"{w}.tool_calls")
        if m.get("function_call"):  # legacy OpenAI single function call
            calls.append(parse_tool_call_json(m["function_call"], f"{w}.function_call"))
        reasoning = reasoning or m.get("reasoning_content") or m.get("reasoning")
        if role == "system" and not out and system is None:
            system = text
            continue
        out.append(
            message(
                role,
                text,
                name=m.get("name"),
                tool_calls=calls,
                tool_call_id=m.get("tool_call_id"),
                reasoning=reasoning if isinstance(reasoning, str) else None,
                loss_weight=m.get("loss_weight") if isinstance(m.get("loss_weight"), (int, float)) else None,
            )
        )
    link_tool_calls(out)
    return (system or None), out


def convert(rec: dict, options: FormatOptions) -> list[dict]:
    system, msgs = convert_messages(rec.get("messages"))
    row = sft_row(rec, system, msgs, "messages")
    meta = rec.get("meta")  # a record's own ``meta`` object is kept (e.g. synthetic-row provenance)
    if meta is not None and not isinstance(meta, dict):
        raise RecordError("bad_field", f"meta: expected an object, got {type(meta).__name__}")
    row["meta"] = meta or None
    return [row]


def detect(rec: dict) -> bool:
    msgs = rec.get("messages")
    return (
        isinstance(msgs, list)
        and bool(msgs)
        and "label" not in rec
        and all(isinstance(m, dict) and "role" in m for m in msgs[:3])
    )


ADAPTER = Adapter("openai", detect, convert, priority=41)
