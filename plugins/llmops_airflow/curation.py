"""Tasks of the ``curate_dataset`` DAG: prepare the run, run each stage, finalize.

Each stage runs its Spark job (``spark_jobs/<stage>.py``): in local mode inside the task's
process on that process's Spark session (``spark.in_process``, the default; a stage that needs
a secret, or ``in_process: false``, runs ``python -m spark_jobs.<stage>`` in a subprocess), or
through ``spark-submit`` on a cluster when ``spark.conn_id`` names an Airflow Spark connection.
"""

from __future__ import annotations

import logging
import os
import sys

from airflow.sdk import BaseOperator, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include import storage
from include.commit import finish_commit
from include.config import STAGES, ConfigError, PipelineConfig, load_config
from include.lakehouse import resolve_source
from include.publish import (
    ConfigMismatch,
    code_version,
    is_committed,
    publish_run,
    snapshot_of,
    version_id,
)
from include.run import (
    REPO_ROOT,
    AccountingError,
    GateFailed,
    RunPaths,
    finalize_run,
    run_local,
    stage_command,
    stage_input,
    write_disabled_stats,
)
from llmops_airflow.report_link import DatasetReportLink

log = logging.getLogger(__name__)
PREPARE_TASK_ID = "prepare_run"


def prepare_run(source_uri: str, output_uri: str, config: dict | str | None, run_id: str) -> dict:
    """Validate Params before any work: config keys/values and that the source has files."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise AirflowFailException(str(exc)) from None
    if not source_uri or not output_uri:
        raise AirflowFailException("Params source_uri and output_uri are required")
    try:
        files, table = resolve_source(
            source_uri, cfg.lakehouse, cfg.ingest.extensions, cfg.storage.s3_endpoint_url
        )
    except (FileNotFoundError, ValueError) as exc:
        raise AirflowFailException(str(exc)) from None
    missing = [
        b.uri
        for b in (cfg.decontaminate.benchmarks if cfg.enabled("decontaminate") else [])
        if not storage.exists(b.uri, cfg.storage.s3_endpoint_url)
    ]
    if missing:
        raise AirflowFailException(f"decontaminate.benchmarks: file not found: {', '.join(missing)}")
    check_writable(output_uri, run_id, cfg.storage.s3_endpoint_url)
    paths = RunPaths(output_uri, run_id)
    snapshot = snapshot_of(
        [
            {
                "relative": f.relative,
                "size": f.size,
                "mtime": f.mtime,
                "table_version": table.version if table else None,
            }
            for f in files
        ]
    )
    code = code_version()
    expected = version_id(snapshot, cfg.digest(), code)
    done = cfg.enabled("publish") and is_committed(output_uri, expected, cfg.storage.s3_endpoint_url)
    if done:  # a crash after the commit marker: move _latest and clean staging now (idempotent)
        finish_commit(output_uri, expected, cfg.storage.s3_endpoint_url)
    log.info(
        "run %s: %d input files under %s; staging %s; config %s; dataset version %s%s",
        run_id,
        len(files),
        source_uri,
        paths.staging,
        cfg.digest(),
        expected,
        " (already published: stages skip)" if done else "",
    )
    return {
        "run_id": run_id,
        "source_uri": source_uri,
        "output_uri": output_uri,
        "config": cfg.to_dict(),
        "config_hash": cfg.digest(),
        "staging": paths.staging,
        "input_files": len(files),
        "table": table.to_dict() if table else None,
        "code_version": code,
        "expected_version": expected,
        "already_published": done,
    }


def safe_name(run_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in run_id)


def check_writable(output_uri: str, run_id: str, endpoint: str | None) -> None:
    """Write and delete a probe file under ``output_uri``: an unreachable or read-only output
    fails here, naming the Param and the fix, instead of after the first stage's retries."""
    try:
        storage.probe_write(
            storage.join(output_uri, "_staging"), f".write-check-{safe_name(run_id)}", endpoint
        )
    except Exception as exc:
        fix = (
            "check the bucket exists and the credentials (AWS_* environment of the workers) may write "
            "there, or set config storage.s3_endpoint_url for MinIO / a local S3 server"
            if storage.is_s3(output_uri)
            else "give a folder the Airflow workers may write to"
        )
        raise AirflowFailException(
            f"Param output_uri={output_uri!r} is not writable: {type(exc).__name__}: {exc}; fix: {fix}"
        ) from None


def secret_env(stage: str, cfg: PipelineConfig) -> dict[str, str]:
    """Secrets a stage needs, resolved here in the Airflow task (which sees every connection,
    including those kept only in the metadata database) and handed to the stage's local
    subprocess as environment variables; never logged. With ``spark.conn_id`` (a cluster) the
    executors must reach the secrets themselves (secrets backend or their environment)."""
    if stage == "pii" and cfg.enabled("pii") and cfg.pii.uses_pseudonyms():
        from include.pii.operators import PseudonymKeyMissing, resolve_key

        try:
            return {cfg.pii.pseudonym_key.env: resolve_key(cfg.pii).decode()}
        except PseudonymKeyMissing as exc:
            raise AirflowFailException(str(exc)) from None
    if stage == "quality" and cfg.enabled("quality") and cfg.quality.judge.enabled:
        from include.quality.judge import JudgeConfigError, endpoint_env

        try:
            return endpoint_env(cfg.quality.judge)
        except JudgeConfigError as exc:
            raise AirflowFailException(str(exc)) from None
    return {}


def stage_doc(stage: str) -> str | None:
    """The stage job's module docstring (read, not imported: DAG parsing stays cheap), shown as
    the task's documentation in the UI."""
    import ast

    path = REPO_ROOT / "spark_jobs" / f"{stage}.py"
    try:
        return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (OSError, SyntaxError):
        return None


class CurationStageOperator(BaseOperator):
    """Runs one curation stage's Spark job for the run prepared by ``prepare_run``."""

    ui_color = "#e8f1fb"

    def __init__(self, *, stage: str, prepare_task_id: str = PREPARE_TASK_ID, **kwargs):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        kwargs.setdefault("doc_md", stage_doc(stage))
        super().__init__(**kwargs)
        self.stage = stage
        self.prepare_task_id = prepare_task_id
        self._lineage_stats: dict | None = None  # what execute read, for OpenLineage

    def execute(self, context) -> dict:
        run = context["ti"].xcom_pull(task_ids=self.prepare_task_id)
        if run.get("already_published"):
            raise AirflowSkipException(f"dataset version {run['expected_version']} is already published")
        cfg = load_config(run["config"])
        paths = RunPaths(run["output_uri"], run["run_id"])
        if self.stage == "publish" and cfg.enabled("publish"):
            return self._publish(run, cfg, context)
        if not cfg.enabled(self.stage):
            log.info("stage %s disabled in config: skipped", self.stage)
            return write_disabled_stats(self.stage, cfg, paths)
        input_uri = stage_input(self.stage, cfg, run["source_uri"], paths)
        output_uri = paths.stage_dir(self.stage)
        if cfg.spark.conn_id:
            from llmops_airflow.spark_submit import submit_stage

            submit_stage(self.stage, cfg, input_uri, output_uri, secret_env(self.stage, cfg))
        else:
            secrets = secret_env(self.stage, cfg)
            try:
                if cfg.spark.in_process and not secrets:
                    from spark_jobs.common import run_in_process

                    run_in_process(self.stage, input_uri, output_uri, cfg)
                else:  # a subprocess: its Python workers see the secrets, nothing else does
                    env = dict(os.environ)
                    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
                    env.update(secrets)
                    run_local(stage_command(self.stage, input_uri, output_uri, cfg, sys.executable), env=env)
            except GateFailed as exc:
                raise AirflowFailException(f"{self.stage} gate failed (not retried):\n{exc}") from None
        stats = storage.read_json(paths.stats(self.stage), cfg.storage.s3_endpoint_url)
        self._lineage_stats = stats
        return {k: stats.get(k) for k in ("stage", "in", "out", "rejected", "rejected_by_reason", "note")}

    def get_openlineage_facets_on_complete(self, task_instance):
        """OpenLineage: the stage's input -> curated/ + rejects/ datasets with row counts."""
        from llmops_airflow.lineage import operator_lineage, stage_lineage

        return stage_lineage(self._lineage_stats) if self._lineage_stats else operator_lineage([], [])

    def _publish(self, run: dict, cfg: PipelineConfig, context) -> dict:
        try:
            result = publish_run(
                run_id=run["run_id"],
                source_uri=run["source_uri"],
                output_uri=run["output_uri"],
                cfg=cfg,
                code=run["code_version"],
            )
        except (AccountingError, ConfigMismatch) as exc:
            raise AirflowFailException(str(exc)) from None
        self._lineage_stats = {
            "input": stage_input(
                self.stage, cfg, run["source_uri"], RunPaths(run["output_uri"], run["run_id"])
            ),
            "in": result["rows"],
            "curated": storage.join(result["version_uri"], "curated"),
            "out": result["rows"],
        }
        if not result["published"]:
            raise AirflowSkipException(
                f"dataset version {result['version']} is already published: no new event"
            )
        for asset in self.outlets:
            context["outlet_events"][asset].extra = {
                "version": result["version"],
                "rows": result["rows"],
                "manifest": result["manifest"],
                "curated": storage.join(result["version_uri"], "curated"),
                "output_uri": run["output_uri"],
            }
        return result


class PublishStageOperator(CurationStageOperator):
    """The ``publish`` stage, with a "Dataset report" link to the version's report.html."""

    operator_extra_links = (DatasetReportLink(),)

    def __init__(self, **kwargs):
        super().__init__(stage="publish", **kwargs)


def stage_operator(stage: str, **kwargs) -> CurationStageOperator:
    """The operator of one stage (publish has its own class: the report link)."""
    if stage == "publish":
        return PublishStageOperator(task_id=stage, **kwargs)
    return CurationStageOperator(task_id=stage, stage=stage, **kwargs)


def finalize(run: dict, published: dict | None = None) -> dict:
    """Check input rows = curated + rejects and log the summary; fail loudly if not.

    With publish enabled the manifest is the published version's (publish checked the
    rows before committing): ``published`` is what the publish task returned, or None
    when it had nothing new to publish (then prepare's expected version is checked).
    Without publish, the manifest is written to the staging folder.
    """
    from include.dataset_report import write_report
    from include.publish import current_version, version_dir
    from include.run import summary_table

    cfg = load_config(run["config"])
    ep = cfg.storage.s3_endpoint_url
    if cfg.enabled("publish"):
        vid = published["version"] if published else run["expected_version"]
        if not is_committed(run["output_uri"], vid, ep):
            raise AirflowFailException(f"dataset version {vid} was not published under {run['output_uri']}")
        uri = storage.join(version_dir(run["output_uri"], vid), "manifest.json")
        manifest = storage.read_json(uri, ep)
        log.info("%s", summary_table(manifest))
        if not manifest["accounting"]["ok"]:
            raise AirflowFailException("rows do not add up: " + "; ".join(manifest["accounting"]["errors"]))
        report = write_report(version_dir(run["output_uri"], vid), ep)  # report.html + DATA_CARD.md
        log.info("dataset report: %s", report["report"])
        return {
            **report,
            "manifest": uri,
            "curated": manifest["outputs"]["curated"],
            "version": vid,
            "latest": current_version(run["output_uri"], ep),
            "accounting": manifest["accounting"],
        }
    try:
        manifest = finalize_run(
            run_id=run["run_id"], source_uri=run["source_uri"], output_uri=run["output_uri"], cfg=cfg
        )
    except AccountingError as exc:
        raise AirflowFailException(str(exc)) from None
    return {
        "manifest": storage.join(manifest["staging"], "manifest.json"),
        "curated": manifest["outputs"]["curated"],
        "accounting": manifest["accounting"],
    }


# ------------------------------------------------------------------ TaskFlow tasks of the DAG


@task(task_id=PREPARE_TASK_ID, retries=0)
def prepare_task(params=None, run_id=None) -> dict:
    """Validate the Params and the config, list the input files and plan the run.

    A bad config fails here (no retry), naming the key; no stage runs. When the input
    snapshot, config and code match a published version, every stage is skipped."""
    return prepare_run(params["source_uri"], params["output_uri"], params["config"], run_id)


@task(task_id="finalize_run", retries=0, trigger_rule="none_failed")
def finalize_task(run: dict, ti=None) -> dict:
    """Check that input rows = curated + rejected rows for the whole run and log the stage table."""
    return finalize(run, ti.xcom_pull(task_ids="publish"))
