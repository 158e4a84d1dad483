"""Print the stage-count table of a curation run under an output URI, and for a published
version (re)write its ``report.html`` and ``DATA_CARD.md`` and print their paths.

``python -m include.report OUTPUT_URI [RUN_ID]``: the current published version
(``_latest``), else the newest run manifest in ``_staging/`` (publish disabled or
failed), or the staging manifest of RUN_ID.
"""

from __future__ import annotations

import sys

from include import storage
from include.publish import current_version, version_dir
from include.run import RunPaths, summary_table


def newest_manifest(output_uri: str) -> str:
    vid = current_version(output_uri)
    if vid:
        return storage.join(version_dir(output_uri, vid), "manifest.json")
    try:
        files = [
            f
            for f in storage.list_files(storage.join(output_uri, "_staging"), (".json",))
            if f.relative.endswith("/manifest.json") and f.relative.count("/") == 1
        ]
    except FileNotFoundError:
        files = []
    if not files:
        raise FileNotFoundError(f"no published version and no run manifest under {output_uri}")
    return max(files, key=lambda f: (f.mtime or 0, f.relative)).uri


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    uri = RunPaths(argv[0], argv[1]).manifest if len(argv) > 1 else newest_manifest(argv[0])
    manifest = storage.read_json(uri)
    if manifest.get("version"):
        print(f"dataset version {manifest['version']} (published {manifest.get('published_at')})")
    print(summary_table(manifest))
    if manifest.get("version"):
        from include.dataset_report import write_report

        paths = write_report(uri.rsplit("/", 1)[0])
        print(f"dataset report: {paths['report']}\ndata card: {paths['data_card']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
