"""Stage ``publish``: commit a run as ``<output>/versions/<id>/`` and move ``<output>/_latest``.

Standalone: ``python -m spark_jobs.publish --input <run folder> --output <dataset root>``
where the run folder holds one folder per stage (``ingest/``, ``normalize/``, …). It
copies files only (server-side on S3), so it starts no Spark session. The config is the
one the stages recorded in their ``stats.json``; a ``--config`` that differs is refused
(exit 2), so a run is never published under another config's version id.
"""

from __future__ import annotations

import argparse
import json
import logging
import posixpath
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from include import storage
from include.config import ConfigError, load_config
from include.publish import ConfigMismatch, publish_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="the run folder (one sub-folder per stage)")
    parser.add_argument("--output", required=True, help="dataset root: versions/ and _latest live here")
    parser.add_argument(
        "--config",
        default=None,
        help="YAML/JSON file (or inline JSON) over the defaults; default: the config the run's stages used",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config) if args.config else None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    staging = args.input.rstrip("/")
    endpoint = cfg.storage.s3_endpoint_url if cfg else None
    source = storage.read_json(storage.join(staging, "ingest", "stats.json"), endpoint)["input"]
    try:
        result = publish_run(
            run_id=posixpath.basename(staging),
            source_uri=source,
            output_uri=args.output,
            cfg=cfg,
            staging=staging,
        )
    except ConfigMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
