"""Stage ``normalize``: adds ``norm_hash`` (hash of the normalized text, see
``include.normalize``); the text itself is kept untouched."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include.normalize import NormalizeOptions, norm_hash
from spark_jobs.common import StageOutput, main, read_parquet


def with_norm_hash(df, opts: NormalizeOptions):
    """``df`` plus a ``norm_hash`` column computed by the library, in executors."""
    import pyarrow as pa
    from pyspark.sql import types as T

    cols = [c for c in df.columns if c != "norm_hash"]
    schema = T.StructType(
        [
            *(f for f in df.schema.fields if f.name != "norm_hash"),
            T.StructField("norm_hash", T.StringType(), True),
        ]
    )

    def add_hash(batches):
        for batch in batches:
            hashes = [norm_hash(t, opts) for t in batch.column("text").to_pylist()]
            arrays = [batch.column(c) for c in cols] + [pa.array(hashes, pa.string())]
            yield pa.RecordBatch.from_arrays(arrays, names=[*cols, "norm_hash"])

    return df.select(*cols).mapInArrow(add_hash, schema)


def run(spark, cfg, input_uri, ctx) -> StageOutput:
    opts = NormalizeOptions.from_config(cfg.normalize)
    ctx.details["options"] = cfg.normalize.model_dump()
    return StageOutput(with_norm_hash(read_parquet(spark, input_uri, cfg), opts))


if __name__ == "__main__":
    sys.exit(main("normalize", run))
