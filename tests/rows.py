"""Canonical rows for tests: messages and single-turn SFT rows."""

from __future__ import annotations


def msg(role: str, content, **fields) -> dict:
    return {"role": role, "content": content, "tool_calls": None, **fields}


def sft_row(user: str, answer: str, **fields) -> dict:
    """A user question and an assistant answer as a canonical ``sft`` row; ``fields`` override."""
    row = {
        "id": "r",
        "kind": "sft",
        "system": None,
        "messages": [msg("user", user), msg("assistant", answer)],
        "chosen": None,
        "rejected": None,
        "text": f"{user}\n\n{answer}",
    }
    return {**row, **fields}
