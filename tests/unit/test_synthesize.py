"""synthesize_dataset's library: prompt building, robust parsing, checks and rejects, the
same-family warning, the budget, the cache and the key — against a scripted OpenAI-compatible
server on 127.0.0.1 (real HTTP)."""

from __future__ import annotations

import json
import logging

import pytest

from include.config import ConfigError
from include.config.synthesize import load_synthesize_config
from include.synthesize.generate import Synthesizer, family_warning
from include.synthesize.prompt import Demo, GenerationRejected, load_prompt, parse_generation
from include.synthesize.run import generate, prepare
from tests.judge_server import ScriptedJudge

DEMOS = [
    Demo("s1", "Give three tips for staying healthy.", "Eat well, move daily, sleep enough."),
    Demo("s2", "Translate 'good morning' to French.", "Bonjour."),
    Demo("s3", "Name a prime number greater than 10.", "11."),
    Demo("s4", "How many legs does a spider have?", "Eight."),
]


def pair(instruction: str, answer: str = "A correct answer.") -> str:
    return json.dumps({"instruction": instruction, "answer": answer})


class Replies:
    """Scripted generator: the replies in order (then a fresh numbered task each call)."""

    def __init__(self, *replies: str):
        self.replies, self.n = list(replies), 0

    def __call__(self, body: dict) -> str:
        self.n += 1
        return self.replies.pop(0) if self.replies else pair(f"Write a haiku about the number {self.n}.")


def synth(url: str, tmp_path, **over) -> Synthesizer:
    gen = {"max_concurrency": 1, "backoff_s": 0.01, **over.pop("generator", {})}
    cfg = load_synthesize_config({"generator": gen, **over}, model="gen-model", base_url=url)
    from include.quality.judge import resolve_endpoint

    return Synthesizer(cfg, resolve_endpoint(cfg.generator), str(tmp_path / "cache"), run_id="r1")


# ------------------------------------------------------------------ prompt


def test_prompt_shows_k_demonstrations_and_asks_for_json():
    tpl = load_prompt("self_instruct")
    (msg,) = tpl.render(DEMOS[:3])
    text = msg["content"]
    assert msg["role"] == "user"
    assert "3 example tasks" in text
    for i, d in enumerate(DEMOS[:3], 1):
        assert f"Example {i}\nInstruction: {d.instruction}\nAnswer: {d.answer}" in text
    assert DEMOS[3].instruction not in text
    assert '{"instruction": "<the new instruction>", "answer": "<the answer>"}' in text
    assert len(tpl.digest) == 16 and tpl.digest == load_prompt("self_instruct").digest


def test_prompt_file_is_checked(tmp_path):
    (tmp_path / "ok.txt").write_text("Examples:\n{demonstrations}\nNow {k}+1 -> {{json}}")
    assert load_prompt(str(tmp_path / "ok.txt")).render(DEMOS[:1])[0]["content"].endswith("{json}")
    (tmp_path / "none.txt").write_text("no placeholder")
    with pytest.raises(ValueError, match="no {demonstrations} placeholder"):
        load_prompt(str(tmp_path / "none.txt"))
    (tmp_path / "stray.txt").write_text('{demonstrations} reply {"a": 1}')
    with pytest.raises(ValueError, match="bad placeholder"):
        load_prompt(str(tmp_path / "stray.txt"))
    with pytest.raises(ConfigError, match="prompt 'nope'"):
        load_synthesize_config({"prompt": "nope"}, model="m", base_url="http://x")


def test_config_names_what_is_missing():
    with pytest.raises(ConfigError, match="generator model is required"):
        load_synthesize_config({})
    with pytest.raises(ConfigError, match="generator endpoint is required"):
        load_synthesize_config({}, model="m")
    with pytest.raises(ConfigError, match="demonstrations"):
        load_synthesize_config({"demonstrations": 0}, model="m", base_url="http://x")
    cfg = load_synthesize_config({"generator": {"model": "x"}}, model="m", base_url="http://x", conn_id="")
    assert cfg.generator.model == "m" and cfg.generator.conn_id is None  # empty Params do not override


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "text, expect",
    [
        (pair("Sum 2 and 3.", "5"), ("Sum 2 and 3.", "5")),
        ("Here you go:\n```json\n" + pair("Sum 2 and 3.", "5") + "\n```\nEnjoy!", ("Sum 2 and 3.", "5")),
        ('{"Task": "Sum these.", "input": "2, 3", "output": "5",}', ("Sum these.\n\n2, 3", "5")),
        ('{"question": " Why? ", "response": " Because. "}', ("Why?", "Because.")),
        ("Instruction: Name a colour.\nAnswer: Blue.", ("Name a colour.", "Blue.")),
        ("**New instruction:** Name a fruit.\n**Answer:** An apple.", ("Name a fruit.", "An apple.")),
    ],
)
def test_parse_accepts_what_generators_send(text, expect):
    assert parse_generation(text) == expect


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty_response"),
        ("What a lovely set of examples!", "unparseable"),
        (pair("a", "b") + pair("c", "d"), "unparseable"),
        ('{"instruction": "Do it."}', "missing_answer"),
        ('{"answer": "Done."}', "missing_instruction"),
        ('{"instruction": ["x"], "answer": "y"}', "bad_field"),
    ],
)
def test_parse_rejects_with_a_reason(text, reason):
    with pytest.raises(GenerationRejected) as err:
        parse_generation(text)
    assert err.value.reason == reason and err.value.detail


# ------------------------------------------------------------------ family warning


def test_family_warning():
    w = family_warning("Qwen/Qwen2.5-72B-Instruct", "qwen2.5-7b-instruct")
    assert w and "both qwen" in w and "prefer a judge from another family" in w
    assert family_warning("meta-llama/Llama-3.1-70B-Instruct", "gpt-4o-mini") is None
    assert family_warning("gen-model", None) is None


def test_prepare_warns_in_log_and_plan(tmp_path, sample_data, caplog):
    judge = {"quality": {"judge": {"enabled": True, "model": "Qwen/Qwen2.5-7B", "base_url": "http://j"}}}
    with caplog.at_level(logging.WARNING, logger="include.synthesize.run"):
        plan = prepare(
            seeds_uri=str(sample_data / "alpaca.json"),
            output_uri=str(tmp_path / "out"),
            target_count=2,
            config={},
            curate_output_uri=str(tmp_path / "curated"),
            curate_config=judge,
            run_id="manual__1",
            generator={"model": "Qwen/Qwen2.5-72B-Instruct", "base_url": "http://gen/v1"},
        )
    assert "both qwen" in plan["family_warning"]
    assert any("both qwen" in r.getMessage() for r in caplog.records)
    assert plan["seeds"]["kind"] == "raw" and plan["seeds"]["usable"] >= 3
    seeds = [json.loads(line) for line in (tmp_path / "out/runs/manual__1/data/seeds.jsonl").open()]
    assert len(seeds) == plan["seeds"]["usable"] and all(s["meta"]["synthetic"] is False for s in seeds)


# ------------------------------------------------------------------ generation


def test_rejects_have_reasons_and_every_request_is_accounted(tmp_path):
    replies = Replies(
        "I cannot think of anything.",  # unparseable
        pair(DEMOS[0].instruction),  # a copy of a seed (demonstration or not)
        pair("Short"),  # instruction under min_instruction_chars
        pair("List two primary colours.", "Red and blue."),
        pair("list two PRIMARY colours!", "Yellow and red."),  # same normalized instruction
        pair("Explain what a verb is.", "A word for an action."),
    )
    with ScriptedJudge(answer=replies) as srv:
        s = synth(srv.url, tmp_path)
        res = s.run(DEMOS, target=2)
    assert [r["messages"][0]["content"] for r in res.rows] == [
        "List two primary colours.",
        "Explain what a verb is.",
    ]
    reasons = [r["reason"] for r in res.rejects]
    assert reasons[0] == "unparseable" and reasons[2:] == ["too_short", "duplicate"]
    assert reasons[1] in ("copied_demonstration", "copied_seed")
    assert res.requests == len(srv.requests) == 6 == len(res.rows) + len(res.rejects)
    assert res.stopped == "target_reached" and res.not_sent == 0
    assert res.rejects[0]["raw"] == "I cannot think of anything."
    row = res.rows[0]
    assert row["id"].startswith("synth-") and row["messages"][1] == {
        "role": "assistant",
        "content": "Red and blue.",
    }
    meta = row["meta"]
    assert meta["synthetic"] is True and meta["generator_model"] == "gen-model"
    assert meta["prompt_hash"] == s.template.digest and meta["prompt_text"] == s.template.text
    assert len(meta["demonstrations"]) == 3 and set(meta["demonstrations"]) <= {d.id for d in DEMOS}
    body = srv.requests[0]["body"]
    assert body["model"] == "gen-model" and body["temperature"] == 0.7


def test_budget_stops_the_run_and_says_so(tmp_path):
    with ScriptedJudge(answer=Replies()) as srv:
        res = synth(srv.url, tmp_path, generator={"budget_requests": 3}).run(DEMOS, target=5)
    assert len(srv.requests) == 3 and res.requests == 3 and len(res.rows) == 3
    assert res.stopped == "budget_exhausted" and res.not_sent == 2


def test_max_attempts_bounds_a_generator_that_only_sends_junk(tmp_path):
    with ScriptedJudge(answer=lambda body: "no json here") as srv:
        res = synth(srv.url, tmp_path, max_attempts_factor=2.0).run(DEMOS, target=3)
    assert len(srv.requests) == 6 and res.rows == [] and res.rejected_by_reason == {"unparseable": 6}
    assert res.stopped == "max_attempts"


def test_retries_then_cache_makes_a_rerun_free(tmp_path):
    with ScriptedJudge(script=[503, 429], answer=Replies()) as srv:
        first = synth(srv.url, tmp_path).run(DEMOS, target=3)
        assert first.tally["retries"] == 2 and len(srv.requests) == 5
        again = synth(srv.url, tmp_path).run(DEMOS, target=3)
        assert len(srv.requests) == 5  # every prompt answered from the cache
    assert again.rows == first.rows and again.tally["cache_hits"] == 3


def test_failed_requests_are_rejects_not_errors(tmp_path):
    with ScriptedJudge(script=[400], answer=Replies()) as srv:
        res = synth(srv.url, tmp_path).run(DEMOS, target=1)
    assert res.rejects[0]["reason"] == "request_failed" and "HTTP 400" in res.rejects[0]["detail"]
    assert len(res.rows) == 1 and res.requests == 2


def test_run_writes_data_rejects_and_manifest_and_never_the_key(tmp_path, sample_data, caplog, monkeypatch):
    monkeypatch.setenv("LLMOPS_SYNTH_API_KEY", "sk-secret-123")
    out = tmp_path / "out"
    with ScriptedJudge(answer=Replies("junk")) as srv, caplog.at_level(logging.DEBUG):
        plan = prepare(
            seeds_uri=str(sample_data / "openai_chat.jsonl"),
            output_uri=str(out),
            target_count=2,
            config={"generator": {"max_concurrency": 1}},
            curate_output_uri=str(tmp_path / "curated"),
            curate_config={"pii": {"enabled": False}},
            run_id="manual__2",
            generator={"model": "gen-model", "base_url": srv.url},
        )
        manifest = generate(plan)
    assert srv.requests[0]["auth"] == "Bearer sk-secret-123"
    run = out / "runs" / "manual__2"
    saved = json.loads((run / "manifest.json").read_text())
    assert saved["generated"] == 2 and saved["rejected_by_reason"] == {"unparseable": 1}
    assert saved["requests"] == 3 and saved["accounting"] == {"ok": True}
    assert saved["prompt"]["hash"] == load_prompt("self_instruct").digest
    assert saved["prompt"]["text"] == load_prompt("self_instruct").text
    assert saved["generator"]["model"] == "gen-model" and saved["family_warning"] is None
    assert saved["curate_conf"] == {
        "source_uri": str(run / "data"),
        "output_uri": str(tmp_path / "curated"),
        "config": {"pii": {"enabled": False}},
    }
    rows = [json.loads(line) for line in (run / "data" / "synthetic.jsonl").open()]
    assert len(rows) == 2 and all(r["meta"]["synthesize_run"] == "manual__2" for r in rows)
    assert [json.loads(line)["reason"] for line in (run / "rejects.jsonl").open()] == ["unparseable"]
    everything = caplog.text + "".join(p.read_text() for p in run.rglob("*") if p.is_file())
    assert "sk-secret-123" not in everything + json.dumps(manifest)


def test_seeds_from_a_curated_version(tmp_path, sample_rows):  # noqa: F811
    from include.config import load_config
    from include.synthesize.seeds import load_seeds
    from scripts.tiny_model import write_canonical_parquet

    version = tmp_path / "versions" / "v1"
    write_canonical_parquet(sample_rows, version / "curated")
    (version / "manifest.json").write_text("{}")
    seeds = load_seeds(str(version), load_config(), max_seeds=5)
    assert seeds.kind == "curated" and len(seeds.demos) == 5
    assert seeds.skipped["over_max_seeds"] + sum(
        v for k, v in seeds.skipped.items() if k != "over_max_seeds"
    ) == (len(sample_rows) - 5)
    assert {d.id for d in seeds.demos} <= {str(r["id"]) for r in sample_rows}
