"""prepare_run checks the output URI is writable before any stage runs, naming the Param and the fix."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest
from airflow.sdk.exceptions import AirflowFailException
from llmops_airflow.curation import prepare_run

from include import storage


def test_output_under_a_file_fails_naming_the_param(tmp_path, sample_data):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(AirflowFailException, match=r"Param output_uri=.*not writable.*fix: give a folder"):
        prepare_run(str(sample_data), str(blocker / "out"), {}, "manual__1")


def test_missing_bucket_fails_naming_the_param_and_the_fix(s3_server, sample_data):
    with pytest.raises(
        AirflowFailException, match=r"Param output_uri='s3://no-such-bucket/x'.*fix: check the bucket"
    ):
        prepare_run(str(sample_data), "s3://no-such-bucket/x", {}, "manual__1")


def test_writable_outputs_pass_and_leave_no_probe(tmp_path, s3_bucket, sample_data):
    for out in (str(tmp_path / "out"), f"s3://{s3_bucket}/curated"):
        run = prepare_run(str(sample_data), out, {}, "manual__2026-01-01T00:00:00+00:00")
        assert run["output_uri"] == out
        fs, path = storage.filesystem(storage.join(out, "_staging"))
        left = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        assert [f.path for f in left if f.type == pafs.FileType.File] == []
