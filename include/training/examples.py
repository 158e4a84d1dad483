"""Canonical rows -> the Hugging Face conversational examples each trainer takes (per row).

The table of what each method uses and the message conventions are in
:mod:`include.training.dataset`, which builds, splits and writes the set from these.
"""

from __future__ import annotations

import json
from typing import Any

KINDS_FOR_METHOD = {
    "sft": ("sft",),
    "reward": ("preference",),
    "dpo": ("preference",),
    "grpo": ("sft", "preference"),
}


def _arguments(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # kept verbatim; the template writes strings as they are
    return value if value is not None else {}


def hf_message(m: dict) -> dict:
    """One canonical message in transformers' chat-template shape (absent fields left out)."""
    out: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
    if m.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {"name": c["name"], "arguments": _arguments(c.get("arguments"))},
            }
            for c in m["tool_calls"]
        ]
    for src, dst in (("tool_call_id", "tool_call_id"), ("name", "name"), ("reasoning", "reasoning_content")):
        if m.get(src):
            out[dst] = m[src]
    if m.get("loss_weight") is not None:
        out["loss_weight"] = float(m["loss_weight"])
    return out


def hf_tools(tools: str | None) -> list[dict] | None:
    """Canonical JSON tool schemas as the list chat templates expect (OpenAI ``{"type": "function", ...}``)."""
    if not tools:
        return None
    try:
        value = json.loads(tools)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict):
        value = [value]
    out = []
    for t in value or []:
        if isinstance(t, dict) and "type" not in t and "name" in t:
            t = {"type": "function", "function": t}
        out.append(t)
    return out or None


def conversation(row: dict) -> list[dict]:
    """System prompt (as the first message) + the row's messages, HF shaped."""
    msgs = [hf_message(m) for m in row.get("messages") or []]
    if row.get("system") and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, {"role": "system", "content": row["system"]})
    return msgs


def prompt_turns(msgs: list[dict]) -> list[dict]:
    """The turns before the first assistant answer (the prompt an RL policy completes)."""
    out = []
    for m in msgs:
        if m["role"] == "assistant":
            break
        out.append(m)
    return out


def example_for(method: str, row: dict) -> tuple[dict | None, str | None]:
    """The trainer example for ``row``, or ``(None, reason)`` when the row cannot be used."""
    kind = row.get("kind")
    if kind not in KINDS_FOR_METHOD[method]:
        return None, f"kind_{kind}_not_used_by_{method}"
    tools = hf_tools(row.get("tools"))
    msgs = conversation(row)
    if method == "sft":
        if not any(m["role"] == "assistant" for m in msgs):
            return None, "no_assistant_turn"
        return {"id": row["id"], "source": row.get("source"), "messages": msgs, "tools": tools}, None
    if method in ("reward", "dpo"):
        chosen = [hf_message(m) for m in row.get("chosen") or []]
        rejected = [hf_message(m) for m in row.get("rejected") or []]
        if not chosen or not rejected:
            return None, "missing_chosen_or_rejected"
        if not msgs or msgs[-1]["role"] not in ("user", "tool"):
            return None, "prompt_does_not_end_with_user_turn"
        return {"id": row["id"], "prompt": msgs, "chosen": chosen, "rejected": rejected, "tools": tools}, None
    prompt = msgs if kind == "preference" else prompt_turns(msgs)
    if not prompt or prompt[-1]["role"] not in ("user", "tool"):
        return None, "no_prompt"
    return {"id": row["id"], "prompt": prompt, "tools": tools}, None
