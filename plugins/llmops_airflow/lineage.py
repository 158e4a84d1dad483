"""OpenLineage datasets for the product's tasks (read by the OpenLineage provider, when installed
and given a transport, through ``get_openlineage_facets_on_complete``; nothing here runs otherwise).

Naming follows the OpenLineage spec: ``s3://bucket/key`` -> namespace ``s3://bucket``, name ``key``;
a local path -> namespace ``file``, name the absolute path. Row counts ride as the standard
``inputStatistics`` / ``outputStatistics`` facets.
"""

from __future__ import annotations

import os


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a local path or an ``s3://`` / ``s3a://`` URI."""
    for scheme in ("s3://", "s3a://"):
        if uri.startswith(scheme):
            bucket, _, key = uri[len(scheme) :].partition("/")
            return f"s3://{bucket}", key.rstrip("/") or "/"
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    return "file", os.path.abspath(path)


def input_dataset(uri: str, rows: int | None = None):
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import input_statistics_input_dataset

    namespace, name = dataset_name(uri)
    facets = (
        {"inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(rowCount=rows)}
        if rows is not None
        else {}
    )
    return InputDataset(namespace=namespace, name=name, inputFacets=facets)


def output_dataset(uri: str, rows: int | None = None):
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    namespace, name = dataset_name(uri)
    facets = (
        {
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=rows
            )
        }
        if rows is not None
        else {}
    )
    return OutputDataset(namespace=namespace, name=name, outputFacets=facets)


def operator_lineage(inputs: list, outputs: list):
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs, outputs=outputs)


def stage_lineage(stats: dict):
    """A curation stage: its input -> curated/ and rejects/, with the stage's row counts."""
    inputs = [input_dataset(stats["input"], stats.get("in"))] if stats.get("input") else []
    outputs = [
        output_dataset(stats[key], stats.get(rows))
        for key, rows in (("curated", "out"), ("rejects", "rejected"))
        if stats.get(key)
    ]
    return operator_lineage(inputs, outputs)


def asset_uri(uri: str) -> str:
    """An Airflow asset URI for a storage location (local paths as ``file://``)."""
    if "://" in uri:
        return "s3://" + uri[len("s3a://") :] if uri.startswith("s3a://") else uri
    return "file://" + os.path.abspath(uri)


class _Edge:
    """The lineage context of a TaskFlow task's edge (the collector keys entries by context)."""


def record_edge(inputs: list[str], outputs: list[str], collector=None) -> None:
    """Report ``inputs`` -> ``outputs`` to Airflow's hook lineage collector, which the OpenLineage
    provider reads for tasks without an extractor (TaskFlow ``train`` / ``register``): the
    dataset -> model -> adapter version edge. A no-op when no lineage reader is installed."""
    if collector is None:
        from airflow.sdk.lineage import get_hook_lineage_collector

        collector = get_hook_lineage_collector()
    context = _Edge()
    for uri in inputs:
        collector.add_input_asset(context=context, uri=asset_uri(uri))
    for uri in outputs:
        collector.add_output_asset(context=context, uri=asset_uri(uri))
