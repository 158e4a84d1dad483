"""Airflow connections and Variables looked up from library code (secrets backends and
``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment variables included). Outside Airflow, or
when the id is not defined, the lookups return None so callers can try their next source.
Values are never logged here."""

from __future__ import annotations


def airflow_connection(conn_id: str):
    """The Airflow connection ``conn_id`` (host, password, extra_dejson, ...), or None."""
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    except Exception:  # not under Airflow, or not defined
        return None


def airflow_variable(name: str) -> str | None:
    try:
        from airflow.sdk import Variable

        return Variable.get(name)
    except Exception:
        return None
