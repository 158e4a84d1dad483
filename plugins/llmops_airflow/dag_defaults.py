"""What every DAG of the package declares alike: its start date, catch-up, concurrency, task
retry policy and tags (``dag_args``)."""

from __future__ import annotations

from datetime import timedelta

import pendulum

#: first logical date of every DAG (none catches up: ``catchup=False``)
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
#: task retries of the data and training DAGs: 2 retries, 2 min apart, backing off
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True}


def dag_args(*tags: str, unpaused: bool = False, **overrides) -> dict:
    """The ``DAG(...)`` keyword arguments the package's DAGs share: ``START_DATE``, no catch-up,
    one active run, ``DEFAULT_ARGS``, the tag ``llmops`` plus ``tags``. ``unpaused``: created
    unpaused (a manual or asset-triggered DAG that must not miss its first trigger). An override
    of ``None`` drops that argument (Airflow's own default then applies)."""
    args = {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS,
        "tags": ["llmops", *tags],
    }
    if unpaused:
        args["is_paused_upon_creation"] = False
    args.update(overrides)
    return {k: v for k, v in args.items() if v is not None}
