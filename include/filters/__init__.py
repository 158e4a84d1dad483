"""Content filters: domain rules, malicious content, inappropriate language, heuristic quality.

:class:`FilterEngine` runs a list of check objects (``include.filters.checks``: domain ->
malicious -> profanity -> quality) over a batch of canonical rows and turns their failures
into one :class:`Decision` per row: a reject reason code with a human-readable detail (the
first ``drop``), the flags of failures whose action is ``flag``, and the heuristic quality
signals. Engines (and the models they load) are cached per process (``get_filter_engine``).
"""

from __future__ import annotations

from include.config.filters import FiltersConfig
from include.decision import Decision
from include.process_cache import fingerprint, process_cached

__all__ = ["Decision", "FilterEngine", "get_filter_engine"]


def get_filter_engine(cfg: FiltersConfig) -> FilterEngine:
    """The process-wide engine for ``cfg`` (built on first use, reused by every task)."""
    return process_cached("filter_engine", fingerprint(cfg), lambda: FilterEngine(cfg))


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
