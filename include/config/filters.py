"""Settings of the ``filters`` stage (defaults documented per field, mirrored in default.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from include.config.base import StageConfig, _Strict, check_regexes

Action = Literal["drop", "flag"]
#: parts of a row a filter looks at: system prompt, turns by role, completions, pretrain text
Scope = Literal["system", "user", "assistant", "tool", "chosen", "rejected", "text"]
Category = Literal["prompt_injection", "xss", "sql_injection"]


class ClassifierSpec(_Strict):
    """Optional Hugging Face text-classification model (a local folder; nothing is downloaded)."""

    model: str | None = None  #: path of a saved text-classification model; null = no classifier
    label: str = "INJECTION"  #: the positive label (case-insensitive)
    threshold: float = Field(0.9, ge=0.0, le=1.0)  #: score of ``label`` at or above this triggers
    max_chars: int = Field(2000, ge=16)  #: each text is cut to this many characters
    batch_size: int = Field(16, ge=1)


class DetectorSpec(_Strict):
    """The learned prompt-injection detector shipped in ``include/filters/models`` (offline;
    see its MODEL_CARD.md). A row is a ``prompt_injection`` when a rule hits OR a text in
    ``scope`` scores at or above ``threshold``; the detail names which fired and the score."""

    enabled: bool = True
    #: a shipped artifact name (include/filters/models/<name>) or a folder with model.json + weights.npz
    model: str = "injection-tfidf-lr-v1"
    #: score at or above which a text is an injection; null = the artifact's own threshold
    #: (chosen on out-of-fold validation scores of its training data, see the model card)
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    #: scored texts, one by one: system prompt, user turns, tool outputs (indirect injection)
    scope: list[Scope] = ["system", "user", "tool"]
    #: long texts are scored in overlapping windows (sizes in model.json); at most this many per text
    max_windows: int = Field(32, ge=1)

    @field_validator("model")
    @classmethod
    def _exists(cls, v):
        from include.filters.injection import resolve

        try:
            resolve(v)
        except FileNotFoundError as e:
            raise ValueError(str(e)) from None
        return v


class ToxicityClassifierSpec(ClassifierSpec):
    label: str = "toxic"


class MaliciousConfig(_Strict):
    """Prompt injection, XSS / script payloads, SQL injection (pattern rules, the learned injection
    detector, and an optional Hugging Face classifier)."""

    enabled: bool = True
    action: Action = "drop"
    #: rejected completions are left alone: a preference pair may show a bad answer on purpose
    scope: list[Scope] = ["system", "user", "assistant", "tool", "chosen", "text"]
    categories: list[Category] = ["prompt_injection", "xss", "sql_injection"]
    #: extra regexes per category (case-insensitive), matched like the built-in rules
    extra_patterns: dict[Category, list[str]] = {}
    detector: DetectorSpec = DetectorSpec()
    #: a stronger local model (fine-tuned transformer classifier folder), checked in addition
    classifier: ClassifierSpec = ClassifierSpec()

    @field_validator("extra_patterns")
    @classmethod
    def _compile(cls, v):
        for rxs in v.values():
            check_regexes(rxs)
        return v


class ProfanityConfig(_Strict):
    """Word lists (LDNOOBW + better-profanity for en) with word boundaries and obfuscation handling."""

    enabled: bool = True
    action: Action = "drop"
    #: what the model learns to say; prompts and rejected completions may quote bad language
    scope: list[Scope] = ["system", "assistant", "chosen", "text"]
    languages: list[str] = ["en"]  #: shipped lists: include/filters/data/profanity_<lang>.json
    word_files: list[str] = []  #: extra lists (one term per line, or JSON with a "words" list)
    extra_words: list[str] = []
    allow_words: list[str] = []  #: never counted (e.g. domain terms a list flags)
    min_matches: int = Field(1, ge=1)  #: hits needed before the action applies
    obfuscation: bool = True  #: also match l33t (sh1t), repeats (fuuuck), separators (f.u.c.k)
    classifier: ToxicityClassifierSpec = ToxicityClassifierSpec()


class DomainConfig(_Strict):
    """Domain rules: keep what is in scope (e.g. only financial text), drop what is not."""

    include_keywords: list[str] = []  #: non-empty: a row must contain one (word match, any case)
    include_patterns: list[str] = []  #: ... or match one of these regexes
    exclude_keywords: list[str] = []  #: a row containing one is dropped
    exclude_patterns: list[str] = []
    min_chars: int = Field(0, ge=0)  #: bounds on the flattened text length
    max_chars: int | None = Field(None, ge=1)
    min_turns: int = Field(0, ge=0)  #: bounds on user/assistant turns (messages + completion)
    max_turns: int | None = Field(None, ge=1)
    languages: list[str] = []  #: ISO 639-1 allow-list (py3langid); empty = any language
    min_language_confidence: float = Field(0.5, ge=0.0, le=1.0)  #: below this the language is unknown
    allow_unknown_language: bool = True  #: keep rows whose language is unknown (code, numbers)

    _check = field_validator("include_patterns", "exclude_patterns")(
        classmethod(lambda cls, v: check_regexes(v))
    )


class QualityConfig(_Strict):
    """Gopher / C4-style heuristic signals, stored in the ``signals`` column (JSON)."""

    enabled: bool = True
    #: what a failed threshold does; flag by default: Gopher's web-text limits misfire on code answers
    action: Action = "flag"
    drop_empty_answers: bool = True  #: final assistant turn / chosen completion empty (no tool calls)
    drop_refusals: bool = True  #: sft answer that is only a refusal ("I'm sorry, but I can't ...")
    refusal_max_chars: int = Field(300, ge=1)  #: longer answers are not "refusal only"
    min_words: int = Field(1, ge=0)
    max_symbol_ratio: float = 0.1  #: '#' and '...' per word (Gopher)
    min_mean_word_length: float = 2.0  #: Gopher: 3
    max_mean_word_length: float = 12.0  #: Gopher: 10
    min_alpha_word_fraction: float = 0.5  #: words with a letter (Gopher: 0.8 for web text)
    max_duplicate_line_fraction: float = 0.3  #: Gopher
    max_top_ngram_fraction: dict[int, float] = {2: 0.2, 3: 0.18, 4: 0.16}  #: Gopher, chars in top n-gram
    max_duplicate_ngram_fraction: dict[int, float] = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    max_bullet_line_fraction: float = 0.9
    max_ellipsis_line_fraction: float = 0.3
    min_words_for_repetition: int = Field(50, ge=1)  #: repetition signals only on answers this long
    repetition_action: Action = Field(
        "drop", description="what failed repetition thresholds (reason repetition) do; drop by default"
    )
    max_duplicate_line_char_fraction: float = Field(0.2, description="datatrove Gopher: dup_line_char_frac")
    max_duplicate_paragraph_fraction: float = Field(0.3, description="datatrove Gopher: dup_para_frac")
    max_duplicate_paragraph_char_fraction: float = Field(
        0.2, description="datatrove Gopher: dup_para_char_frac"
    )
    no_user_turn_action: Action = Field(
        "flag", description="a conversation without a user turn (kept by ingest.require_user_turn: false)"
    )


class FiltersConfig(StageConfig):
    """``filters`` stage settings: every drop goes to rejects with a reason code, every
    ``flag`` action appends to ``flags``."""

    malicious: MaliciousConfig = MaliciousConfig()
    profanity: ProfanityConfig = ProfanityConfig()
    domain: DomainConfig = DomainConfig()
    quality: QualityConfig = QualityConfig()
