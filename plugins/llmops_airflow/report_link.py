"""The "Dataset report" extra link of the publish task.

Airflow 3 evaluates an operator's links in the worker when the task ends and stores each URL in
XCom (key ``_link_DatasetReportLink``); the UI reads it back (the serialized DAG names the key).
The URL names only the DAG and the run; the plugin view (:mod:`llmops_airflow.report_view`)
resolves it to the published version's ``report.html``.
"""

from __future__ import annotations

from airflow.sdk import BaseOperatorLink

URL_PREFIX = "/llmops"


def report_url(dag_id: str, run_id: str) -> str:
    """Where the UI opens a run's report: ``[api] base_url`` + the view's path."""
    from urllib.parse import quote

    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{URL_PREFIX}/reports/{quote(dag_id, safe='')}/{quote(run_id, safe='')}"


class DatasetReportLink(BaseOperatorLink):
    """The published version's report.html (served by the llmops_reports plugin view)."""

    name = "Dataset report"

    def get_link(self, operator, *, ti_key) -> str:
        return report_url(ti_key.dag_id, ti_key.run_id)
