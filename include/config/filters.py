"""Settings of the ``filters`` stage (defaults documented per field, mirrored in default.yaml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from include.config.base import StageConfig, ZeroToOne, _Strict, check_regexes

Action = Literal["drop", "flag"]
#: parts of a row a filter looks at: system prompt, turns by role, completions, pretrain text
Scope = Literal["system", "user", "assistant", "tool", "chosen", "rejected", "text"]
Category = Literal["prompt_injection", "xss", "sql_injection"]


class ClassifierSpec(_Strict):
    """Optional Hugging Face text-classification model (a local folder; nothing is downloaded)."""

    model: str | None = Field(
        None, description="path of a saved text-classification model; null = no classifier"
    )
    label: str = Field("INJECTION", description="the positive label (case-insensitive)")
    threshold: ZeroToOne = Field(0.9, description="score of ``label`` at or above this triggers")
    max_chars: int = Field(2000, ge=16, description="each text is cut to this many characters")
    batch_size: int = Field(16, ge=1, description="texts per model call")


class _ShippedModel(_Strict):
    """A spec whose ``model`` names a shipped artifact (include/filters/models/<name>) or a folder."""

    @field_validator("model", check_fields=False)
    @classmethod
    def _exists(cls, v):
        from include.filters.injection import resolve

        try:
            resolve(v)
        except FileNotFoundError as e:
            raise ValueError(str(e)) from None
        return v


class EmbeddingDetectorSpec(_ShippedModel):
    """The second learned detector: sentence embeddings of an installed model package + a small
    MLP head (``include/filters/models/<model>/``; see its MODEL_CARD.md). Checked in addition
    to the TF-IDF one on the same texts: a row is an injection when either reaches its threshold."""

    enabled: bool = Field(
        False,
        description="also score the texts with the sentence-embedding detector (off by default: on CPU it makes the filters stage ~10x slower for +5/60 deepset-test recall; benchmarks/README.md)",
    )
    model: str = Field(
        "injection-minilm-mlp-v1",
        description="a shipped artifact name (include/filters/models/<name>) or a folder with model.json + head.npz",
    )
    threshold: ZeroToOne | None = Field(
        None,
        description="score at or above which a text is an injection; null = the artifact's own threshold (chosen out-of-fold on its training data together with the TF-IDF detector's threshold)",
    )
    max_windows: int = Field(
        4,
        ge=1,
        description="long texts are embedded in windows (sizes in model.json): the first max_windows - 1 and the last",
    )


class TransformerDetectorSpec(EmbeddingDetectorSpec):
    """The third learned detector: a LoRA fine-tune of the installed all-MiniLM-L6-v2 package as a
    sequence classifier (``include/filters/models/<model>/``: the LoRA delta + head; see its
    MODEL_CARD.md). Checked in addition to the others on the same texts (rule OR any detector)."""

    enabled: bool = Field(
        False,
        description="also score the texts with the fine-tuned transformer (off by default: the best deepset-test recall, but on CPU ~20 texts/s per core; benchmarks/README.md)",
    )
    model: str = Field(
        "injection-minilm-lora-v1",
        description="a shipped artifact name (include/filters/models/<name>) or a folder with model.json + adapter.npz",
    )


class DetectorSpec(_ShippedModel):
    """The learned prompt-injection detector shipped in ``include/filters/models`` (offline;
    see its MODEL_CARD.md). A row is a ``prompt_injection`` when a rule hits OR a text in
    ``scope`` scores at or above ``threshold``; the detail names which fired and the score."""

    enabled: bool = Field(True, description="use the shipped learned injection detector alongside the rules")
    model: str = Field(
        "injection-tfidf-lr-v1",
        description="a shipped artifact name (include/filters/models/<name>) or a folder with model.json + weights.npz",
    )
    threshold: ZeroToOne | None = Field(
        None,
        description="score at or above which a text is an injection; null = the artifact's own threshold (chosen on out-of-fold validation scores of its training data, see the model card)",
    )
    scope: list[Scope] = Field(
        ["system", "user", "tool"],
        description="scored texts, one by one: system prompt, user turns, tool outputs (indirect injection)",
    )
    max_windows: int = Field(
        32,
        ge=1,
        description="long texts are scored in overlapping windows (sizes in model.json); at most this many per text",
    )
    embedding: EmbeddingDetectorSpec = Field(
        EmbeddingDetectorSpec(),
        description="the sentence-embedding detector checked alongside (needs ``enabled``); rule OR any detector",
    )
    transformer: TransformerDetectorSpec = Field(
        TransformerDetectorSpec(),
        description="the fine-tuned transformer detector checked alongside (needs ``enabled``); rule OR any detector",
    )


class ToxicityClassifierSpec(ClassifierSpec):
    label: str = Field("toxic", description="output label read as the toxicity score")


class MaliciousConfig(_Strict):
    """Prompt injection, XSS / script payloads, SQL injection (pattern rules, the learned injection
    detector, and an optional Hugging Face classifier)."""

    enabled: bool = Field(True, description="run the malicious-content checks")
    action: Action = Field("drop", description="drop (rejects, reason = category) | flag (adds to `flags`)")
    scope: list[Scope] = Field(
        ["system", "user", "assistant", "tool", "chosen", "text"],
        description="rejected completions are left alone: a preference pair may show a bad answer on purpose",
    )
    categories: list[Category] = Field(
        ["prompt_injection", "xss", "sql_injection"],
        description="rule families to apply (prompt injection, XSS / script, SQL injection, ...)",
    )
    extra_patterns: dict[Category, list[str]] = Field(
        {}, description="extra regexes per category (case-insensitive), matched like the built-in rules"
    )
    detector: DetectorSpec = Field(
        DetectorSpec(),
        description="learned injection detector (include/filters/models/<model>/MODEL_CARD.md); rule hit OR score >= threshold",
    )
    classifier: ClassifierSpec = Field(
        ClassifierSpec(),
        description="a stronger local model (fine-tuned transformer classifier folder), checked in addition",
    )

    @field_validator("extra_patterns")
    @classmethod
    def _compile(cls, v):
        for rxs in v.values():
            check_regexes(rxs)
        return v


class ProfanityConfig(_Strict):
    """Word lists (LDNOOBW + better-profanity for en) with word boundaries and obfuscation handling."""

    enabled: bool = Field(True, description="run the profanity checks")
    action: Action = Field("drop", description="drop = reject the row; flag = keep it with a flag")
    scope: list[Scope] = Field(
        ["system", "assistant", "chosen", "text"],
        description="what the model learns to say; prompts and rejected completions may quote bad language",
    )
    languages: list[str] = Field(
        ["en"], description="shipped lists: include/filters/data/profanity_<lang>.json"
    )
    word_files: list[str] = Field(
        [], description='extra lists (one term per line, or JSON with a "words" list)'
    )
    extra_words: list[str] = Field([], description="additional words or phrases to match")
    allow_words: list[str] = Field([], description="never counted (e.g. domain terms a list flags)")
    min_matches: int = Field(1, ge=1, description="hits needed before the action applies")
    obfuscation: bool = Field(
        True, description="also match l33t (sh1t), repeats (fuuuck), separators (f.u.c.k)"
    )
    classifier: ToxicityClassifierSpec = Field(
        ToxicityClassifierSpec(), description="optional local toxicity classifier"
    )


class DomainConfig(_Strict):
    """Domain rules: keep what is in scope (e.g. only financial text), drop what is not."""

    include_keywords: list[str] = Field(
        [], description="non-empty: a row must contain one (word match, any case)"
    )
    include_patterns: list[str] = Field([], description="... or match one of these regexes")
    exclude_keywords: list[str] = Field([], description="a row containing one is dropped")
    exclude_patterns: list[str] = Field(
        [], description="regexes: a row matching any is rejected (domain_exclude)"
    )
    min_chars: int = Field(0, ge=0, description="bounds on the flattened text length")
    max_chars: int | None = Field(
        None, ge=1, description="rows with more characters are rejected; null = no limit"
    )
    min_turns: int = Field(0, ge=0, description="bounds on user/assistant turns (messages + completion)")
    max_turns: int | None = Field(
        None, ge=1, description="conversations with more turns are rejected; null = no limit"
    )
    languages: list[str] = Field([], description="ISO 639-1 allow-list (py3langid); empty = any language")
    min_language_confidence: ZeroToOne = Field(0.5, description="below this the language is unknown")
    allow_unknown_language: bool = Field(
        True, description="keep rows whose language is unknown (code, numbers)"
    )

    _check = field_validator("include_patterns", "exclude_patterns")(
        classmethod(lambda cls, v: check_regexes(v))
    )


class QualityConfig(_Strict):
    """Gopher / C4-style heuristic signals, stored in the ``signals`` column (JSON)."""

    enabled: bool = Field(True, description="compute heuristic quality signals and apply their thresholds")
    action: Action = Field(
        "flag",
        description="what a failed threshold does; flag by default: Gopher's web-text limits misfire on code answers",
    )
    drop_empty_answers: bool = Field(
        True, description="final assistant turn / chosen completion empty (no tool calls)"
    )
    drop_refusals: bool = Field(
        True, description="sft answer that is only a refusal (\"I'm sorry, but I can't ...\")"
    )
    refusal_max_chars: int = Field(300, ge=1, description='longer answers are not "refusal only"')
    min_words: int = Field(1, ge=0, description="answers with fewer words fail (too_short)")
    max_symbol_ratio: float = Field(0.1, description="'#' and '...' per word (Gopher)")
    min_mean_word_length: float = Field(2.0, description="Gopher: 3")
    max_mean_word_length: float = Field(12.0, description="Gopher: 10")
    min_alpha_word_fraction: float = Field(0.5, description="words with a letter (Gopher: 0.8 for web text)")
    max_duplicate_line_fraction: float = Field(
        0.3, description="share of lines repeated elsewhere in the answer above which it fails (Gopher)"
    )
    max_top_ngram_fraction: dict[int, float] = Field(
        {2: 0.2, 3: 0.18, 4: 0.16}, description="Gopher, chars in top n-gram"
    )
    max_duplicate_ngram_fraction: dict[int, float] = Field(
        {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="share of characters in repeated n-grams above which an answer fails",
    )
    max_bullet_line_fraction: float = Field(
        0.9, description="share of lines starting with a bullet above which an answer fails"
    )
    max_ellipsis_line_fraction: float = Field(
        0.3, description="share of lines ending in an ellipsis above which an answer fails"
    )
    min_words_for_repetition: int = Field(
        50, ge=1, description="repetition signals only on answers this long"
    )
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

    malicious: MaliciousConfig = Field(
        MaliciousConfig(), description="prompt injection, XSS / script payloads, SQL injection"
    )
    profanity: ProfanityConfig = Field(
        ProfanityConfig(),
        description="word lists (LDNOOBW + better-profanity) on whole words, l33t / repeats / f.u.c.k",
    )
    domain: DomainConfig = Field(
        DomainConfig(), description="e.g. a financial model: include_keywords: [bank, loan, stock, ...]"
    )
    quality: QualityConfig = Field(
        QualityConfig(), description="Gopher / C4 heuristics -> `signals` (JSON); failures flagged by default"
    )
