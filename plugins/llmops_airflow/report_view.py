"""The dataset report in the Airflow UI: a "Dataset report" extra link on the publish task and the
view it opens, served by the API server (an Airflow 3 plugin ``fastapi_apps`` entry).

* :class:`~llmops_airflow.report_link.DatasetReportLink` is the publish operator's own link (an
  operator's links need no plugin registration in Airflow 3: the worker stores the URL in XCom and
  the UI reads it back). The URL names only the DAG and the run:
  ``<api base_url>/llmops/reports/<dag_id>/<run_id>``.
* The view looks up that run's ``publish`` result (XCom) for the published version folder and
  returns its ``report.html`` (or ``DATA_CARD.md``), local or on S3. Nothing in the request is a
  path, and it requires read access to the DAG's XComs (the UI session cookie or a token).
"""

from __future__ import annotations

from typing import Literal

from airflow.plugins_manager import AirflowPlugin

from llmops_airflow.report_link import URL_PREFIX

PUBLISH_TASK_ID = "publish"
FILES = {"report.html": "text/html; charset=utf-8", "DATA_CARD.md": "text/markdown; charset=utf-8"}


def published_version_uri(dag_id: str, run_id: str) -> str | None:
    """The version folder the run's publish task committed (its XCom), or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(
                key="return_value", run_id=run_id, dag_ids=dag_id, task_ids=PUBLISH_TASK_ID
            ).with_only_columns(XComModel.value)
        ).first()
    value = XComModel.deserialize_value(row) if row is not None else None
    return value.get("version_uri") if isinstance(value, dict) else None


def create_app():
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import Response

    from include import storage

    app = FastAPI(title="LLMOps dataset reports", docs_url=None, redoc_url=None)

    @app.get(
        "/reports/{dag_id}/{run_id}",
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.XCOM))],
    )
    def report(dag_id: str, run_id: str, file: Literal["report.html", "DATA_CARD.md"] = "report.html"):
        version_uri = published_version_uri(dag_id, run_id)
        if not version_uri:
            raise HTTPException(404, f"run {run_id} of {dag_id} published no dataset version")
        uri = storage.join(version_uri, file)
        try:
            body = storage.read_bytes(uri, storage.endpoint_url())
        except (FileNotFoundError, OSError):
            raise HTTPException(404, f"{file} not found in {version_uri} (finalize_run writes it)") from None
        return Response(body, media_type=FILES[file])

    return app


class LLMOpsReportsPlugin(AirflowPlugin):
    """The report view on the API server."""

    name = "llmops_reports"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "LLMOps dataset reports"}]
