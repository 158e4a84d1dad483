"""Instruction formats: Alpaca, Self-Instruct seeds, KTO (unpaired labels), plain text."""

from __future__ import annotations

from typing import Any

from include.formats.base import (
    Adapter,
    FormatOptions,
    RecordError,
    check_messages,
    message,
    require_str,
)
from include.formats.openai import convert_messages

# ---------------------------------------------------------------- alpaca


def _user_text(instruction: str, inp: Any, where: str) -> str:
    if inp in (None, ""):
        return instruction
    return f"{instruction}\n\n{require_str(inp, f'{where}input')}"


def _history(value: Any) -> list[dict]:
    if value in (None, []):
        return []
    if not isinstance(value, list):
        raise RecordError("bad_field", "history: expected a list of [user, assistant] pairs")
    out = []
    for i, pair in enumerate(value):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise RecordError("bad_field", f"history[{i}]: expected a [user, assistant] pair")
        out += [
            message("user", require_str(pair[0], f"history[{i}][0]")),
            message("assistant", require_str(pair[1], f"history[{i}][1]")),
        ]
    return out


def convert_alpaca(rec: dict, options: FormatOptions) -> list[dict]:
    instruction = require_str(rec.get("instruction"), "instruction")
    msgs = _history(rec.get("history")) + [
        message("user", _user_text(instruction, rec.get("input"), "")),
        message("assistant", require_str(rec.get("output"), "output")),
    ]
    system = rec.get("system")
    if system is not None and not isinstance(system, str):
        raise RecordError("bad_field", "system: expected a string")
    check_messages(msgs, "messages")
    return [{"kind": "sft", "system": system or None, "messages": msgs, "id": rec.get("id")}]


def detect_alpaca(rec: dict) -> bool:
    return "instruction" in rec and "instances" not in rec and ("output" in rec or "input" in rec)


# ---------------------------------------------------------------- self-instruct seeds


def convert_self_instruct(rec: dict, options: FormatOptions) -> list[dict]:
    instruction = require_str(rec.get("instruction"), "instruction")
    instances = rec.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RecordError("bad_field", "instances: expected a non-empty list")
    meta = {k: rec[k] for k in ("name", "is_classification") if k in rec}
    rows = []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise RecordError("bad_field", f"instances[{i}]: expected an object")
        msgs = [
            message("user", _user_text(instruction, inst.get("input"), f"instances[{i}].")),
            message("assistant", require_str(inst.get("output"), f"instances[{i}].output")),
        ]
        check_messages(msgs, f"instances[{i}]")
        rows.append({"kind": "sft", "messages": msgs, "id": rec.get("id"), "id_suffix": str(i), "meta": meta})
    return rows


def detect_self_instruct(rec: dict) -> bool:
    return "instruction" in rec and isinstance(rec.get("instances"), list)


# ---------------------------------------------------------------- KTO


def convert_kto(rec: dict, options: FormatOptions) -> list[dict]:
    label = rec.get("label")
    if not isinstance(label, bool):
        raise RecordError("bad_label", f"label must be true or false, got {label!r}")
    if "messages" in rec:
        system, msgs = convert_messages(rec.get("messages"))
    else:
        prompt, completion = rec.get("prompt"), rec.get("completion")
        system, msgs = (
            convert_messages(prompt, "prompt")
            if isinstance(prompt, list)
            else (None, [message("user", require_str(prompt, "prompt"))])
        )
        if isinstance(completion, list):
            msgs += convert_messages(completion, "completion")[1]
        else:
            msgs.append(message("assistant", require_str(completion, "completion")))
    check_messages(msgs, "messages")
    if msgs[-1]["role"] != "assistant":
        raise RecordError("no_completion", "kto: the conversation must end with the assistant completion")
    return [{"kind": "kto", "system": system, "messages": msgs, "label": label, "id": rec.get("id")}]


def detect_kto(rec: dict) -> bool:
    return "label" in rec and ("messages" in rec or ("prompt" in rec and "completion" in rec))


# ---------------------------------------------------------------- plain text


def convert_text(rec: dict, options: FormatOptions) -> list[dict]:
    key = "text" if "text" in rec else "content"
    text = require_str(rec.get(key), key)
    meta = {k: v for k, v in rec.items() if k != key and isinstance(v, (str, int, float, bool)) and k != "id"}
    return [{"kind": "pretrain", "messages": [], "text": text, "meta": meta or None, "id": rec.get("id")}]


def detect_text(rec: dict) -> bool:
    return isinstance(rec.get("text", rec.get("content")), str) and not (
        {"messages", "conversations", "instruction", "chosen", "prompt", "replies"} & rec.keys()
    )


ALPACA = Adapter("alpaca", detect_alpaca, convert_alpaca, priority=42)
SELF_INSTRUCT = Adapter("self_instruct", detect_self_instruct, convert_self_instruct, priority=31)
KTO = Adapter("kto", detect_kto, convert_kto, priority=30)
TEXT = Adapter("text", detect_text, convert_text, priority=90)
