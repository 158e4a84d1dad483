"""Atomic, idempotent publish of a curation run as a dataset version.

Layout under ``<output_uri>``::

    versions/<version_id>/curated/          the dataset (canonical Parquet)
    versions/<version_id>/rejects/<stage>/  every row a stage removed, with its reason
    versions/<version_id>/data_docs/        Great Expectations Data Docs
    versions/<version_id>/embeddings/       (semantic_dedup nightly mode) id + embedding of the rows
    versions/<version_id>/dedup_index/      (near_dedup.index) band keys + signatures, see include/dedup_index.py
    versions/<version_id>/manifest.json     the version's manifest
    versions/<version_id>/_COMMITTED        the commit marker, written last inside the version
    _latest                                 the current version id, moved after the marker

The version id is derived from the input snapshot (file paths, sizes, mtimes or a
table version), the effective config and the code, so the same input and config
give the same id. The commit protocol (atomic writes, marker, rerun repair, staging
cleanup) is :mod:`include.commit`. The config is the one the stages ran with: their
``stats.json`` record it, and a publish under any other config is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os

import pyarrow.fs as pafs

from include import dedup_index, storage
from include.commit import (
    CRASH_ENV,
    clean_staging,
    crash_point,
    current_version,
    finish_commit,
    is_committed,
    latest_uri,
    move_latest,
    version_dir,
    write_marker,
)
from include.config import STAGES, PipelineConfig, load_config
from include.run import AccountingError, RunPaths, build_manifest
from include.settings import REPO_ROOT

log = logging.getLogger(__name__)
CODE_DIRS = ("include", "spark_jobs")
__all__ = ["CRASH_ENV", "current_version", "is_committed", "latest_uri", "publish_run", "version_dir"]


class ConfigMismatch(ValueError):
    """The config given to publish is not the one the run's stages ran with."""


def staged_config(stats: dict[str, dict], cfg: PipelineConfig | None) -> PipelineConfig:
    """The config the stages ran with (recorded in their stats.json); ``cfg``, when given,
    must be that config. Raises ConfigMismatch naming the stages that disagree."""
    digests = {s: st["config_digest"] for s, st in stats.items() if st.get("config_digest")}
    if len(set(digests.values())) > 1:
        raise ConfigMismatch(f"the run's stages ran with different configs: {digests}")
    recorded = next((st["config"] for st in stats.values() if st.get("config")), None)
    if cfg is None:
        if recorded is None:
            raise ConfigMismatch(
                "the run folder records no config (stats.json without 'config'): pass --config"
            )
        cfg = load_config(recorded)
    if digests and cfg.digest() not in digests.values():
        raise ConfigMismatch(
            f"refusing to publish: the stages ran with config {next(iter(digests.values()))}, "
            f"not {cfg.digest()} (publish without --config to use the run's own)"
        )
    return cfg


def code_version() -> str:
    """Hash of the pipeline code (include/ and spark_jobs/ sources and config files)."""
    h = hashlib.sha256()
    for d in CODE_DIRS:
        for p in sorted((REPO_ROOT / d).rglob("*")):
            if (
                p.is_file()
                and p.suffix in (".py", ".yaml", ".yml", ".json")
                and "__pycache__" not in p.parts
                and "sample_data" not in p.parts
            ):
                h.update(p.relative_to(REPO_ROOT).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def version_id(snapshot: list[dict], config_hash: str, code: str) -> str:
    """``ds-<16 hex>`` from the input snapshot, the config hash and the code version."""
    blob = json.dumps({"snapshot": snapshot, "config": config_hash, "code": code}, sort_keys=True)
    return "ds-" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def snapshot_of(input_files: list[dict]) -> list[dict]:
    return [
        {
            "path": f["relative"],
            "size": f["size"],
            "mtime": f["mtime"],
            **({"table_version": f["table_version"]} if f.get("table_version") is not None else {}),
        }
        for f in input_files
    ]


def copy_tree(src: str, dst: str, endpoint: str | None = None) -> int:
    """Copy every file under ``src`` to ``dst`` (same filesystem: server-side on S3)."""
    fs, src_path = storage.filesystem(src, endpoint)
    _, dst_path = storage.filesystem(dst, endpoint)
    if fs.get_file_info(src_path).type == pafs.FileType.NotFound:
        return 0
    n = 0
    for info in fs.get_file_info(pafs.FileSelector(src_path, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        target = dst_path + info.path[len(src_path) :]
        if storage.is_local(src):
            fs.create_dir(os.path.dirname(target), recursive=True)
        fs.copy_file(info.path, target)
        n += 1
    return n


def register_table(cfg: PipelineConfig, curated_uri: str, vid: str) -> dict | None:
    """Optionally register the version's curated files as a Delta or Iceberg table."""
    from include import lakehouse

    lake = cfg.lakehouse
    if lake.register_output == "delta":
        return lakehouse.register_delta(curated_uri, cfg.storage.s3_endpoint_url)
    if lake.register_output == "iceberg":
        files = [f.uri for f in storage.list_files(curated_uri, (".parquet",), cfg.storage.s3_endpoint_url)]
        return lakehouse.register_iceberg(files, lake.output_table, lake.iceberg_catalog, vid)
    return None


def semantic_index_on(cfg: PipelineConfig) -> bool:
    return cfg.semantic_dedup.enabled and cfg.semantic_dedup.index.enabled


def index_semantic(cfg: PipelineConfig, output_uri: str, vid: str) -> dict | None:
    """Nightly semantic dedup: add the published rows' embeddings to the vector index."""
    if not semantic_index_on(cfg):
        return None
    from include.semantic_index import index_published

    return index_published(cfg, output_uri, vid)


def publish_run(
    *,
    run_id: str,
    source_uri: str,
    output_uri: str,
    cfg: PipelineConfig | None,
    staging: str | None = None,
    code: str | None = None,
) -> dict:
    """Publish the run's staged result (``staging``: the run folder holding one folder per
    stage; default ``<output_uri>/_staging/<run_id>``) as a version; never half-done.

    ``code`` is the code version the run started with (default: the code here now), so
    a deploy in the middle of a run does not change its version id. ``cfg`` None: the
    config recorded in the staging folder; else it must be that one (ConfigMismatch).
    """
    ep = cfg.storage.s3_endpoint_url if cfg else None
    staging = staging or RunPaths(output_uri, run_id).staging
    stats = {
        s: storage.read_json(storage.join(staging, s, "stats.json"), ep)
        for s in STAGES[: STAGES.index("publish")]
        if storage.exists(storage.join(staging, s, "stats.json"), ep)
    }
    if "ingest" not in stats:
        raise FileNotFoundError(f"no ingest/stats.json under {staging}: not a curation run folder")
    cfg = staged_config(stats, cfg)
    ep = cfg.storage.s3_endpoint_url
    enabled = [s for s in stats if stats[s].get("enabled")]
    final = enabled[-1]
    stats["publish"] = {
        "enabled": True,
        "in": stats[final]["out"],
        "out": stats[final]["out"],
        "rejected": 0,
        "rejected_by_reason": {},
        "curated": None,
        "rejects": None,
    }
    manifest = build_manifest(
        run_id=run_id, source_uri=source_uri, output_uri=output_uri, cfg=cfg, stats=stats
    )
    if not manifest["accounting"]["ok"]:
        raise AccountingError(
            "nothing published, rows do not add up:\n  " + "\n  ".join(manifest["accounting"]["errors"])
        )
    code = code or code_version()
    vid = version_id(snapshot_of(manifest["input_files"]), manifest["config_hash"], code)
    vdir = version_dir(output_uri, vid)
    result = {
        "version": vid,
        "version_uri": vdir,
        "manifest": storage.join(vdir, "manifest.json"),
        "rows": stats[final]["out"],
    }
    if is_committed(output_uri, vid, ep):
        repaired = finish_commit(output_uri, vid, ep)  # a crash after the marker: finish the commit
        log.info("version %s is already published (_latest: %s)", vid, current_version(output_uri, ep))
        index_semantic(cfg, output_uri, vid)  # a publish retry redoes a failed upsert (idempotent)
        dedup_index.index_published(cfg, output_uri, vid)  # likewise (skipped when already indexed)
        if repaired:
            return {**result, "published": True, "repaired": True}
        return {**result, "published": False, "reason": "already published"}
    storage.delete_dir(vdir, ep)  # leftovers of an interrupted publish of this same version
    copied = copy_tree(stats[final]["curated"], storage.join(vdir, "curated"), ep)
    for s in enabled:
        copied += copy_tree(stats[s]["rejects"], storage.join(vdir, "rejects", s), ep)
    copied += copy_tree(storage.join(staging, "data_docs"), storage.join(vdir, "data_docs"), ep)
    if semantic_index_on(cfg) and "semantic_dedup" in enabled:
        copied += copy_tree(
            storage.join(staging, "semantic_dedup", "embeddings"), storage.join(vdir, "embeddings"), ep
        )
    if dedup_index.index_on(cfg) and "near_dedup" in enabled:
        src = storage.join(staging, "near_dedup", dedup_index.STAGED_DIR)
        copied += copy_tree(src, storage.join(vdir, dedup_index.STAGED_DIR), ep)
    manifest["output_table"] = register_table(cfg, storage.join(vdir, "curated"), vid)
    manifest.update(
        version=vid,
        code_version=code,
        staging_used=staging,
        published_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        previous_version=current_version(output_uri, ep),
        staging=None,
        outputs={
            "curated": storage.join(vdir, "curated"),
            "rejects": storage.join(vdir, "rejects"),
            "data_docs": storage.join(vdir, "data_docs", "index.html"),
        },
    )
    manifest["stages"]["publish"] = {
        **manifest["stages"]["publish"],
        "curated": manifest["outputs"]["curated"],
    }
    crash_point("before_manifest")
    storage.write_json(result["manifest"], manifest, ep)  # the version is complete
    crash_point("after_manifest")
    write_marker(output_uri, vid, ep)  # commit: readers see the version from here on
    crash_point("after_marker")
    move_latest(output_uri, vid, ep)
    crash_point("after_latest")
    index_semantic(cfg, output_uri, vid)  # only committed rows enter the nightly dedup index
    dedup_index.index_published(cfg, output_uri, vid)  # and the cross-night band index
    clean_staging(output_uri, staging, ep)
    log.info("published %s: %d rows, %d files copied; _latest -> %s", vid, result["rows"], copied, vid)
    return {**result, "published": True, "previous_version": manifest["previous_version"]}
