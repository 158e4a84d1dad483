import boto3
import pytest

from include import storage


def test_list_files_directory_glob_and_single_file(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("a.jsonl", "b.json", "sub/c.parquet", "_SUCCESS", ".hidden.jsonl", "notes.txt"):
        (tmp_path / name).write_text("{}")
    rels = [f.relative for f in storage.list_files(str(tmp_path), (".jsonl", ".json", ".parquet"))]
    assert rels == ["a.jsonl", "b.json", "sub/c.parquet"]
    assert [f.relative for f in storage.list_files(str(tmp_path / "*.json*"))] == ["a.jsonl", "b.json"]
    single = storage.list_files(str(tmp_path / "a.jsonl"))
    assert [(f.relative, f.size) for f in single] == [("a.jsonl", 2)]
    assert single[0].mtime is not None


def test_list_files_errors_name_the_uri(tmp_path):
    with pytest.raises(FileNotFoundError, match="source not found: .*missing"):
        storage.list_files(str(tmp_path / "missing"))
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(FileNotFoundError, match="no input files matching"):
        storage.list_files(str(tmp_path), (".jsonl",))
    with pytest.raises(ValueError, match="unsupported URI scheme 'ftp'"):
        storage.list_files("ftp://host/x")


def test_s3_and_s3a_uris_through_a_real_s3_server(s3_bucket, s3_server):
    client = boto3.client("s3", endpoint_url=s3_server)
    client.put_object(Bucket=s3_bucket, Key="raw/day=1/a.jsonl", Body=b'{"text": "x"}\n')
    client.put_object(Bucket=s3_bucket, Key="raw/day=2/b.jsonl.gz", Body=b"")
    for scheme in ("s3", "s3a"):
        files = storage.list_files(f"{scheme}://{s3_bucket}/raw", (".jsonl", ".jsonl.gz"))
        assert [f.relative for f in files] == ["day=1/a.jsonl", "day=2/b.jsonl.gz"]
        assert files[0].uri == f"{scheme}://{s3_bucket}/raw/day=1/a.jsonl"
        assert storage.read_bytes(files[0].uri) == b'{"text": "x"}\n'
    storage.write_json(f"s3://{s3_bucket}/out/stats.json", {"n": 1})
    assert storage.read_json(f"s3a://{s3_bucket}/out/stats.json") == {"n": 1}
    assert storage.exists(f"s3://{s3_bucket}/out/stats.json")
    storage.delete_dir(f"s3://{s3_bucket}/out")
    assert not storage.exists(f"s3://{s3_bucket}/out/stats.json")
