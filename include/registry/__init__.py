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

from include.registry.adapters import AdapterRegistry, RegisteredVersion, gate_failed, gate_reasons
from include.registry.connection import connection_env, connection_settings, s3_client
from include.registry.content import IDENTITY_KEYS, VOLATILE_FILES, SourceFile, compute_content_hash
from include.registry.layout import (
    CLAIM,
    LATEST,
    MANIFEST,
    NAME_RE,
    NAME_RULE,
    VERSION_RE,
    RegistryError,
    check_name,
)

__all__ = [
    "CLAIM",
    "IDENTITY_KEYS",
    "LATEST",
    "MANIFEST",
    "NAME_RE",
    "NAME_RULE",
    "VERSION_RE",
    "VOLATILE_FILES",
    "AdapterRegistry",
    "RegisteredVersion",
    "RegistryError",
    "SourceFile",
    "check_name",
    "compute_content_hash",
    "connection_env",
    "connection_settings",
    "gate_failed",
    "gate_reasons",
    "s3_client",
]
