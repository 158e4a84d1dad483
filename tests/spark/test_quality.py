"""The quality stage on local[2] Spark: LLM judge against real servers on 127.0.0.1 (a scripted
OpenAI-compatible server and ``transformers serve`` with the tiny model) and the classifier
scorer with a tiny randomly initialised regression model."""

from __future__ import annotations

import json
import logging

import pytest

from include.config import load_config
from spark_jobs import quality
from spark_jobs.common import run_stage
from tests.judge_server import ScriptedJudge, TransformersServe, tiny_chat_model
from tests.spark.test_pii_filters import msg, read, row, write

pytestmark = pytest.mark.spark
SPARK = {"master": "local[2]", "shuffle_partitions": 4}
SECRET = "sk-test-NEVER-LOGGED-42"

ROWS = [
    row(1, [msg("user", "Capital of France?"), msg("assistant", "GOOD: Paris is the capital of France.")]),
    row(2, [msg("user", "Capital of Italy?"), msg("assistant", "Rome.")]),  # 4/5 = 0.8: kept at 0.8
    row(3, [msg("user", "Capital of Spain?"), msg("assistant", "BAD: Lisbon, probably.")]),
    row(4, [msg("user", "Capital of Peru?"), msg("assistant", "GARBLE Lima.")]),  # unparseable twice
    row(
        5,
        [msg("user", "Which is larger, 3 or 5?")],
        kind="preference",
        chosen=[msg("assistant", "3 is larger.")],
        rejected=[msg("assistant", "GOOD: 5 is larger.")],
    ),
    row(6, [], kind="pretrain", text="GOOD: Water boils at 100 degrees Celsius at sea level."),
]


def judge_cfg(url, **over):
    return {
        "spark": SPARK,
        "quality": {
            "judge": {
                "enabled": True,
                "base_url": url,
                "model": "Qwen2.5-7B-judge",
                "backoff_s": 0.01,
                "base_model": "Qwen/Qwen2.5-0.5B",
                **over,
            }
        },
    }


def test_quality_is_skipped_by_default_and_a_pass_through_when_forced_on(spark, tmp_path):
    assert not load_config({}).enabled("quality")  # auto: no scorer enabled
    assert load_config({"quality": {"classifier": {"enabled": True, "model_path": "m"}}}).enabled("quality")
    src = write(ROWS, tmp_path / "in")
    cfg = load_config({"spark": SPARK, "quality": {"enabled": True}})
    stats = run_stage("quality", quality.run, src, str(tmp_path / "out"), cfg, spark=spark)
    assert stats["in"] == stats["out"] == 6 and stats["rejected"] == 0
    assert "pass-through" in stats["note"] and stats["details"]["judge_enabled"] is False
    assert {r["id"] for r in read(tmp_path / "out" / "curated")} == {r["id"] for r in ROWS}


def test_judge_stage_scores_keeps_rejects_and_caches(spark, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LLMOPS_JUDGE_API_KEY", SECRET)
    src = write(ROWS, tmp_path / "in")
    with ScriptedJudge() as srv, caplog.at_level(logging.INFO):
        cfg = load_config(judge_cfg(srv.url))
        stats = run_stage("quality", quality.run, src, str(tmp_path / "out"), cfg, spark=spark)
        first_requests = len(srv.requests)
        assert {r["auth"] for r in srv.requests} == {f"Bearer {SECRET}"}
        # rerun into another folder with the same cache: nothing is paid twice
        again = run_stage(
            "quality",
            quality.run,
            src,
            str(tmp_path / "out2"),
            load_config(judge_cfg(srv.url, cache_uri=str(tmp_path / "out" / "_cache" / "quality_judge"))),
            spark=spark,
        )
        assert len(srv.requests) == first_requests + 2  # only the unparseable row is asked again (2 answers)
    assert stats["in"] == stats["out"] + stats["rejected"] == 6
    assert stats["rejected_by_reason"] == {"low_quality": 1}
    out = {r["id"]: r for r in read(tmp_path / "out" / "curated")}
    assert set(out) == {"r1", "r2", "r4", "r5", "r6"}
    assert out["r1"]["quality"] == 1.0 and out["r2"]["quality"] == pytest.approx(0.8)
    sig = json.loads(out["r1"]["signals"])["judge"]
    assert sig["scores"]["relevance"] == {"score": 5, "why": "fine"} and sig["mean"] == 5.0
    assert sig["model"] == "Qwen2.5-7B-judge" and len(sig["rubric_hash"]) == 16
    assert out["r4"]["quality"] is None and out["r4"]["flags"] == ["quality_unscored"]
    assert json.loads(out["r4"]["signals"])["judge"]["unscored"] == "unparseable"
    rejects = {r["id"]: r for r in read(tmp_path / "out" / "rejects")}
    assert rejects["r3"]["stage"] == "quality" and rejects["r3"]["reason"] == "low_quality"
    assert rejects["r3"]["detail"] == (
        "judge mean 2.00/5 = 0.40 < 0.8: relevance 2, clarity 2, completeness 2, accuracy 2"
    )
    # the pair's chosen answer scores 4/5 (kept), but the judge prefers the rejected one in both orders
    assert out["r5"]["quality"] == pytest.approx(0.8) and out["r5"]["flags"] == ["judge_inverted_pair"]
    pair = json.loads(out["r5"]["signals"])["judge_pair"]
    assert pair == {"chosen_first": "B", "chosen_second": "A", "consistent": True, "inverted": True}
    j = stats["details"]["judge"]
    assert j["scored"] == 5 and j["unscored"] == {"unparseable": 1}
    # 5 answers scored at once, the unparseable one asked twice (bounded re-ask), 2 pairwise orders
    assert j["requests"] == first_requests == 5 + 2 + 2
    assert j["tokens"] == {
        "prompt": 100 * first_requests,
        "completion": 20 * first_requests,
        "total": 120 * first_requests,
    }
    assert j["cache_hits"] == 0 and j["failures"] == {"request": 0, "parse": 2}
    assert j["position_bias"] == {
        "pairs_checked": 1,
        "consistent": 1,
        "inconsistent": 0,
        "inverted": 1,
        "unscored": 0,
    }
    assert -1.0 <= j["length_score_correlation"] <= 1.0
    assert "qwen" in stats["details"]["same_family_warning"]
    a = again["details"]["judge"]
    assert a["cache_hits"] == 5 + 2 and a["requests"] == 2 and a["scored"] == 5
    blob = (tmp_path / "out" / "stats.json").read_text() + caplog.text
    assert SECRET not in blob and "quality_judge" in blob


def test_budget_exhausted_rows_follow_the_unscored_policy(spark, tmp_path):
    src = write(ROWS, tmp_path / "in")
    with ScriptedJudge() as srv:
        cfg = load_config(
            {
                **judge_cfg(srv.url, budget_requests=0),
                "quality": {**judge_cfg(srv.url, budget_requests=0)["quality"], "unscored_policy": "reject"},
            }
        )
        stats = run_stage("quality", quality.run, src, str(tmp_path / "out"), cfg, spark=spark)
        assert srv.requests == []
    assert stats["out"] == 0 and stats["rejected_by_reason"] == {"unscored": 6}
    assert stats["details"]["judge"]["unscored"] == {"budget_exhausted": 6}
    assert all(r["detail"].startswith("judge: budget_exhausted") for r in read(tmp_path / "out" / "rejects"))


@pytest.fixture(scope="module")
def served_tiny_model(tmp_path_factory, shared_datasets):
    model = tiny_chat_model(tmp_path_factory.getbasetemp() / "tiny-llama-chat", shared_datasets)
    with TransformersServe(model, tmp_path_factory.mktemp("serve") / "serve.log") as server:
        yield server


@pytest.mark.parametrize("policy", ["keep", "reject"])
def test_judge_stage_against_transformers_serve(spark, tmp_path, served_tiny_model, policy):
    """The tiny model answers gibberish: every row is unscored, handled per policy, nothing lost."""
    rows = ROWS[:3] + ROWS[5:]
    src = write(rows, tmp_path / "in")
    cfg = load_config(
        {
            "spark": SPARK,
            "quality": {
                "unscored_policy": policy,
                "judge": {
                    "enabled": True,
                    "base_url": served_tiny_model.url,
                    "model": served_tiny_model.model,
                    "max_tokens": 12,
                    "max_concurrency": 2,
                    "timeout_s": 60,
                },
            },
        }
    )
    stats = run_stage("quality", quality.run, src, str(tmp_path / "out"), cfg, spark=spark)
    j = stats["details"]["judge"]
    assert stats["in"] == stats["out"] + stats["rejected"] == 4
    assert j["scored"] == 0 and j["unscored"] == {"unparseable": 4}
    assert j["requests"] == 8 and j["failures"]["parse"] == 8  # one answer + one bounded re-ask per row
    assert j["tokens"]["completion"] > 0 and j["tokens"]["prompt"] > j["tokens"]["completion"]
    curated, rejects = read(tmp_path / "out" / "curated"), read(tmp_path / "out" / "rejects")
    if policy == "keep":
        assert len(curated) == 4 and all(r["flags"] == ["quality_unscored"] for r in curated)
        assert all(r["quality"] is None for r in curated)
    else:
        assert curated == [] and {r["reason"] for r in rejects} == {"unscored"}
        assert all("unparseable" in r["detail"] for r in rejects)


@pytest.fixture(scope="module")
def tiny_regressor(tmp_path_factory):
    from scripts.tiny_model import build_tiny_classifier

    texts = [r["text"] for r in ROWS] * 10
    return str(build_tiny_classifier(tmp_path_factory.mktemp("tiny-edu-clf"), texts, num_labels=1))


def test_classifier_stage_scores_and_thresholds(spark, tmp_path, tiny_regressor):
    from include.config.quality import QualityClassifierConfig
    from include.quality.classifier import score_texts

    ccfg = QualityClassifierConfig(enabled=True, model_path=tiny_regressor, batch_size=4)
    expected = dict(zip([r["id"] for r in ROWS], score_texts(ccfg, [r["text"] for r in ROWS]), strict=True))
    assert len(set(expected.values())) == 6  # a real model: every text its own score
    threshold = sorted(expected.values())[3]  # keeps the top three
    src = write(ROWS, tmp_path / "in")
    cfg = load_config(
        {
            "spark": SPARK,
            "quality": {
                "classifier": {
                    "enabled": True,
                    "model_path": tiny_regressor,
                    "threshold": threshold,
                    "batch_size": 4,
                }
            },
        }
    )
    stats = run_stage("quality", quality.run, src, str(tmp_path / "out"), cfg, spark=spark)
    assert (
        stats["in"] == 6
        and stats["out"] == 3
        and stats["rejected_by_reason"] == {"low_quality_classifier": 3}
    )
    out = read(tmp_path / "out" / "curated")
    assert {r["id"] for r in out} == {k for k, v in expected.items() if v >= threshold}
    for r in out:
        s = json.loads(r["signals"])["classifier"]["score"]
        assert s == pytest.approx(expected[r["id"]], abs=1e-3)
        assert r["quality"] == pytest.approx(max(0.0, min(expected[r["id"]] / 5, 1.0)), abs=1e-6)
    c = stats["details"]["classifier"]
    assert c["scored"] == 6 and sum(c["int_score_histogram"].values()) == 6
    assert c["mean_score"] == pytest.approx(sum(expected.values()) / 6, abs=1e-3)
