"""DataFrames in the canonical shape: Spark schemas derived from ``include.schema``, Parquet
in and out (Spark's reader locally, pyarrow in the executors for S3), reject rows."""

from __future__ import annotations

import uuid
from collections import Counter

from include import storage
from include.config import PipelineConfig
from include.schema import Field, canonical_fields, reject_fields

# ------------------------------------------------------------------ schema


def spark_type(f: Field):
    from pyspark.sql import types as T

    scalars = {
        "string": T.StringType(),
        "int64": T.LongType(),
        "double": T.DoubleType(),
        "bool": T.BooleanType(),
    }
    if f.type == "list":
        return T.ArrayType(spark_type(f.item), True)
    if f.type == "struct":
        return T.StructType([T.StructField(m.name, spark_type(m), m.nullable) for m in f.fields])
    return scalars[f.type]


def spark_schema(fields: tuple[Field, ...] | None = None):
    """Spark StructType of the canonical record (or of any field tuple), from include.schema."""
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(f.name, spark_type(f), f.nullable) for f in (fields or canonical_fields())]
    )


REJECT_FIELDS_ALL = reject_fields()

# ------------------------------------------------------------------ I/O


def _spark_uri(uri: str) -> str:
    return "s3a://" + uri.split("://", 1)[1] if storage.is_s3(uri) else storage.local_path(uri)


def _native(uri: str, cfg: PipelineConfig) -> bool:
    return storage.is_local(uri) or cfg.storage.native_spark_io


def parquet_files(uri: str, cfg: PipelineConfig) -> list[storage.FileInfo]:
    try:
        return storage.list_files(uri, (".parquet",), cfg.storage.s3_endpoint_url)
    except FileNotFoundError:
        return []


def spread(df, spark):
    """``df`` round-robin over at least one partition per core, for stages whose cost is
    per-row Python work (NER, embeddings, judge calls). Partition *counts* are not enough:
    a Parquet file with one row group read as two splits leaves every row in one of them."""
    return df.repartition(max(df.rdd.getNumPartitions(), spark.sparkContext.defaultParallelism))


def read_parquet(spark, uri: str, cfg: PipelineConfig, schema=None):
    """A stage's canonical input: Spark's reader locally, pyarrow in executors for S3."""
    if _native(uri, cfg):
        reader = spark.read.schema(schema) if schema is not None else spark.read
        return reader.parquet(_spark_uri(uri))
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    files = parquet_files(uri, cfg)
    if not files:
        raise FileNotFoundError(f"no Parquet files under {uri}")
    if schema is None:
        fs, path = storage.filesystem(files[0].uri, storage.endpoint_url(cfg.storage.s3_endpoint_url))
        with fs.open_input_file(path) as f:
            schema = from_arrow_schema(pq.read_schema(f))
    return read_parquet_files(spark, [f.uri for f in files], cfg, schema)


def read_parquet_files(spark, uris: list[str], cfg: PipelineConfig, schema):
    """These Parquet files as one DataFrame of ``schema``: Spark's reader locally, pyarrow in
    executors for S3."""
    if _native(uris[0], cfg):
        return spark.read.schema(schema).parquet(*[_spark_uri(u) for u in uris])
    import pyarrow.parquet as pq

    endpoint = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    arrow_target = _to_arrow_schema(schema)

    def read_files(batches):
        for batch in batches:
            for file_uri in batch.column("uri").to_pylist():
                fs, path = storage.filesystem(file_uri, endpoint)
                with fs.open_input_file(path) as f:
                    table = pq.read_table(f)
                yield from table.select(arrow_target.names).cast(arrow_target).to_batches()

    listing = spark.createDataFrame([(u,) for u in uris], "uri string").repartition(max(1, len(uris)))
    return listing.mapInArrow(read_files, schema)


def _to_arrow_schema(spark_struct):
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(spark_struct)


def write_parquet(df, uri: str, cfg: PipelineConfig) -> None:
    """Overwrite ``uri`` with ``df`` as Parquet (pyarrow part files on S3, no jars needed)."""
    if _native(uri, cfg):
        df.write.mode("overwrite").parquet(_spark_uri(uri))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    endpoint = storage.endpoint_url(cfg.storage.s3_endpoint_url)
    storage.delete_dir(uri, endpoint)
    token = uuid.uuid4().hex[:8]
    arrow_schema = _to_arrow_schema(df.schema)

    def write_part(batches):
        part = TaskContext.get().partitionId()
        target = storage.join(uri, f"part-{part:05d}-{token}.parquet")
        fs, path = storage.filesystem(target, endpoint)
        rows, writer = 0, None
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if writer is None:
                writer = pq.ParquetWriter(fs.open_output_stream(path), arrow_schema)
            writer.write_batch(batch.cast(arrow_schema) if batch.schema != arrow_schema else batch)
            rows += batch.num_rows
        if writer is not None:
            writer.close()
        yield pa.RecordBatch.from_pylist([{"rows": rows}], schema=pa.schema([("rows", pa.int64())]))

    written = df.mapInArrow(write_part, "rows long").agg({"rows": "sum"}).collect()[0][0] or 0
    if written == 0:  # keep the schema readable even when the stage emptied the dataset
        fs, path = storage.filesystem(storage.join(uri, f"part-00000-{token}.parquet"), endpoint)
        with fs.open_output_stream(path) as out:
            pq.write_table(arrow_schema.empty_table(), out)
    storage.write_bytes(storage.join(uri, "_SUCCESS"), b"", endpoint)


def count_rows(uri: str, cfg: PipelineConfig, by: str | None = None) -> tuple[int, Counter]:
    """Row count of a written Parquet folder (from file metadata), optionally by a column."""
    import pyarrow.parquet as pq

    total, counts = 0, Counter()
    for f in parquet_files(uri, cfg):
        fs, path = storage.filesystem(f.uri, cfg.storage.s3_endpoint_url)
        with fs.open_input_file(path) as fh:
            pf = pq.ParquetFile(fh)
            total += pf.metadata.num_rows
            if by and pf.metadata.num_rows:
                counts.update(pf.read(columns=[by]).column(by).to_pylist())
    return total, counts


def empty_rejects(spark):
    return spark.createDataFrame([], spark_schema(REJECT_FIELDS_ALL))


def as_rejects(df, stage: str, reason_col, detail_col=None, dup_of_col=None, cluster_col=None):
    """Shape rejected canonical rows as reject rows (every reject column present)."""
    from pyspark.sql import functions as F

    extra = {
        "stage": F.lit(stage),
        "reason": reason_col,
        "detail": detail_col if detail_col is not None else F.lit(None).cast("string"),
        "dup_of": dup_of_col if dup_of_col is not None else F.lit(None).cast("string"),
        "cluster_id": cluster_col if cluster_col is not None else F.lit(None).cast("string"),
        "raw": F.lit(None).cast("string"),
    }
    cols = []
    for f in REJECT_FIELDS_ALL:
        if f.name in extra:
            cols.append(extra[f.name].alias(f.name))
        elif f.name in df.columns:
            cols.append(F.col(f.name))
        else:
            cols.append(F.lit(None).cast(spark_type(f)).alias(f.name))
    return df.select(*cols)
