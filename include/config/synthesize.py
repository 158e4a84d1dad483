"""Settings of the ``synthesize_dataset`` DAG: the generator endpoint and the self-instruct loop.

Validated before any work (``load_synthesize_config``); the DAG's ``config`` Param is a partial
override of :class:`SynthesizeConfig` (its form schema is derived from this model).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator, model_validator

from include.config.base import _Strict, format_errors
from include.config.quality import ChatEndpointConfig


class GeneratorConfig(ChatEndpointConfig):
    """The OpenAI-compatible endpoint that writes new examples (the judge's client: retries,
    budget, cache; the key comes from ``conn_id`` or ``api_key_env`` and is never logged)."""

    _where: ClassVar[str] = "synthesize.generator"

    api_key_env: str = Field(
        "LLMOPS_SYNTH_API_KEY", description="env var with the API key when no connection gives one"
    )
    temperature: float = Field(
        0.7, ge=0.0, le=2.0, description="sampling temperature (> 0: varied tasks from the same seeds)"
    )
    max_tokens: int = Field(600, ge=1, description="completion tokens per generated example")
    budget_requests: int | None = Field(
        None, ge=0, description="generator calls per run (cache hits are free); null = no limit"
    )
    cache_uri: str | None = Field(
        None, description="response cache (local or s3://); null = <output_uri>/_cache/synthesize"
    )

    @model_validator(mode="after")
    def _required(self):  # the defaults have no endpoint: load_synthesize_config asks for one
        return self


class SynthesizeConfig(_Strict):
    """Self-instruct generation: each call shows ``demonstrations`` seeds and asks for one new task."""

    generator: GeneratorConfig = Field(GeneratorConfig(), description="the generating LLM endpoint")
    prompt: str = Field(
        "self_instruct",
        description="self_instruct (include/synthesize/prompts/) or a path to a prompt template file "
        "with {demonstrations} and {k}",
    )
    demonstrations: int = Field(3, ge=1, le=20, description="seed examples shown per request (k)")
    max_attempts_factor: float = Field(
        3.0, ge=1.0, description="at most ceil(target_count x factor) requests (rejects are retried)"
    )
    sample_seed: int = Field(
        0, description="random seed of the demonstration sampling (reruns = same prompts)"
    )
    max_seeds: int = Field(2000, ge=1, description="seed examples read (the first ones, in file order)")
    min_instruction_chars: int = Field(10, ge=1, description="shorter generated instructions are rejected")
    min_answer_chars: int = Field(2, ge=1, description="shorter generated answers are rejected")
    max_chars: int = Field(8000, ge=100, description="longer instructions or answers are rejected")
    include_seeds: bool = Field(
        True,
        description="curate the seeds together with the new rows (dedup against them; the curated "
        "version holds both)",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        from include.synthesize.prompt import load_prompt

        load_prompt(v)  # raises ValueError naming what is wrong
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load_synthesize_config(overrides: dict | str | None = None, **generator: str | None) -> SynthesizeConfig:
    """Defaults + ``overrides`` (+ non-empty ``generator`` settings such as ``model``), validated;
    raises ConfigError naming each bad key."""
    from include.config import ConfigError, deep_merge, parse_overrides

    merged = deep_merge({}, parse_overrides(overrides))
    given = {k: v for k, v in generator.items() if v not in (None, "")}
    if given:
        merged["generator"] = {**merged.get("generator", {}), **given}
    try:
        cfg = SynthesizeConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, "synthesize")) from None
    gen = cfg.generator
    if not gen.model:
        raise ConfigError("synthesize: the generator model is required (Param generator_model)")
    if not (gen.base_url or gen.conn_id):
        raise ConfigError(
            "synthesize: the generator endpoint is required (Param generator_base_url or generator_conn_id)"
        )
    return cfg
