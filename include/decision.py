"""A per-row verdict, shared by every stage that keeps or rejects rows one at a time.

The rule that decides lives in ``include/`` (filters, PII policy, quality); Spark jobs only
carry the verdict: rows with a ``reason`` go to rejects with ``detail``, the rest are kept
with their ``flags`` and ``signals`` (see ``spark_jobs.common.decide``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: what a failed check does: reject the row, or keep it with a flag
ACTIONS = ("drop", "flag")


@dataclass
class Decision:
    reason: str | None = None  # reject reason code; None keeps the row
    detail: str | None = None  # human-readable why (first failing check)
    flags: list[str] = field(default_factory=list)  # checks that failed with action ``flag``
    signals: dict = field(default_factory=dict)  # measurements kept on the row (JSON)
    score: float | None = None  # a 0..1 score the stage writes to a column (quality)
    info: dict = field(default_factory=dict)  # per-row numbers the stage aggregates into stats

    @property
    def keep(self) -> bool:
        return self.reason is None

    def apply(self, action: str, reason: str, detail: str) -> None:
        """Record a failed check: the first ``drop`` sets the reason, ``flag`` adds a flag."""
        if action == "flag":
            self.flag(reason)
        elif self.reason is None:
            self.reason, self.detail = reason, detail

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)
