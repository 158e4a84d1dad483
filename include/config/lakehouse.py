"""Settings of lakehouse table input and output (Delta / Iceberg, no connector jars)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from include.config.base import _Strict


class LakehouseConfig(_Strict):
    """``lakehouse`` settings."""

    table_format: Literal["auto", "files", "delta", "iceberg"] = Field(
        "auto",
        description="how to read source_uri: auto = Delta if it has _delta_log/, Iceberg for iceberg://ns.table, else files",
    )
    version: int | None = Field(
        None, description="pin a Delta table version or an Iceberg snapshot id; null = latest"
    )
    iceberg_catalog: dict[str, str] = Field(
        {},
        description="pyiceberg catalog properties (type, uri, warehouse, ...); empty = SQL catalog on SQLite under output/iceberg",
    )
    native_readers: bool = Field(
        False,
        description="read tables with Spark's own connector (needs delta-spark / iceberg-spark-runtime jars on the cluster) instead of resolving their Parquet files; handles deletion vectors and delete files",
    )
    register_output: Literal["none", "delta", "iceberg"] = Field(
        "none",
        description="also register the published curated files as a table: none | delta (in place) | iceberg (add_files)",
    )
    output_table: str | None = Field(
        None, description="Iceberg table identifier (namespace.table) for register_output: iceberg"
    )

    @model_validator(mode="after")
    def _output_table_for_iceberg(self):
        if self.register_output == "iceberg" and not (self.output_table and "." in self.output_table):
            raise ValueError("register_output: iceberg needs output_table as <namespace>.<table>")
        return self
