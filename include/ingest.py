"""Ingest one source file: parse, detect its format, convert to canonical rows.

Pure Python (no Spark): the Spark ingest job hands each file to
:func:`convert_file`. Every *source record* (JSONL line, JSON array element, Parquet
row) ends either as >= 1 canonical row or as one reject row naming the file, the
line and the reason; :class:`FileReport` counts both so the run can prove it.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from include import storage
from include.formats import ADAPTERS, detect_format
from include.formats.base import FormatOptions, RecordError, canonical_json, finalize
from include.schema import column_names, reject_fields

log = logging.getLogger(__name__)

REJECT_COLUMNS = column_names(reject_fields())


@dataclass
class ParseError:
    """A source line that is not a JSON object (or not valid UTF-8 / JSON)."""

    reason: str
    detail: str
    raw: str


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


def _decode(raw: bytes) -> str | ParseError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParseError(
            "bad_utf8", f"invalid UTF-8 at byte {exc.start}: {exc.reason}", raw.decode("utf-8", "replace")
        )


def _parse_object(text: str) -> dict | ParseError:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return ParseError("invalid_json", f"{exc.msg} at column {exc.colno}", text)
    if not isinstance(obj, dict):
        return ParseError("not_an_object", f"expected a JSON object, got {type(obj).__name__}", text)
    return obj


def iter_records(uri: str, s3_endpoint: str | None = None) -> Iterator[tuple[int, dict | ParseError]]:
    """Yield ``(line, record)`` for every source record; unparseable ones as ParseError.

    ``line`` is the 1-based line (JSONL), element (JSON array) or row (Parquet) number.
    """
    name = uri.lower()
    if name.endswith(".parquet"):
        yield from _iter_parquet(uri, s3_endpoint)
        return
    with storage.open_input(uri, s3_endpoint) as stream:
        data = stream.read()
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            yield 0, ParseError("bad_gzip", f"cannot decompress: {exc}", "")
            return
        name = name[:-3]
    if name.endswith(".json") and data.lstrip()[:1] in (b"[", b"{"):
        whole = _parse_whole(data)
        if whole is not None:
            yield from whole
            return
    yield from _iter_jsonl(data)


def _iter_jsonl(data: bytes) -> Iterator[tuple[int, dict | ParseError]]:
    for lineno, raw in enumerate(io.BytesIO(data), start=1):
        if not raw.strip():
            continue
        text = _decode(raw.rstrip(b"\r\n"))
        yield lineno, text if isinstance(text, ParseError) else _parse_object(text)


def _parse_whole(data: bytes) -> list[tuple[int, dict | ParseError]] | None:
    """A ``.json`` file as one document: an array of records, or one record (an object).

    Returns None when the file is not one JSON document (then it is read as JSON lines);
    an array that is broken part-way is reported as such, naming the line.
    """
    text = _decode(data)
    if isinstance(text, ParseError):
        return [(0, text)]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if text.lstrip().startswith("[") or text.count("\n") <= 1:
            return [
                (
                    exc.lineno,
                    ParseError(
                        "invalid_json",
                        f"file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                        "",
                    ),
                )
            ]
        return None
    if isinstance(doc, dict):
        return [(1, doc)]
    return list(_array_items(doc))


def _array_items(items: list) -> Iterator[tuple[int, dict | ParseError]]:
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield i, item
        else:
            yield (
                i,
                ParseError(
                    "not_an_object",
                    f"array element {i} is a {type(item).__name__}, not an object",
                    json.dumps(item)[:200],
                ),
            )


def _iter_parquet(uri: str, s3_endpoint: str | None) -> Iterator[tuple[int, dict | ParseError]]:
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(uri, s3_endpoint)
    row = 0
    with fs.open_input_file(path) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=2048):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec


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
    source: str,
    fmt: str | None = None,
    options: FormatOptions = FormatOptions(),
    detect_sample: int = 50,
    max_raw_chars: int = 4000,
    s3_endpoint: str | None = None,
    extra_fields: dict | None = None,
) -> tuple[list[dict], list[dict], FileReport]:
    """Convert one file. Returns (canonical rows, reject rows, report). Never raises for bad data.

    ``extra_fields`` (e.g. a Delta file's partition values, absent from its Parquet data)
    are added to every record that lacks them.
    """
    records = list(iter_records(uri, s3_endpoint))
    if extra_fields:
        records = [(ln, {**extra_fields, **r} if isinstance(r, dict) else r) for ln, r in records]
    return convert_records(
        records,
        relative,
        source=source,
        fmt=fmt,
        options=options,
        detect_sample=detect_sample,
        max_raw_chars=max_raw_chars,
    )


def convert_records(
    records: list[tuple[int, dict | ParseError]],
    relative: str,
    *,
    source: str,
    fmt: str | None = None,
    options: FormatOptions = FormatOptions(),
    detect_sample: int = 50,
    max_raw_chars: int = 4000,
) -> tuple[list[dict], list[dict], FileReport]:
    """Convert the ``(line, record)`` pairs of one source file (see :func:`convert_file`)."""
    if fmt is None:
        sample = [r for _, r in records if isinstance(r, dict)][:detect_sample]
        fmt = detect_format(sample)
    report = FileReport(file=relative, format=fmt)
    rows: list[dict] = []
    rejects: list[dict] = []

    def raw_of(rec) -> str:
        text = rec.raw if isinstance(rec, ParseError) else canonical_json(rec)
        return text[:max_raw_chars]

    def reject(line: int, rec, reason: str, detail: str) -> None:
        report.rejected += 1
        report.reasons[reason] += 1
        rejects.append(
            reject_row(
                source=source,
                source_file=relative,
                line=line,
                reason=reason,
                detail=f"{relative}:{line}: {detail}",
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
        made = 0
        key = canonical_json(by_line[line])
        for partial in partials:
            rows.append(
                finalize(partial, fmt=fmt, source=source, source_file=relative, line=line, record_key=key)
            )
            made += 1
        return made

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
