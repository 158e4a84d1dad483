"""Source-format adapters and per-file format detection.

Each adapter (see ``base.Adapter``) turns a source record into canonical rows or a
``RecordError``. ``detect_format`` picks, for a sample of a file's records, the
adapter whose ``detect`` matches the most records (ties: the more specific one).
"""

from __future__ import annotations

from include.formats import instruct, oasst, openai, preference, sharegpt
from include.formats.base import Adapter

ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        oasst.TREE,
        oasst.MESSAGE_EXPORT,
        oasst.FLAT,
        preference.SHAREGPT_PREFERENCE,
        preference.CHOSEN_REJECTED_MESSAGES,
        preference.RANKED,
        preference.HH_RLHF,
        preference.PROMPT_CHOSEN_REJECTED,
        instruct.KTO,
        instruct.SELF_INSTRUCT,
        sharegpt.ADAPTER,
        openai.ADAPTER,
        instruct.ALPACA,
        instruct.TEXT,
    )
}


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; known: {', '.join(sorted(ADAPTERS))}") from None


def detect_format(records: list[dict]) -> str | None:
    """The adapter matching most of ``records`` (ties: lower priority wins); None if none match."""
    best: tuple[int, int, str] | None = None
    for a in ADAPTERS.values():
        hits = 0
        for rec in records:
            try:
                hits += bool(a.detect(rec))
            except Exception:  # a detector must never fail ingest
                continue
        if hits and (best is None or (-hits, a.priority) < (best[0], best[1])):
            best = (-hits, a.priority, a.name)
    return best[2] if best else None
