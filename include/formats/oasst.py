"""OpenAssistant conversation trees -> one ``sft`` row per conversation.

* ``oasst_tree``: tree export ``{message_tree_id, prompt: {…, replies: […]}}``, one tree a line.
* ``oasst_message``: message export rooted at a message (``{message_id, replies, …}``).
* ``oasst_flat``: the flat message table (one message a row, linked by ``parent_id``).

Every root-to-leaf conversation is produced (``ingest.oasst_paths: all``), or only the
best-ranked path (``best``: the reply with the lowest rank at each step). Deleted and
(by default) review-failed messages are skipped with their subtrees. A conversation
ends with an assistant turn: a trailing, unanswered prompter turn is trimmed. The
row id is the id of the conversation's last message.

Accounting of the flat table, where rows are messages: a line whose message is part
of at least one emitted conversation is represented by those rows; every other line is
a reject: ``oasst_deleted``, ``oasst_review_failed``, ``oasst_orphan`` (parent not in
the file), ``oasst_duplicate_id``, or ``oasst_pruned`` (below a skipped message, off
the best path, or an unanswered prompter turn).
"""

from __future__ import annotations

from typing import Any

from include.formats.base import (
    Adapter,
    FileResult,
    FormatOptions,
    RecordError,
    canonical_role,
    message,
    require_str,
)


def _skip_reason(node: dict, options: FormatOptions) -> str | None:
    if node.get("deleted") is True:
        return "oasst_deleted"
    if options.oasst_skip_review_failed and node.get("review_result") is False:
        return "oasst_review_failed"
    return None


def _rank_key(node: dict):
    rank = node.get("rank")
    return (rank is None, rank if rank is not None else 0, str(node.get("message_id")))


def _paths(node: dict, children, options: FormatOptions) -> list[list[dict]]:
    """Root-to-leaf paths of kept messages below (and including) ``node``."""
    kids = [c for c in children(node) if _skip_reason(c, options) is None]
    if options.oasst_paths == "best" and kids:
        kids = [min(kids, key=_rank_key)]
    if not kids:
        return [[node]]
    return [[node, *p] for k in kids for p in _paths(k, children, options)]


def _conversations(root: dict, children, options: FormatOptions) -> list[list[dict]]:
    """Paths trimmed to end with an assistant turn, deduplicated by last message."""
    if _skip_reason(root, options) is not None:
        return []
    out: dict[str, list[dict]] = {}
    for path in _paths(root, children, options):
        while path and canonical_role(path[-1].get("role"), "role") != "assistant":
            path = path[:-1]
        if path:
            out.setdefault(str(path[-1].get("message_id")), path)
    return list(out.values())


def _partial(path: list[dict], tree_id: Any) -> dict:
    msgs = []
    for node in path:
        where = f"message {node.get('message_id')}"
        msgs.append(
            message(canonical_role(node.get("role"), where), require_str(node.get("text"), f"{where}.text"))
        )
    if msgs[0]["role"] != "user":
        raise RecordError(
            "bad_field", f"message {path[0].get('message_id')}: a conversation must start with a prompter"
        )
    root = path[0]
    meta = {
        k: v
        for k, v in (
            ("lang", root.get("lang")),
            ("message_tree_id", tree_id),
            ("synthetic", root.get("synthetic")),
        )
        if v is not None
    }
    return {"kind": "sft", "messages": msgs, "id": str(path[-1].get("message_id")), "meta": meta}


def _nested_children(node: dict) -> list[dict]:
    replies = node.get("replies") or []
    if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
        raise RecordError("bad_field", f"message {node.get('message_id')}: replies must be a list of objects")
    return replies


def _convert_nested(root: Any, tree_id: Any, options: FormatOptions) -> list[dict]:
    if not isinstance(root, dict):
        raise RecordError("bad_field", "prompt: expected the root message object")
    convs = _conversations(root, _nested_children, options)
    if not convs:
        why = _skip_reason(root, options) or "no assistant reply"
        raise RecordError("oasst_no_conversation", f"tree {tree_id}: {why}")
    return [_partial(p, tree_id) for p in convs]


def convert_tree(rec: dict, options: FormatOptions) -> list[dict]:
    return _convert_nested(rec.get("prompt"), rec.get("message_tree_id"), options)


def convert_message_export(rec: dict, options: FormatOptions) -> list[dict]:
    return _convert_nested(rec, rec.get("message_tree_id", rec.get("message_id")), options)


def detect_tree(rec: dict) -> bool:
    return "message_tree_id" in rec and isinstance(rec.get("prompt"), dict)


def detect_message_export(rec: dict) -> bool:
    return "message_id" in rec and isinstance(rec.get("replies"), list) and "text" in rec


def detect_flat(rec: dict) -> bool:
    return (
        "message_id" in rec
        and "parent_id" in rec
        and "replies" not in rec
        and "text" in rec
        and "role" in rec
    )


# ---------------------------------------------------------------- flat message table


def convert_flat(lines: list[tuple[int, dict]], options: FormatOptions) -> FileResult:
    result = FileResult()
    nodes: dict[str, dict] = {}
    line_of: dict[int, int] = {}  # id(node) -> line
    for line, rec in lines:
        mid = rec.get("message_id")
        if not isinstance(mid, str) or not mid:
            result.rejects.append((line, RecordError("bad_field", "message_id: expected a non-empty string")))
        elif mid in nodes:
            result.rejects.append(
                (line, RecordError("oasst_duplicate_id", f"message_id {mid} appears twice"))
            )
        else:
            nodes[mid] = rec
            line_of[id(rec)] = line
    children: dict[str, list[dict]] = {}
    for rec in nodes.values():
        if rec.get("parent_id") is not None:
            children.setdefault(rec["parent_id"], []).append(rec)
    for kids in children.values():
        kids.sort(key=lambda r: str(r["message_id"]))
    used: set[int] = set()
    for rec in sorted(nodes.values(), key=lambda r: line_of[id(r)]):
        if rec.get("parent_id") is not None:
            continue
        try:
            convs = _conversations(rec, lambda n: children.get(n["message_id"], []), options)
            partials = [(_partial(p, rec.get("message_tree_id", rec["message_id"])), p) for p in convs]
        except RecordError as err:
            result.rejects.append((line_of[id(rec)], err))
            used.add(id(rec))
            continue
        for partial, path in partials:
            result.rows.append((line_of[id(path[-1])], partial))
            used.update(id(n) for n in path)
    for rec in nodes.values():
        if id(rec) in used:
            continue
        line = line_of[id(rec)]
        reason = _skip_reason(rec, options)
        if reason:
            result.rejects.append((line, RecordError(reason, f"message {rec['message_id']} is {reason[6:]}")))
        elif rec.get("parent_id") is not None and rec["parent_id"] not in nodes:
            result.rejects.append(
                (line, RecordError("oasst_orphan", f"parent {rec['parent_id']} is not in the file"))
            )
        else:
            result.rejects.append(
                (
                    line,
                    RecordError(
                        "oasst_pruned",
                        f"message {rec['message_id']} is in no emitted conversation (below a skipped "
                        "message, off the best path, or an unanswered prompter turn)",
                    ),
                )
            )
    return result


TREE = Adapter("oasst_tree", detect_tree, convert_tree, priority=10)
MESSAGE_EXPORT = Adapter("oasst_message", detect_message_export, convert_message_export, priority=11)
FLAT = Adapter("oasst_flat", detect_flat, convert_file=convert_flat, priority=12)
