"""Row-level structural checks, as plain functions (GX then validates their results).

``conversation_problem(row)`` returns ``None`` for a well-formed row, else a short
reason: what a trainer would choke on (bad role order, no final assistant turn,
identical preference completions, a KTO row without a label, …).
"""

from __future__ import annotations

import json

_NEXT = {  # role -> roles that may follow it
    "user": {"assistant"},
    "assistant": {"user", "tool"},
    "tool": {"tool", "assistant"},
}


def _order_problem(messages: list[dict], where: str) -> str | None:
    roles = [m.get("role") for m in messages]
    if roles and roles[0] == "system":
        roles = roles[1:]
    if not roles:
        return f"{where}: no turns"
    if roles[0] != "user":
        return f"{where}: starts with {roles[0]}, not user"
    for i, (a, b) in enumerate(zip(roles, roles[1:], strict=False), start=1):
        if b not in _NEXT.get(a, ()):
            return f"{where}: {b} after {a} at turn {i}"
    return None


def _empty_turn(messages: list[dict], where: str) -> str | None:
    for i, m in enumerate(messages):
        if not (m.get("content") or "").strip() and not m.get("tool_calls"):
            return f"{where}[{i}]: empty {m.get('role')} turn"
    return None


def _completion(messages, where: str) -> str | None:
    if not messages:
        return f"{where}: missing"
    if messages[0].get("role") != "assistant":
        return f"{where}: starts with {messages[0].get('role')}, not assistant"
    return _empty_turn(messages, where)


def conversation_problem(row: dict) -> str | None:
    kind = row.get("kind")
    messages = list(row.get("messages") or [])
    if kind == "pretrain":
        return None if (row.get("text") or "").strip() else "pretrain: empty text"
    problem = _empty_turn(messages, "messages") or _order_problem(messages, "messages")
    if problem:
        return problem
    last = messages[-1]["role"]
    if kind in ("sft", "kto"):
        if last != "assistant":
            return f"{kind}: ends with {last}, not assistant"
        if kind == "kto" and row.get("label") is None:
            return "kto: missing label"
        return None
    if kind == "preference":
        if last not in ("user", "tool"):
            return f"preference: prompt ends with {last}, not user"
        chosen, rejected = list(row.get("chosen") or []), list(row.get("rejected") or [])
        problem = _completion(chosen, "chosen") or _completion(rejected, "rejected")
        if problem:
            return problem
        if json.dumps(chosen, sort_keys=True, default=str) == json.dumps(
            rejected, sort_keys=True, default=str
        ):
            return "preference: chosen equals rejected"
        return None
    return f"unknown kind {kind!r}"
