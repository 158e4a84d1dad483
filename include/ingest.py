"""Ingest one source file: parse, detect its format, convert to canonical rows.

Pure Python (no Spark): the Spark ingest job hands each file to
:func:`convert_file`. Every *source record* (JSONL line, JSON array element, Parquet
row) ends either as >= 1 canonical row or as one reject row naming the file, the
line and the reason; :class:`FileReport` counts both so the run can prove it.
"""

from __future__ import annotations

import fnmatch
import logging
from collections import Counter
from dataclasses import dataclass, field

from include.config.validate import MAX_TEXT_CHARS
from include.formats import ADAPTERS, detect_format
from include.formats.base import FormatOptions, RecordError, canonical_json, finalize
from include.formats.reader import MAX_JSON_DEPTH, ParseError, iter_records, safe_text
from include.schema import column_names, reject_fields

log = logging.getLogger(__name__)

REJECT_COLUMNS = column_names(reject_fields())
__all__ = ["FileReport", "ParseError", "RecordLimits", "convert_file", "convert_records", "iter_records"]


@dataclass(frozen=True)
class RecordLimits:
    """Per-record checks of ingest (``ingest`` settings in include/config/default.yaml)."""

    max_text_chars: int | None = MAX_TEXT_CHARS  # a row whose ``text`` is longer is rejected as ``too_long``
    max_json_depth: int = MAX_JSON_DEPTH  # deeper records are ``invalid_json``
    require_user_turn: bool = True  # a conversation without a user message is ``no_user_turn``

    @classmethod
    def from_config(cls, ing) -> RecordLimits:
        return cls(ing.max_text_chars, ing.max_json_depth, ing.require_user_turn)

    def check(self, row: dict) -> None:
        """Raise RecordError when a finished canonical row breaks a limit."""
        if self.max_text_chars is not None and len(row["text"]) > self.max_text_chars:
            raise RecordError(
                "too_long",
                f"text has {len(row['text'])} characters > ingest.max_text_chars {self.max_text_chars}",
            )
        msgs = row.get("messages") or []
        if (
            self.require_user_turn
            and row["kind"] != "pretrain"
            and not any(m["role"] == "user" for m in msgs)
        ):
            raise RecordError(
                "no_user_turn",
                "conversation has no user turn (ingest.require_user_turn: false keeps it; "
                "the quality filter then flags it)",
            )


@dataclass
class FileReport:
    """What ingest did with one file."""

    file: str
    format: str | None
    records: int = 0  # source records seen (lines / elements / rows, blank lines excluded)
    converted: int = 0  # records that produced >= 1 row
    rejected: int = 0  # records that went to rejects
    rows: int = 0  # canonical rows produced (>= converted: OASST paths, preference pairs)
    reasons: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "format": self.format,
            "records": self.records,
            "converted": self.converted,
            "rejected": self.rejected,
            "rows": self.rows,
            "rejected_by_reason": dict(sorted(self.reasons.items())),
        }


def reject_row(
    *,
    source: str,
    source_file: str,
    line: int,
    reason: str,
    detail: str,
    raw: str,
    fmt: str | None,
    stage: str = "ingest",
) -> dict:
    row = dict.fromkeys(REJECT_COLUMNS)
    row.update(
        source=source,
        source_file=source_file,
        line=int(line),
        format=fmt,
        stage=stage,
        reason=reason,
        detail=detail,
        raw=raw,
    )
    return row


def choose_format(relative: str, configured: str, per_file: dict[str, str]) -> str | None:
    """Configured format for a file: a per-file glob override, then the global setting."""
    for pattern, fmt in per_file.items():
        if fnmatch.fnmatch(relative, pattern):
            return fmt
    return None if configured == "auto" else configured


def convert_file(
    uri: str,
    relative: str,
    *,
    s3_endpoint: str | None = None,
    extra_fields: dict | None = None,
    limits: RecordLimits = RecordLimits(),
    **settings,
) -> tuple[list[dict], list[dict], FileReport]:
    """Convert one file. Returns (canonical rows, reject rows, report). Never raises for bad data.

    ``extra_fields`` (e.g. a Delta file's partition values, absent from its Parquet data)
    are added to every record that lacks them; ``settings`` (``source``, ``fmt``, ...) are
    those of :func:`convert_records`.
    """
    records = list(iter_records(uri, s3_endpoint, limits.max_json_depth))
    if extra_fields:
        records = [(ln, {**extra_fields, **r} if isinstance(r, dict) else r) for ln, r in records]
    return convert_records(records, relative, limits=limits, **settings)


def convert_records(
    records: list[tuple[int, dict | ParseError]],
    relative: str,
    *,
    source: str,
    fmt: str | None = None,
    options: FormatOptions = FormatOptions(),
    detect_sample: int = 50,
    max_raw_chars: int = 4000,
    limits: RecordLimits = RecordLimits(),
) -> tuple[list[dict], list[dict], FileReport]:
    """Convert the ``(line, record)`` pairs of one source file (see :func:`convert_file`).

    Returns (canonical rows, reject rows, report); bad records become rejects, never errors.
    """
    if fmt is None:
        sample = [r for _, r in records if isinstance(r, dict)][:detect_sample]
        fmt = detect_format(sample)
    report = FileReport(file=relative, format=fmt)
    rows: list[dict] = []
    rejects: list[dict] = []

    def raw_of(rec) -> str:
        text = rec.raw if isinstance(rec, ParseError) else canonical_json(rec)
        return safe_text(text[:max_raw_chars])

    def reject(line: int, rec, reason: str, detail: str) -> None:
        report.rejected += 1
        report.reasons[reason] += 1
        rejects.append(
            reject_row(
                source=source,
                source_file=relative,
                line=line,
                reason=reason,
                detail=safe_text(f"{relative}:{line}: {detail}"),
                raw=raw_of(rec),
                fmt=fmt,
            )
        )

    parsed: list[tuple[int, dict]] = []
    for line, rec in records:
        report.records += 1
        if isinstance(rec, ParseError):
            reject(line, rec, rec.reason, rec.detail)
        elif fmt is None:
            reject(
                line,
                rec,
                "unknown_format",
                f"no known format matches this file; known: {', '.join(sorted(ADAPTERS))}",
            )
        else:
            parsed.append((line, rec))
    if fmt is None or not parsed:
        _log_report(report)
        return rows, rejects, report

    adapter = ADAPTERS[fmt]
    by_line = dict(parsed)

    def emit(line: int, partials: list[dict]) -> int:
        """Finalize partial rows of one record; returns how many were made."""
        key = canonical_json(by_line[line])
        done = [
            finalize(p, fmt=fmt, source=source, source_file=relative, line=line, record_key=key)
            for p in partials
        ]
        for row in done:
            limits.check(row)
        rows.extend(done)
        return len(done)

    if adapter.grouped:
        result = adapter.convert_file(parsed, options)
        done_lines: set[int] = set()
        failed: dict[int, RecordError] = {}
        for line, partial in result.rows:
            try:
                report.rows += emit(line, [partial])
                done_lines.add(line)
            except RecordError as err:
                failed.setdefault(line, err)
        # a line is rejected only when none of its rows survived (it is counted once either way)
        for line, err in [*failed.items(), *result.rejects]:
            if line in done_lines:
                continue
            reject(line, by_line[line], err.reason, err.detail or str(err))
        # grouped adapters account for every line: a line not rejected was consumed by >= 1 row
        report.converted += len(parsed) - len({ln for ln, _ in result.rejects} | (set(failed) - done_lines))
    else:
        for line, rec in parsed:
            try:
                partials = adapter.convert(rec, options)
                if not partials:
                    raise RecordError("no_rows", "record produced no rows")
                n = emit(line, partials)
            except RecordError as err:
                reject(line, rec, err.reason, err.detail or str(err))
                continue
            except Exception as exc:  # an adapter bug must not fail the run: the record is rejected
                log.exception("adapter %s failed on %s:%s", fmt, relative, line)
                reject(line, rec, "adapter_error", f"{type(exc).__name__}: {exc}")
                continue
            report.converted += 1
            report.rows += n
    _log_report(report)
    return rows, rejects, report


def _log_report(r: FileReport) -> None:
    log.info(
        "ingest %s: format=%s records=%d converted=%d rejected=%d rows=%d %s",
        r.file,
        r.format,
        r.records,
        r.converted,
        r.rejected,
        r.rows,
        dict(r.reasons) or "",
    )
