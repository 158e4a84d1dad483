"""Self-instruct generation against a real model server: ``transformers serve`` with the tiny
local Llama. Its answers are gibberish, so every request ends as a reject with a reason, the
client's token counters come from the server's usage, and nothing is lost."""

from __future__ import annotations

import pytest

from include.config.synthesize import load_synthesize_config
from include.quality.judge import resolve_endpoint
from include.synthesize.generate import Synthesizer
from tests.judge_server import TransformersServe, tiny_chat_model
from tests.unit.test_synthesize import DEMOS

pytestmark = pytest.mark.slow


def test_generation_against_transformers_serve(tmp_path_factory, shared_datasets):
    model = tiny_chat_model(tmp_path_factory.getbasetemp() / "tiny-llama-chat", shared_datasets)
    with TransformersServe(model, tmp_path_factory.mktemp("serve") / "serve.log") as server:
        cfg = load_synthesize_config(
            {
                "max_attempts_factor": 1.5,
                "generator": {"max_tokens": 16, "max_concurrency": 2, "timeout_s": 60},
            },
            model=server.model,
            base_url=server.url,
        )
        synth = Synthesizer(cfg, resolve_endpoint(cfg.generator), None, run_id="serve")
        res = synth.run(DEMOS, target=2)
    assert res.requests == 3 == len(res.rows) + len(res.rejects) and res.stopped == "max_attempts"
    assert res.rows == [] and set(res.rejected_by_reason) <= {"unparseable", "empty_response"}
    assert all(r["raw"] or r["reason"] == "empty_response" for r in res.rejects)
    assert res.tally["calls"] == 3 and res.tally["completion_tokens"] > 0
    assert res.tally["prompt_tokens"] > res.tally["completion_tokens"]
