"""LLM-judge pieces: rubric files, strict parser, client retries against real HTTP servers on
127.0.0.1, verdict cache, budget, bias helpers and the config rules."""

from __future__ import annotations

import json
import logging

import pytest

from include.config import ConfigError, load_config
from include.config.quality import JudgeConfig
from include.quality.client import Budget, BudgetExhausted, ChatClient, JudgeRequestError
from include.quality.judge import Endpoint, Judge, judge_view, model_family, same_family_warning
from include.quality.parse import JudgeParseError, parse_preference, parse_verdict
from include.quality.rubric import load_rubric
from tests.judge_server import ScriptedJudge
from tests.rows import msg, sft_row

CRITERIA = ("relevance", "clarity", "completeness", "accuracy")
GOOD = json.dumps({c: {"score": s, "why": f"{c} ok"} for c, s in zip(CRITERIA, (5, 4, 4, 3), strict=True)})


def sft(i, answer, user="What is the capital of France?"):
    return sft_row(user, answer, id=f"r{i}")


# ------------------------------------------------------------------ rubric and parser


def test_shipped_rubrics_ask_for_the_same_json_keys():
    en, ru = load_rubric("en"), load_rubric("ru")
    assert en.criteria == ru.criteria == CRITERIA
    assert en.digest != ru.digest
    assert "Оцени ответ по критериям: Релевантность, Ясность, Полнота, Точность." in ru.user
    user = en.pointwise("User: hi", "Hello there")[1]["content"]
    assert "<answer>\nHello there\n</answer>" in user and '"relevance": {"score"' in user
    pair = ru.pairwise("User: hi", "one", "two")[1]["content"]
    assert "<answer_a>\none\n</answer_a>" in pair and "<answer_b>\ntwo\n</answer_b>" in pair


def test_custom_rubric_file_and_bad_rubric_fail_at_config_time(tmp_path):
    import yaml

    data = yaml.safe_load(
        (
            load_rubric.__globals__["resources"].files("include.quality") / "prompts" / "judge_en.yaml"
        ).read_text()
    )
    data["criteria"] = ["helpfulness", "accuracy"]
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = load_config({"quality": {"judge": {"rubric": str(path)}}})
    assert load_rubric(cfg.quality.judge.rubric).criteria == ("helpfulness", "accuracy")
    with pytest.raises(ConfigError, match=r"quality\.judge\.rubric: .*neither one of en, ru nor a file"):
        load_config({"quality": {"judge": {"rubric": "fr"}}})
    del data["pairwise_user"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="lacks pairwise_user"):
        load_config({"quality": {"judge": {"rubric": str(path)}}})


RECORDED_GOOD = [  # (answer, needed repair)
    (GOOD, False),
    ("```json\n" + GOOD + "\n```", True),  # fenced
    ("Here is my evaluation:\n" + GOOD + "\nI hope this helps.", True),  # prose around one object
    (GOOD[:-1] + ",}", True),  # trailing comma
    (GOOD.replace('"relevance"', '"Relevance"').replace("5", "5.0", 1), False),  # key case, integral float
]
RECORDED_BAD = [
    ("", "empty answer"),
    ("The answer is great, 5/5.", "no JSON object"),
    ('{"relevance": {"score": 5, "why": "x"}}', "missing criteria: clarity, completeness, accuracy"),
    (GOOD.replace('"score": 3', '"score": 7'), "accuracy.score: 7 is outside 1-5"),
    (GOOD.replace('"score": 3', '"score": "3"'), "accuracy.score: expected an integer"),
    (GOOD.replace('"score": 3', '"score": 3.5'), "accuracy.score: expected an integer"),
    (GOOD.replace('"accuracy ok"', '""'), "accuracy.why: expected a non-empty justification"),
    (GOOD[:-1] + ', "overall": 4}', "unexpected keys: overall"),
    (GOOD + GOOD, "2 JSON objects"),
    ('{"relevance": {"score": 5, "why": "x"', "no JSON object"),
    ("[1, 2]", "JSON list, not an object"),
    ('���isH",O���chO���chO', "no JSON object"),  # what the tiny model answers
]


@pytest.mark.parametrize(("text", "needs_repair"), RECORDED_GOOD)
def test_parser_accepts_valid_and_repairable_answers(text, needs_repair):
    verdict, repaired = parse_verdict(text, CRITERIA)
    assert {c: v["score"] for c, v in verdict.items()} == dict(zip(CRITERIA, (5, 4, 4, 3), strict=True))
    assert verdict["accuracy"]["why"] == "accuracy ok" and repaired is needs_repair


@pytest.mark.parametrize(("text", "reason"), RECORDED_BAD)
def test_parser_rejects_bad_answers_with_a_reason(text, reason):
    with pytest.raises(JudgeParseError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_verdict(text, CRITERIA)


def test_pairwise_parser():
    assert parse_preference('{"better": "b", "why": "x"}') == ("B", False)
    with pytest.raises(JudgeParseError, match="better"):
        parse_preference('{"better": "both"}')


# ------------------------------------------------------------------ client against real HTTP servers


def test_client_retries_429_then_succeeds_with_backoff():
    with ScriptedJudge(script=[429, 503]) as srv:
        client = ChatClient(srv.url, "judge", "sk-abc", max_retries=3, backoff_s=0.05)
        out = client.complete([msg("user", "<answer>GOOD</answer>")])
    assert json.loads(out.text)["relevance"]["score"] == 5
    assert (out.prompt_tokens, out.completion_tokens) == (100, 20)
    assert client.counters["http_attempts"] == 3 and client.counters["retries"] == 2
    assert client.counters["calls"] == 1 and not client.counters["failures"]
    t = [r["t"] for r in srv.requests]
    assert t[1] - t[0] >= 0.05 and t[2] - t[1] >= 0.1  # exponential: 0.05 s, then 0.1 s
    assert all(r["auth"] == "Bearer sk-abc" for r in srv.requests)
    assert srv.requests[0]["body"]["model"] == "judge" and srv.requests[0]["path"] == "/v1/chat/completions"


def test_client_honours_retry_after_and_gives_up_on_5xx():
    with ScriptedJudge(script=[500] * 10, retry_after="0.2") as srv:
        client = ChatClient(srv.url, "judge", max_retries=2, backoff_s=5.0)
        with pytest.raises(JudgeRequestError) as err:
            client.complete([msg("user", "<answer>x</answer>")])
    assert err.value.reason == "retries_exhausted" and "HTTP 500 after 3 attempts" in err.value.detail
    assert len(srv.requests) == 3 and srv.requests[0]["auth"] is None
    gaps = [b["t"] - a["t"] for a, b in zip(srv.requests, srv.requests[1:], strict=False)]
    assert all(0.2 <= g < 2.0 for g in gaps)  # Retry-After (0.2 s) instead of backoff_s (5 s)


def test_client_does_not_retry_other_4xx_and_retries_connection_errors():
    with ScriptedJudge(script=[400]) as srv:
        client = ChatClient(srv.url, "judge", max_retries=3, backoff_s=0.01)
        with pytest.raises(JudgeRequestError, match="http_error: HTTP 400"):
            client.complete([msg("user", "x")])
        assert len(srv.requests) == 1
        port = srv.server.server_address[1]
    dead = ChatClient(f"http://127.0.0.1:{port}/v1", "judge", max_retries=2, backoff_s=0.01, timeout_s=2)
    with pytest.raises(JudgeRequestError, match="connection error"):
        dead.complete([msg("user", "x")])
    assert dead.counters["http_attempts"] == 3


def test_budget_counts_calls_and_tokens():
    b = Budget(requests=2)
    b.reserve()
    b.reserve()
    with pytest.raises(BudgetExhausted, match="request budget"):
        b.reserve()
    t = Budget(tokens=150)
    t.reserve()
    t.spend_tokens(120)
    t.reserve()  # 30 left: still allowed (checked before each call)
    t.spend_tokens(120)
    with pytest.raises(BudgetExhausted, match="token budget"):
        t.reserve()


# ------------------------------------------------------------------ the judge: cache, repair, bias


def make_judge(srv, tmp_path, **over) -> Judge:
    cfg = JudgeConfig.model_validate(
        {
            "enabled": True,
            "base_url": srv.url,
            "model": "judge-x",
            "backoff_s": 0.01,
            "max_concurrency": 2,
            **over,
        }
    )
    return Judge(cfg, Endpoint(srv.url, "judge-x", "sk-secret"), str(tmp_path / "cache"))


def test_judge_scores_repairs_and_marks_unparseable_answers(tmp_path):
    rows = [
        sft(1, "GOOD answer: Paris."),
        sft(2, "BAD answer."),
        sft(3, "FENCED Paris."),
        sft(4, "REPAIR Paris."),
        sft(5, "GARBLE Paris."),
        {**sft(6, "x"), "messages": [msg("user", "No answer here")]},
    ]
    with ScriptedJudge() as srv:
        judge = make_judge(srv, tmp_path)
        res = judge.score_rows(rows)
    assert [r.mean for r in res] == [5.0, 2.0, 5.0, 4.0, None, None]
    assert [r.repaired for r in res[:4]] == [False, False, True, True]
    assert (
        res[4].unscored == "unparseable" and "no JSON object in the answer (after 2 answers)" in res[4].detail
    )
    assert res[4].tally["calls"] == 2 and res[4].tally["repair_requests"] == 1  # bounded: one re-ask
    assert res[5].unscored == "no_answer" and res[5].tally["calls"] == 0
    repair_req = [r for r in srv.requests if len(r["body"]["messages"]) == 4]
    assert len(repair_req) == 2 and "could not be used" in repair_req[0]["body"]["messages"][-1]["content"]


def test_cache_makes_the_rerun_free_and_is_keyed_by_rubric_and_model(tmp_path):
    rows = [sft(i, f"GOOD answer {i}") for i in range(5)]
    with ScriptedJudge() as srv:
        first = make_judge(srv, tmp_path).score_rows(rows)
        n_first = len(srv.requests)
        second = make_judge(srv, tmp_path).score_rows(rows)
        assert len(srv.requests) == n_first == 5  # rerun: 0 requests
        assert all(r.cached and r.tally["cache_hits"] == 1 for r in second)
        assert [r.verdict for r in first] == [r.verdict for r in second]
        make_judge(srv, tmp_path, rubric="ru").score_rows(rows[:2])
        assert len(srv.requests) == 7  # another rubric: new keys
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 7 and all(len(f.stem) == 64 for f in files)
    assert "sk-secret" not in "".join(f.read_text() for f in files)


def test_budget_exhausted_rows_are_unscored_not_passed(tmp_path):
    rows = [sft(i, f"GOOD answer {i}") for i in range(5)]
    with ScriptedJudge() as srv:
        judge = make_judge(srv, tmp_path, max_concurrency=1)
        res = judge.score_rows(rows, Budget(requests=3))
    assert [r.unscored for r in res] == [None, None, None, "budget_exhausted", "budget_exhausted"]
    assert len(srv.requests) == 3


def test_position_bias_check_on_preference_pairs(tmp_path):
    def pair(i, chosen, rejected):
        return {
            "id": f"p{i}",
            "kind": "preference",
            "system": None,
            "messages": [msg("user", "Best answer?")],
            "chosen": [msg("assistant", chosen)],
            "rejected": [msg("assistant", rejected)],
            "text": "",
        }

    rows = [pair(1, "GOOD one", "meh"), pair(2, "meh", "GOOD one"), pair(3, "ORDER one", "other")]
    with ScriptedJudge() as srv:
        res = make_judge(srv, tmp_path, max_concurrency=1).score_rows(rows)
    assert res[0].pair == {"chosen_first": "A", "chosen_second": "B", "consistent": True, "inverted": False}
    assert res[1].pair["consistent"] and res[1].pair["inverted"]  # the judge prefers the rejected answer
    assert res[2].pair["consistent"] is False  # always "A": a position-biased verdict does not count
    # pair 2 shows the same two answers as pair 1 in swapped roles: its two orders are cache hits
    assert [(r.tally["calls"], r.tally["cache_hits"]) for r in res] == [(3, 0), (1, 2), (3, 0)]


def test_judge_view_picks_the_trained_answer():
    row = {
        "kind": "sft",
        "system": "Be brief.",
        "messages": [
            msg("user", "Hi"),
            msg("assistant", "Hello"),
            msg("user", "2+2?"),
            msg("assistant", "4"),
        ],
    }
    conv, answer, rejected = judge_view(row, 1000)
    assert conv == "System: Be brief.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: 2+2?" and answer == "4"
    assert rejected is None
    assert judge_view({"kind": "pretrain", "text": "A document."}, 1000) == ("", "A document.", None)
    assert judge_view(
        {"kind": "sft", "messages": [msg("user", "x" * 50), msg("assistant", "y" * 50)]}, 10
    ) == ("x" * 10, "y" * 10, None)


def test_same_family_warning():
    assert model_family("meta-llama/Llama-3.1-70B-Instruct") == model_family("/models/llama3-8b") == "llama"
    assert model_family("Qwen/Qwen2.5-72B-Instruct") == "qwen" and model_family("mixtral-8x7b") == "mistral"
    assert model_family("gpt-4o-mini") == "gpt" and model_family("tiny-model") is None
    assert "self-preference" in same_family_warning("Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-0.5B")
    assert same_family_warning("gpt-4o", "meta-llama/Llama-3.1-8B") is None


def test_config_rules_name_the_key():
    cfg = load_config()
    assert not cfg.quality.enabled and not cfg.quality.judge.enabled and not cfg.quality.classifier.enabled
    with pytest.raises(ConfigError, match=r"quality\.judge\.model is required"):
        load_config({"quality": {"judge": {"enabled": True, "base_url": "http://x/v1"}}})
    with pytest.raises(
        ConfigError, match=r"quality\.judge\.base_url \(or quality\.judge\.conn_id\) is required"
    ):
        load_config({"quality": {"judge": {"enabled": True, "model": "m"}}})
    with pytest.raises(ConfigError, match=r"quality\.classifier\.model_path is required"):
        load_config({"quality": {"classifier": {"enabled": True}}})
    with pytest.raises(ConfigError, match=r"quality\.judge\.threshold"):
        load_config({"quality": {"judge": {"threshold": 1.5}}})
    with pytest.raises(ConfigError, match=r"quality\.unscored_policy"):
        load_config({"quality": {"unscored_policy": "drop"}})


def test_endpoint_from_airflow_connection_and_key_never_logged(monkeypatch, caplog):
    from include.quality.judge import resolve_endpoint

    secret = "sk-live-DO-NOT-LOG-123"
    monkeypatch.setenv(
        "AIRFLOW_CONN_JUDGE_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": "judge.internal",
                "port": 8443,
                "schema": "https",
                "password": secret,
            }
        ),
    )
    cfg = JudgeConfig.model_validate({"enabled": True, "model": "m", "conn_id": "judge_api"})
    with caplog.at_level(logging.DEBUG):
        ep = resolve_endpoint(cfg)
        logging.getLogger("test").info("endpoint %r %s", ep, ep)
    assert ep.base_url == "https://judge.internal:8443" and ep.api_key == secret
    assert secret not in caplog.text and secret not in repr(ep)
    monkeypatch.setenv("LLMOPS_JUDGE_API_KEY", "sk-env")
    ep = resolve_endpoint(
        JudgeConfig.model_validate({"enabled": True, "model": "m", "base_url": "http://h/v1/"})
    )
    assert (ep.base_url, ep.api_key) == ("http://h/v1", "sk-env")


def test_connection_resolved_by_the_task_is_handed_to_the_stage_subprocess(monkeypatch):
    """The Airflow task resolves the judge connection; the stage's subprocess, which cannot see
    it, gets the URL and key through its environment (llmops_airflow.curation.secret_env)."""
    from llmops_airflow.curation import secret_env

    from include.quality.judge import JudgeConfigError, resolve_endpoint

    secret = "sk-task-only-456"
    monkeypatch.setenv(
        "AIRFLOW_CONN_JUDGE_DB_ONLY",
        json.dumps(
            {
                "conn_type": "http",
                "host": "judge.internal",
                "port": 8000,
                "schema": "http",
                "password": secret,
            }
        ),
    )
    cfg = load_config({"quality": {"judge": {"enabled": True, "model": "m", "conn_id": "judge_db_only"}}})
    env = secret_env("quality", cfg)
    assert env == {
        "LLMOPS_JUDGE_RESOLVED_BASE_URL": "http://judge.internal:8000",
        "LLMOPS_JUDGE_API_KEY": secret,
    }
    assert secret_env("filters", cfg) == {}
    # the subprocess: no connection visible
    monkeypatch.delenv("AIRFLOW_CONN_JUDGE_DB_ONLY")
    with pytest.raises(JudgeConfigError, match="judge_db_only"):
        resolve_endpoint(cfg.quality.judge)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    ep = resolve_endpoint(cfg.quality.judge)
    assert (ep.base_url, ep.api_key) == ("http://judge.internal:8000", secret)


def test_pseudonym_key_is_handed_to_the_stage_subprocess(monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException
    from llmops_airflow.curation import secret_env

    cfg = load_config(
        {
            "pii": {
                "operators": {"EMAIL_ADDRESS": {"type": "pseudonym"}},
                "pseudonym_key": {"variable": "pii_key_only_in_task"},
            }
        }
    )
    monkeypatch.delenv(cfg.pii.pseudonym_key.env, raising=False)
    with pytest.raises(AirflowFailException, match="no pseudonym key"):
        secret_env("pii", cfg)
    monkeypatch.setenv("AIRFLOW_VAR_PII_KEY_ONLY_IN_TASK", "k3y")
    assert secret_env("pii", cfg) == {cfg.pii.pseudonym_key.env: "k3y"}


def test_verdict_cache_on_s3(s3_bucket, s3_server):
    import boto3

    from include.quality.cache import VerdictCache, cache_key, content_hash, default_cache_uri

    uri = default_cache_uri(f"s3://{s3_bucket}/curated/_staging/run-1/quality")
    assert uri == f"s3://{s3_bucket}/curated/_cache/quality_judge"  # outside the run: survives reruns
    assert default_cache_uri("/tmp/out/quality") == "/tmp/out/quality/_cache/quality_judge"
    key = cache_key("rubric", "model", content_hash("pointwise", "q", "a"))
    cache = VerdictCache(uri, s3_server)
    assert cache.get(key) is None
    cache.put(key, {"value": {"relevance": {"score": 5, "why": "ok"}}})
    assert VerdictCache(uri, s3_server).get(key)["value"]["relevance"]["score"] == 5
    keys = [
        o["Key"]
        for o in boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket=s3_bucket)["Contents"]
    ]
    assert keys == [f"curated/_cache/quality_judge/{key[:2]}/{key}.json"]
    assert key != cache_key("rubric", "other-model", content_hash("pointwise", "q", "a"))
