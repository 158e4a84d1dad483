"""The canonical record: one row shape every stage reads and writes.

The schema is declared once, here, as a tiny type tree (`Field`). The Arrow schema
is derived by :func:`arrow_schema`; the Spark ``StructType`` by
``spark_jobs.common.spark_schema`` from the same tree, so the two cannot drift.

Column meanings are in ``../shared/DESIGN.md`` ("The spine: one canonical record").
Extensions over that table (extend, never rename):

* ``kind``: what the row trains: ``sft`` (a conversation), ``preference``
  (``chosen``/``rejected``), ``kto`` (one completion with a boolean ``label``),
  ``pretrain`` (plain ``text``).
* ``label``: the KTO desirability label.
* ``meta``: JSON object of source fields worth keeping (language, model name, ranks…).
* ``source_file`` / ``line``: lineage of the row: file (relative to the source root)
  and 1-based line (JSONL), element (JSON array) or row (Parquet) number.
* message ``reasoning`` (a reasoning trace kept apart from the answer) and
  ``loss_weight`` (per-turn weight from the source, e.g. LLaMA-Factory v1 files).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Field:
    """One column or struct member. ``type`` is a scalar name, ``list`` or ``struct``."""

    name: str
    type: str
    nullable: bool = True
    item: Field | None = None  # element of a list
    fields: tuple[Field, ...] = ()  # members of a struct
    doc: str = ""


def _s(name: str, doc: str = "", nullable: bool = True) -> Field:
    return Field(name, "string", nullable, doc=doc)


TOOL_CALL = Field(
    "tool_call",
    "struct",
    fields=(
        _s("id", "tool call id (generated when the source has none)"),
        _s("name", "function name"),
        _s("arguments", "JSON-encoded arguments object"),
    ),
)

MESSAGE = Field(
    "message",
    "struct",
    fields=(
        _s("role", "system | user | assistant | tool", nullable=False),
        _s("content", "text of the turn (empty only for an assistant turn with tool_calls)"),
        _s("name", "optional speaker / tool name"),
        Field("tool_calls", "list", item=TOOL_CALL, doc="assistant tool calls"),
        _s("tool_call_id", "for role=tool: the call this message answers"),
        _s("reasoning", "reasoning trace kept apart from the visible answer"),
        Field("loss_weight", "double", doc="per-turn loss weight from the source, if any"),
    ),
)


def _messages(name: str, doc: str) -> Field:
    return Field(name, "list", item=MESSAGE, doc=doc)


CANONICAL_FIELDS: tuple[Field, ...] = (
    _s("id", "stable id: source id if given, else hash of file, line and record", nullable=False),
    _s("source", "dataset name the row came from", nullable=False),
    _s("format", "detected source format (see include/formats)", nullable=False),
    _s("kind", "sft | preference | kto | pretrain", nullable=False),
    _s("system", "system prompt"),
    _messages("messages", "the prompt / conversation"),
    _s("tools", "JSON tool schema"),
    _messages("chosen", "preferred completion (preference rows)"),
    _messages("rejected", "dispreferred completion (preference rows)"),
    Field("label", "bool", doc="KTO label: true = desirable"),
    _s("text", "flattened text the curation stages look at", nullable=False),
    _s("meta", "JSON object of extra source fields"),
    _s("source_file", "file the row came from, relative to the source root", nullable=False),
    Field("line", "int64", nullable=False, doc="1-based line / element / row number in source_file"),
)

# Columns stages add to the canonical record (all nullable; absent before the stage ran).
STAGE_FIELDS: tuple[Field, ...] = (
    _s("norm_hash", "hex hash of the normalized text (normalize stage)"),
    _s("dup_cluster", "near-duplicate cluster id (near_dedup stage)"),
    _s("pii", "JSON object: entity type -> count (pii stage)"),
    Field("flags", "list", item=_s("flag"), doc="filter flags that did not drop the row"),
    Field("quality", "double", doc="quality score (quality stage)"),
    _s("signals", "JSON object: heuristic quality signals (filters stage)"),
)

# Columns every rejects dataset has on top of the canonical ones.
REJECT_FIELDS: tuple[Field, ...] = (
    _s("stage", "stage that removed the row", nullable=False),
    _s("reason", "machine-readable reason code", nullable=False),
    _s("detail", "human-readable explanation"),
    _s("dup_of", "id of the surviving row (dedup stages)"),
    _s("cluster_id", "near-duplicate cluster the row belonged to (near_dedup)"),
    _s("raw", "the source text of a record that could not be converted (ingest)"),
)

ROLES = ("system", "user", "assistant", "tool")
KINDS = ("sft", "preference", "kto", "pretrain")

_ARROW_SCALARS = {
    "string": pa.string(),
    "int64": pa.int64(),
    "double": pa.float64(),
    "bool": pa.bool_(),
}


def arrow_type(field: Field) -> pa.DataType:
    if field.type == "list":
        assert field.item is not None
        return pa.list_(arrow_type(field.item))
    if field.type == "struct":
        return pa.struct([arrow_field(f) for f in field.fields])
    return _ARROW_SCALARS[field.type]


def arrow_field(field: Field) -> pa.Field:
    return pa.field(field.name, arrow_type(field), nullable=field.nullable)


def canonical_fields(with_stage_fields: bool = True) -> tuple[Field, ...]:
    return CANONICAL_FIELDS + (STAGE_FIELDS if with_stage_fields else ())


def reject_fields() -> tuple[Field, ...]:
    """Rejects carry the whole canonical row (nullable: ingest rejects have no row)."""
    relaxed = tuple(Field(f.name, f.type, True, f.item, f.fields, f.doc) for f in canonical_fields())
    return relaxed + REJECT_FIELDS


def arrow_schema(fields: tuple[Field, ...] | None = None) -> pa.Schema:
    """Arrow schema of canonical rows (default) or of any field tuple, e.g. rejects."""
    return pa.schema([arrow_field(f) for f in (fields or canonical_fields())])


def column_names(fields: tuple[Field, ...] | None = None) -> list[str]:
    return [f.name for f in (fields or canonical_fields())]
