"""Command line of the S3 adapter registry.

    python -m include.registry [--endpoint-url URL] [--aws-conn-id ID] REGISTRY_URI COMMAND ...

Commands::

    list                                 adapters with their versions and aliases
    versions NAME                        complete versions of NAME
    get NAME [REF]                       manifest of a version (REF: N, vN, latest, alias; default latest)
    resolve NAME REF                     version number of REF
    register NAME DIR [--manifest FILE] [--alias A ...]
    alias NAME ALIAS REF [--force]       point ALIAS at a version (--force: even if its gate failed)
    download NAME REF DEST               copy a version's files to DEST

Output is JSON on stdout; errors go to stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from include.registry import AdapterRegistry, RegistryError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.registry", description="S3 adapter registry")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: $AWS_ENDPOINT_URL)")
    p.add_argument("--aws-conn-id", help="Airflow AWS connection whose extra.endpoint_url/keys to use")
    p.add_argument("registry_uri", help="s3://bucket[/prefix]")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    sp = sub.add_parser("versions")
    sp.add_argument("name")
    sp = sub.add_parser("get")
    sp.add_argument("name")
    sp.add_argument("ref", nargs="?", default="latest")
    sp = sub.add_parser("resolve")
    sp.add_argument("name")
    sp.add_argument("ref")
    sp = sub.add_parser("register")
    sp.add_argument("name")
    sp.add_argument("source", help="local folder or s3:// prefix with the adapter files")
    sp.add_argument("--manifest", help="JSON file with lineage fields to record")
    sp.add_argument("--alias", action="append", default=[])
    sp = sub.add_parser("alias")
    sp.add_argument("name")
    sp.add_argument("alias")
    sp.add_argument("ref")
    sp.add_argument("--force", action="store_true", help="alias a version whose evaluation gate failed")
    sp = sub.add_parser("download")
    sp.add_argument("name")
    sp.add_argument("ref")
    sp.add_argument("dest")
    args = p.parse_args(argv)

    try:
        reg = AdapterRegistry(args.registry_uri, endpoint_url=args.endpoint_url, aws_conn_id=args.aws_conn_id)
        if args.command == "list":
            out = {
                n: {"versions": reg.list_versions(n), "aliases": reg.aliases(n)} for n in reg.list_adapters()
            }
        elif args.command == "versions":
            out = reg.list_versions(args.name)
        elif args.command == "get":
            out = reg.get(args.name, args.ref)
        elif args.command == "resolve":
            out = {"adapter_name": args.name, "ref": args.ref, "version": reg.resolve(args.name, args.ref)}
        elif args.command == "register":
            manifest = json.loads(Path(args.manifest).read_text()) if args.manifest else {}
            out = reg.register(args.name, args.source, manifest, aliases=args.alias).to_dict()
        elif args.command == "alias":
            out = reg.set_alias(args.name, args.alias, args.ref, force=args.force)
        else:
            out = {"path": str(reg.download(args.name, args.ref, args.dest))}
    except (RegistryError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
