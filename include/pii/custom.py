"""Pattern recognizers declared in YAML or config (regex + context words + score + check digit)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import regex
import yaml
from presidio_analyzer import Pattern, PatternRecognizer

from include.config.pii import RecognizerSpec
from include.pii.validators import VALIDATORS
from include.settings import REPO_ROOT


class SpecRecognizer(PatternRecognizer):
    """A :class:`PatternRecognizer` built from a :class:`RecognizerSpec`.

    A failing check digit drops the match; a passing one keeps the pattern's score (context
    words still decide), so a random number passing Luhn is not taken for certain.
    """

    def __init__(self, spec: RecognizerSpec, language: str = "en"):
        self._validator = VALIDATORS[spec.validator] if spec.validator else None
        flags = regex.DOTALL | regex.MULTILINE | (regex.IGNORECASE if spec.ignore_case else 0)
        super().__init__(
            supported_entity=spec.entity,
            name=spec.name,
            supported_language=language,
            patterns=[Pattern(p.name, p.regex, p.score) for p in spec.patterns],
            context=spec.context or None,
            global_regex_flags=flags,
        )

    def validate_result(self, pattern_text: str):
        if self._validator is None:
            return None
        return None if self._validator(pattern_text) else False


def parse_specs(data: dict | None, where: str) -> list[RecognizerSpec]:
    """``{"recognizers": [...]}`` -> validated specs; errors name the file."""
    items = (data or {}).get("recognizers")
    if not isinstance(items, list):
        raise ValueError(f"{where}: expected a top-level 'recognizers:' list")
    try:
        return [RecognizerSpec.model_validate(item) for item in items]
    except Exception as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_file(path: str) -> list[RecognizerSpec]:
    p = Path(path)
    if not p.is_absolute():
        p = REPO_ROOT / p
    return parse_specs(yaml.safe_load(p.read_text()), str(path))


def load_pack(name: str) -> list[RecognizerSpec]:
    """A domain pack shipped in ``include/pii/data/<name>.yaml`` (readable from a zip too)."""
    text = resources.files("include.pii").joinpath("data").joinpath(f"{name}.yaml").read_text()
    return parse_specs(yaml.safe_load(text), f"pack {name}")
