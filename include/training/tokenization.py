"""Step 2 of the training set, in the training process (needs the tokenizer): the chat template,
and the tokens each trainer takes.

:func:`resolve_chat_template` picks the template; :func:`tokenize_sft` computes ``labels``
itself from the template's ``{% generation %}`` assistant mask, so that system/user/tool
tokens get ``-100`` (trl trains every token of a ``messages`` example unless told otherwise);
:func:`fit_prompt` drops the oldest turns of a prompt that is too long; reward pairs are
tokenized by :func:`tokenized_reward_dataset`. Step 1 is :mod:`include.training.dataset`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from include.training.dataset import DatasetError

TEMPLATES_DIR = Path(__file__).with_name("chat_templates")
DEFAULT_TEMPLATE = "llmops_chatml"


def template_names() -> list[str]:
    """Named templates: the shipped ones and trl's training templates."""
    names = sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))
    try:
        import trl

        trl_dir = Path(trl.__file__).with_name("chat_templates")
        names += sorted(p.stem for p in trl_dir.glob("*.jinja"))
    except ImportError:  # pragma: no cover
        pass
    return names


def load_named_template(name: str) -> str:
    path = TEMPLATES_DIR / f"{name}.jinja"
    if path.exists():
        return path.read_text()
    import trl

    path = Path(trl.__file__).with_name("chat_templates") / f"{name}.jinja"
    if path.exists():
        return path.read_text()
    raise DatasetError(
        f"unknown chat template {name!r}; names: {', '.join(template_names())}, "
        "or give an inline Jinja template"
    )


def has_generation_markers(template: str) -> bool:
    import re

    return re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None


def resolve_chat_template(tokenizer, setting: str | None, assistant_only_loss: bool) -> tuple[str, str]:
    """The chat template to train with and where it came from (``tokenizer``, ``named:<n>``, ``inline``).

    ``None``: the tokenizer's own template, else the shipped ``llmops_chatml``. A tokenizer
    template without ``{% generation %}`` markers is swapped for trl's training variant of
    it when trl has one (Qwen, Llama 3, Gemma, Phi...); otherwise assistant-only loss fails
    here with the fix to apply.
    """
    if setting and ("{%" in setting or "{{" in setting):
        template, source = setting, "inline"
    elif setting:
        template, source = load_named_template(setting), f"named:{setting}"
    elif getattr(tokenizer, "chat_template", None):
        template, source = tokenizer.chat_template, "tokenizer"
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()))
    else:
        template, source = load_named_template(DEFAULT_TEMPLATE), f"named:{DEFAULT_TEMPLATE}"
    if assistant_only_loss and not has_generation_markers(template):
        patched = None
        if source == "tokenizer":
            try:
                from trl.chat_template_utils import get_training_chat_template

                patched = get_training_chat_template(tokenizer)
            except Exception:  # noqa: BLE001 - trl raises for templates it does not know
                patched = None
        if patched:
            return patched, "tokenizer+trl_training_variant"
        raise DatasetError(
            f"chat template ({source}) has no {{% generation %}} markers, so assistant tokens cannot be told apart: "
            f"set data.chat_template to a template with markers (e.g. {DEFAULT_TEMPLATE}) or "
            "data.assistant_only_loss: false to train on every token"
        )
    return template, source


def template_hash(template: str) -> str:
    return hashlib.sha256(template.encode()).hexdigest()[:16]


def tokenize_sft(
    example: dict, tokenizer, template: str, max_length: int, assistant_only_loss: bool = True
) -> dict:
    """``input_ids`` and ``labels`` for one SFT example; labels are -100 outside assistant turns.

    Truncation keeps the start (like trl's ``keep_start``).
    """
    out = tokenizer.apply_chat_template(
        example["messages"],
        tools=example.get("tools") or None,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=assistant_only_loss,
    )
    ids = list(out["input_ids"])
    if assistant_only_loss:
        mask = list(out["assistant_masks"])
        labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
    else:
        labels = list(ids)
    return {"input_ids": ids[:max_length], "labels": labels[:max_length], "full_length": len(ids)}


def tokenize_examples(
    examples: list[dict], tokenizer, template: str, max_length: int, assistant_only_loss: bool
) -> tuple[list[dict | None], dict]:
    """One token row per example (None for an example left with no trained token, e.g. the answer
    truncated away) and the token statistics: examples, tokens, trained (supervised) tokens,
    truncated examples and tokens cut, per source."""
    rows: list[dict | None] = []
    dropped = total = trained = truncated = cut = 0
    by_source: dict[str, dict] = {}
    for ex in examples:
        tok = tokenize_sft(ex, tokenizer, template, max_length, assistant_only_loss)
        n_trained = sum(1 for label in tok["labels"] if label != -100)
        if n_trained == 0:
            dropped += 1
            rows.append(None)
            continue
        truncated += tok["full_length"] > max_length
        cut += max(0, tok["full_length"] - max_length)
        total += len(tok["input_ids"])
        trained += n_trained
        src = by_source.setdefault(str(ex.get("source")), {"examples": 0, "tokens": 0, "tokens_trained": 0})
        src["examples"] += 1
        src["tokens"] += len(tok["input_ids"])
        src["tokens_trained"] += n_trained
        rows.append(tok)
    kept = len(rows) - dropped
    stats = {
        "examples": kept,
        "dropped_no_trained_tokens": dropped,
        "truncated": truncated,
        "truncated_tokens": cut,
        "truncated_share": round(truncated / kept, 4) if kept else 0.0,
        "tokens_total": total,
        "tokens_trained": trained,
        "pct_tokens_trained": round(100.0 * trained / total, 2) if total else 0.0,
        "by_source": dict(sorted(by_source.items())),
    }
    return rows, stats


def tokenized_sft_dataset(
    examples: list[dict], tokenizer, template: str, max_length: int, assistant_only_loss: bool
):
    """A ``datasets.Dataset`` of input_ids/labels plus token statistics (:func:`tokenize_examples`)."""
    from datasets import Dataset

    rows, stats = tokenize_examples(examples, tokenizer, template, max_length, assistant_only_loss)
    kept = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows if r is not None]
    if not kept:
        raise DatasetError(f"no SFT example has a trained token within max_length={max_length}")
    return Dataset.from_list(kept), stats


def _ids(msgs: list[dict], tokenizer, template: str, tools, add_generation_prompt: bool = False) -> list:
    """Token ids of ``msgs`` rendered with ``template``."""
    return tokenizer.apply_chat_template(
        msgs,
        tools=tools,
        chat_template=template,
        tokenize=True,
        return_dict=True,
        add_generation_prompt=add_generation_prompt,
    )["input_ids"]


def _token_len(msgs: list[dict], tokenizer, template: str, tools, add_generation_prompt: bool) -> int:
    return len(_ids(msgs, tokenizer, template, tools, add_generation_prompt))


def fit_prompt(
    prompt: list[dict], tokenizer, template: str, budget: int, tools=None
) -> tuple[list[dict], bool]:
    """Drop the oldest non-system turns until the rendered prompt fits ``budget`` tokens.

    The system turn and the last turn are always kept. Returns the prompt and whether it
    fits now (a single huge last turn may still not fit).
    """
    msgs = list(prompt)
    while _token_len(msgs, tokenizer, template, tools, True) > budget:
        first = 1 if msgs and msgs[0]["role"] == "system" else 0
        if len(msgs) - first <= 1:
            return msgs, False
        del msgs[first]
        # a conversation must not start with a tool result or an assistant turn
        while len(msgs) - first > 1 and msgs[first]["role"] in ("tool", "assistant"):
            del msgs[first]
    return msgs, True


def for_trl(example: dict) -> dict:
    """A conversational example as trl takes it in a ``datasets.Dataset``: ``tools`` as a JSON
    string (trl decodes it) and tool-call arguments as JSON strings (Arrow cannot hold
    free-form argument objects; the shipped template writes strings verbatim)."""
    out = {}
    for key in ("prompt", "chosen", "rejected", "messages"):
        if key in example:
            out[key] = [_flat_message(m) for m in example[key]]
    out["tools"] = json.dumps(example["tools"]) if example.get("tools") else None
    return out


def _flat_message(m: dict) -> dict:
    out = {"role": m["role"], "content": m.get("content") or ""}
    if m.get("tool_calls"):
        out["tool_calls"] = [
            {
                "id": c.get("id"),
                "type": "function",
                "function": {
                    "name": c["function"]["name"],
                    "arguments": c["function"]["arguments"]
                    if isinstance(c["function"]["arguments"], str)
                    else json.dumps(c["function"]["arguments"], ensure_ascii=False),
                },
            }
            for c in m["tool_calls"]
        ]
    if m.get("tool_call_id"):
        out["tool_call_id"] = m["tool_call_id"]
    return out


def completion_ids(
    prompt: list[dict], completion: list[dict], tokenizer, template: str, tools=None
) -> tuple[list[int], list[int]]:
    """Token ids of the prompt (with generation prompt) and of the completion after it."""
    p = _ids(prompt, tokenizer, template, tools, add_generation_prompt=True)
    full = _ids(prompt + completion, tokenizer, template, tools)
    n = 0
    while n < min(len(p), len(full)) and p[n] == full[n]:
        n += 1
    return list(full[:n]), list(full[n:])


def truncate_pair(prompt: list[int], completion: list[int], max_length: int) -> list[int]:
    """Fit prompt + completion in ``max_length``: keep the end of the prompt (most recent turns)
    and the start of the completion, giving the prompt at least half when both are long."""
    if len(prompt) + len(completion) <= max_length:
        return prompt + completion
    keep_prompt = min(len(prompt), max(max_length // 2, max_length - len(completion)))
    keep_completion = max_length - keep_prompt
    return (prompt[-keep_prompt:] if keep_prompt else []) + completion[:keep_completion]


def tokenized_reward_dataset(examples: list[dict], tokenizer, template: str, max_length: int):
    """``chosen_ids`` / ``rejected_ids`` (prompt + completion, truncated by :func:`truncate_pair`)."""
    from datasets import Dataset

    rows, truncated = [], 0
    for ex in examples:
        tools = ex.get("tools") or None
        p, c = completion_ids(ex["prompt"], ex["chosen"], tokenizer, template, tools)
        _, r = completion_ids(ex["prompt"], ex["rejected"], tokenizer, template, tools)
        truncated += (len(p) + max(len(c), len(r))) > max_length
        rows.append(
            {"chosen_ids": truncate_pair(p, c, max_length), "rejected_ids": truncate_pair(p, r, max_length)}
        )
    if not rows:
        raise DatasetError("no preference pairs to train the reward model on")
    return Dataset.from_list(rows), {"examples": len(rows), "truncated": truncated}
