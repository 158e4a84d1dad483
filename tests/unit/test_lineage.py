"""OpenLineage datasets of a curation stage: spec naming for local and S3 paths, row counts as facets."""

from __future__ import annotations

import json

from llmops_airflow.curation import CurationStageOperator
from llmops_airflow.lineage import dataset_name, stage_lineage
from openlineage.client.serde import Serde


def test_dataset_names_follow_the_openlineage_spec(tmp_path):
    assert dataset_name("s3://bucket/a/b/") == ("s3://bucket", "a/b")
    assert dataset_name("s3a://bucket/a") == ("s3://bucket", "a")
    assert dataset_name(f"file://{tmp_path}/x") == ("file", f"{tmp_path}/x")
    assert dataset_name("rel/x")[1].endswith("/rel/x")


def test_stage_lineage_carries_row_counts():
    stats = {
        "input": "s3://raw/in",
        "in": 10,
        "curated": "/data/pii/curated",
        "out": 7,
        "rejects": "/data/pii/rejects",
        "rejected": 3,
    }
    lineage = stage_lineage(stats)
    ins = [json.loads(Serde.to_json(d)) for d in lineage.inputs]
    outs = [json.loads(Serde.to_json(d)) for d in lineage.outputs]
    assert [(d["namespace"], d["name"], d["inputFacets"]["inputStatistics"]["rowCount"]) for d in ins] == [
        ("s3://raw", "in", 10)
    ]
    assert [(d["name"], d["outputFacets"]["outputStatistics"]["rowCount"]) for d in outs] == [
        ("/data/pii/curated", 7),
        ("/data/pii/rejects", 3),
    ]


def test_operator_reports_what_it_ran():
    op = CurationStageOperator(task_id="pii", stage="pii")
    assert op.get_openlineage_facets_on_complete(None).inputs == []  # nothing ran: no datasets
    op._lineage_stats = {"input": "/a", "in": 1, "curated": "/b", "out": 1, "rejects": "/c", "rejected": 0}
    assert len(op.get_openlineage_facets_on_complete(None).outputs) == 2


def test_training_and_register_record_the_dataset_to_adapter_edge():
    from airflow.sdk.lineage import HookLineageCollector
    from llmops_airflow.lineage import record_edge

    collector = HookLineageCollector()
    record_edge(["/data/v1/curated", "s3a://work/run/model"], ["s3://reg/registry/tiny/v3"], collector)
    lineage = collector.collected_assets
    assert [a.asset.uri for a in lineage.inputs] == ["file:///data/v1/curated", "s3://work/run/model"]
    assert [a.asset.uri for a in lineage.outputs] == ["s3://reg/registry/tiny/v3"]
