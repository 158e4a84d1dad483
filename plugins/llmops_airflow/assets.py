"""Airflow Assets the DAGs exchange."""

from __future__ import annotations

from airflow.sdk import Asset

#: a new curated dataset version was published; extra: version, rows, manifest, curated, output_uri
CURATED_DATASET = Asset(name="curated_dataset", uri="llmops://curated_dataset", group="llmops")
