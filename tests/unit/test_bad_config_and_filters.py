"""Issue #15 rows decided per record or per config: strict config types, a missing config file,
whole-word l33t matching on code / ids / numbers, Gopher repetition and no-user-turn rows."""

from __future__ import annotations

import pytest

from include.config import ConfigError, load_config
from include.config.filters import FiltersConfig, ProfanityConfig, QualityConfig
from include.filters import FilterEngine, quality
from include.filters.profanity import build_wordlist


@pytest.mark.parametrize(
    "override, key",
    [
        ({"filters": {"quality": {"max_symbol_ratio": "0.5"}}}, "filters.quality.max_symbol_ratio"),
        ({"normalize": {"lowercase": "yes"}}, "normalize.lowercase"),
        ({"normalize": {"lowercase": 1}}, "normalize.lowercase"),
        ({"near_dedup": {"num_perm": "128"}}, "near_dedup.num_perm"),
    ],
)
def test_config_types_are_strict(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(override)


def test_config_keeps_ints_for_floats_and_survives_its_json_round_trip():
    import json

    cfg = load_config({"filters": {"quality": {"max_symbol_ratio": 1}}})
    assert cfg.filters.quality.max_symbol_ratio == 1.0
    assert load_config(json.loads(json.dumps(cfg.to_dict()))).digest() == cfg.digest()


def test_missing_config_file_is_named(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match=f"config file not found: {missing}"):
        load_config(str(missing))


WORDS = build_wordlist(ProfanityConfig())


@pytest.mark.parametrize(
    "text",
    [
        "a55",
        "see ticket a55 in bay 7",
        "x = a55; y = b00b5",
        "v1.a55 and a55-b and path/a55/c",
        "the grid cells a 5 5 and b 0 0 b 5",
        "hash 3fa55c0ffee, port 8008, id 455",
        " ".join(f"message {i}: shipment a55 arrived" for i in range(200)),
    ],
)
def test_leet_variants_do_not_match_code_ids_or_numbers(text):
    assert WORDS.find(text) == []


@pytest.mark.parametrize(
    "text, term",
    [("you are an @ss.", "ass"), ("what a $hit day", "shit"), ("c0ck", "cock"), ("a.s.s", "ass")],
)
def test_free_standing_leet_words_still_match(text, term):
    assert term in WORDS.find(text)


def _conv(answer: str, user: bool = True) -> dict:
    msgs = (
        [{"role": "user", "content": "I'm hungry."}]
        if user
        else [{"role": "system", "content": "Be upbeat."}]
    )
    return {"kind": "sft", "messages": [*msgs, {"role": "assistant", "content": answer}]}


def test_degenerate_repetition_fails_as_repetition_with_drop_by_default():
    """OpenAI's toy_chat_fine_tuning.jsonl case: one sentence repeated 2,000 times."""
    q = QualityConfig()
    sig = quality.signals(_conv("Eat a banana!" * 2000))
    reasons = dict(quality.failures(sig, q, "sft"))
    assert "repetition" in reasons and "top_2gram_fraction" in reasons["repetition"]
    assert quality.action_for("repetition", q) == "drop" and quality.action_for("low_quality", q) == "flag"
    normal = quality.signals(_conv("Bananas are rich in potassium; eat one with oats before a long run."))
    assert quality.failures(normal, q, "sft") == []


def test_conversation_without_user_turn_is_flagged_by_the_quality_filter():
    sig = quality.signals(_conv("You're great!", user=False))
    assert ("no_user_turn", "the conversation has no user turn") in quality.failures(
        sig, QualityConfig(), "sft"
    )
    assert quality.action_for("no_user_turn", QualityConfig()) == "flag"
    d = FilterEngine(FiltersConfig()).evaluate(_conv("You're great!", user=False))
    assert d.reason is None and "no_user_turn" in d.flags


def test_filter_engine_drops_repetition_by_default():
    d = FilterEngine(FiltersConfig()).evaluate(_conv("Eat a banana!" * 2000))
    assert d.reason == "repetition"
