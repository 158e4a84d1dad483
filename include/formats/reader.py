"""Read one source file into ``(line, record)`` pairs; never raises for bad bytes.

Every failure becomes a :class:`ParseError` at the line (or offset) where it happened,
and whatever was read before it is kept:

- an unreadable file (a text file named ``.parquet``, a permission error) -> ``unreadable_file``
  at line 0 (nothing read) or after the last record read;
- a corrupt or truncated ``.gz`` -> the lines decompressed before the damage, then one
  ``bad_gzip`` naming the compressed byte offset;
- a line that is not UTF-8 -> ``bad_utf8``; not JSON, or nested deeper than ``max_depth`` ->
  ``invalid_json``; a string holding a lone UTF-16 surrogate (``"\\ud800"``, which no
  Parquet/Arrow string can store) -> ``bad_unicode`` naming the field.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from include import storage

#: default nesting limit of a source record (objects + arrays); deeper lines are ``invalid_json``
MAX_JSON_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")
_GZIP_CHUNK = 1 << 12  # the offset of a gzip error is known to this many bytes


@dataclass
class ParseError:
    """A source record that could not be read (not UTF-8, not JSON, unreadable file...)."""

    reason: str
    detail: str
    raw: str


def safe_text(s: str) -> str:
    """``s`` with lone surrogates replaced by U+FFFD (so rejects can always be written)."""
    return _SURROGATE.sub("\ufffd", s) if s else s


def check_value(obj, max_depth: int = MAX_JSON_DEPTH) -> ParseError | None:
    """A ParseError when ``obj`` nests deeper than ``max_depth`` or holds a lone surrogate."""
    stack = [(obj, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            m = _SURROGATE.search(value)
            if m:
                return ParseError(
                    "bad_unicode",
                    f"lone UTF-16 surrogate U+{ord(m.group()):04X} in {path or 'the record'} at char {m.start()}",
                    "",
                )
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > max_depth:
            return ParseError("invalid_json", f"nested deeper than {max_depth} levels at {path or '$'}", "")
        if isinstance(value, dict):
            for k, v in value.items():
                if _SURROGATE.search(k):
                    return ParseError("bad_unicode", f"lone UTF-16 surrogate in key {safe_text(k)!r}", "")
                stack.append((v, depth + 1, f"{path}.{k}" if path else k))
        else:
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value))
    return None


def _decode(raw: bytes) -> str | ParseError:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParseError(
            "bad_utf8", f"invalid UTF-8 at byte {exc.start}: {exc.reason}", raw.decode("utf-8", "replace")
        )


def _loads(text: str, max_depth: int):
    """``json.loads`` whose failures (syntax, recursion) are ParseErrors."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return ParseError("invalid_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}", text)
    except RecursionError:
        return ParseError("invalid_json", f"nested deeper than {max_depth} levels (recursion limit)", text)


def _parse_object(text: str, max_depth: int) -> dict | ParseError:
    obj = _loads(text, max_depth)
    if isinstance(obj, ParseError):
        return obj
    if not isinstance(obj, dict):
        return ParseError("not_an_object", f"expected a JSON object, got {type(obj).__name__}", text)
    bad = check_value(obj, max_depth)
    if bad:
        bad.raw = text
        return bad
    return obj


def gunzip(data: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member of ``data``; on damage return what came before it and
    an error naming the compressed byte offset (None when the stream is whole)."""
    out, pos = [], 0
    while pos < len(data):
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        start = pos
        try:
            while pos < len(data) and not d.eof:
                chunk = data[pos : pos + _GZIP_CHUNK]
                out.append(d.decompress(chunk))
                pos += len(chunk)
        except zlib.error as exc:
            end = min(pos + _GZIP_CHUNK, len(data))
            return b"".join(out), f"corrupt gzip data in compressed bytes {pos}-{end}: {exc}"
        if not d.eof:
            out.append(d.flush())
            return b"".join(out), f"truncated gzip: stream ends at compressed byte {pos} before its end"
        pos -= len(d.unused_data)
        if not data[pos:].strip(b"\0"):
            break
        if pos == start:  # no progress: not gzip
            return b"".join(out), f"not gzip data at compressed byte {pos}"
    return b"".join(out), None


def iter_records(
    uri: str, s3_endpoint: str | None = None, max_depth: int = MAX_JSON_DEPTH
) -> Iterator[tuple[int, dict | ParseError]]:
    """Yield ``(line, record)`` for every source record; unreadable ones as ParseError.

    ``line`` is the 1-based line (JSONL), element (JSON array) or row (Parquet) number;
    0 stands for the whole file.
    """
    last = 0
    try:
        for line, rec in _iter_file(uri, s3_endpoint, max_depth):
            last = line
            yield line, rec
    except Exception as exc:  # any reader failure: the file (from here on) is a reject, the run goes on
        where = f"after record {last}" if last else "nothing read"
        yield (
            last + 1 if last else 0,
            ParseError("unreadable_file", f"cannot read file ({where}): {type(exc).__name__}: {exc}", ""),
        )


def _iter_file(uri: str, s3_endpoint: str | None, max_depth: int) -> Iterator[tuple[int, dict | ParseError]]:
    name = uri.lower()
    if name.endswith(".parquet"):
        yield from _iter_parquet(uri, s3_endpoint, max_depth)
        return
    with storage.open_input(uri, s3_endpoint) as stream:
        data = stream.read()
    damage = None
    if name.endswith(".gz"):
        data, damage = gunzip(data)
        name = name[:-3]
        if damage:  # the last, partial line belongs to the damaged part
            cut = data.rfind(b"\n") + 1
            data, tail = data[:cut], data[cut:]
    if damage is None and name.endswith(".json") and data.lstrip()[:1] in (b"[", b"{"):
        whole = _parse_whole(data, max_depth)
        if whole is not None:
            yield from whole
            return
    if not damage:
        yield from _iter_jsonl(data, max_depth)
        return
    # a truncated stream is damaged only at its cut (the partial last line); corrupt data is
    # found by the CRC at the end, so there the damage starts at the first line that does not parse
    truncated = damage.startswith("truncated")
    kept = 0
    for line, rec in _iter_jsonl(data, max_depth):
        if isinstance(rec, ParseError) and not truncated:
            break
        kept = line
        yield line, rec
    lost = data.split(b"\n", kept)[-1] + tail if kept else data + tail
    yield (
        kept + 1,
        ParseError(
            "bad_gzip",
            f"{damage}; kept lines 1-{kept}, lines {kept + 1}+ ({len(lost)} decompressed bytes) lost",
            lost[:4000].decode("utf-8", "replace"),
        ),
    )


def _iter_jsonl(data: bytes, max_depth: int) -> Iterator[tuple[int, dict | ParseError]]:
    for lineno, raw in enumerate(io.BytesIO(data), start=1):
        if not raw.strip():
            continue
        text = _decode(raw.rstrip(b"\r\n"))
        yield lineno, text if isinstance(text, ParseError) else _parse_object(text, max_depth)


def _parse_whole(data: bytes, max_depth: int) -> list[tuple[int, dict | ParseError]] | None:
    """A ``.json`` file as one document: an array of records, or one record (an object).

    Returns None when the file is not one JSON document (then it is read as JSON lines);
    an array that is broken part-way is reported as such, naming the line.
    """
    text = _decode(data)
    if isinstance(text, ParseError):
        return [(0, text)]
    doc = _loads(text, max_depth)
    if isinstance(doc, ParseError):
        if text.lstrip().startswith("[") or text.count("\n") <= 1:
            doc.detail, doc.raw = f"file is not valid JSON: {doc.detail}", ""
            line = re.search(r"at line (\d+)", doc.detail)
            return [(int(line.group(1)) if line else 0, doc)]
        return None
    if isinstance(doc, dict):
        bad = check_value(doc, max_depth)
        return [(1, bad or doc)]
    return list(_array_items(doc, max_depth))


def _array_items(items: list, max_depth: int) -> Iterator[tuple[int, dict | ParseError]]:
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict):
            bad = check_value(item, max_depth - 1)
            if bad:
                bad.raw = json.dumps(item, ensure_ascii=True)[:4000]
            yield i, bad or item
        else:
            yield (
                i,
                ParseError(
                    "not_an_object",
                    f"array element {i} is a {type(item).__name__}, not an object",
                    json.dumps(item)[:200],
                ),
            )


def _iter_parquet(
    uri: str, s3_endpoint: str | None, max_depth: int
) -> Iterator[tuple[int, dict | ParseError]]:
    import pyarrow.parquet as pq

    fs, path = storage.filesystem(uri, s3_endpoint)
    row = 0
    with fs.open_input_file(path) as f:
        for batch in pq.ParquetFile(f).iter_batches(batch_size=2048):
            for rec in batch.to_pylist():
                row += 1
                yield row, check_value(rec, max_depth) or rec
