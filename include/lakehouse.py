"""Lakehouse tables in and out without Spark connector jars.

In: a Delta table (delta-rs resolves the active Parquet files at the latest or a
pinned version) or an Iceberg table (pyiceberg resolves a snapshot's data files);
ingest then reads those Parquet files like any others and the manifest records the
table version / snapshot. Tables whose correct reading needs more than their data
files (Delta deletion vectors or column mapping, Iceberg delete files) are refused
with a clear message rather than read wrong.

Out: the published ``curated/`` files registered as a Delta table (in place, by
``convert_to_deltalake``) or appended to an Iceberg table with ``add_files`` as a new
snapshot that replaces the previous version's files.
"""

from __future__ import annotations

import logging
import os
import posixpath
from dataclasses import dataclass, field
from urllib.parse import urlparse

from include import storage
from include.settings import REPO_ROOT

log = logging.getLogger(__name__)


class UnsupportedTable(ValueError):
    """A table feature that a plain Parquet read would get wrong."""


@dataclass
class TableSource:
    """What a table source resolved to: its data files and the pinned version."""

    format: str  # delta | iceberg
    table: str  # table URI or identifier
    version: int  # Delta version or Iceberg snapshot id
    files: list[storage.FileInfo] = field(default_factory=list)
    partition_values: dict[str, dict] = field(default_factory=dict)  # relative path -> {column: value}

    def to_dict(self) -> dict:
        return {"format": self.format, "table": self.table, "version": self.version, "files": len(self.files)}


def iceberg_catalog_properties(configured: dict) -> dict:
    """pyiceberg catalog properties: config, else a SQL catalog on SQLite under output/iceberg."""
    if configured:
        return dict(configured)
    base = os.environ.get("LLMOPS_ICEBERG_HOME", str(REPO_ROOT / "output" / "iceberg"))
    os.makedirs(base, exist_ok=True)
    return {"type": "sql", "uri": f"sqlite:///{base}/catalog.db", "warehouse": f"file://{base}/warehouse"}


def detect_table_format(source_uri: str, configured: str = "auto", endpoint: str | None = None) -> str:
    """``files``, ``delta`` or ``iceberg`` for a source URI."""
    if configured != "auto":
        return configured
    if urlparse(source_uri).scheme == "iceberg":
        return "iceberg"
    if not any(c in source_uri for c in "*?[") and storage.exists(
        storage.join(source_uri, "_delta_log"), endpoint
    ):
        return "delta"
    return "files"


def _delta_storage_options(uri: str, endpoint: str | None) -> dict:
    if not storage.is_s3(uri):
        return {}
    opts = {"AWS_REGION": os.environ.get("AWS_DEFAULT_REGION", storage.DEFAULT_REGION)}
    ep = storage.endpoint_url(endpoint)
    if ep:
        opts.update(AWS_ENDPOINT_URL=ep, AWS_ALLOW_HTTP="true")
    return opts


def _delta_uri(uri: str) -> str:
    return "s3://" + uri.split("://", 1)[1] if storage.is_s3(uri) else storage.local_path(uri)


def resolve_delta(
    uri: str, version: int | None = None, endpoint: str | None = None, check_features: bool = True
) -> TableSource:
    from deltalake import DeltaTable

    dt = DeltaTable(_delta_uri(uri), version=version, storage_options=_delta_storage_options(uri, endpoint))
    features = set(dt.protocol().reader_features or []) if check_features else set()
    if "deletionVectors" in features and _has_deletion_vectors(dt):
        raise UnsupportedTable(
            f"Delta table {uri} (version {dt.version()}) has deletion vectors: reading its Parquet files would "
            "return deleted rows. Purge them (REORG TABLE ... APPLY (PURGE)) or set lakehouse.native_readers: true "
            "on a cluster with the Delta connector."
        )
    if check_features and (
        "columnMapping" in features
        or dt.metadata().configuration.get("delta.columnMapping.mode", "none") != "none"
    ):
        raise UnsupportedTable(
            f"Delta table {uri} uses column mapping: Parquet column names differ from the table's"
        )
    actions = _arro3_to_pydict(dt.get_add_actions(flatten=True))
    part_cols = [c for c in actions if c.startswith("partition.")]
    root = uri.rstrip("/")
    files, parts = [], {}
    for i, path in enumerate(actions["path"]):
        rel = path if "://" not in path and not path.startswith("/") else posixpath.relpath(path, root)
        mtime = actions["modification_time"][i]
        files.append(
            storage.FileInfo(
                storage.join(root, rel), rel, int(actions["size_bytes"][i]), mtime / 1000 if mtime else None
            )
        )
        parts[rel] = {c.removeprefix("partition."): actions[c][i] for c in part_cols}
    files.sort(key=lambda f: f.relative)
    log.info("Delta table %s at version %d: %d data files", uri, dt.version(), len(files))
    return TableSource("delta", uri, dt.version(), files, parts)


def _arro3_to_pydict(table) -> dict:
    import pyarrow as pa

    return pa.table(table).to_pydict()


def _has_deletion_vectors(dt) -> bool:
    try:
        dv = dt.deletion_vectors()
        return (dv.num_rows if hasattr(dv, "num_rows") else len(_arro3_to_pydict(dv).get("filepath", []))) > 0
    except Exception:  # cannot tell: be safe
        return True


def iceberg_identifier(source_uri: str) -> str:
    parsed = urlparse(source_uri)
    ident = (parsed.netloc + parsed.path).strip("/").replace("/", ".")
    if "." not in ident:
        raise ValueError(f"Iceberg source must be iceberg://<namespace>.<table>, got {source_uri!r}")
    return ident


def resolve_iceberg(
    source_uri: str, catalog_props: dict, snapshot_id: int | None = None, check_features: bool = True
) -> TableSource:
    from pyiceberg.catalog import load_catalog

    ident = iceberg_identifier(source_uri)
    props = iceberg_catalog_properties(catalog_props)
    table = load_catalog(props.pop("name", "llmops"), **props).load_table(ident)
    snap = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
    if snap is None:
        raise ValueError(
            f"Iceberg table {ident} has no snapshot {snapshot_id if snapshot_id is not None else ''}"
        )
    files = []
    for task in table.scan(snapshot_id=snap.snapshot_id).plan_files():
        if task.delete_files and check_features:
            raise UnsupportedTable(
                f"Iceberg table {ident} snapshot {snap.snapshot_id} has delete files for {task.file.file_path}: "
                "plain Parquet reads would return deleted rows. Rewrite the table (rewrite_data_files) or set "
                "lakehouse.native_readers: true on a cluster with the Iceberg runtime."
            )
        path = task.file.file_path
        uri = path if "://" in path and not path.startswith("file://") else urlparse(path).path or path
        files.append(
            storage.FileInfo(
                uri, posixpath.basename(urlparse(path).path), int(task.file.file_size_in_bytes), None
            )
        )
    files.sort(key=lambda f: f.relative)
    log.info("Iceberg table %s at snapshot %d: %d data files", ident, snap.snapshot_id, len(files))
    return TableSource("iceberg", ident, snap.snapshot_id, files)


def resolve_source(
    source_uri: str, lake_cfg, extensions, endpoint: str | None = None
) -> tuple[list[storage.FileInfo], TableSource | None]:
    """The files to ingest for ``source_uri`` and, for a table, what it resolved to."""
    kind = detect_table_format(source_uri, lake_cfg.table_format, endpoint)
    native = getattr(lake_cfg, "native_readers", False)  # Spark's connector reads deletes correctly
    if kind == "delta":
        src = resolve_delta(source_uri, lake_cfg.version, endpoint, check_features=not native)
    elif kind == "iceberg":
        src = resolve_iceberg(
            source_uri, lake_cfg.iceberg_catalog, lake_cfg.version, check_features=not native
        )
    else:
        return storage.list_files(source_uri, extensions, endpoint), None
    if not src.files:
        raise FileNotFoundError(f"{kind} table {source_uri} at version {src.version} has no data files")
    return src.files, src


# ------------------------------------------------------------------ output


def register_delta(curated_uri: str, endpoint: str | None = None) -> dict:
    """Make the published curated/ folder a Delta table in place (adds ``_delta_log``)."""
    from deltalake import DeltaTable, convert_to_deltalake

    uri = _delta_uri(curated_uri)
    opts = _delta_storage_options(curated_uri, endpoint)
    convert_to_deltalake(uri, storage_options=opts or None)
    return {
        "format": "delta",
        "table": curated_uri,
        "version": DeltaTable(uri, storage_options=opts).version(),
    }


def register_iceberg(curated_files: list[str], identifier: str, catalog_props: dict, version_id: str) -> dict:
    """Point an Iceberg table at the published files: one snapshot per dataset version."""
    import pyarrow.parquet as pq
    from pyiceberg.catalog import load_catalog
    from pyiceberg.expressions import AlwaysTrue

    props = iceberg_catalog_properties(catalog_props)
    catalog = load_catalog(props.pop("name", "llmops"), **props)
    namespace = identifier.rsplit(".", 1)[0]
    catalog.create_namespace_if_not_exists(namespace)
    schema = pq.read_schema(_buffer(curated_files[0]))
    table = catalog.create_table_if_not_exists(identifier, schema=schema)
    with table.transaction() as tx:
        if table.current_snapshot() is not None:
            tx.delete(AlwaysTrue())
        tx.add_files(
            [_iceberg_path(p) for p in curated_files], snapshot_properties={"llmops.version": version_id}
        )
    table = catalog.load_table(identifier)
    return {"format": "iceberg", "table": identifier, "version": table.current_snapshot().snapshot_id}


def _buffer(uri: str):
    import pyarrow as pa

    return pa.BufferReader(storage.read_bytes(uri))


def _iceberg_path(uri: str) -> str:
    if storage.is_s3(uri):
        return "s3://" + uri.split("://", 1)[1]
    return uri if uri.startswith("file://") else f"file://{os.path.abspath(storage.local_path(uri))}"
