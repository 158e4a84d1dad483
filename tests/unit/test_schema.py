"""The canonical schema is declared once; Arrow and Spark schemas derive from it and agree."""

from include.schema import MESSAGE, arrow_schema, canonical_fields, column_names, reject_fields


def test_spark_and_arrow_schemas_are_the_same_tree():
    from pyspark.sql.pandas.types import from_arrow_schema

    from spark_jobs.common import spark_schema

    for fields in (canonical_fields(), canonical_fields(False), reject_fields()):
        assert spark_schema(fields) == from_arrow_schema(arrow_schema(fields))


def test_design_columns_are_present_in_order():
    names = column_names(canonical_fields(False))
    assert names[:3] == ["id", "source", "format"]
    for col in ("system", "messages", "tools", "chosen", "rejected", "text"):
        assert col in names
    assert [f.name for f in MESSAGE.fields][:5] == ["role", "content", "name", "tool_calls", "tool_call_id"]
    stage_cols = set(column_names(canonical_fields())) - set(names)
    assert stage_cols == {"norm_hash", "dup_cluster", "pii", "flags", "quality", "signals"}


def test_rejects_carry_the_row_plus_stage_and_reason():
    schema = arrow_schema(reject_fields())
    assert {"stage", "reason", "detail", "dup_of", "raw"} <= set(schema.names)
    assert schema.field("id").nullable  # ingest rejects have no id
    assert not schema.field("stage").nullable
