"""Content filters: domain rules, malicious content, inappropriate language, heuristic quality.

:class:`FilterEngine` runs a list of check objects (``include.filters.checks``: domain ->
malicious -> profanity -> quality) over a batch of canonical rows and turns their failures
into one :class:`Decision` per row: a reject reason code with a human-readable detail (the
first ``drop``), the flags of failures whose action is ``flag``, and the heuristic quality
signals. Engines (and the models they load) are cached per process (``get_filter_engine``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

from include.config.filters import FiltersConfig

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
        from include.filters.checks import build_checks

        self.cfg = cfg
        self.checks = build_checks(cfg)

    def evaluate_rows(self, rows: list[dict]) -> list[Decision]:
        """One decision per row; each check's batch step (model scores) runs once for ``rows``."""
        prepared = [c.prepare(rows) for c in self.checks]
        out = []
        for i, row in enumerate(rows):
            d = Decision()
            for check, prep in zip(self.checks, prepared, strict=True):
                d.signals = check.signals(prep[i]) or d.signals
                for f in check.failures(row, prep[i]):
                    d.apply(f.action, f.reason, f.detail)
            out.append(d)
        return out

    def evaluate(self, row: dict) -> Decision:
        return self.evaluate_rows([row])[0]
