"""Content hashing: the files of a version (streamed sha256) and its lineage identity."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from include import storage
from include.registry.layout import RegistryError

IDENTITY_KEYS = (
    "base_model",
    "base_model_revision",
    "base_model_hash",
    "dataset_content_hash",
    "method",
    "config",
)
#: uploaded with the version but left out of the content hash: they change on every run (wall time, paths)
VOLATILE_FILES = frozenset({"metrics.json", "training_config.json", "README.md"})


def compute_content_hash(files: dict[str, str], manifest: dict) -> str:
    """sha256 over the files' (path, sha256) — except :data:`VOLATILE_FILES` — and the lineage
    identity of ``manifest`` (:data:`IDENTITY_KEYS`)."""
    identity = {k: manifest.get(k) for k in IDENTITY_KEYS}
    stable = {p: d for p, d in sorted(files.items()) if p not in VOLATILE_FILES}
    blob = json.dumps(
        {"files": stable, "identity": identity}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative path inside the version
    uri: str  # local path or s3:// URI
    size: int
    sha256: str


def sha256_stream(stream) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(8 << 20):
        h.update(chunk)
    return h.hexdigest()


def list_source(source: str | Path) -> list[SourceFile]:
    """Every file under a local folder or s3:// prefix, with size and sha256 (streamed, not loaded)."""
    src = str(source)
    if storage.is_local(src):
        root = Path(storage.local_path(src))
        if not root.is_dir():
            raise RegistryError(f"adapter folder not found: {src}")
        out = []
        for p in sorted(root.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                with p.open("rb") as f:
                    out.append(
                        SourceFile(p.relative_to(root).as_posix(), str(p), p.stat().st_size, sha256_stream(f))
                    )
        return out
    out = []
    for f in storage.list_files(src):
        with storage.open_input(f.uri) as stream:
            out.append(SourceFile(f.relative, f.uri, f.size, sha256_stream(stream)))
    return out
