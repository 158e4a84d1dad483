"""The texts of a canonical row a filter looks at, by scope (system, user, assistant, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def scoped_texts(row: dict, scope: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(where, text)`` for every text in ``scope``: ``system``, turns by role (``user``,
    ``assistant``, ``tool``, incl. tool-call arguments), the ``chosen`` / ``rejected``
    completions, and ``text`` for rows without structured turns (pretraining documents)."""
    scope = set(scope)
    structured = bool(row.get("system") or row.get("messages") or row.get("chosen") or row.get("rejected"))
    if "system" in scope and row.get("system"):
        yield "system", row["system"]
    for key in ("messages", "chosen", "rejected"):
        for i, m in enumerate(row.get(key) or ()):
            role = m.get("role") or ""
            if not (key == "messages" and role in scope or key != "messages" and key in scope):
                continue
            if role == "system" and key == "messages" and "system" not in scope:
                continue
            if m.get("content"):
                yield f"{key}[{i}].content", m["content"]
            for j, call in enumerate(m.get("tool_calls") or ()):
                if call.get("arguments"):
                    yield f"{key}[{i}].tool_calls[{j}].arguments", call["arguments"]
    if "text" in scope and not structured and row.get("text"):
        yield "text", row["text"]


def answer_text(row: dict) -> str:
    """What the model learns to produce: assistant turns and the chosen completion (or ``text``)."""
    parts = [t for _, t in scoped_texts(row, ("assistant", "chosen"))]
    return "\n\n".join(parts) if parts else (row.get("text") or "")


def final_answer(row: dict) -> dict | None:
    """The last assistant message of the completion the row trains on (chosen, else messages)."""
    for key in ("chosen", "messages"):
        msgs = [m for m in (row.get(key) or ()) if m.get("role") == "assistant"]
        if msgs:
            return msgs[-1]
    return None
