"""The format-adapter contract and the helpers every adapter shares.

An adapter turns one parsed source record (a ``dict``) into zero or more *partial*
canonical rows (dicts with ``kind``, ``system``, ``messages``, ``tools``, ``chosen``,
``rejected``, ``label``, ``meta`` and optionally ``id`` / ``id_suffix``). It raises
:class:`RecordError` with a precise reason when the record does not fit; the ingest
layer turns that into a reject row. :func:`finalize` completes a partial row
(id, text, lineage) so that every adapter produces identical row shapes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from include.schema import KINDS, ROLES


class RecordError(ValueError):
    """A record that does not fit its format. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FormatOptions:
    """Per-format conversion options (see include/config/default.yaml, ``ingest``)."""

    oasst_paths: str = "all"  # all root-to-leaf conversations | best (rank 0 at each step)
    preference_pairs: str = "best_vs_rest"  # best_vs_rest | all_ordered
    oasst_skip_review_failed: bool = True


@dataclass(frozen=True)
class Adapter:
    """A source format: ``detect`` says whether a record looks like it, ``convert``
    turns it into partial rows. ``grouped`` adapters see all records of a file at once
    (e.g. the flat OASST message table) through ``convert_file``."""

    name: str
    detect: Callable[[dict], bool]
    convert: Callable[[dict, FormatOptions], list[dict]] | None = None
    convert_file: Callable[[list[tuple[int, dict]], FormatOptions], FileResult] | None = None
    priority: int = 100  # lower wins when several adapters detect a record equally well

    @property
    def grouped(self) -> bool:
        return self.convert_file is not None


@dataclass
class FileResult:
    """Output of a grouped adapter: rows, each tagged with the source line it stands
    for, and per-line rejects ``(line, RecordError)`` for lines that produced nothing."""

    rows: list[tuple[int, dict]] = field(default_factory=list)
    rejects: list[tuple[int, RecordError]] = field(default_factory=list)


# ---------------------------------------------------------------- messages

_ROLE_ALIASES = {
    "human": "user",
    "prompter": "user",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "function": "tool",
    "observation": "tool",
}


def canonical_role(role: Any, where: str) -> str:
    if not isinstance(role, str):
        raise RecordError("bad_role", f"{where}: role must be a string, got {type(role).__name__}")
    r = role.strip().lower()
    r = _ROLE_ALIASES.get(r, r)
    if r not in ROLES:
        raise RecordError("unknown_role", f"{where}: unknown role {role!r}")
    return r


def require_items(value: Any, where: str, what: str) -> list[tuple[str, dict]]:
    """``value`` must be a list of objects (``what``: "messages", "turns"); returns
    ``(where[i], item)`` pairs so errors can name the item."""
    if not isinstance(value, list):
        got = "missing" if value is None else type(value).__name__
        raise RecordError("bad_field", f"{where}: expected a list of {what}, got {got}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise RecordError("bad_field", f"{where}[{i}]: {what.rstrip('s')} must be an object")
        out.append((f"{where}[{i}]", item))
    return out


def require_str(value: Any, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        got = "missing" if value is None else type(value).__name__
        raise RecordError("bad_field", f"{where}: expected a string, got {got}")
    if not allow_empty and not value.strip():
        raise RecordError("empty_content", f"{where}: empty text")
    return value


def message(
    role: str,
    content: str | None,
    *,
    name: str | None = None,
    tool_calls: list[dict] | None = None,
    tool_call_id: str | None = None,
    reasoning: str | None = None,
    loss_weight: float | None = None,
) -> dict:
    """A canonical message dict with every struct member present."""
    return {
        "role": role,
        "content": content if content is not None else "",
        "name": name,
        "tool_calls": tool_calls or None,
        "tool_call_id": tool_call_id,
        "reasoning": reasoning,
        "loss_weight": None if loss_weight is None else float(loss_weight),
    }


def tool_call(name: str, arguments: Any, call_id: str | None = None) -> dict:
    """A canonical tool call; ``arguments`` may be a dict or an already-encoded JSON string."""
    if not isinstance(name, str) or not name.strip():
        raise RecordError("bad_tool_call", "tool call without a function name")
    if isinstance(arguments, str):
        args = arguments
    else:
        args = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False, sort_keys=True)
    return {"id": call_id, "name": name, "arguments": args}


def parse_tool_call_json(value: Any, where: str) -> dict:
    """Parse ``{"name": ..., "arguments": {...}}`` given as a JSON string or object."""
    obj = value
    if isinstance(value, str):
        try:
            obj = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordError("bad_tool_call", f"{where}: tool call is not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict) or "name" not in obj:
        raise RecordError("bad_tool_call", f"{where}: tool call must be an object with 'name'")
    return tool_call(obj["name"], obj.get("arguments", obj.get("parameters")), obj.get("id"))


def check_messages(messages: list[dict], where: str, need_assistant: bool = True) -> None:
    """Structural checks every conversation must pass."""
    if not messages:
        raise RecordError("empty_conversation", f"{where}: no messages")
    for i, m in enumerate(messages):
        if m["role"] not in ROLES:
            raise RecordError("unknown_role", f"{where}[{i}]: unknown role {m['role']!r}")
        if not (m["content"] or "").strip() and not m.get("tool_calls"):
            raise RecordError("empty_content", f"{where}[{i}]: empty {m['role']} message")
    if need_assistant and not any(m["role"] == "assistant" for m in messages):
        raise RecordError("no_assistant_turn", f"{where}: conversation has no assistant turn")


def tools_json(value: Any) -> str | None:
    """Tool schemas as a JSON string (sources give a string or a list/dict)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            raise RecordError("bad_tools", f"tools is not valid JSON ({exc.msg})") from None
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    raise RecordError("bad_tools", f"tools must be JSON text or a list, got {type(value).__name__}")


def sft_row(rec: dict, system: str | None, messages: list[dict], where: str) -> dict:
    """The ``kind=sft`` row of a conversation (checked as ``where``) with ``rec``'s tools and id."""
    check_messages(messages, where)
    return {
        "kind": "sft",
        "system": system,
        "messages": messages,
        "tools": tools_json(rec.get("tools")),
        "id": rec.get("id"),
    }


# ---------------------------------------------------------------- rows


def record_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:24]


def flatten_text(row: dict) -> str:
    """The text curation stages look at: system, every turn, tool calls, completions."""
    parts: list[str] = []
    if row.get("system"):
        parts.append(row["system"])
    for key in ("messages", "chosen", "rejected"):
        for m in row.get(key) or ():
            if m.get("content"):
                parts.append(m["content"])
            for call in m.get("tool_calls") or ():
                parts.append(f"{call['name']}({call['arguments']})")
    return "\n\n".join(parts)


def finalize(
    partial: dict,
    *,
    fmt: str,
    source: str,
    source_file: str,
    line: int,
    record_key: str,
) -> dict:
    """Complete a partial row: id, text, lineage and every canonical column present.

    ``record_key`` is a canonical serialization of the source record, hashed (with file
    and line) into the id when the source gives none; ``id_suffix`` distinguishes
    several rows made from one record (e.g. OASST paths, preference pairs).
    """
    kind = partial.get("kind")
    if kind not in KINDS:
        raise RecordError("internal", f"adapter {fmt} produced kind={kind!r}")
    base = partial.get("id")
    base = str(base) if base not in (None, "") else record_hash(source_file, str(line), record_key)
    suffix = partial.get("id_suffix")
    row = {
        "id": f"{base}#{suffix}" if suffix not in (None, "") else base,
        "source": source,
        "format": fmt,
        "kind": kind,
        "system": partial.get("system") or None,
        "messages": partial.get("messages") or [],
        "tools": partial.get("tools"),
        "chosen": partial.get("chosen"),
        "rejected": partial.get("rejected"),
        "label": partial.get("label"),
        "meta": json.dumps(partial["meta"], ensure_ascii=False, sort_keys=True)
        if partial.get("meta")
        else None,
        "source_file": source_file,
        "line": int(line),
    }
    row["text"] = partial.get("text") or flatten_text(row)
    if not row["text"].strip():
        raise RecordError("empty_content", "record has no text")
    return row


def canonical_json(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def first(record: dict, keys: Iterable[str]) -> Any:
    for k in keys:
        if k in record and record[k] is not None:
            return record[k]
    return None
