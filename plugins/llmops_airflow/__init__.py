"""Airflow-facing pieces of the package: operators and task callables the DAGs wire."""
