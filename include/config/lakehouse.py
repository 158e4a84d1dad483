"""Settings of lakehouse table input and output (Delta / Iceberg, no connector jars)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from include.config.base import _Strict


class LakehouseConfig(_Strict):
    """``lakehouse`` settings."""

    #: how to read source_uri: auto = Delta if it has _delta_log/, Iceberg for iceberg://ns.table, else files
    table_format: Literal["auto", "files", "delta", "iceberg"] = "auto"
    #: pin a Delta table version or an Iceberg snapshot id; null = latest
    version: int | None = None
    #: pyiceberg catalog properties (type, uri, warehouse, ...); empty = SQL catalog on SQLite under output/iceberg
    iceberg_catalog: dict[str, str] = {}
    #: read tables with Spark's own connector (needs delta-spark / iceberg-spark-runtime jars on the
    #: cluster) instead of resolving their Parquet files; handles deletion vectors and delete files
    native_readers: bool = False
    #: also register the published curated files as a table: none | delta (in place) | iceberg (add_files)
    register_output: Literal["none", "delta", "iceberg"] = "none"
    #: Iceberg table identifier (namespace.table) for register_output: iceberg
    output_table: str | None = None

    @model_validator(mode="after")
    def _output_table_for_iceberg(self):
        if self.register_output == "iceberg" and not (self.output_table and "." in self.output_table):
            raise ValueError("register_output: iceberg needs output_table as <namespace>.<table>")
        return self
