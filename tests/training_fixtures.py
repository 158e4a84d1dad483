"""Session fixtures of the training tests (registered for the whole suite in ``tests/conftest.py``):
a tiny Llama built once (tokenizer trained with ``tokenizers`` on real texts), canonical rows and
Parquet made from the real LLaMA-Factory demo files, the glaive tool-call rows."""

from __future__ import annotations

import json

import pytest

from scripts.tiny_model import (
    GLAIVE,
    build_from_datasets,
    load_sample_rows,
    sharegpt_rows,
    write_canonical_parquet,
)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, shared_datasets):
    """A 2-layer Llama (hidden 64, vocab ~516) + tokenizer without chat template; built once per session."""
    return build_from_datasets(tmp_path_factory.getbasetemp() / "tiny-llama", shared_datasets)


@pytest.fixture(scope="session")
def sample_rows(shared_datasets):
    """Canonical rows whose prompt fits the tiny sequence length: 28 SFT + 40 preference rows."""
    return load_sample_rows(shared_datasets, n_sft=60, n_preference=40, max_prompt_chars=160)


@pytest.fixture(scope="session")
def canonical_dir(tmp_path_factory, sample_rows):
    out = tmp_path_factory.getbasetemp() / "canonical" / "curated"
    if not out.exists():
        write_canonical_parquet(sample_rows, out, rows_per_file=30)
    return out


@pytest.fixture(scope="session")
def toolcall_rows(shared_datasets):
    """Every glaive tool-call conversation as canonical rows (tools, function_call, observation)."""
    return list(sharegpt_rows(json.loads((shared_datasets / GLAIVE).read_text()), "glaive", GLAIVE))


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)
