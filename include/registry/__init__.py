"""S3 adapter registry: immutable numbered versions with full lineage, and aliases.

Layout under ``<registry_uri>`` (``s3://bucket/prefix``)::

    <adapter_name>/v<N>/<adapter files...>     the adapter (or full model), tokenizer, metrics.json ...
    <adapter_name>/v<N>/manifest.json          written LAST: a version exists once its manifest does
    <adapter_name>/v<N>/_claim.json            who allocated N (conditional write)
    <adapter_name>/aliases/<alias>.json        {"version": N, ...} pointers (e.g. production, staging)
    <adapter_name>/aliases/latest.json         the newest version that passed its evaluation gate
    <adapter_name>/index/<content_hash>.json   content hash -> version (idempotent registration)

**Allocation.** The next version is ``max(existing) + 1``, claimed with a conditional
``PutObject(If-None-Match: "*")`` of ``v<N>/_claim.json``: when two registrations race for
N, S3 accepts exactly one claim and the other gets ``412 Precondition Failed`` and moves to
N+1, so both succeed with different versions and neither overwrites the other. The claim
is read back (token check) and the manifest is also written with ``If-None-Match``, which
guards S3-compatible servers whose conditional writes are not atomic.

Version numbers only grow; a registration that crashed after its claim leaves a gap
(a ``v<N>/`` without manifest, never listed).

**Visibility.** Files are uploaded first and ``manifest.json`` last, so a reader that lists
versions (which requires the manifest) never sees a half-written version.

**Gate and aliases.** A manifest whose ``gate.passed`` is false is still registered (immutable,
with its reasons) but moves no alias: ``latest`` advances only to a newer passing (or
gate-less) version, and :meth:`AdapterRegistry.set_alias` refuses a failed version unless
``force``. ``resolve(name, "latest")`` reads ``aliases/latest.json``; only when it does not exist
(registries written before it) does it fall back to the highest complete version.

**Idempotency.** ``content_hash`` = sha256 of the files (path + sha256 each; not the
per-run ``metrics.json`` / ``training_config.json`` / ``README.md``) and the lineage identity
(base model + revision/hash, dataset content hash, method, config).
Registering the same content again returns the existing version (``created: false``).

Endpoint: ``endpoint_url`` argument, else the Airflow AWS connection ``aws_conn_id``
(extra ``endpoint_url`` / ``region_name``, login/password as keys), else
``$AWS_ENDPOINT_URL_S3`` / ``$AWS_ENDPOINT_URL``, else AWS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from include import storage

MANIFEST = "manifest.json"
LATEST = "latest"
CLAIM = "_claim.json"
VERSION_RE = re.compile(r"^v(\d+)$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
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


class RegistryError(RuntimeError):
    """Bad registry request (unknown adapter/version/alias, bad name)."""


@dataclass(frozen=True)
class RegisteredVersion:
    adapter_name: str
    version: int
    uri: str
    manifest_uri: str
    content_hash: str
    created: bool  # False: the same content was already registered as this version

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def gate_failed(manifest: dict | None) -> bool:
    """True when the manifest records a failed evaluation gate."""
    gate = (manifest or {}).get("gate")
    return isinstance(gate, dict) and gate.get("passed") is False


def gate_reasons(manifest: dict) -> str:
    reasons = (manifest.get("gate") or {}).get("reasons") or []
    return "; ".join(map(str, reasons)) or "no reasons recorded"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_name(kind: str, value: str) -> str:
    if not NAME_RE.match(value or ""):
        raise RegistryError(f"invalid {kind} {value!r}: use letters, digits, '.', '_' or '-' (max 128)")
    return value


def _is_precondition_failed(exc: Exception) -> bool:
    resp = getattr(exc, "response", None) or {}
    code = str(resp.get("Error", {}).get("Code", ""))
    status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "412", "ConditionalRequestConflict") or status in (409, 412)


def _is_missing(exc: Exception) -> bool:
    resp = getattr(exc, "response", None) or {}
    code = str(resp.get("Error", {}).get("Code", ""))
    return (
        code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
        or resp.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
    )


def connection_settings(aws_conn_id: str | None) -> dict:
    """boto3 client kwargs from an Airflow AWS connection (endpoint_url, region, keys)."""
    if not aws_conn_id:
        return {}
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(aws_conn_id)
    extra = conn.extra_dejson or {}
    out: dict[str, Any] = {}
    endpoint = extra.get("endpoint_url") or extra.get("host") or (conn.host if conn.host else None)
    if endpoint:
        out["endpoint_url"] = endpoint
    if extra.get("region_name"):
        out["region_name"] = extra["region_name"]
    if conn.login:
        out["aws_access_key_id"] = conn.login
        out["aws_secret_access_key"] = conn.password
    if extra.get("aws_session_token"):
        out["aws_session_token"] = extra["aws_session_token"]
    return out


def connection_env(aws_conn_id: str | None) -> dict[str, str]:
    """The connection's S3 settings as the environment variables boto3 reads, for a child
    process that cannot see Airflow's connections (e.g. the local training subprocess)."""
    names = {
        "endpoint_url": "AWS_ENDPOINT_URL",
        "region_name": "AWS_DEFAULT_REGION",
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "aws_session_token": "AWS_SESSION_TOKEN",
    }
    return {names[k]: str(v) for k, v in connection_settings(aws_conn_id).items() if v and k in names}


def s3_client(endpoint_url: str | None = None, aws_conn_id: str | None = None):
    import boto3
    from botocore.config import Config

    kwargs = connection_settings(aws_conn_id)
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    kwargs.setdefault("endpoint_url", storage.endpoint_url())
    kwargs.setdefault(
        "region_name", os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    )
    if not kwargs.get("endpoint_url"):
        kwargs.pop("endpoint_url")
    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}), **kwargs)


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


def _sha256_stream(stream) -> str:
    h = hashlib.sha256()
    while chunk := stream.read(8 << 20):
        h.update(chunk)
    return h.hexdigest()


def _list_source(source: str | Path) -> list[SourceFile]:
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
                        SourceFile(
                            p.relative_to(root).as_posix(), str(p), p.stat().st_size, _sha256_stream(f)
                        )
                    )
        return out
    out = []
    for f in storage.list_files(src):
        with storage.open_input(f.uri) as stream:
            out.append(SourceFile(f.relative, f.uri, f.size, _sha256_stream(stream)))
    return out


class AdapterRegistry:
    """Registry rooted at ``registry_uri`` (``s3://bucket[/prefix]``)."""

    def __init__(
        self,
        registry_uri: str,
        *,
        endpoint_url: str | None = None,
        aws_conn_id: str | None = None,
        client=None,
    ):
        parsed = urlparse(registry_uri)
        if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
            raise RegistryError(f"registry_uri must be s3://bucket[/prefix], got {registry_uri!r}")
        self.uri = registry_uri.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.s3 = client or s3_client(endpoint_url, aws_conn_id)

    # -------------------------------------------------------------- keys

    def _key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def version_uri(self, name: str, version: int) -> str:
        return f"s3://{self.bucket}/{self._key(name, f'v{version}')}"

    def _get_json(self, key: str) -> dict | None:
        return self._get_json_etag(key)[0]

    def _get_json_etag(self, key: str) -> tuple[dict | None, str | None]:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return None, None
            raise
        return json.loads(obj["Body"].read()), obj.get("ETag")

    def _put_json(
        self, key: str, obj: dict, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str:
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": "application/json",
            "Body": (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(),
        }
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match:
            kwargs["IfMatch"] = if_match
        return self.s3.put_object(**kwargs).get("ETag", "")

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception as exc:  # noqa: BLE001
            if _is_missing(exc):
                return False
            raise

    def _prefixes(self, prefix: str) -> list[str]:
        out, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            resp = self.s3.list_objects_v2(**kwargs)
            out += [p["Prefix"][len(prefix) :].strip("/") for p in resp.get("CommonPrefixes", [])]
            if not resp.get("IsTruncated"):
                return out
            token = resp["NextContinuationToken"]

    def _keys(self, prefix: str) -> list[str]:
        out, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            resp = self.s3.list_objects_v2(**kwargs)
            out += [o["Key"] for o in resp.get("Contents", [])]
            if not resp.get("IsTruncated"):
                return out
            token = resp["NextContinuationToken"]

    # -------------------------------------------------------------- reading

    def list_adapters(self) -> list[str]:
        base = self._key() + "/" if self.prefix else ""
        return sorted(n for n in self._prefixes(base) if self.list_versions(n))

    def _allocated_versions(self, name: str) -> list[int]:
        nums = []
        for p in self._prefixes(self._key(name) + "/"):
            m = VERSION_RE.match(p)
            if m:
                nums.append(int(m.group(1)))
        return sorted(nums)

    def list_versions(self, name: str) -> list[int]:
        """Complete versions (manifest written), ascending."""
        return [v for v in self._allocated_versions(name) if self._exists(self._key(name, f"v{v}", MANIFEST))]

    def latest(self, name: str) -> int | None:
        """The highest complete version (passing or not); see :meth:`resolve` for ``latest``."""
        versions = self.list_versions(name)
        return versions[-1] if versions else None

    def resolve(self, name: str, ref: str | int = "latest") -> int:
        """A version number for ``ref``: an int, ``"v3"``/``"3"``, ``"latest"`` (the newest version that
        passed its gate: ``aliases/latest.json``, else the highest complete version) or an alias name."""
        _check_name("adapter name", name)
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        m = VERSION_RE.match(str(ref))
        if m:
            return int(m.group(1))
        if ref == LATEST:
            pointer = self._get_json(self._key(name, "aliases", f"{LATEST}.json"))
            if pointer is not None:
                return int(pointer["version"])
            v = self.latest(name)
            if v is None:
                raise RegistryError(f"adapter {name!r} has no versions in {self.uri}")
            return v
        return self.resolve_alias(name, str(ref))

    def get(self, name: str, ref: str | int = "latest") -> dict:
        """The manifest of a version (by number, ``latest`` or alias)."""
        version = self.resolve(name, ref)
        manifest = self._get_json(self._key(name, f"v{version}", MANIFEST))
        if manifest is None:
            raise RegistryError(f"{name} v{version} does not exist (or is not complete) in {self.uri}")
        return manifest

    def resolve_alias(self, name: str, alias: str) -> int:
        pointer = self._get_json(self._key(name, "aliases", f"{_check_name('alias', alias)}.json"))
        if pointer is None:
            raise RegistryError(f"alias {alias!r} of adapter {name!r} does not exist in {self.uri}")
        return int(pointer["version"])

    def aliases(self, name: str) -> dict[str, int]:
        out = {}
        for key in self._keys(self._key(name, "aliases") + "/"):
            if key.endswith(".json"):
                pointer = self._get_json(key)
                if pointer:
                    out[key.rsplit("/", 1)[1][:-5]] = int(pointer["version"])
        return dict(sorted(out.items()))

    def find_by_content(self, name: str, content_hash: str) -> int | None:
        """The version holding ``content_hash``: from the index, else by reading the manifests
        (a registration that crashed after its manifest but before its index entry)."""
        pointer = self._get_json(self._key(name, "index", f"{content_hash}.json"))
        if pointer and self._exists(self._key(name, f"v{pointer['version']}", MANIFEST)):
            return int(pointer["version"])
        for version in reversed(self.list_versions(name)):
            manifest = self._get_json(self._key(name, f"v{version}", MANIFEST)) or {}
            if manifest.get("content_hash") == content_hash:
                self._put_json(self._key(name, "index", f"{content_hash}.json"), {"version": version})
                return version
        return None

    def download(self, name: str, ref: str | int, dest: str | Path) -> Path:
        version = self.resolve(name, ref)
        prefix = self._key(name, f"v{version}") + "/"
        dest = Path(dest)
        for key in self._keys(prefix):
            rel = key[len(prefix) :]
            if rel == CLAIM:
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        return dest

    # -------------------------------------------------------------- writing

    def _claim(self, name: str, token: str, start: int) -> int:
        """Allocate the next free version number with a conditional write; returns it."""
        version = start
        for _ in range(1000):
            key = self._key(name, f"v{version}", CLAIM)
            try:
                self._put_json(key, {"token": token, "claimed_at": _now()}, if_none_match=True)
            except Exception as exc:  # noqa: BLE001
                if not _is_precondition_failed(exc):
                    raise
                version += 1
                continue
            claim = self._get_json(key)
            if claim and claim.get("token") == token:
                return version
            version += 1  # a non-atomic server let another writer overwrite our claim
        raise RegistryError(f"could not allocate a version for {name} after 1000 attempts")

    def register(
        self,
        name: str,
        source: str | Path,
        manifest: dict | None = None,
        *,
        aliases: tuple[str, ...] | list[str] = (),
        parent_version: int | None = None,
    ) -> RegisteredVersion:
        """Upload ``source`` (local folder or s3:// prefix) as the next version of ``name``.

        ``manifest`` carries the lineage (base model, dataset, config, metrics, versions...);
        the registry adds version, files, content hash, created_at and parent version. The
        same content registered again returns the existing version.
        """
        _check_name("adapter name", name)
        if aliases and gate_failed(manifest):
            raise RegistryError(
                f"refusing aliases {', '.join(aliases)} for a version whose evaluation gate failed "
                f"({gate_reasons(manifest or {})}); register it without aliases"
            )
        files = _list_source(source)
        if not files:
            raise RegistryError(f"no files under {source}")
        digests = {f.path: f.sha256 for f in files}
        manifest = dict(manifest or {})
        content_hash = compute_content_hash(digests, manifest)
        existing = self.find_by_content(name, content_hash)
        if existing is not None:
            if not gate_failed(self._get_json(self._key(name, f"v{existing}", MANIFEST))):
                self.advance_latest(name, existing)
            self._set_aliases(name, aliases, existing)
            return self._registered(name, existing, content_hash, created=False)

        token = uuid.uuid4().hex
        allocated = self._allocated_versions(name)
        parent = parent_version if parent_version is not None else self.latest(name)
        for attempt in range(20):
            version = self._claim(name, token, (allocated[-1] + 1) if allocated else 1)
            for f in files:
                self._upload(f, self._key(name, f"v{version}", f.path))
            full = {
                **manifest,
                "adapter_name": name,
                "version": version,
                "uri": self.version_uri(name, version),
                "registry_uri": self.uri,
                "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in files],
                "content_hash": content_hash,
                "created_at": _now(),
                "parent_version": parent,
                "registration_token": token,
            }
            try:
                self._put_json(self._key(name, f"v{version}", MANIFEST), full, if_none_match=True)
            except Exception as exc:  # noqa: BLE001
                if not _is_precondition_failed(exc):
                    raise
                allocated = [version]  # someone completed this number: take the next one
                time.sleep(0.01 * (attempt + 1))
                continue
            written = self._get_json(self._key(name, f"v{version}", MANIFEST))
            if written and written.get("registration_token") != token:
                allocated = [version]
                continue
            try:
                self._put_json(
                    self._key(name, "index", f"{content_hash}.json"), {"version": version}, if_none_match=True
                )
            except Exception as exc:  # noqa: BLE001
                if not _is_precondition_failed(exc):
                    raise  # an identical concurrent registration indexed first; both versions stay valid
            if not gate_failed(full):
                self.advance_latest(name, version)
            self._set_aliases(name, aliases, version)
            return self._registered(name, version, content_hash, created=True)
        raise RegistryError(f"could not register {name}: version allocation kept conflicting")

    def _upload(self, f: SourceFile, key: str) -> None:
        """Managed (multipart above 8 MB) upload, streamed from disk or from the source object store."""
        if storage.is_local(f.uri):
            self.s3.upload_file(f.uri, self.bucket, key)
        else:
            with storage.open_input(f.uri) as stream:
                self.s3.upload_fileobj(stream, self.bucket, key)

    def _registered(self, name: str, version: int, content_hash: str, created: bool) -> RegisteredVersion:
        uri = self.version_uri(name, version)
        return RegisteredVersion(name, version, uri, f"{uri}/{MANIFEST}", content_hash, created)

    def _set_aliases(self, name: str, aliases, version: int) -> None:
        for alias in aliases or ():
            self.set_alias(name, alias, version)

    def set_alias(self, name: str, alias: str, version: int | str, *, force: bool = False) -> dict:
        """Point ``alias`` at an existing complete version (overwrites the previous pointer).

        A version whose evaluation gate failed is refused unless ``force`` (recorded in the pointer).
        """
        _check_name("alias", alias)
        if alias == LATEST or VERSION_RE.match(alias) or alias.isdigit():
            raise RegistryError(f"alias {alias!r} is reserved (latest, v<N> and numbers name versions)")
        number = self.resolve(name, version)
        manifest = self._get_json(self._key(name, f"v{number}", MANIFEST))
        if manifest is None:
            raise RegistryError(f"cannot alias {alias!r} to {name} v{number}: no such complete version")
        failed = gate_failed(manifest)
        if failed and not force:
            raise RegistryError(
                f"refusing to point {alias!r} at {name} v{number}: its evaluation gate failed "
                f"({gate_reasons(manifest)}); use force to override"
            )
        key = self._key(name, "aliases", f"{alias}.json")
        previous = self._get_json(key)
        pointer = {
            "adapter_name": name,
            "alias": alias,
            "version": number,
            "updated_at": _now(),
            "previous_version": previous.get("version") if previous else None,
        }
        if failed:
            pointer["forced_despite_failed_gate"] = True
        self._put_json(key, pointer)
        return pointer

    def advance_latest(self, name: str, version: int) -> bool:
        """Move ``latest`` to ``version`` unless it already points at a newer one (conditional writes,
        so concurrent registrations cannot move it backwards). Callers pass passing versions only."""
        key = self._key(name, "aliases", f"{LATEST}.json")
        for attempt in range(50):
            current, etag = self._get_json_etag(key)
            if current is not None and int(current["version"]) >= version:
                return False
            pointer = {
                "adapter_name": name,
                "alias": LATEST,
                "version": version,
                "updated_at": _now(),
                "previous_version": current.get("version") if current else None,
            }
            try:
                if current is None:
                    self._put_json(key, pointer, if_none_match=True)
                else:
                    self._put_json(key, pointer, if_match=etag)
                return True
            except Exception as exc:  # noqa: BLE001
                if not _is_precondition_failed(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise RegistryError(f"could not move {name} latest to v{version}: kept conflicting")
