"""Print the stage-count table of the newest run under an output URI.

``python -m include.report OUTPUT_URI [RUN_ID]``
"""

from __future__ import annotations

import sys

from include import storage
from include.run import RunPaths, summary_table


def newest_manifest(output_uri: str) -> str:
    files = [f for f in storage.list_files(storage.join(output_uri, "_staging"), (".json",))
             if f.relative.endswith("/manifest.json") and f.relative.count("/") == 1]
    if not files:
        raise FileNotFoundError(f"no run manifest under {output_uri}/_staging")
    return max(files, key=lambda f: (f.mtime or 0, f.relative)).uri


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    uri = RunPaths(argv[0], argv[1]).manifest if len(argv) > 1 else newest_manifest(argv[0])
    print(summary_table(storage.read_json(uri)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
