"""Settings of the ``quality`` stage: LLM-as-judge and classifier scoring (mirrored in default.yaml).

Both scorers are off by default, and then the stage is skipped (``enabled: auto``) unless configured.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from include.config.base import StageConfig, ZeroToOne, _Strict, resolve_auto_enabled


class ChatEndpointConfig(_Strict):
    """An OpenAI-compatible ``/chat/completions`` endpoint and the client's limits (shared by the
    quality judge and the ``synthesize_dataset`` generator); ``_where`` names it in errors."""

    _where: ClassVar[str] = "quality.judge"

    base_url: str | None = Field(
        None, description="e.g. http://judge:8000/v1; null = the Airflow connection's host"
    )
    model: str | None = Field(None, description="model name sent to the endpoint")
    conn_id: str | None = Field(
        None, description="Airflow connection: password = API key, host (or extra base_url) = URL"
    )
    api_key_env: str = Field(
        "LLMOPS_JUDGE_API_KEY", description="env var with the API key when no connection gives one"
    )
    max_concurrency: int = Field(4, ge=1, description="requests in flight per executor process")
    max_retries: int = Field(4, ge=0, description="retries on 429 / 5xx / timeouts / connection errors")
    backoff_s: float = Field(
        1.0, gt=0, description="first retry delay; doubles each retry (Retry-After wins)"
    )
    max_backoff_s: float = Field(30.0, gt=0, description="longest retry delay")
    timeout_s: float = Field(60.0, gt=0, description="per HTTP request")
    max_tokens: int = Field(400, ge=1, description="completion tokens per answer")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature of the judge")
    json_mode: bool = Field(
        False, description='send response_format {"type": "json_object"} (if the server supports it)'
    )
    budget_requests: int | None = Field(
        None, ge=0, description="judge calls per run (cache hits are free); null = no limit"
    )
    budget_tokens: int | None = Field(
        None, ge=0, description="total tokens per run (checked before each call)"
    )
    cache_uri: str | None = Field(
        None, description="verdict cache (local or s3://); null = <output root>/_cache/quality_judge"
    )

    @model_validator(mode="after")
    def _required(self):
        if getattr(self, "enabled", True) and not self.model:
            raise ValueError(f"{self._where}.model is required when {self._where}.enabled is true")
        if getattr(self, "enabled", True) and not (self.base_url or self.conn_id):
            raise ValueError(
                f"{self._where}.base_url (or {self._where}.conn_id) is required when "
                f"{self._where}.enabled is true"
            )
        return self


class JudgeConfig(ChatEndpointConfig):
    """An OpenAI-compatible chat-completions endpoint scoring each record with a rubric."""

    enabled: bool = Field(False, description="score records with an LLM judge")
    rubric: str = Field(
        "en", description="en | ru (shipped in include/quality/prompts/) or a path to a rubric YAML file"
    )
    threshold: ZeroToOne = Field(0.8, description="keep when mean score / 5 >= threshold")
    repair_retries: int = Field(
        1, ge=0, le=3, description="re-asks after an unparseable answer (then: unscored)"
    )
    position_bias_check: bool = Field(True, description="preference pairs: pairwise verdict in both orders")
    max_chars: int = Field(6000, ge=100, description="conversation / answer text cut to this many characters")
    base_model: str | None = Field(
        None, description="model being fine-tuned; same family as the judge -> warning"
    )

    @field_validator("rubric")
    @classmethod
    def _rubric(cls, v: str) -> str:
        from include.quality.rubric import load_rubric

        load_rubric(v)  # raises ValueError naming what is wrong
        return v


class QualityClassifierConfig(_Strict):
    """A Hugging Face sequence-classification / regression model (fineweb-edu-classifier style)."""

    enabled: bool = Field(False, description="score records with a local classifier")
    model_path: str | None = Field(None, description="local folder (never downloaded)")
    threshold: float = Field(3.0, description="keep when score >= threshold (score on the model's 0-5 scale)")
    batch_size: int = Field(32, ge=1, description="texts per model call")
    device: str = Field("cpu", description="cpu | cuda | cuda:N | auto (cuda when available)")
    input: Literal["text", "answer"] = Field(
        "text", description="flattened row text, or only what the model learns to say"
    )
    max_chars: int = Field(4000, ge=16, description="each text is cut to this many characters")
    max_length: int = Field(512, ge=8, description="tokens per text given to the model")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?|auto", v):
            raise ValueError("device must be cpu, cuda, cuda:N or auto")
        return v

    @model_validator(mode="after")
    def _required(self):
        if self.enabled and not self.model_path:
            raise ValueError(
                "quality.classifier.model_path is required when quality.classifier.enabled is true"
            )
        return self


def _scorer_on(scorer) -> bool:
    return bool(scorer.get("enabled") if isinstance(scorer, dict) else getattr(scorer, "enabled", False))


class QualityConfig(StageConfig):
    """``quality`` stage settings."""

    enabled: bool = Field(
        False,
        description="auto / unset (the default) = on when the judge or the classifier is enabled; "
        "true with both off = a pass-through that still runs (and writes) the stage",
    )

    unscored_policy: Literal["keep", "reject"] = Field(
        "keep",
        description="records the judge could not score (unparseable answer, budget exhausted, endpoint failure): keep = keep them with flag ``quality_unscored``; reject = rejects with reason ``unscored``",
    )
    judge: JudgeConfig = Field(JudgeConfig(), description="any OpenAI-compatible /chat/completions endpoint")
    classifier: QualityClassifierConfig = Field(
        QualityClassifierConfig(),
        description="HF sequence-classification / regression (fineweb-edu-classifier style)",
    )

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data):
        on = isinstance(data, dict) and (_scorer_on(data.get("judge")) or _scorer_on(data.get("classifier")))
        return resolve_auto_enabled(data, on)
