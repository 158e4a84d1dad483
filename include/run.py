"""A curation run: where it works, which stage reads what, its manifest and accounting.

Layout under ``<output_uri>/_staging/<run_id>/``::

    <stage>/curated/   <stage>/rejects/   <stage>/stats.json   (one folder per stage)
    manifest.json      written last, by the final task

A disabled stage runs nothing: its stats.json says so and the next stage reads the
curated output of the last enabled one.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from dataclasses import dataclass

from include import storage
from include.config import STAGES, PipelineConfig
from include.settings import REPO_ROOT

log = logging.getLogger(__name__)


#: exit code of a stage whose data failed a gate (not retried: the data, not the run, is wrong)
EXIT_GATE_FAILED = 3


class GateFailed(RuntimeError):
    """A stage job exited with code 3: its data failed a gate. Retrying will not help."""


class AccountingError(RuntimeError):
    """Rows were lost or invented: input rows != curated rows + rejected rows."""


def safe_run_id(run_id: str) -> str:
    """A run id usable as a path component on every filesystem and object store."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", run_id).strip("_") or "run"


@dataclass(frozen=True)
class RunPaths:
    output_uri: str
    run_id: str

    @property
    def staging(self) -> str:
        return storage.join(self.output_uri, "_staging", safe_run_id(self.run_id))

    def stage_dir(self, stage: str) -> str:
        return storage.join(self.staging, stage)

    def curated(self, stage: str) -> str:
        return storage.join(self.stage_dir(stage), "curated")

    def stats(self, stage: str) -> str:
        return storage.join(self.stage_dir(stage), "stats.json")

    @property
    def manifest(self) -> str:
        return storage.join(self.staging, "manifest.json")


def stage_input(stage: str, cfg: PipelineConfig, source_uri: str, paths: RunPaths) -> str:
    """What ``stage`` reads: the source for ingest, else the last enabled stage's curated/."""
    idx = STAGES.index(stage)
    if idx == 0:
        return source_uri
    for prev in reversed(STAGES[:idx]):
        if cfg.enabled(prev):
            return paths.curated(prev)
    raise AssertionError("ingest is always enabled")


def write_disabled_stats(stage: str, cfg: PipelineConfig, paths: RunPaths) -> dict:
    stats = {
        "stage": stage,
        "enabled": False,
        "note": "disabled in config: skipped, the next stage reads the previous curated output",
        "in": None,
        "out": None,
        "rejected": 0,
        "rejected_by_reason": {},
        "config_digest": cfg.digest(),
        "config": cfg.to_dict(),
    }
    storage.write_json(paths.stats(stage), stats, cfg.storage.s3_endpoint_url)
    return stats


def stage_command(stage: str, input_uri: str, output_uri: str, cfg: PipelineConfig, python: str) -> list[str]:
    """The local-mode command line of a stage job (what the README documents)."""
    import json

    return [
        python,
        "-m",
        f"spark_jobs.{stage}",
        "--input",
        input_uri,
        "--output",
        output_uri,
        "--config",
        json.dumps(cfg.to_dict(), separators=(",", ":")),
    ]


def run_local(cmd: list[str], env: dict | None = None) -> None:
    """Run a stage job in a subprocess, streaming its output line by line to the log."""
    started = time.time()
    log.info("running: %s", " ".join(cmd[:7] + ["--config", "<effective config>"]))
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        log.info("%s", line)
        tail = (tail + [line])[-30:]
    rc = proc.wait()
    if rc == EXIT_GATE_FAILED:
        raise GateFailed("\n".join(tail))
    if rc != 0:
        raise RuntimeError(
            f"stage job failed with exit code {rc} after {time.time() - started:.0f}s; last output:\n"
            + "\n".join(tail)
        )


# ------------------------------------------------------------------ manifest


def build_manifest(
    *, run_id: str, source_uri: str, output_uri: str, cfg: PipelineConfig, stats: dict[str, dict]
) -> dict:
    """The run manifest: config and hash, input files, per-stage counts, output paths, accounting."""
    ingest = stats["ingest"]
    enabled = [s for s in STAGES if stats.get(s, {}).get("enabled")]
    last = enabled[-1]
    removed_after_ingest = sum(stats[s]["rejected"] for s in enabled[1:])
    accounting = {
        "source_records": ingest["details"]["records"],
        "records_converted": ingest["details"]["converted"],
        "records_rejected_at_ingest": ingest["rejected"],
        "canonical_rows": ingest["out"],
        "curated_rows": stats[last]["out"],
        "rows_rejected_after_ingest": removed_after_ingest,
        "rejected_total": ingest["rejected"] + removed_after_ingest,
    }
    accounting["errors"] = accounting_errors(stats, enabled)
    accounting["ok"] = not accounting["errors"]
    paths = RunPaths(output_uri, run_id)
    return {
        "run_id": run_id,
        "staging": paths.staging,
        "source_uri": source_uri,
        "config": cfg.to_dict(),
        "config_hash": cfg.digest(),
        "input_files": [
            {
                k: f.get(k)
                for k in (
                    "uri",
                    "relative",
                    "size",
                    "mtime",
                    "table_version",
                    "format",
                    "records",
                    "rejected",
                    "rows",
                )
            }
            for f in ingest["details"]["files"]
        ],
        "source_table": ingest["details"].get("table"),
        "stages": {
            s: {
                **{
                    k: stats[s].get(k)
                    for k in (
                        "enabled",
                        "note",
                        "in",
                        "out",
                        "rejected",
                        "rejected_by_reason",
                        "curated",
                        "rejects",
                        "seconds",
                    )
                },
                # what each stage measured (LSH banding, entities, judge tokens...); ingest's file
                # list is input_files above
                "details": {k: v for k, v in (stats[s].get("details") or {}).items() if k != "files"},
            }
            for s in STAGES
            if s in stats
        },
        "accounting": accounting,
        "lineage": lineage(stats),
        "outputs": {
            "curated": stats[last]["curated"],
            "rejects": [stats[s]["rejects"] for s in enabled],
        },
    }


def lineage(stats: dict[str, dict]) -> dict:
    """What the rows were checked against: benchmark files (decontaminate) and the published
    dedup index version (near_dedup.index), so an adapter's lineage names them too."""
    details = {s: (stats.get(s) or {}).get("details") or {} for s in ("decontaminate", "near_dedup")}
    index = details["near_dedup"].get("index")
    return {
        "benchmarks": [
            {k: b.get(k) for k in ("name", "uri", "sha256", "records")}
            for b in details["decontaminate"].get("benchmarks", [])
        ],
        "dedup_index": {k: index.get(k) for k in ("path", "digest", "versions", "rows")} if index else None,
    }


def accounting_errors(stats: dict[str, dict], enabled: list[str]) -> list[str]:
    errors = []
    ing = stats["ingest"]
    recs, conv = ing["details"]["records"], ing["details"]["converted"]
    if recs != conv + ing["rejected"]:
        errors.append(f"ingest: source records {recs} != converted {conv} + rejected {ing['rejected']}")
    prev_out = ing["out"]
    for s in enabled[1:]:
        st = stats[s]
        if st["in"] != prev_out:
            errors.append(f"{s}: read {st['in']} rows but the previous stage wrote {prev_out}")
        if st["in"] != st["out"] + st["rejected"]:
            errors.append(f"{s}: in {st['in']} != out {st['out']} + rejected {st['rejected']}")
        prev_out = st["out"]
    removed = sum(stats[s]["rejected"] for s in enabled[1:])
    if ing["out"] != stats[enabled[-1]]["out"] + removed:
        errors.append(
            f"run: canonical rows {ing['out']} != curated {stats[enabled[-1]]['out']} + rejected {removed}"
        )
    return errors


def finalize_run(*, run_id: str, source_uri: str, output_uri: str, cfg: PipelineConfig) -> dict:
    """Collect every stage's stats, write manifest.json, fail loudly if rows do not add up."""
    paths = RunPaths(output_uri, run_id)
    ep = cfg.storage.s3_endpoint_url
    stats = {s: storage.read_json(paths.stats(s), ep) for s in STAGES if storage.exists(paths.stats(s), ep)}
    missing = [s for s in STAGES if s not in stats]
    if missing:
        raise RuntimeError(f"stages without stats.json in {paths.staging}: {', '.join(missing)}")
    manifest = build_manifest(
        run_id=run_id, source_uri=source_uri, output_uri=output_uri, cfg=cfg, stats=stats
    )
    storage.write_json(paths.manifest, manifest, ep)
    log.info("manifest: %s", paths.manifest)
    log.info("%s", summary_table(manifest))
    if not manifest["accounting"]["ok"]:
        raise AccountingError("rows do not add up:\n  " + "\n  ".join(manifest["accounting"]["errors"]))
    return manifest


def summary_table(manifest: dict) -> str:
    """A short text table of stage counts and output paths."""
    rows = [("stage", "in", "out", "rejected", "note")]
    for s in (s for s in STAGES if s in manifest["stages"]):
        st = manifest["stages"][s]
        reasons = ", ".join(f"{k}={v}" for k, v in (st.get("rejected_by_reason") or {}).items())
        note = reasons or (st.get("note") or "")
        rows.append(
            (
                s,
                str(st["in"] if st["in"] is not None else "-"),
                str(st["out"] if st["out"] is not None else "-"),
                str(st["rejected"]),
                note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
    acc = manifest["accounting"]
    lines += [
        "",
        f"source records {acc['source_records']} -> canonical rows {acc['canonical_rows']} "
        f"(rejected at ingest: {acc['records_rejected_at_ingest']} records)",
        f"canonical rows {acc['canonical_rows']} = curated {acc['curated_rows']} + rejected "
        f"{acc['rows_rejected_after_ingest']}: {'OK' if acc['ok'] else 'MISMATCH'}",
        f"curated: {manifest['outputs']['curated']}",
    ]
    if manifest.get("version"):
        lines += [
            f"rejects: {manifest['outputs']['rejects']}/<stage>/",
            f"data docs: {manifest['outputs'].get('data_docs')}",
            f"manifest: {manifest['outputs']['curated'].rsplit('/', 1)[0]}/manifest.json",
        ]
    else:
        lines += [
            f"rejects: {manifest['staging']}/<stage>/rejects",
            f"manifest: {manifest['staging']}/manifest.json",
        ]
    return "\n".join(lines)
