"""Scrub every text field of canonical rows; fail closed; apply the record policy.

Fields: ``system``; per message of ``messages``, ``chosen`` and ``rejected``: ``content``,
``reasoning`` and every tool call's ``arguments`` (JSON: string leaves are scrubbed, so the
arguments stay valid JSON). ``text`` is rebuilt from the scrubbed fields when it was their
flattening, else scrubbed itself (``pretrain`` rows). A record whose analysis raises is
rejected with ``pii_error`` and its text withheld: it is never passed on unscrubbed.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field

from include.config.pii import PiiConfig
from include.pii.engine import PiiEngine, get_engine
from include.pii.operators import operator_configs
from include.validation.residual_pii import row_residual_pii

MESSAGE_LISTS = ("messages", "chosen", "rejected")
WITHHELD = ("system", "messages", "chosen", "rejected", "text", "meta", "tools")


@dataclass
class TextResult:
    text: str
    counts: Counter
    pii_chars: int


@dataclass
class Outcome:
    row: dict
    counts: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    detail: str | None = None


def chunk_spans(n: int, size: int, overlap: int, text: str = "") -> list[tuple[int, int]]:
    """``[start, end)`` windows of at most ``size`` characters, ``overlap`` shared, cut at whitespace."""
    if n <= size:
        return [(0, n)]
    spans, start = [], 0
    while start < n:
        end = min(n, start + size)
        if end < n and text:
            cut = max(text.rfind(" ", end - overlap, end), text.rfind("\n", end - overlap, end))
            end = cut + 1 if cut > start else end
        spans.append((start, end))
        if end >= n:
            break
        start = max(end - overlap, start + 1)
    return spans


def _covered(results) -> int:
    """Characters inside at least one detected span."""
    total, last = 0, -1
    for r in sorted(results, key=lambda r: r.start):
        start = max(r.start, last)
        if r.end > start:
            total += r.end - start
            last = r.end
    return total


class _Slots:
    """Where a row's texts live, so scrubbed values can be written back."""

    def __init__(self, row: dict, flatten):
        self.row = row
        self.items: list[tuple[str, object, object]] = []  # (where, container, key)
        self.json_args: list[tuple[dict, list, object]] = []  # (tool call, [parsed], original parse)
        rebuild = flatten is not None and any(row.get(k) for k in ("system", *MESSAGE_LISTS))
        self.rebuild_text = rebuild and row.get("text") == flatten(row)
        if row.get("system"):
            self.items.append(("system", row, "system"))
        for key in MESSAGE_LISTS:
            for i, m in enumerate(row.get(key) or ()):
                for f in ("content", "reasoning"):
                    if m.get(f):
                        self.items.append((f"{key}[{i}].{f}", m, f))
                for j, call in enumerate(m.get("tool_calls") or ()):
                    self._arguments(f"{key}[{i}].tool_calls[{j}].arguments", call)
        if row.get("text") and not self.rebuild_text:
            self.items.append(("text", row, "text"))

    def _arguments(self, where: str, call: dict) -> None:
        raw = call.get("arguments")
        if not raw:
            return
        try:
            parsed = json.loads(raw)
        except (TypeError, ValueError):
            self.items.append((where, call, "arguments"))
            return
        box = [copy.deepcopy(parsed)]
        self.json_args.append((call, box, parsed))
        self._leaves(where, box, 0)

    def _leaves(self, where: str, container, key) -> None:
        value = container[key]
        if isinstance(value, str) and value:
            self.items.append((where, container, key))
        elif isinstance(value, dict):
            for k in value:
                self._leaves(where, value, k)
        elif isinstance(value, list):
            for i in range(len(value)):
                self._leaves(where, value, i)

    def texts(self) -> list[str]:
        return [c[k] for _, c, k in self.items]


class Scrubber:
    """Scrubs rows with one engine and one operator set; remembers recent texts."""

    def __init__(
        self,
        cfg: PiiConfig,
        key: bytes | None = None,
        engine: PiiEngine | None = None,
        reject_residual: bool = False,
    ):
        """``reject_residual``: a row the validate gate's residual-PII check would refuse after
        scrubbing is rejected (``pii_residual``); the stage sets it from
        ``validate.check_residual_pii``."""
        self.cfg = cfg
        self.reject_residual = reject_residual
        self.engine = engine or get_engine(cfg)
        self.operators = operator_configs(cfg, self.engine.entities, key)
        self._cache: dict[str, TextResult] = {}
        try:
            from include.formats.base import flatten_text
        except ImportError:  # formats not importable: scrub `text` itself
            flatten_text = None
        self._flatten = flatten_text

    # -------------------------------------------------------------- texts
    def scrub_texts(self, texts: list[str]) -> list[TextResult | BaseException]:
        """Scrubbed text, entity counts and PII characters per text (or the exception it raised)."""
        # hits are taken now: filling the cache below may evict them before the batch returns
        hits = {t: self._cache[t] for t in texts if t in self._cache}
        todo = list(dict.fromkeys(t for t in texts if t not in hits))
        pieces, owners = [], []
        for t in todo:
            for start, end in chunk_spans(len(t), self.cfg.chunk_chars, self.cfg.chunk_overlap, t):
                pieces.append(t[start:end])
                owners.append((t, start))
        analysed = self.engine.analyze(pieces)
        per_text: dict[str, list | BaseException] = {t: [] for t in todo}
        for (t, offset), res in zip(owners, analysed, strict=True):
            if isinstance(per_text[t], BaseException):
                continue
            if isinstance(res, BaseException):
                per_text[t] = res
                continue
            for r in res:
                r.start += offset
                r.end += offset
                per_text[t].append(r)
        fresh: dict[str, TextResult | BaseException] = {}
        for t, res in per_text.items():
            fresh[t] = res if isinstance(res, BaseException) else self._anonymize(t, res)
            if not isinstance(fresh[t], BaseException) and self.cfg.cache_size:
                if len(self._cache) >= self.cfg.cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[t] = fresh[t]
        return [hits[t] if t in hits else fresh[t] for t in texts]

    def _anonymize(self, text: str, results) -> TextResult | BaseException:
        if not results:
            return TextResult(text, Counter(), 0)
        try:
            results = _dedupe(results)
            out = self.engine.anonymizer.anonymize(
                text=text, analyzer_results=results, operators=self.operators
            )
        except Exception as exc:  # noqa: BLE001 - fail closed upstream
            return exc
        # count what was found, not what was replaced: the anonymizer merges neighbours of one type
        return TextResult(out.text, Counter(r.entity_type for r in _outermost(results)), _covered(results))

    # -------------------------------------------------------------- rows
    def scrub_rows(self, rows: list[dict]) -> list[Outcome]:
        """One outcome per row: scrubbed row and counts, or a reject reason (pii_error / pii_density /
        pii_residual: what the validate gate would refuse, e.g. a Luhn-valid digit run)."""
        slots = []
        for row in rows:
            try:
                slots.append(_Slots(copy.deepcopy(row), self._flatten))
            except Exception as exc:  # noqa: BLE001 - a malformed row fails closed
                slots.append(exc)
        flat = [t for s in slots if not isinstance(s, BaseException) for t in s.texts()]
        results = iter(self.scrub_texts(flat))
        outcomes = []
        for row, s in zip(rows, slots, strict=True):
            if isinstance(s, BaseException):
                outcomes.append(self._error(row, "row", s))
                continue
            outcomes.append(self._finish(row, s, [next(results) for _ in s.items]))
        return outcomes

    def _finish(self, row: dict, s: _Slots, results: list) -> Outcome:
        counts, pii_chars, total = Counter(), 0, 0
        for (where, container, key), res in zip(s.items, results, strict=True):
            if isinstance(res, BaseException):
                return self._error(row, where, res)
            total += len(container[key])
            container[key] = res.text
            counts.update(res.counts)
            pii_chars += res.pii_chars
        for call, box, original in s.json_args:
            if box[0] != original:
                call["arguments"] = json.dumps(box[0], ensure_ascii=False)
        if s.rebuild_text:
            s.row["text"] = self._flatten(s.row)
        out = Outcome(s.row, dict(sorted(counts.items())))
        n = sum(counts.values())
        if self.cfg.max_entities is not None and n > self.cfg.max_entities:
            out.reason, out.detail = "pii_density", f"{n} PII entities > max_entities {self.cfg.max_entities}"
        elif (
            self.cfg.max_pii_share is not None
            and total
            and n >= self.cfg.share_min_entities
            and pii_chars / total > self.cfg.max_pii_share
        ):
            out.reason = "pii_density"
            out.detail = (
                f"PII is {pii_chars / total:.0%} of the text > max_pii_share {self.cfg.max_pii_share:.0%}"
            )
        elif self.reject_residual and (hit := row_residual_pii(s.row)):  # one reject here rather
            out.reason = "pii_residual"  # than the whole run's gate failing later
            out.detail = f"{hit} still matches the gate's residual-PII pattern after scrubbing"
        return out

    @staticmethod
    def _error(row: dict, where: str, exc: BaseException) -> Outcome:
        withheld = {k: (None if k in WITHHELD else v) for k, v in row.items()}
        return Outcome(
            withheld,
            {},
            "pii_error",
            f"analysis of {where} raised {type(exc).__name__}; text withheld (fail closed)",
        )


def _outermost(results):
    """Results not contained in a longer (or equal, better-scored) one."""
    ordered = sorted(results, key=lambda r: (r.start, -(r.end - r.start), -r.score))
    kept, reach = [], -1
    for r in ordered:
        if r.end <= reach:
            continue
        kept.append(r)
        reach = max(reach, r.end)
    return kept


def _dedupe(results):
    best = {}
    for r in results:
        k = (r.entity_type, r.start, r.end)
        if k not in best or r.score > best[k].score:
            best[k] = r
    return list(best.values())
