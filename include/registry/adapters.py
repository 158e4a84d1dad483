"""The adapter registry: numbered versions, aliases, gate-aware ``latest`` (see the package doc)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from include import storage
from include.registry.connection import s3_client
from include.registry.content import SourceFile, compute_content_hash, list_source
from include.registry.layout import CLAIM, LATEST, MANIFEST, VERSION_RE, RegistryError, check_name
from include.registry.objects import JsonObjects, is_precondition_failed


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


def _pointer(name: str, alias: str, version: int, previous: dict | None) -> dict:
    """The content of ``aliases/<alias>.json``: the version and the one it replaces."""
    return {
        "adapter_name": name,
        "alias": alias,
        "version": version,
        "updated_at": _now(),
        "previous_version": previous.get("version") if previous else None,
    }


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
        self.objects = JsonObjects(self.s3, self.bucket)

    # -------------------------------------------------------------- keys

    def _key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def version_uri(self, name: str, version: int) -> str:
        return f"s3://{self.bucket}/{self._key(name, f'v{version}')}"

    # -------------------------------------------------------------- reading

    def list_adapters(self) -> list[str]:
        base = self._key() + "/" if self.prefix else ""
        return sorted(n for n in self.objects.prefixes(base) if self.list_versions(n))

    def _allocated_versions(self, name: str) -> list[int]:
        nums = []
        for p in self.objects.prefixes(self._key(name) + "/"):
            m = VERSION_RE.match(p)
            if m:
                nums.append(int(m.group(1)))
        return sorted(nums)

    def list_versions(self, name: str) -> list[int]:
        """Complete versions (manifest written), ascending."""
        return [
            v
            for v in self._allocated_versions(name)
            if self.objects.exists(self._key(name, f"v{v}", MANIFEST))
        ]

    def latest(self, name: str) -> int | None:
        """The highest complete version (passing or not); see :meth:`resolve` for ``latest``."""
        versions = self.list_versions(name)
        return versions[-1] if versions else None

    def resolve(self, name: str, ref: str | int = "latest") -> int:
        """A version number for ``ref``: an int, ``"v3"``/``"3"``, ``"latest"`` (the newest version that
        passed its gate: ``aliases/latest.json``, else the highest complete version) or an alias name."""
        check_name("adapter name", name)
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        m = VERSION_RE.match(str(ref))
        if m:
            return int(m.group(1))
        if ref == LATEST:
            pointer = self.objects.get(self._key(name, "aliases", f"{LATEST}.json"))
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
        manifest = self.objects.get(self._key(name, f"v{version}", MANIFEST))
        if manifest is None:
            raise RegistryError(f"{name} v{version} does not exist (or is not complete) in {self.uri}")
        return manifest

    def resolve_alias(self, name: str, alias: str) -> int:
        pointer = self.objects.get(self._key(name, "aliases", f"{check_name('alias', alias)}.json"))
        if pointer is None:
            raise RegistryError(f"alias {alias!r} of adapter {name!r} does not exist in {self.uri}")
        return int(pointer["version"])

    def aliases(self, name: str) -> dict[str, int]:
        out = {}
        for key in self.objects.keys(self._key(name, "aliases") + "/"):
            if key.endswith(".json"):
                pointer = self.objects.get(key)
                if pointer:
                    out[key.rsplit("/", 1)[1][:-5]] = int(pointer["version"])
        return dict(sorted(out.items()))

    def find_by_content(self, name: str, content_hash: str) -> int | None:
        """The version holding ``content_hash``: from the index, else by reading the manifests
        (a registration that crashed after its manifest but before its index entry)."""
        pointer = self.objects.get(self._key(name, "index", f"{content_hash}.json"))
        if pointer and self.objects.exists(self._key(name, f"v{pointer['version']}", MANIFEST)):
            return int(pointer["version"])
        for version in reversed(self.list_versions(name)):
            manifest = self.objects.get(self._key(name, f"v{version}", MANIFEST)) or {}
            if manifest.get("content_hash") == content_hash:
                self.objects.put(self._key(name, "index", f"{content_hash}.json"), {"version": version})
                return version
        return None

    def download(self, name: str, ref: str | int, dest: str | Path) -> Path:
        version = self.resolve(name, ref)
        prefix = self._key(name, f"v{version}") + "/"
        dest = Path(dest)
        for key in self.objects.keys(prefix):
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
                self.objects.put(key, {"token": token, "claimed_at": _now()}, if_none_match=True)
            except Exception as exc:  # noqa: BLE001
                if not is_precondition_failed(exc):
                    raise
                version += 1
                continue
            claim = self.objects.get(key)
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
        check_name("adapter name", name)
        if aliases and gate_failed(manifest):
            raise RegistryError(
                f"refusing aliases {', '.join(aliases)} for a version whose evaluation gate failed "
                f"({gate_reasons(manifest or {})}); register it without aliases"
            )
        files = list_source(source)
        if not files:
            raise RegistryError(f"no files under {source}")
        digests = {f.path: f.sha256 for f in files}
        manifest = dict(manifest or {})
        content_hash = compute_content_hash(digests, manifest)
        existing = self.find_by_content(name, content_hash)
        if existing is not None:
            if not gate_failed(self.objects.get(self._key(name, f"v{existing}", MANIFEST))):
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
                self.objects.put(self._key(name, f"v{version}", MANIFEST), full, if_none_match=True)
            except Exception as exc:  # noqa: BLE001
                if not is_precondition_failed(exc):
                    raise
                allocated = [version]  # someone completed this number: take the next one
                time.sleep(0.01 * (attempt + 1))
                continue
            written = self.objects.get(self._key(name, f"v{version}", MANIFEST))
            if written and written.get("registration_token") != token:
                allocated = [version]
                continue
            try:
                self.objects.put(
                    self._key(name, "index", f"{content_hash}.json"), {"version": version}, if_none_match=True
                )
            except Exception as exc:  # noqa: BLE001
                if not is_precondition_failed(exc):
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
        check_name("alias", alias)
        if alias == LATEST or VERSION_RE.match(alias) or alias.isdigit():
            raise RegistryError(f"alias {alias!r} is reserved (latest, v<N> and numbers name versions)")
        number = self.resolve(name, version)
        manifest = self.objects.get(self._key(name, f"v{number}", MANIFEST))
        if manifest is None:
            raise RegistryError(f"cannot alias {alias!r} to {name} v{number}: no such complete version")
        failed = gate_failed(manifest)
        if failed and not force:
            raise RegistryError(
                f"refusing to point {alias!r} at {name} v{number}: its evaluation gate failed "
                f"({gate_reasons(manifest)}); use force to override"
            )
        key = self._key(name, "aliases", f"{alias}.json")
        previous = self.objects.get(key)
        pointer = _pointer(name, alias, number, previous)
        if failed:
            pointer["forced_despite_failed_gate"] = True
        self.objects.put(key, pointer)
        return pointer

    def advance_latest(self, name: str, version: int) -> bool:
        """Move ``latest`` to ``version`` unless it already points at a newer one (conditional writes,
        so concurrent registrations cannot move it backwards). Callers pass passing versions only."""
        key = self._key(name, "aliases", f"{LATEST}.json")
        for attempt in range(50):
            current, etag = self.objects.get_with_etag(key)
            if current is not None and int(current["version"]) >= version:
                return False
            pointer = _pointer(name, LATEST, version, current)
            try:
                if current is None:
                    self.objects.put(key, pointer, if_none_match=True)
                else:
                    self.objects.put(key, pointer, if_match=etag)
                return True
            except Exception as exc:  # noqa: BLE001
                if not is_precondition_failed(exc):
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise RegistryError(f"could not move {name} latest to v{version}: kept conflicting")
