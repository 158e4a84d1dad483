"""Delta and Iceberg tables as ingest input (no connector jars): pinned versions, refusals."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from include.config import load_config
from include.lakehouse import UnsupportedTable, resolve_delta
from spark_jobs import ingest
from spark_jobs.common import run_stage

pytestmark = pytest.mark.spark


def alpaca(n0, n):
    return pa.table(
        {
            "instruction": [f"Question {i}?" for i in range(n0, n)],
            "input": [""] * (n - n0),
            "output": [f"Answer {i}." for i in range(n0, n)],
            "lang": ["en"] * (n - n0),
        }
    )


def test_delta_input_at_two_versions(spark, tmp_path):
    from deltalake import write_deltalake

    table = str(tmp_path / "delta")
    write_deltalake(table, alpaca(0, 3), partition_by=["lang"])
    write_deltalake(table, alpaca(3, 5), mode="append", partition_by=["lang"])
    for version, rows in ((0, 3), (None, 5)):
        cfg = load_config({"spark": {"master": "local[2]"}, "lakehouse": {"version": version}})
        out = tmp_path / f"out-{version}"
        stats = run_stage("ingest", ingest.run, table, str(out), cfg, spark=spark)
        assert (stats["in"], stats["out"], stats["rejected"]) == (rows, rows, 0)
        pinned = 1 if version is None else version
        assert stats["details"]["table"] == {
            "format": "delta",
            "table": table,
            "version": pinned,
            "files": pinned + 1,
        }
        assert {f["format"] for f in stats["details"]["files"]} == {"alpaca"}
        assert all(f["table_version"] == pinned for f in stats["details"]["files"])


def iceberg_table(name, tmp_path, monkeypatch):
    """An empty table ``raw.<name>`` of alpaca rows in the local Iceberg catalog under ``tmp_path``."""
    from pyiceberg.catalog import load_catalog

    from include.lakehouse import iceberg_catalog_properties

    monkeypatch.setenv("LLMOPS_ICEBERG_HOME", str(tmp_path / "iceberg"))
    props = iceberg_catalog_properties({})
    catalog = load_catalog(props.pop("name", "llmops"), **props)
    catalog.create_namespace("raw")
    return catalog.create_table(f"raw.{name}", schema=alpaca(0, 1).schema)


def test_iceberg_input_at_two_snapshots(spark, tmp_path, monkeypatch):
    table = iceberg_table("alpaca", tmp_path, monkeypatch)
    table.append(alpaca(0, 2))
    first = table.current_snapshot().snapshot_id
    table.append(alpaca(2, 6))
    latest = table.current_snapshot().snapshot_id
    for snapshot, rows in ((first, 2), (None, 6)):
        cfg = load_config({"spark": {"master": "local[2]"}, "lakehouse": {"version": snapshot}})
        stats = run_stage(
            "ingest", ingest.run, "iceberg://raw.alpaca", str(tmp_path / f"o{rows}"), cfg, spark=spark
        )
        assert (stats["in"], stats["out"]) == (rows, rows)
        assert stats["details"]["table"]["version"] == (snapshot or latest)
        assert stats["details"]["table"]["format"] == "iceberg"


def test_delta_table_with_deletion_vectors_is_refused(tmp_path):
    log = tmp_path / "dv" / "_delta_log"
    log.mkdir(parents=True)
    schema = json.dumps(
        {"type": "struct", "fields": [{"name": "text", "type": "string", "nullable": True, "metadata": {}}]}
    )
    actions = [
        {
            "protocol": {
                "minReaderVersion": 3,
                "minWriterVersion": 7,
                "readerFeatures": ["deletionVectors"],
                "writerFeatures": ["deletionVectors"],
            }
        },
        {
            "metaData": {
                "id": "t1",
                "format": {"provider": "parquet", "options": {}},
                "schemaString": schema,
                "partitionColumns": [],
                "configuration": {"delta.enableDeletionVectors": "true"},
                "createdTime": 0,
            }
        },
        {
            "add": {
                "path": "part-0.parquet",
                "partitionValues": {},
                "size": 100,
                "modificationTime": 0,
                "dataChange": True,
                "deletionVector": {
                    "storageType": "u",
                    "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^",
                    "offset": 1,
                    "sizeInBytes": 36,
                    "cardinality": 2,
                },
            }
        },
    ]
    (log / "00000000000000000000.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    with pytest.raises(UnsupportedTable, match="deletion vectors"):
        resolve_delta(str(tmp_path / "dv"))


def test_iceberg_snapshot_with_delete_files_is_refused(tmp_path, monkeypatch):
    """pyiceberg 0.12 cannot write delete files (merge-on-read falls back to copy-on-write),
    so a real scan task of a real table gets a real data file attached as its delete file."""
    from pyiceberg.table import DataScan, FileScanTask

    from include.lakehouse import resolve_iceberg

    table = iceberg_table("t", tmp_path, monkeypatch)
    table.append(alpaca(0, 2))
    real_plan = DataScan.plan_files

    def with_deletes(self):
        return [FileScanTask(t.file, delete_files={t.file}) for t in real_plan(self)]

    monkeypatch.setattr(DataScan, "plan_files", with_deletes)
    with pytest.raises(UnsupportedTable, match="has delete files"):
        resolve_iceberg("iceberg://raw.t", {})


def test_native_readers_need_the_connector_and_say_so(spark, tmp_path):
    """No Delta connector jar can be fetched here (Maven is unreachable), so the native path is
    exercised up to Spark's data-source lookup: it must fail with what to install, not a stack trace."""
    from deltalake import write_deltalake

    table = str(tmp_path / "delta")
    write_deltalake(table, alpaca(0, 2))
    cfg = load_config({"spark": {"master": "local[2]"}, "lakehouse": {"native_readers": True}})
    with pytest.raises(RuntimeError, match="no 'delta' data source: add io.delta:delta-spark"):
        run_stage("ingest", ingest.run, table, str(tmp_path / "out"), cfg, spark=spark)
