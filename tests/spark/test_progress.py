"""The stage progress reporter logs tasks done / total and the rate while a Spark job runs."""

from __future__ import annotations

import re
import time

import pytest

from spark_jobs.progress import StageProgress

pytestmark = pytest.mark.spark


def _slow(rows):
    time.sleep(0.4)
    return rows


def test_progress_lines_during_a_running_job(spark):
    rdd = spark.sparkContext.parallelize(range(160), 16)
    with StageProgress(spark, "pii", total_rows=160, interval=0.5) as progress:
        assert rdd.mapPartitions(_slow).count() == 160
        time.sleep(0.6)  # one line after the job ended
    lines = progress.lines
    assert len(lines) >= 3, lines
    parsed = [
        re.match(r"progress pii: (\d+)/(\d+) Spark tasks done .*tasks/s.*~(\d+)/160 rows", s) for s in lines
    ]
    assert all(parsed), lines
    done = [int(m.group(1)) for m in parsed]
    assert done == sorted(done) and done[0] < 16 and done[-1] == 16, lines
    assert int(parsed[-1].group(3)) == 160


def test_progress_without_row_total_reports_tasks_only(spark):
    with StageProgress(spark, "ingest", total_rows=None, interval=0.2) as progress:
        spark.sparkContext.parallelize(range(8), 4).mapPartitions(_slow).count()
    assert progress.lines and all("rows" not in s and "Spark tasks done" in s for s in progress.lines)
