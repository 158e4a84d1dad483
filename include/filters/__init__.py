"""Content filters: domain rules, malicious content, inappropriate language, heuristic quality.

:class:`FilterEngine` turns a canonical row into a :class:`Decision`: a reject reason code
with a human-readable detail (first failing check, in the order domain -> malicious ->
profanity -> quality), the flags of checks whose action is ``flag``, and the heuristic
quality signals. Engines are cached per process (``get_filter_engine``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from include.config.filters import FiltersConfig
from include.filters import classifier, quality
from include.filters.domain import DomainRules
from include.filters.fields import scoped_texts
from include.filters.malicious import MaliciousRules
from include.filters.profanity import build_wordlist

_ENGINES: dict[str, FilterEngine] = {}
_LOCK = threading.Lock()


@dataclass
class Decision:
    reason: str | None = None
    detail: str | None = None
    flags: list[str] = field(default_factory=list)
    signals: dict = field(default_factory=dict)

    def apply(self, action: str, reason: str, detail: str) -> None:
        """Record a failed check: the first ``drop`` sets the reason, ``flag`` adds a flag."""
        if action == "flag":
            if reason not in self.flags:
                self.flags.append(reason)
        elif self.reason is None:
            self.reason, self.detail = reason, detail


def get_filter_engine(cfg: FiltersConfig) -> FilterEngine:
    key = hashlib.sha256(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    if key not in _ENGINES:
        with _LOCK:
            if key not in _ENGINES:
                _ENGINES[key] = FilterEngine(cfg)
    return _ENGINES[key]


class FilterEngine:
    def __init__(self, cfg: FiltersConfig):
        self.cfg = cfg
        m, p = cfg.malicious, cfg.profanity
        self.malicious = MaliciousRules(m.categories, m.extra_patterns) if m.enabled else None
        self.words = build_wordlist(p) if p.enabled else None
        self.domain = DomainRules(cfg.domain)

    def _classify(self, spec, scope, rows) -> list[float | None]:
        if not spec.model:
            return [None] * len(rows)
        texts = ["\n\n".join(t for _, t in scoped_texts(r, scope)) for r in rows]
        return classifier.scores(spec, texts)

    def evaluate_rows(self, rows: list[dict]) -> list[Decision]:
        m, p = self.cfg.malicious, self.cfg.profanity
        inj = self._classify(m.classifier, m.scope, rows) if m.enabled else [None] * len(rows)
        tox = self._classify(p.classifier, p.scope, rows) if p.enabled else [None] * len(rows)
        return [self.evaluate(r, i, t) for r, i, t in zip(rows, inj, tox, strict=True)]

    def evaluate(
        self, row: dict, injection_score: float | None = None, toxicity_score: float | None = None
    ) -> Decision:
        d = Decision()
        q = self.cfg.quality
        if q.enabled:
            d.signals = quality.signals(row)
        broken = self.domain.check(row)
        if broken:
            d.apply("drop", *broken)
        m = self.cfg.malicious
        if self.malicious is not None:
            for where, text in scoped_texts(row, m.scope):
                hits = self.malicious.scan(text, where)
                if hits:
                    h = hits[0]
                    rules = ", ".join(sorted({x.rule for x in hits}))
                    d.apply(m.action, h.category, f"{rules} in {where}: {h.snippet!r}")
                    break
            if injection_score is not None and injection_score >= m.classifier.threshold:
                d.apply(
                    m.action,
                    "injection_classifier",
                    f"{m.classifier.label} score {injection_score:.3f} >= {m.classifier.threshold}",
                )
        p = self.cfg.profanity
        if self.words is not None:
            found = [(where, w) for where, text in scoped_texts(row, p.scope) for w in self.words.find(text)]
            if len(found) >= p.min_matches:
                terms = sorted({w for _, w in found})
                d.apply(
                    p.action, "profanity", f"{len(found)} match(es) in {found[0][0]}: {', '.join(terms[:5])}"
                )
            if toxicity_score is not None and toxicity_score >= p.classifier.threshold:
                d.apply(
                    p.action,
                    "toxicity",
                    f"{p.classifier.label} score {toxicity_score:.3f} >= {p.classifier.threshold}",
                )
        if q.enabled:
            for reason, detail in quality.failures(d.signals, q, row.get("kind")):
                d.apply("drop" if reason in ("empty_answer", "refusal_only") else q.action, reason, detail)
        return d
