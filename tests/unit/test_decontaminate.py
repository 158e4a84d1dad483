"""Decontamination library on the real GSM8K test split and HumanEval: planted copies are
found with the right item, clean rows (same topics, and real datasets) are not."""

from __future__ import annotations

import gzip
import json

import pytest

from include.config import ConfigError, load_config
from include.config.decontaminate import DecontaminateConfig
from include.decontam.benchmarks import build_index, load_records
from include.decontam.match import find_contamination
from include.decontam.tokens import code_tokens, ngram_hashes, text_tokens


@pytest.fixture(scope="module")
def bench(shared_datasets):
    d = shared_datasets / "eval-benchmarks"
    gsm = [json.loads(x) for x in (d / "gsm8k_test.jsonl").read_text().splitlines()]
    he = [json.loads(x) for x in gzip.decompress((d / "HumanEval.jsonl.gz").read_bytes()).splitlines()]
    dc = DecontaminateConfig(
        benchmarks=[
            {"name": "gsm8k", "uri": str(d / "gsm8k_test.jsonl"), "preset": "gsm8k"},
            {"name": "humaneval", "uri": str(d / "HumanEval.jsonl.gz"), "preset": "humaneval"},
        ]
    )
    return gsm, he, build_index(dc)


def _reformat(code: str) -> str:
    """What a formatter and an editor do: 2-space indents, other quotes, a comment, blank lines."""
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        out.append(" " * ((len(line) - len(stripped)) // 2) + stripped.replace('"""', "'''"))
        if stripped.startswith("for ") or stripped.startswith("if "):
            out.append("  # walk the values" + "\n")
    return "\n".join(out).replace("(", "( ").replace(")", " )")


def test_planted_items_are_found_with_benchmark_and_item(bench):
    gsm, he, index = bench
    q, a = gsm[41]["question"], gsm[41]["answer"]
    words = q.split()
    assert len(words) > 30
    words[3] = words[3].upper() + "!!"  # case and punctuation
    words[len(words) // 2] = "seventeen"  # and one word changed
    edited = " ".join(words)
    half_answer = " ".join(a.split()[: max(14, len(a.split()) // 2)])
    cases = {
        "verbatim": q + "\n" + a,
        "wrapped": f"### Instruction:\nSolve step by step.\n\n{q}\n\n### Response:\nLet me think.",
        "edited": "Question: " + edited.replace("  ", " ") + " Explain.",
        "partial answer": "user: what is the answer?\nassistant: " + half_answer,
        "code verbatim": he[17]["prompt"] + he[17]["canonical_solution"],
        "code reformatted": "Here is my solution:\n```python\n"
        + _reformat(he[17]["prompt"] + he[17]["canonical_solution"])
        + "\n```",
        "test only": "Write tests.\n" + he[99]["test"],
    }
    found = dict(zip(cases, find_contamination(list(cases.values()), index), strict=True))
    for name in ("verbatim", "wrapped", "edited", "partial answer"):
        m = found[name]
        assert (m.benchmark, m.item) == ("gsm8k", "41"), name
        assert m.detail.startswith("gsm8k item 41: ") and "of its 13-grams" in m.detail
    for name in ("code verbatim", "code reformatted"):
        assert (found[name].benchmark, found[name].item) == ("humaneval", "HumanEval/17"), name
    assert (found["test only"].benchmark, found["test only"].item) == ("humaneval", "HumanEval/99")
    assert found["verbatim"].shared > found["wrapped"].shared > 0


def test_same_topic_questions_and_real_datasets_survive(bench, shared_datasets):
    _, he, index = bench
    math = [
        "Janet has 12 apples. She gives 3 to her brother and sells the rest for $2 each at the market. "
        "How much money does she make in total from selling the apples?",
        "A train travels 60 miles per hour for 3 hours and then 40 miles per hour for 2 hours. "
        "How many miles does the train travel altogether? Answer: 60 * 3 = 180, 40 * 2 = 80, 260 miles.",
    ]
    code = [
        "def has_duplicates(values: list[int]) -> bool:\n    seen = set()\n    for v in values:\n"
        "        if v in seen:\n            return True\n        seen.add(v)\n    return False\n",
        # HumanEval's shared test header alone is boilerplate, not an item
        he[0]["test"].split("def check")[0] + "def check(candidate):\n    assert candidate(3) == 9\n",
        "numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]\nprint(sum(numbers))",
    ]
    assert find_contamination(math + code, index) == [None] * 5
    d = shared_datasets / "llamafactory"
    real = [
        json.dumps(r)
        for f in ("alpaca_en_demo.json", "glaive_toolcall_en_demo.json")
        for r in json.loads((d / f).read_text())
    ]
    real += (d / "c4_demo.jsonl").read_text().splitlines()
    assert len(real) > 1500
    assert [m.detail for m in find_contamination(real, index) if m] == []


def test_short_items_need_half_their_5_grams(tmp_path):
    path = tmp_path / "tiny.jsonl"
    items = [
        {"id": "q1", "q": "name the largest planet in our solar system please"},  # 9 words: short
        {"id": "q2", "q": "two plus two"},  # under short_ngram: skipped
    ]
    path.write_text("\n".join(json.dumps(r) for r in items))
    dc = DecontaminateConfig(
        benchmarks=[{"name": "tiny", "uri": str(path), "fields": ["q"], "id_field": "id"}]
    )
    index = build_index(dc)
    assert index.lineage[0] | {"long_items": 0, "short_items": 1, "too_short_items": 1} == index.lineage[0]
    assert int(index.need[0]) == 3 and int(index.total[0]) == 5  # ceil(50 % of 5 five-grams)
    rows = [
        "Quiz: name the largest planet in our solar system please!",  # 5/5
        "name the largest planet in our solar neighbourhood",  # 3/5: "name the largest planet in/our/solar"
        "name the largest planet in the universe",  # 2/5
        "two plus two",
    ]
    got = find_contamination(rows, index)
    assert [(m.item, m.shared) if m else None for m in got] == [("q1", 5), ("q1", 3), None, None]


def test_min_overlap_share_for_long_items(bench, shared_datasets):
    gsm, _, _ = bench
    uri = str(shared_datasets / "eval-benchmarks" / "gsm8k_test.jsonl")
    dc = DecontaminateConfig(benchmarks=[{"name": "g", "uri": uri, "preset": "gsm8k"}], min_overlap=0.5)
    index = build_index(dc)
    item = gsm[3]["question"] + " " + gsm[3]["answer"]
    partial = " ".join(gsm[3]["answer"].split()[:20])
    whole, part = find_contamination([item, partial], index)
    assert (whole.item, whole.shared == whole.total) == ("3", True)
    assert part is None  # a 20-word excerpt is < 50 % of the item's 13-grams


def test_code_tokens_ignore_layout_and_comments_but_keep_identifiers():
    a = 'def f(x):\n    """Add one."""\n    return x + 1  # increment\n'
    b = "def f( x ) :\n  '''Add one.'''\n\n  # a comment\n  return x+1\n"
    assert code_tokens(a) == code_tokens(b) == ["def", "f", "x", "Add", "one", "return", "x", "1"]
    assert code_tokens(a.replace("x", "y")) != code_tokens(a)
    assert text_tokens("Hello,  WORLD!") == ["hello", "world"]
    hashes, counts = ngram_hashes([["a", "b", "c"], ["a", "b"], ["b", "c", "a", "b"]], 2)
    assert counts.tolist() == [2, 1, 3] and hashes[0] == hashes[2] == hashes[5] and hashes[1] == hashes[3]


def test_loads_parquet_and_reports_sha(tmp_path):
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "b.parquet"
    pq.write_table(pa.table({"question": ["q"], "answer": ["a"]}), p)
    records, sha = load_records(str(p))
    assert records == [{"question": "q", "answer": "a"}] and sha == hashlib.sha256(p.read_bytes()).hexdigest()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\nnot json\n')
    with pytest.raises(ValueError, match="bad.jsonl line 2"):
        load_records(str(bad))


def test_config_contract():
    assert not load_config().enabled("decontaminate")  # nothing listed: skipped
    on = load_config({"decontaminate": {"benchmarks": [{"name": "g", "uri": "x.jsonl", "preset": "gsm8k"}]}})
    assert on.enabled("decontaminate") and on.decontaminate.benchmarks[0].layout() == (
        ["question", "answer"],
        None,
        False,
    )
    off = load_config(
        {
            "decontaminate": {
                "enabled": False,
                "benchmarks": [{"name": "g", "uri": "x.parquet", "preset": "gsm8k"}],
            }
        }
    )
    assert not off.enabled("decontaminate")
    he = load_config(
        {"decontaminate": {"benchmarks": [{"name": "h", "uri": "x.jsonl.gz", "preset": "humaneval"}]}}
    )
    assert he.decontaminate.benchmarks[0].layout() == (
        ["prompt", "canonical_solution", "test"],
        "task_id",
        True,
    )
    with pytest.raises(ConfigError, match="set a preset or the fields"):
        load_config({"decontaminate": {"benchmarks": [{"name": "g", "uri": "x.jsonl"}]}})
    with pytest.raises(ConfigError, match="uri must end with one of .jsonl"):
        load_config({"decontaminate": {"benchmarks": [{"name": "g", "uri": "x.csv", "preset": "gsm8k"}]}})
    with pytest.raises(ConfigError, match="names must be unique"):
        load_config(
            {"decontaminate": {"benchmarks": [{"name": "g", "uri": "x.parquet", "preset": "gsm8k"}] * 2}}
        )


def test_missing_benchmark_file_fails_prepare_before_any_work(sample_data, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException
    from llmops_airflow.curation import prepare_run

    bench = {"benchmarks": [{"name": "g", "uri": str(tmp_path / "absent.jsonl"), "preset": "gsm8k"}]}
    with pytest.raises(
        AirflowFailException, match=r"decontaminate.benchmarks: file not found: .*absent.jsonl"
    ):
        prepare_run(str(sample_data / "alpaca.json"), str(tmp_path / "out"), {"decontaminate": bench}, "r1")
    assert not (tmp_path / "out").exists()
