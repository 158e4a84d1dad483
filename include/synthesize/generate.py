"""Self-instruct generation: ``k`` sampled seeds per request -> one new instruction and answer.

Each request ``i`` shows demonstrations drawn with ``Random(f"{sample_seed}:{i}")`` (the same
prompts on a rerun), goes through the judge's :class:`ChatClient` (bounded concurrency, retries,
the run's :class:`Budget`) and the response cache (a rerun pays nothing for requests already
answered). Requests go out in waves of what is still missing; results are taken in request
order, so what is kept does not depend on timing. Every answered request ends as one generated
row or one reject with a reason: ``requests = generated + rejected``, always.

Generated rows are OpenAI-format records whose ``meta`` names the generator model, the prompt
(name, hash, text) and the demonstrations; the curation ingests them like any source.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from include.config.synthesize import SynthesizeConfig
from include.formats.base import record_hash
from include.normalize import norm_hash
from include.quality.cache import VerdictCache, cache_key, content_hash
from include.quality.client import Budget, BudgetExhausted, ChatClient, JudgeRequestError
from include.quality.judge import Endpoint, model_family, shared_family
from include.synthesize.prompt import Demo, GenerationRejected, load_prompt, parse_generation

log = logging.getLogger(__name__)


def family_warning(generator_model: str | None, judge_model: str | None) -> str | None:
    """A warning when the generator and the quality judge are of one model family, else None."""
    if fam := shared_family(generator_model, judge_model):
        return (
            f"generator model {generator_model!r} and judge model {judge_model!r} are both {fam}: a judge "
            "tends to prefer its own family's outputs, so synthetic rows may pass the quality judge "
            "too easily; prefer a judge from another family"
        )
    return None


@dataclass
class Answer:
    """One request's outcome: the response text, or why there is none."""

    attempt: int
    demos: list[Demo]
    text: str | None = None
    error: tuple[str, str] | None = None
    cached: bool = False


@dataclass
class Result:
    rows: list[dict] = field(default_factory=list)  #: generated OpenAI-format records
    rejects: list[dict] = field(default_factory=list)
    requests: int = 0  #: requests answered (from the endpoint or the cache)
    not_sent: int = 0  #: requests the budget stopped
    stopped: str | None = None  #: target_reached | max_attempts | budget_exhausted
    tally: Counter = field(default_factory=Counter)

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(r["reason"] for r in self.rejects).items()))


class Synthesizer:
    """Generates from one seed set with one endpoint and prompt (thread-safe requests)."""

    def __init__(
        self,
        cfg: SynthesizeConfig,
        endpoint: Endpoint,
        cache_uri: str | None,
        s3_endpoint: str | None = None,
        run_id: str = "",
    ):
        gcfg = cfg.generator
        self.cfg, self.endpoint, self.run_id = cfg, endpoint, run_id
        self.template = load_prompt(cfg.prompt)
        self.budget = Budget(gcfg.budget_requests, gcfg.budget_tokens)
        self.client = ChatClient.from_config(gcfg, endpoint, self.budget)
        self.cache = VerdictCache(cache_uri, s3_endpoint) if cache_uri else None

    def __repr__(self) -> str:
        return f"Synthesizer({self.client!r}, prompt={self.template.name})"

    def demos_for(self, attempt: int, demos: list[Demo]) -> list[Demo]:
        rng = random.Random(f"{self.cfg.sample_seed}:{attempt}")
        return rng.sample(demos, min(self.cfg.demonstrations, len(demos)))

    def ask(self, attempt: int, demos: list[Demo], tally: Counter) -> Answer:
        """One request (or its cached answer); raises BudgetExhausted."""
        messages = self.template.render(demos)
        key = cache_key(
            self.template.digest,
            self.endpoint.model,
            content_hash(messages[0]["content"], str(attempt), str(self.cfg.generator.temperature)),
        )
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None and isinstance(hit.get("text"), str):
            tally.update(cache_hits=1)
            return Answer(attempt, demos, hit["text"], cached=True)
        try:
            out = self.client.complete(messages, tally=tally)
        except JudgeRequestError as exc:
            return Answer(attempt, demos, error=("request_failed", f"{exc.reason}: {exc.detail}"[:500]))
        if self.cache is not None:
            self.cache.put(
                key, {"text": out.text, "model": self.endpoint.model, "prompt": self.template.digest}
            )
        return Answer(attempt, demos, out.text)

    def check(self, answer: Answer, taken: set[str], seed_hashes: set[str]) -> tuple[str, str]:
        """``(instruction, answer)`` of a usable response; raises GenerationRejected."""
        if answer.error is not None:
            raise GenerationRejected(*answer.error)
        instruction, reply = parse_generation(answer.text)
        cfg = self.cfg
        if len(instruction) < cfg.min_instruction_chars:
            raise GenerationRejected(
                "too_short", f"instruction has {len(instruction)} characters < {cfg.min_instruction_chars}"
            )
        if len(reply) < cfg.min_answer_chars:
            raise GenerationRejected(
                "too_short", f"answer has {len(reply)} characters < {cfg.min_answer_chars}"
            )
        if max(len(instruction), len(reply)) > cfg.max_chars:
            raise GenerationRejected(
                "too_long", f"instruction or answer longer than {cfg.max_chars} characters"
            )
        h = norm_hash(instruction)
        if h in {norm_hash(d.instruction) for d in answer.demos}:
            raise GenerationRejected("copied_demonstration", "the instruction repeats a demonstration")
        if h in seed_hashes:
            raise GenerationRejected("copied_seed", "the instruction repeats a seed example")
        if h in taken:
            raise GenerationRejected("duplicate", "the instruction repeats one generated earlier in this run")
        return instruction, reply

    def record(self, answer: Answer, instruction: str, reply: str) -> dict:
        return {
            "id": f"synth-{record_hash(instruction, reply)}",
            "messages": [{"role": "user", "content": instruction}, {"role": "assistant", "content": reply}],
            "meta": {"synthetic": True, "demonstrations": [d.id for d in answer.demos], **self.provenance()},
        }

    def provenance(self) -> dict:
        """What made a row: generator model and family, prompt name / hash / text, the run."""
        return {
            "generator_model": self.endpoint.model,
            "generator_family": model_family(self.endpoint.model),
            "prompt_name": self.template.name,
            "prompt_hash": self.template.digest,
            "prompt_text": self.template.text,
            "synthesize_run": self.run_id,
        }

    def run(self, demos: list[Demo], target: int) -> Result:
        """Up to ``target`` new rows from ``demos`` (see the module doc)."""
        if not demos:
            raise ValueError("no usable seed examples")
        res = Result()
        max_attempts = math.ceil(target * self.cfg.max_attempts_factor)
        seed_hashes = {norm_hash(d.instruction) for d in demos}
        taken: set[str] = set()
        attempt = 0
        with ThreadPoolExecutor(self.cfg.generator.max_concurrency, thread_name_prefix="synth") as pool:
            while res.stopped is None:
                if len(res.rows) >= target:
                    res.stopped = "target_reached"
                    break
                if attempt >= max_attempts:
                    res.stopped = "max_attempts"
                    break
                wave = range(attempt, min(max_attempts, attempt + target - len(res.rows)))
                attempt = wave.stop
                futures = [(i, pool.submit(self.ask, i, self.demos_for(i, demos), res.tally)) for i in wave]
                for i, fut in futures:
                    try:
                        answer = fut.result()
                    except BudgetExhausted as exc:
                        res.not_sent += 1
                        res.stopped = "budget_exhausted"
                        log.warning("synthesize: request %d not sent: %s", i, exc)
                        continue
                    res.requests += 1
                    try:
                        instruction, reply = self.check(answer, taken, seed_hashes)
                    except GenerationRejected as rej:
                        res.rejects.append(self.reject_row(answer, rej))
                        continue
                    taken.add(norm_hash(instruction))
                    res.rows.append(self.record(answer, instruction, reply))
        log.info(
            "synthesize: %d generated, %d rejected %s, %d not sent (%s) from %d requests",
            len(res.rows),
            len(res.rejects),
            res.rejected_by_reason,
            res.not_sent,
            res.stopped,
            res.requests,
        )
        return res

    def reject_row(self, answer: Answer, rej: GenerationRejected) -> dict:
        return {
            "attempt": answer.attempt,
            "reason": rej.reason,
            "detail": rej.detail[:500],
            "raw": (answer.text or "")[:4000],
            "cached": answer.cached,
            "demonstrations": [d.id for d in answer.demos],
            "prompt_hash": self.template.digest,
        }
