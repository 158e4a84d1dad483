"""What every DAG of the package declares alike: its start date and its task retry policy."""

from __future__ import annotations

from datetime import timedelta

import pendulum

#: first logical date of every DAG (none catches up: ``catchup=False``)
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")
#: task retries of the data and training DAGs: 2 retries, 2 min apart, backing off
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True}
