"""S3 adapter registry against a real S3 server (moto's ThreadedMotoServer on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import boto3
import pytest

from include.registry import CLAIM, AdapterRegistry, RegistryError, compute_content_hash


def _adapter(tmp_path, name: str, payload: bytes = b"weights") -> str:
    d = tmp_path / name
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text(json.dumps({"r": 8, "name": name}))
    (d / "adapter_model.safetensors").write_bytes(payload)
    (d / "metrics.json").write_text(json.dumps({"eval_loss": 1.0, "wall_seconds": 3.2}))
    (d / "sub").mkdir()
    (d / "sub" / "extra.txt").write_text("x")
    return str(d)


LINEAGE = {
    "base_model": "tiny",
    "base_model_hash": "abc",
    "dataset_content_hash": "d1",
    "method": "sft",
    "config": {"lora": {"r": 8}},
    "metrics": {"eval_loss": 1.0},
}


@pytest.fixture
def registry(s3_bucket):
    return AdapterRegistry(f"s3://{s3_bucket}/registry")


def test_register_get_list_and_layout(registry, s3_bucket, tmp_path):
    v1 = registry.register("tiny-sft", _adapter(tmp_path, "a"), LINEAGE)
    assert (v1.version, v1.created) == (1, True)
    assert v1.uri == f"s3://{s3_bucket}/registry/tiny-sft/v1"
    assert v1.manifest_uri == f"s3://{s3_bucket}/registry/tiny-sft/v1/manifest.json"
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert {
        "registry/tiny-sft/v1/adapter_config.json",
        "registry/tiny-sft/v1/adapter_model.safetensors",
        "registry/tiny-sft/v1/sub/extra.txt",
        "registry/tiny-sft/v1/manifest.json",
    } <= keys
    m = registry.get("tiny-sft", 1)
    assert m["version"] == 1 and m["parent_version"] is None and m["base_model"] == "tiny"
    assert m["content_hash"] == v1.content_hash and m["created_at"].endswith("Z")
    assert {f["path"] for f in m["files"]} == {
        "adapter_config.json",
        "adapter_model.safetensors",
        "metrics.json",
        "sub/extra.txt",
    }
    v2 = registry.register("tiny-sft", _adapter(tmp_path, "b", b"other weights"), LINEAGE)
    assert v2.version == 2 and registry.get("tiny-sft")["parent_version"] == 1
    assert registry.list_versions("tiny-sft") == [1, 2] and registry.latest("tiny-sft") == 2
    assert registry.list_adapters() == ["tiny-sft"]
    dest = registry.download("tiny-sft", "v1", tmp_path / "dl")
    assert (dest / "adapter_model.safetensors").read_bytes() == b"weights" and not (dest / CLAIM).exists()


def test_same_content_twice_returns_the_existing_version(registry, tmp_path):
    first = registry.register("idem", _adapter(tmp_path, "a"), LINEAGE)
    # a re-run: same weights and lineage, new metrics.json (wall time differs) -> same version
    again_dir = _adapter(tmp_path, "a2")
    (tmp_path / "a2" / "adapter_config.json").write_text(json.dumps({"r": 8, "name": "a"}))
    (tmp_path / "a2" / "metrics.json").write_text(json.dumps({"eval_loss": 1.0, "wall_seconds": 9.9}))
    again = registry.register("idem", again_dir, {**LINEAGE, "metrics": {"eval_loss": 1.0, "x": 2}})
    assert (again.version, again.created, again.content_hash) == (1, False, first.content_hash)
    assert registry.list_versions("idem") == [1]
    changed = registry.register("idem", _adapter(tmp_path, "c"), {**LINEAGE, "dataset_content_hash": "d2"})
    assert (changed.version, changed.created) == (2, True)  # other lineage = other content


def test_retry_after_a_crash_before_the_index_write_is_still_idempotent(registry, s3_bucket, tmp_path):
    src = _adapter(tmp_path, "a")
    first = registry.register("crash", src, LINEAGE)
    boto3.client("s3").delete_object(Bucket=s3_bucket, Key=f"registry/crash/index/{first.content_hash}.json")
    again = registry.register("crash", src, LINEAGE)  # found by reading the manifests
    assert (again.version, again.created) == (1, False) and registry.list_versions("crash") == [1]


def test_register_from_an_s3_prefix(registry, s3_bucket, tmp_path):
    s3 = boto3.client("s3")
    src = tmp_path / "a"
    _adapter(tmp_path, "a")
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        s3.upload_file(str(f), s3_bucket, f"runs/r1/model/{f.relative_to(src).as_posix()}")
    v = registry.register("from-s3", f"s3://{s3_bucket}/runs/r1/model", LINEAGE)
    local = registry.register("from-s3", str(src), LINEAGE)
    assert v.version == 1 and (local.version, local.created) == (1, False)  # same content either way
    body = s3.get_object(Bucket=s3_bucket, Key="registry/from-s3/v1/sub/extra.txt")["Body"].read()
    assert body == b"x"


def test_content_hash_ignores_volatile_files_only():
    files = {"adapter_model.safetensors": "aa", "metrics.json": "m1"}
    h = compute_content_hash(files, LINEAGE)
    assert h == compute_content_hash({**files, "metrics.json": "m2", "README.md": "r"}, LINEAGE)
    assert h != compute_content_hash({**files, "adapter_model.safetensors": "ab"}, LINEAGE)
    assert h != compute_content_hash(files, {**LINEAGE, "config": {"lora": {"r": 16}}})


def test_concurrent_registrations_all_succeed_with_distinct_versions(s3_bucket, tmp_path):
    """8 threads (own clients) register different content at once: versions 1..8, none lost."""
    n = 8
    dirs = [_adapter(tmp_path, f"c{i}", f"weights-{i}".encode()) for i in range(n)]
    results, errors = [None] * n, []
    barrier = threading.Barrier(n)

    def work(i):
        try:
            reg = AdapterRegistry(f"s3://{s3_bucket}/registry")
            barrier.wait()
            results[i] = reg.register("race", dirs[i], {**LINEAGE, "run": i})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    versions = sorted(r.version for r in results)
    assert len(set(versions)) == n and all(r.created for r in results)
    reg = AdapterRegistry(f"s3://{s3_bucket}/registry")
    assert reg.list_versions("race") == versions
    for r in results:  # every manifest names its own files: no version was overwritten
        m = reg.get("race", r.version)
        digest = next(f["sha256"] for f in m["files"] if f["path"] == "adapter_model.safetensors")
        body = (
            boto3.client("s3")
            .get_object(Bucket=s3_bucket, Key=f"registry/race/v{r.version}/adapter_model.safetensors")["Body"]
            .read()
        )
        import hashlib

        assert hashlib.sha256(body).hexdigest() == digest and m["registration_token"]


def test_conditional_claim_skips_a_taken_number(registry, s3_bucket, tmp_path):
    s3 = boto3.client("s3")
    # another writer claimed v1 and is still uploading (no manifest yet): invisible, and not reused
    s3.put_object(Bucket=s3_bucket, Key="registry/half/v1/_claim.json", Body=b'{"token": "other"}')
    s3.put_object(Bucket=s3_bucket, Key="registry/half/v1/adapter_model.safetensors", Body=b"partial")
    assert registry.list_versions("half") == []
    with pytest.raises(RegistryError, match="no versions"):
        registry.get("half")
    v = registry.register("half", _adapter(tmp_path, "h"), LINEAGE)
    assert v.version == 2 and registry.list_versions("half") == [2]
    with pytest.raises(RegistryError, match="v1 does not exist"):
        registry.get("half", 1)


def test_aliases(registry, tmp_path):
    registry.register("al", _adapter(tmp_path, "a"), LINEAGE)
    registry.register("al", _adapter(tmp_path, "b", b"2"), LINEAGE, aliases=["staging"])
    assert registry.resolve_alias("al", "staging") == 2
    pointer = registry.set_alias("al", "production", 1)
    assert pointer["version"] == 1 and pointer["previous_version"] is None
    assert registry.set_alias("al", "production", "staging")["previous_version"] == 1
    assert registry.get("al", "production")["version"] == 2
    assert registry.aliases("al") == {"latest": 2, "production": 2, "staging": 2}
    assert registry.resolve("al", "latest") == 2 and registry.resolve("al", "v1") == 1
    with pytest.raises(RegistryError, match="alias 'nope' of adapter 'al' does not exist"):
        registry.resolve("al", "nope")
    with pytest.raises(RegistryError, match="no such complete version"):
        registry.set_alias("al", "x", 9)
    with pytest.raises(RegistryError, match="reserved"):
        registry.set_alias("al", "latest", 1)
    with pytest.raises(RegistryError, match="invalid adapter name"):
        registry.register("bad name!", _adapter(tmp_path, "z"), LINEAGE)


def test_endpoint_from_an_airflow_aws_connection(s3_server, s3_bucket, tmp_path, monkeypatch):
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_REGISTRY_S3", json.dumps(conn))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # would fail if used
    reg = AdapterRegistry(f"s3://{s3_bucket}/r", aws_conn_id="registry_s3")
    assert reg.s3.meta.endpoint_url == s3_server
    assert reg.register("conn", _adapter(tmp_path, "a"), LINEAGE).version == 1


def test_cli(s3_bucket, tmp_path):
    env = dict(os.environ)
    uri = f"s3://{s3_bucket}/cli"
    manifest = tmp_path / "lineage.json"
    manifest.write_text(json.dumps(LINEAGE))

    def cli(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "include.registry", uri, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        return proc.returncode, proc.stdout, proc.stderr

    rc, out, err = cli(
        "register", "tiny", _adapter(tmp_path, "a"), "--manifest", str(manifest), "--alias", "prod"
    )
    assert rc == 0, err
    assert json.loads(out)["version"] == 1
    rc, out, _ = cli("list")
    assert json.loads(out) == {"tiny": {"versions": [1], "aliases": {"latest": 1, "prod": 1}}}
    rc, out, _ = cli("get", "tiny", "prod")
    assert json.loads(out)["base_model"] == "tiny"
    rc, out, _ = cli("resolve", "tiny", "latest")
    assert json.loads(out)["version"] == 1
    rc, out, err = cli("get", "tiny", "v7")
    assert rc == 2 and "v7 does not exist" in err


FAILED_GATE = {
    "passed": False,
    "status": "failed",
    "reasons": ["eval_loss / base_eval_loss=1.3 (needs <= 1.0)"],
}


def test_failed_gate_is_recorded_but_moves_no_alias(registry, tmp_path):
    v1 = registry.register("gated", _adapter(tmp_path, "a"), {**LINEAGE, "gate": {"passed": True}})
    registry.set_alias("gated", "production", 1)
    v2 = registry.register("gated", _adapter(tmp_path, "b", b"worse"), {**LINEAGE, "gate": FAILED_GATE})
    assert (v1.version, v2.version) == (1, 2) and registry.list_versions("gated") == [1, 2]
    assert registry.get("gated", 2)["gate"]["reasons"] == FAILED_GATE["reasons"]  # recorded, immutable
    assert registry.aliases("gated") == {"latest": 1, "production": 1}
    assert (
        registry.resolve("gated", "latest") == 1 and registry.latest("gated") == 2
    )  # latest = newest passing
    with pytest.raises(
        RegistryError,
        match=r"refusing to point 'production' at gated v2: its evaluation gate "
        r"failed \(eval_loss / base_eval_loss=1.3 \(needs <= 1.0\)\)",
    ):
        registry.set_alias("gated", "production", 2)
    forced = registry.set_alias("gated", "production", 2, force=True)
    assert forced["forced_despite_failed_gate"] and forced["previous_version"] == 1
    with pytest.raises(RegistryError, match="refusing aliases staging"):
        registry.register(
            "gated", _adapter(tmp_path, "c", b"c"), {**LINEAGE, "gate": FAILED_GATE}, aliases=["staging"]
        )
    assert registry.list_versions("gated") == [1, 2]  # refused before any upload
    v3 = registry.register("gated", _adapter(tmp_path, "d", b"better"), {**LINEAGE, "gate": {"passed": True}})
    assert v3.version == 3 and registry.resolve("gated", "latest") == 3


def test_latest_never_moves_backwards_and_falls_back_without_a_pointer(registry, s3_bucket, tmp_path):
    first = _adapter(tmp_path, "a")
    registry.register("mono", first, LINEAGE)
    registry.register("mono", _adapter(tmp_path, "b", b"2"), LINEAGE)
    assert registry.resolve("mono", "latest") == 2
    assert registry.advance_latest("mono", 1) is False and registry.resolve("mono", "latest") == 2
    again = registry.register("mono", first, LINEAGE)  # a rerun of the old run: same content as v1
    assert (again.version, again.created) == (1, False) and registry.resolve("mono", "latest") == 2
    boto3.client("s3").delete_object(Bucket=s3_bucket, Key="registry/mono/aliases/latest.json")
    assert registry.resolve("mono", "latest") == 2  # registries written before the pointer: highest complete


def test_connection_env_hands_the_registry_connection_to_a_child_process(monkeypatch):
    """The local training subprocess cannot see Airflow connections: it gets boto3's env vars."""
    import json

    from include.registry import connection_env

    monkeypatch.setenv(
        "AIRFLOW_CONN_REGISTRY_S3",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "AKIDEXAMPLE",
                "password": "s3cr3t",
                "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"},
            }
        ),
    )
    assert connection_env("registry_s3") == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
    }
    assert connection_env(None) == {} and connection_env("") == {}


def test_region_comes_from_the_environment_else_the_one_default(s3_server, monkeypatch):
    from include import storage
    from include.registry import s3_client

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert s3_client(s3_server).meta.region_name == storage.DEFAULT_REGION == "us-east-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert s3_client(s3_server).meta.region_name == "eu-central-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # wins over AWS_REGION
    assert s3_client(s3_server).meta.region_name == storage.region() == "eu-west-1"
