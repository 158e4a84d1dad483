"""Preference data -> ``kind=preference`` rows: ``messages`` is the shared prompt,
``chosen`` / ``rejected`` the completions (message lists starting with the assistant).

Shapes: ranked responses (pairs derived from ranks), ``{prompt, chosen, rejected}``,
ShareGPT preference, ``{chosen_messages, rejected_messages}`` and HH-RLHF transcripts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from include.formats.base import (
    Adapter,
    FormatOptions,
    RecordError,
    canonical_role,
    check_messages,
    message,
    require_str,
    tools_json,
)
from include.formats.openai import convert_messages
from include.formats.sharegpt import convert_turns


def _prompt(value: Any, where: str) -> tuple[str | None, list[dict]]:
    if isinstance(value, list):
        return convert_messages(value, where)
    return None, [message("user", require_str(value, where))]


def _completion(value: Any, where: str) -> list[dict]:
    if isinstance(value, list):
        msgs = convert_messages(value, where)[1]
    elif isinstance(value, dict):  # ShareGPT {from, value} or OpenAI {role, content}
        msgs = convert_turns([value], where)[1] if "from" in value else convert_messages([value], where)[1]
    else:
        msgs = [message("assistant", require_str(value, where))]
    if not msgs or msgs[0]["role"] != "assistant":
        raise RecordError("bad_completion", f"{where}: a completion must start with an assistant turn")
    check_messages(msgs, where)
    return msgs


def _same(a: list[dict], b: list[dict]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _row(system, prompt, chosen, rejected, rec, **extra) -> dict:
    check_messages(prompt, "prompt", need_assistant=False)
    if prompt[-1]["role"] == "assistant":
        raise RecordError("bad_prompt", "prompt: must end with a user or tool turn")
    if _same(chosen, rejected):
        raise RecordError("identical_pair", "chosen and rejected are identical")
    return {
        "kind": "preference",
        "system": system,
        "messages": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "tools": tools_json(rec.get("tools")),
        "id": rec.get("id"),
        **extra,
    }


# ---------------------------------------------------------------- ranked responses


def convert_ranked(rec: dict, options: FormatOptions) -> list[dict]:
    system, prompt = _prompt(rec.get("context", rec.get("prompt")), "context")
    responses = rec.get("responses")
    if not isinstance(responses, list):
        raise RecordError("bad_field", "responses: expected a list of {text, rank}")
    ranked = []
    for i, r in enumerate(responses):
        if (
            not isinstance(r, dict)
            or isinstance(r.get("rank"), bool)
            or not isinstance(r.get("rank"), (int, float))
        ):
            raise RecordError("bad_field", f"responses[{i}]: expected {{text, rank}} with a numeric rank")
        ranked.append((r["rank"], i, _completion(r.get("text"), f"responses[{i}].text")))
    ranks = sorted({r for r, _, _ in ranked})
    if len(ranks) < 2:
        raise RecordError(
            "no_preference_pair", f"{len(ranked)} response(s) with {len(ranks)} distinct rank(s)"
        )
    if options.preference_pairs == "all_ordered":
        pairs = [(a, b) for a in ranked for b in ranked if a[0] < b[0]]
    else:
        best = [a for a in ranked if a[0] == ranks[0]]
        pairs = [(a, b) for a in best for b in ranked if b[0] > ranks[0]]
    return [
        _row(
            system,
            prompt,
            a[2],
            b[2],
            rec,
            id_suffix=f"r{a[1]}>r{b[1]}",
            meta={"chosen_rank": a[0], "rejected_rank": b[0]},
        )
        for a, b in pairs
    ]


def detect_ranked(rec: dict) -> bool:
    return isinstance(rec.get("responses"), list) and ("context" in rec or "prompt" in rec)


# ---------------------------------------------------------------- prompt / chosen / rejected


def convert_pcr(rec: dict, options: FormatOptions) -> list[dict]:
    system, prompt = _prompt(rec.get("prompt"), "prompt")
    return [
        _row(
            system,
            prompt,
            _completion(rec.get("chosen"), "chosen"),
            _completion(rec.get("rejected"), "rejected"),
            rec,
        )
    ]


def detect_pcr(rec: dict) -> bool:
    return "prompt" in rec and "chosen" in rec and "rejected" in rec


# ---------------------------------------------------------------- ShareGPT preference


def convert_sharegpt_pref(rec: dict, options: FormatOptions) -> list[dict]:
    system, prompt = convert_turns(rec.get("conversations"))
    if rec.get("system") not in (None, ""):
        system = require_str(rec["system"], "system")
    for key in ("chosen", "rejected"):
        if not isinstance(rec.get(key), dict):
            raise RecordError("bad_field", f"{key}: expected a {{from, value}} object")
    return [
        _row(
            system,
            prompt,
            _completion(rec["chosen"], "chosen"),
            _completion(rec["rejected"], "rejected"),
            rec,
        )
    ]


def detect_sharegpt_pref(rec: dict) -> bool:
    return isinstance(rec.get("conversations"), list) and "chosen" in rec and "rejected" in rec


# ---------------------------------------------------------------- two full conversations


def _split_shared(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Longest shared prefix ending in a user/tool turn -> (prompt, chosen tail, rejected tail)."""
    n = 0
    while n < min(len(chosen), len(rejected)) and _same([chosen[n]], [rejected[n]]):
        n += 1
    while n > 0 and chosen[n - 1]["role"] == "assistant":
        n -= 1
    if n == 0:
        raise RecordError("no_shared_prompt", "chosen and rejected share no prompt")
    return chosen[:n], chosen[n:], rejected[n:]


def convert_chosen_rejected_messages(rec: dict, options: FormatOptions) -> list[dict]:
    sys_c, chosen = convert_messages(rec.get("chosen_messages"), "chosen_messages")
    sys_r, rejected = convert_messages(rec.get("rejected_messages"), "rejected_messages")
    if sys_c != sys_r:
        raise RecordError("bad_field", "chosen_messages and rejected_messages have different system prompts")
    prompt, c, r = _split_shared(chosen, rejected)
    return [
        _row(
            sys_c,
            prompt,
            _completion_msgs(c, "chosen_messages"),
            _completion_msgs(r, "rejected_messages"),
            rec,
        )
    ]


def _completion_msgs(msgs: list[dict], where: str) -> list[dict]:
    if not msgs or msgs[0]["role"] != "assistant":
        raise RecordError("bad_completion", f"{where}: no assistant completion after the shared prompt")
    check_messages(msgs, where)
    return msgs


def detect_chosen_rejected_messages(rec: dict) -> bool:
    return isinstance(rec.get("chosen_messages"), list) and isinstance(rec.get("rejected_messages"), list)


# ---------------------------------------------------------------- HH-RLHF transcripts

_HH_TURN = re.compile(r"\n\n(Human|Assistant):[ \t]?")


def parse_hh(text: Any, where: str) -> list[dict]:
    """``\\n\\nHuman: … \\n\\nAssistant: …`` -> messages."""
    text = require_str(text, where)
    parts = _HH_TURN.split(text)
    if parts[0].strip() or len(parts) < 3:
        raise RecordError("bad_transcript", f"{where}: expected turns starting with '\\n\\nHuman:'")
    out = []
    for speaker, body in zip(parts[1::2], parts[2::2], strict=True):
        out.append(message(canonical_role(speaker, where), body.strip()))
    return out


def convert_hh(rec: dict, options: FormatOptions) -> list[dict]:
    chosen, rejected = parse_hh(rec.get("chosen"), "chosen"), parse_hh(rec.get("rejected"), "rejected")
    if _same(chosen, rejected):
        raise RecordError("identical_pair", "chosen and rejected transcripts are identical")
    prompt, c, r = _split_shared(chosen, rejected)
    return [_row(None, prompt, _completion_msgs(c, "chosen"), _completion_msgs(r, "rejected"), rec)]


def detect_hh(rec: dict) -> bool:
    c = rec.get("chosen")
    return (
        "prompt" not in rec
        and isinstance(c, str)
        and isinstance(rec.get("rejected"), str)
        and "\n\nHuman:" in c
    )


RANKED = Adapter("ranked_responses", detect_ranked, convert_ranked, priority=22)
PROMPT_CHOSEN_REJECTED = Adapter("prompt_chosen_rejected", detect_pcr, convert_pcr, priority=24)
SHAREGPT_PREFERENCE = Adapter("sharegpt_preference", detect_sharegpt_pref, convert_sharegpt_pref, priority=20)
CHOSEN_REJECTED_MESSAGES = Adapter(
    "chosen_rejected_messages", detect_chosen_rejected_messages, convert_chosen_rejected_messages, priority=21
)
HH_RLHF = Adapter("hh_rlhf", detect_hh, convert_hh, priority=23)
