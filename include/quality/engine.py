"""The ``quality`` stage's keep / reject rules, per row: classifier threshold, judge threshold,
the policy for rows the judge cannot score, and the 0..5 -> 0..1 score scale.

1. classifier (if on): ``score < threshold`` -> ``low_quality_classifier``;
2. judge (if on) on the rest: mean criterion score / 5 < ``threshold`` -> ``low_quality``;
   an unscored row is kept with flag ``quality_unscored`` or rejected as ``unscored``
   (``unscored_policy``).

:attr:`Decision.score` = judge mean / 5 when the judge scored the row, else classifier
score / 5 (clipped to 0..1), else the row's previous ``quality``.
"""

from __future__ import annotations

import json

from include.config.quality import QualityConfig
from include.decision import Decision
from include.quality import classifier as qclf

FLAG_UNSCORED, FLAG_INVERTED = "quality_unscored", "judge_inverted_pair"
#: per-row judge counters the stage sums into stats
INFO_KEYS = (
    "calls",
    "http_attempts",
    "retries",
    "prompt_tokens",
    "completion_tokens",
    "cache_hits",
    "failures",
    "parse_failures",
    "repair_requests",
)


def classifier_scale(score: float) -> float:
    """A 0..5 classifier score as the 0..1 ``quality`` column."""
    return max(0.0, min(score / 5.0, 1.0))


class QualityEngine:
    """Decides rows with the configured classifier and judge (``judge`` built by the caller,
    once per process: see ``include.quality.judge.get_judge``)."""

    def __init__(self, cfg: QualityConfig, judge=None, model: str | None = None):
        self.cfg, self.judge, self.model = cfg, judge, model

    def decide_rows(self, rows: list[dict], budget) -> list[Decision]:
        decisions = [self._start(r) for r in rows]
        ccfg = self.cfg.classifier
        if ccfg.enabled:
            texts = [qclf.classifier_input(r, ccfg) for r in rows]
            for d, s in zip(decisions, qclf.score_texts(ccfg, texts), strict=True):
                d.signals["classifier"] = {"score": round(s, 4), "int_score": qclf.int_score(s)}
                d.score = classifier_scale(s)
                if s < ccfg.threshold:
                    d.apply("drop", "low_quality_classifier", f"classifier score {s:.2f} < {ccfg.threshold}")
        if self.judge is not None:
            todo = [(r, d) for r, d in zip(rows, decisions, strict=True) if d.keep]
            results = self.judge.score_rows([r for r, _ in todo], budget)
            for (_, d), res in zip(todo, results, strict=True):
                self._judged(d, res)
        return decisions

    @staticmethod
    def _start(row: dict) -> Decision:
        sig = row.get("signals")
        return Decision(
            flags=list(row.get("flags") or []),
            signals=json.loads(sig) if sig else {},
            score=row.get("quality"),
        )

    def _judged(self, d: Decision, res) -> None:
        jcfg = self.cfg.judge
        d.signals["judge"] = res.signals(self.model, self.judge.rubric)
        d.info = {**{k: res.tally.get(k, 0) for k in INFO_KEYS}, "answer_chars": res.answer_chars}
        if res.pair is not None:
            d.signals["judge_pair"] = res.pair
            if res.pair.get("inverted"):
                d.flag(FLAG_INVERTED)
        if res.verdict is None:
            if self.cfg.unscored_policy == "reject":
                d.apply("drop", "unscored", f"judge: {res.unscored}: {res.detail}"[:500])
            else:
                d.flag(FLAG_UNSCORED)
            return
        d.score = res.mean / 5.0
        if d.score < jcfg.threshold:
            scores = ", ".join(f"{c} {v['score']}" for c, v in res.verdict.items())
            d.apply(
                "drop",
                "low_quality",
                f"judge mean {res.mean:.2f}/5 = {res.mean / 5:.2f} < {jcfg.threshold}: {scores}",
            )
