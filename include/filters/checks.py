"""The filter families as small check objects the :class:`~include.filters.FilterEngine` runs in order.

A check has a ``name``, an optional batch step (``prepare``: model scores for a batch of
rows, computed once per batch) and ``failures(row, prepared)``: the :class:`Failure` list
of one row, each with the action (``drop`` / ``flag``) it asks for. The engine owns the
decision: it applies failures in check order (first ``drop`` wins, ``flag`` accumulates).
"""

from __future__ import annotations

from dataclasses import dataclass

from include.filters import classifier, injection, quality
from include.filters.domain import DomainRules
from include.filters.fields import scoped_texts
from include.filters.malicious import MaliciousRules
from include.filters.profanity import build_wordlist


@dataclass(frozen=True)
class Failure:
    action: str  #: drop | flag
    reason: str
    detail: str


class Check:
    name = "check"

    def prepare(self, rows: list[dict]) -> list:
        """Per-row values for :meth:`failures`, computed for the whole batch (default: none)."""
        return [None] * len(rows)

    def failures(self, row: dict, prepared) -> list[Failure]:
        raise NotImplementedError

    def signals(self, prepared) -> dict | None:
        """What the check adds to the decision's ``signals`` (default: nothing)."""
        return None


def joined(rows: list[dict], scope) -> list[str]:
    """Each row's texts in ``scope`` as one string (what a classifier hook scores)."""
    return ["\n\n".join(t for _, t in scoped_texts(r, scope)) for r in rows]


class DomainCheck(Check):
    """Length, turns, language and include / exclude rules: always ``drop``."""

    name = "domain"

    def __init__(self, cfg):
        self.rules = DomainRules(cfg)

    def failures(self, row, prepared):
        broken = self.rules.check(row)
        return [Failure("drop", *broken)] if broken else []


class MaliciousCheck(Check):
    """Pattern rules (prompt injection, XSS, SQL injection) OR the learned injection detector,
    plus the optional Hugging Face classifier hook (``injection_classifier``)."""

    name = "malicious"

    def __init__(self, cfg):
        self.cfg = cfg
        self.rules = MaliciousRules(cfg.categories, cfg.extra_patterns)
        d = cfg.detector
        #: (detector, threshold, max_windows) of each enabled learned detector, in detail order
        self.detectors = []
        # the embedding and transformer detectors need d
        specs = [spec for spec in (d, d.embedding, d.transformer) if spec.enabled] if d.enabled else []
        for spec in specs:
            det = injection.get_detector(spec.model)
            threshold = spec.threshold if spec.threshold is not None else det.threshold
            self.detectors.append((det, threshold, spec.max_windows))

    def prepare(self, rows):
        hook = (
            classifier.scores(self.cfg.classifier, joined(rows, self.cfg.scope))
            if self.cfg.classifier.model
            else None
        )
        fields = [list(scoped_texts(r, self.cfg.detector.scope)) for r in rows] if self.detectors else []
        flat = [t for f in fields for _, t in f]
        det = [[] for _ in rows]
        for detector, _, max_windows in self.detectors:  # one batched call per detector
            s = iter(detector.scores(flat, max_windows))
            for i, f in enumerate(fields):
                det[i].append([(where, next(s)) for where, _ in f])
        return [(hook[i] if hook else None, det[i]) for i in range(len(rows))]

    def _detector(self, scored: list[list[tuple[str, float]]]) -> tuple[bool, str]:
        """(any fired, detail part): per detector, its highest-scoring field and its score."""
        fired, parts = False, []
        for (detector, threshold, _), fields in zip(self.detectors, scored, strict=True):
            if not fields:
                continue
            where, s = max(fields, key=lambda x: x[1])
            hit = s >= threshold
            fired |= hit
            parts.append(
                f"detector {detector.version} {s:.3f} {'>=' if hit else '<'} {threshold:.2f} in {where}"
            )
        return fired, "; ".join(parts)

    def failures(self, row, prepared):
        hook, scored = prepared
        out, act = [], self.cfg.action
        fired, det = self._detector(scored)
        for where, text in scoped_texts(row, self.cfg.scope):
            hits = self.rules.scan(text, where)
            if hits:
                h = hits[0]
                rules = ", ".join(sorted({x.rule for x in hits}))
                detail = f"{rules} in {where}: {h.snippet!r}"
                out.append(
                    Failure(
                        act,
                        h.category,
                        f"{detail}; {det}" if det and h.category == "prompt_injection" else detail,
                    )
                )
                break
        if fired and not any(f.reason == "prompt_injection" for f in out):
            out.append(Failure(act, "prompt_injection", f"{det}; rules: no hit"))
        spec = self.cfg.classifier
        if hook is not None and hook >= spec.threshold:
            out.append(
                Failure(act, "injection_classifier", f"{spec.label} score {hook:.3f} >= {spec.threshold}")
            )
        return out


class ProfanityCheck(Check):
    """Word lists (whole words, obfuscation) plus the optional toxicity classifier hook."""

    name = "profanity"

    def __init__(self, cfg):
        self.cfg = cfg
        self.words = build_wordlist(cfg)

    def prepare(self, rows):
        spec = self.cfg.classifier
        return classifier.scores(spec, joined(rows, self.cfg.scope)) if spec.model else super().prepare(rows)

    def failures(self, row, prepared):
        c, out = self.cfg, []
        found = [(where, w) for where, text in scoped_texts(row, c.scope) for w in self.words.find(text)]
        if len(found) >= c.min_matches:
            terms = sorted({w for _, w in found})
            detail = f"{len(found)} match(es) in {found[0][0]}: {', '.join(terms[:5])}"
            out.append(Failure(c.action, "profanity", detail))
        if prepared is not None and prepared >= c.classifier.threshold:
            detail = f"{c.classifier.label} score {prepared:.3f} >= {c.classifier.threshold}"
            out.append(Failure(c.action, "toxicity", detail))
        return out


class QualityCheck(Check):
    """Heuristic signals (kept in the decision's ``signals``); what each failed threshold does
    is :func:`include.filters.quality.action_for` (empty and refusal-only answers always drop)."""

    name = "quality"

    def __init__(self, cfg):
        self.cfg = cfg

    def prepare(self, rows):
        return [quality.signals(r) for r in rows]

    def signals(self, prepared):
        return prepared

    def failures(self, row, prepared):
        return [
            Failure(quality.action_for(reason, self.cfg), reason, detail)
            for reason, detail in quality.failures(prepared, self.cfg, row.get("kind"))
        ]


def build_checks(cfg) -> list[Check]:
    """The enabled checks of a ``FiltersConfig``, in decision order."""
    checks: list[Check] = [DomainCheck(cfg.domain)]
    if cfg.malicious.enabled:
        checks.append(MaliciousCheck(cfg.malicious))
    if cfg.profanity.enabled:
        checks.append(ProfanityCheck(cfg.profanity))
    if cfg.quality.enabled:
        checks.append(QualityCheck(cfg.quality))
    return checks
