"""Storage access by URI: local paths, ``file://``, ``s3://`` and ``s3a://``.

Everything goes through pyarrow filesystems, so S3 needs no Hadoop connector jars
(air-gapped clusters often lack them). The S3 endpoint comes from the
``storage.s3_endpoint_url`` setting or ``$AWS_ENDPOINT_URL`` (MinIO, moto); the
credentials from the usual AWS environment variables / instance profile.
"""

from __future__ import annotations

import fnmatch
import json
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

S3_SCHEMES = ("s3", "s3a", "s3n")


@dataclass(frozen=True)
class FileInfo:
    """A source file: full URI, path relative to the listed root, size and mtime."""

    uri: str
    relative: str
    size: int
    mtime: float | None


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in S3_SCHEMES


def is_local(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file")


def local_path(uri: str) -> str:
    return urlparse(uri).path if uri.startswith("file://") else uri


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a URI or local path with ``/``."""
    out = uri.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


#: the region when neither $AWS_DEFAULT_REGION nor $AWS_REGION is set (S3-compatible servers ignore it)
DEFAULT_REGION = "us-east-1"


def region() -> str:
    """The AWS region: ``$AWS_DEFAULT_REGION``, else ``$AWS_REGION``, else :data:`DEFAULT_REGION`."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or DEFAULT_REGION


def endpoint_url(configured: str | None = None) -> str | None:
    return configured or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def filesystem(uri: str, s3_endpoint: str | None = None) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for ``uri`` and the path inside it."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return pafs.LocalFileSystem(), str(Path(local_path(uri)).absolute())
    if parsed.scheme in S3_SCHEMES:
        kwargs: dict = {"region": region()}
        ep = endpoint_url(s3_endpoint)
        if ep:
            ep_parsed = urlparse(ep if "://" in ep else f"http://{ep}")
            kwargs.update(endpoint_override=ep_parsed.netloc, scheme=ep_parsed.scheme or "http")
        if os.environ.get("AWS_ACCESS_KEY_ID"):
            kwargs.update(
                access_key=os.environ["AWS_ACCESS_KEY_ID"],
                secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                session_token=os.environ.get("AWS_SESSION_TOKEN"),
            )
        return pafs.S3FileSystem(**kwargs), f"{parsed.netloc}{parsed.path}".rstrip("/")
    raise ValueError(
        f"unsupported URI scheme {parsed.scheme!r} in {uri!r}: use a local path, file://, s3:// or s3a://"
    )


def _uri_for(uri: str, path: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme in S3_SCHEMES:
        return f"{parsed.scheme}://{path}"
    return path


def _has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def list_files(
    uri: str, extensions: tuple[str, ...] | list[str] = (), s3_endpoint: str | None = None
) -> list[FileInfo]:
    """Files named by ``uri``: one file, a directory (recursive) or a glob.

    Hidden and underscore-prefixed entries (``_SUCCESS``, ``.crc``) are skipped. Sorted
    by relative path so every run sees the same order. Raises FileNotFoundError when
    nothing matches, naming the URI.
    """
    fs, path = filesystem(uri, s3_endpoint)
    if _has_glob(path):
        root = path
        while _has_glob(root):
            root = posixpath.dirname(root)
        pattern = path
    else:
        root, pattern = path, None
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"source not found: {uri}")
    if info.type == pafs.FileType.File and pattern is None:
        entries, base = [info], posixpath.dirname(root)
    else:
        entries, base = fs.get_file_info(pafs.FileSelector(root, recursive=True)), root
    out = []
    for e in entries:
        if e.type != pafs.FileType.File:
            continue
        rel = posixpath.relpath(e.path, base)
        if any(part.startswith((".", "_")) for part in rel.split("/")):
            continue
        if pattern is not None and not fnmatch.fnmatch(e.path, pattern):
            continue
        if extensions and not e.path.lower().endswith(tuple(extensions)):
            continue
        mtime = e.mtime.timestamp() if e.mtime is not None else None
        out.append(FileInfo(_uri_for(uri, e.path), rel, int(e.size or 0), mtime))
    if not out:
        raise FileNotFoundError(
            f"no input files matching {uri} (extensions: {', '.join(extensions) or 'any'})"
        )
    return sorted(out, key=lambda f: f.relative)


def open_input(uri: str, s3_endpoint: str | None = None):
    """A raw byte stream (no transparent decompression: callers decide)."""
    fs, path = filesystem(uri, s3_endpoint)
    return fs.open_input_stream(path, compression=None)


def exists(uri: str, s3_endpoint: str | None = None) -> bool:
    fs, path = filesystem(uri, s3_endpoint)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_bytes(uri: str, s3_endpoint: str | None = None) -> bytes:
    with open_input(uri, s3_endpoint) as f:
        return f.read()


def write_bytes(uri: str, data: bytes, s3_endpoint: str | None = None) -> None:
    """Write a whole file atomically: locally to a hidden temporary name in the same folder,
    then renamed over the target; on S3 a single PUT (an object appears whole or not at all).
    A crash mid-write leaves the old file (or none), never a truncated one."""
    fs, path = filesystem(uri, s3_endpoint)
    if not is_local(uri):
        with fs.open_output_stream(path) as f:
            f.write(data)
        return
    folder, name = posixpath.split(path)
    fs.create_dir(folder, recursive=True)
    tmp = posixpath.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(uri: str, s3_endpoint: str | None = None):
    return json.loads(read_bytes(uri, s3_endpoint))


def write_json(uri: str, obj, s3_endpoint: str | None = None) -> None:
    write_bytes(
        uri, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(), s3_endpoint
    )


def write_jsonl(uri: str, records: list[dict], s3_endpoint: str | None = None) -> None:
    """One JSON object per line (keys sorted, UTF-8 as is)."""
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records).encode()
    write_bytes(uri, data, s3_endpoint)


def delete_dir(uri: str, s3_endpoint: str | None = None) -> None:
    """Remove a directory tree if it exists (used to make stage output overwrite)."""
    fs, path = filesystem(uri, s3_endpoint)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)


def probe_write(uri: str, name: str, s3_endpoint: str | None = None) -> None:
    """Write and delete ``<uri>/<name>``: raises what the storage raises when ``uri`` is not writable."""
    probe = join(uri, name)
    write_bytes(probe, b"ok\n", s3_endpoint)
    fs, path = filesystem(probe, s3_endpoint)
    fs.delete_file(path)
