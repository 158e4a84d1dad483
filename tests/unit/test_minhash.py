"""MinHash signatures equal datasketch's; banding matches datasketch's optimum."""

from __future__ import annotations

import json

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from include.minhash import (
    MinHashParams,
    band_keys,
    candidate_probability,
    char_shingle_hash32,
    optimal_bands,
    shingle_hash32,
    shingles,
    signatures,
)
from include.normalize import normalize_text


@pytest.fixture(scope="module")
def real_texts(shared_datasets):
    alpaca = json.loads((shared_datasets / "llamafactory/alpaca_en_demo.json").read_text())
    c4 = [
        json.loads(x)["text"]
        for x in (shared_datasets / "llamafactory/c4_demo.jsonl").read_text().splitlines()
    ]
    return (
        [r["output"] for r in alpaca[:150]]
        + c4[:100]
        + ["", "   ", "short", "one two three four", "Ünïcödé ＦＵＬＬ width"]
    )


@pytest.mark.parametrize(
    "params, hashfunc",
    [
        (MinHashParams(), shingle_hash32),
        (MinHashParams(hash_function="sha1"), None),  # datasketch's own default hash
        (MinHashParams(char_ngrams=True, ngram=7), char_shingle_hash32),
        (MinHashParams(num_perm=64, seed=42, ngram=3), shingle_hash32),
        (MinHashParams(ngram=1), shingle_hash32),
    ],
)
def test_signatures_equal_datasketch(real_texts, params, hashfunc):
    sig, counts = signatures(real_texts, params)
    for i, text in enumerate(real_texts):
        sh = shingles(normalize_text(text), params)
        assert counts[i] == len(sh)
        kw = {"hashfunc": hashfunc} if hashfunc else {}
        m = MinHash(num_perm=params.num_perm, seed=params.seed, **kw)
        if sh:
            m.update_batch([s.encode() for s in sh])
        np.testing.assert_array_equal(sig[i], m.hashvalues, err_msg=f"text {i}")


@pytest.mark.parametrize("block", [1, 64, 1000])
def test_signatures_do_not_depend_on_cache_blocks(real_texts, monkeypatch, block):
    """Blocks cut between documents (and one document larger than a block) give the same rows."""
    import include.minhash as mh

    expected, _ = signatures(real_texts)
    monkeypatch.setattr(mh, "_BLOCK", block)
    got, _ = signatures(real_texts)
    np.testing.assert_array_equal(got, expected)
    one, _ = signatures([real_texts[3]])
    np.testing.assert_array_equal(one[0], expected[3])


def test_empty_texts_have_no_shingles():
    sig, counts = signatures(["", None, "  ", "a"], MinHashParams())
    assert counts.tolist() == [0, 0, 0, 1]
    assert (sig[:3] == np.uint32(0xFFFFFFFF)).all()


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_banding_equals_datasketch(threshold):
    assert optimal_bands(threshold, 128) == _optimal_param(threshold, 128, 0.5, 0.5)
    assert optimal_bands(threshold, 64, 0.3, 0.7) == _optimal_param(threshold, 64, 0.3, 0.7)


def test_s_curve_and_band_keys():
    b, r = optimal_bands(0.8, 128)
    assert (b, r) == (9, 13)
    assert candidate_probability(0.9, b, r) > 0.9 > candidate_probability(0.5, b, r)
    sig, _ = signatures(
        [
            "the quick brown fox jumps over the lazy dog again and again",
            "the quick brown fox jumps over the lazy dog again and again!",
            "completely different words in this sentence right here now",
        ],
        MinHashParams(),
    )
    keys = band_keys(sig, b, r)
    assert keys.shape == (3, 9) and keys.dtype == np.int64
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).any()
