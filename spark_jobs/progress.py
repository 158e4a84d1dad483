"""Progress of a running stage job, logged at a steady interval from Spark's status tracker.

A long stage (PII on tens of thousands of rows) otherwise prints nothing between its start
and its end. Every ``interval`` seconds a line goes to the job's log (which the Airflow task
log streams): Spark tasks done / total over the jobs seen so far, the rate, and, when the input
row count is known (Parquet metadata), rows done estimated from the share of tasks done.
"""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger("spark_jobs.progress")

#: seconds between progress lines (``LLMOPS_PROGRESS_SECONDS``)
PROGRESS_SECONDS = float(os.environ.get("LLMOPS_PROGRESS_SECONDS", "30"))


class StageProgress:
    """Background reporter: ``with StageProgress(spark, "pii", total_rows=n): ...``."""

    def __init__(self, spark, stage: str, total_rows: int | None = None, interval: float = PROGRESS_SECONDS):
        self.tracker = spark.sparkContext.statusTracker()
        self.stage = stage
        self.total_rows = total_rows
        self.interval = interval
        self.started = time.time()
        self.tasks: dict[int, tuple[int, int]] = {}  # Spark stage id -> (completed, total)
        # jobs and stages that ran before this reporter started (a shared session) are not ours
        self._before_jobs = set(self.tracker.getJobIdsForGroup(None) or [])
        self._before_stages = set(self.tracker.getActiveStageIds())
        for jid in self._before_jobs:
            job = self.tracker.getJobInfo(jid)
            self._before_stages.update(job.stageIds if job else [])
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{stage}", daemon=True)

    def poll(self) -> tuple[int, int]:
        """Update the per-Spark-stage task counts; return (tasks done, tasks total) so far."""
        for sid in self.tracker.getActiveStageIds():
            if sid in self._before_stages:
                continue
            info = self.tracker.getStageInfo(sid)
            if info is not None:
                self.tasks[sid] = (info.numCompletedTasks, info.numTasks)
        for jid in self.tracker.getJobIdsForGroup(None) or []:
            if jid in self._before_jobs:
                continue
            job = self.tracker.getJobInfo(jid)
            for sid in job.stageIds if job else []:
                info = self.tracker.getStageInfo(sid)
                if info is not None:
                    self.tasks[sid] = (info.numCompletedTasks, info.numTasks)
        done = sum(d for d, _ in self.tasks.values())
        total = sum(t for _, t in self.tasks.values())
        return done, total

    def line(self) -> str:
        done, total = self.poll()
        elapsed = max(time.time() - self.started, 1e-9)
        text = (
            f"progress {self.stage}: {done}/{total} Spark tasks done "
            f"({100.0 * done / total if total else 0.0:.0f}%), {done / elapsed:.2f} tasks/s, {elapsed:.0f}s"
        )
        if self.total_rows is not None:
            rows = round(self.total_rows * done / total) if total else 0
            text += f"; ~{rows}/{self.total_rows} rows ({rows / elapsed:.1f} rows/s)"
        return text

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                text = self.line()
            except Exception as exc:  # the tracker must never fail the stage
                text = f"progress {self.stage}: status tracker unavailable ({exc})"
            self.lines.append(text)
            log.info("%s", text)

    def __enter__(self) -> StageProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
