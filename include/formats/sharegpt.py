"""ShareGPT ``{conversations: [{from, value}], system?, tools?}``.

``function_call`` turns become assistant tool calls (merged into a directly preceding
gpt turn, as in LLaMA-Factory's glaive tool-call data); ``observation`` turns become
tool messages answering the oldest unanswered call.
"""

from __future__ import annotations

from typing import Any

from include.formats.base import (
    Adapter,
    FormatOptions,
    canonical_role,
    message,
    parse_tool_call_json,
    require_items,
    require_str,
    sft_row,
)
from include.formats.openai import link_tool_calls


def convert_turns(turns: Any, where: str = "conversations") -> tuple[str | None, list[dict]]:
    """ShareGPT turns -> (system prompt, canonical messages)."""
    system, out = None, []
    for w, t in require_items(turns, where, "turns"):
        frm, value = t.get("from", t.get("role")), t.get("value", t.get("content"))
        if frm == "function_call":
            call = parse_tool_call_json(value, w)
            prev = out[-1] if out else None
            if prev is not None and prev["role"] == "assistant":
                prev["tool_calls"] = (prev["tool_calls"] or []) + [call]
            else:
                out.append(message("assistant", "", tool_calls=[call]))
            continue
        role = canonical_role(frm, w)
        text = require_str(value, f"{w}.value")
        if role == "system" and not out and system is None:
            system = text
            continue
        out.append(message(role, text))
    link_tool_calls(out)
    return system, out


def convert(rec: dict, options: FormatOptions) -> list[dict]:
    system, msgs = convert_turns(rec.get("conversations"))
    if rec.get("system") not in (None, ""):
        system = require_str(rec["system"], "system")
    return [sft_row(rec, system, msgs, "conversations")]


def detect(rec: dict) -> bool:
    return isinstance(rec.get("conversations"), list) and "chosen" not in rec and "rejected" not in rec


ADAPTER = Adapter("sharegpt", detect, convert, priority=40)
