"""The loss-mask check run on every tokenized build: supervised spans must be assistant turns only.

A chat template whose ``{% generation %}`` markers wrap the wrong turns trains the model to
write the user's side (axolotl #1761, #2089). The check decodes the supervised spans (runs of
``labels != -100``) of a sample of examples and compares their text with the example's turns,
each normalised the same way (tokenized and decoded alone, whitespace removed, so a tokenizer
that cannot round-trip a character does not raise a false alarm). An example fails when

* a system / user / tool turn's text lies under the labels (and is not also assistant text), or
* a supervised span of :data:`MIN_SPAN_CHARS` or more lies inside such a turn only, or
* nothing of its (untruncated) assistant turns is supervised.

:func:`check_masks` raises :class:`MaskError` naming the example and the offending text.
"""

from __future__ import annotations

import re

from include.training.dataset import DatasetError

#: a supervised span this long (normalised characters) found only in a non-assistant turn fails
MIN_SPAN_CHARS = 16
_WS = re.compile(r"\s+")


class MaskError(DatasetError):
    """A tokenized example supervises tokens outside its assistant turns."""


def supervised_spans(input_ids: list[int], labels: list[int]) -> list[list[int]]:
    """Contiguous runs of supervised token ids."""
    spans, cur = [], []
    for tok, label in zip(input_ids, labels, strict=True):
        if label != -100:
            cur.append(tok)
        elif cur:
            spans.append(cur)
            cur = []
    if cur:
        spans.append(cur)
    return spans


def _norm(tokenizer, text: str) -> str:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return _WS.sub("", tokenizer.decode(ids, skip_special_tokens=True))


def _decode(tokenizer, ids: list[int]) -> str:
    return _WS.sub("", tokenizer.decode(ids, skip_special_tokens=True))


def _assistant_text(m: dict) -> str:
    parts = [m.get("content") or "", m.get("reasoning_content") or ""]
    for call in m.get("tool_calls") or []:
        fn = call.get("function") or {}
        parts += [fn.get("name") or "", str(fn.get("arguments") or "")]
    return "\n".join(p for p in parts if p)


def check_example(example: dict, row: dict, tokenizer, truncated: bool) -> str | None:
    """Why ``row`` (tokens of ``example``) supervises non-assistant text, or None when it does not."""
    spans = [_decode(tokenizer, s) for s in supervised_spans(row["input_ids"], row["labels"])]
    supervised = "".join(spans)
    assistant = [
        _norm(tokenizer, _assistant_text(m)) for m in example["messages"] if m["role"] == "assistant"
    ]
    assistant_all = "\n".join(assistant)
    for m in example["messages"]:
        if m["role"] == "assistant":
            continue
        text = _norm(tokenizer, m.get("content") or "")
        if text and text in supervised and text not in assistant_all:
            return f"the {m['role']} turn {m.get('content')[:80]!r} is under labels"
        for span in spans:
            if len(span) >= MIN_SPAN_CHARS and span in text and span not in assistant_all:
                return f"supervised text {span[:80]!r} comes from the {m['role']} turn"
    if not truncated and supervised and not any(a and (a in supervised) for a in assistant):
        return f"no assistant turn is under labels (supervised: {supervised[:80]!r})"
    return None


def sample_indices(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``n`` (all when ``k >= n``)."""
    if k <= 0 or n == 0:
        return []
    if k >= n:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)}) if k > 1 else [0]


def check_masks(
    examples: list[dict], rows: list[dict | None], tokenizer, max_length: int, sample: int
) -> int:
    """Check a sample of (example, unpacked token row) pairs; returns how many were checked.

    ``rows[i]`` is None for an example dropped for having no supervised token.
    """
    checked = 0
    for i in sample_indices(len(examples), sample):
        row = rows[i]
        if row is None:
            continue
        why = check_example(examples[i], row, tokenizer, row["full_length"] > max_length)
        if why:
            raise MaskError(
                f"loss-mask check failed for example {examples[i].get('id')!r}: {why}; the chat template's "
                "{% generation %} markers must wrap assistant turns only"
            )
        checked += 1
    return checked
