"""Typed pipeline configuration: defaults in ``default.yaml``, overrides deep-merged.

``load_config(overrides)`` validates everything up front and raises
:class:`ConfigError` naming the bad key (``ingest.oasst_paths: Input should be …``)
before any work starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError

from include.config.base import StageConfig, _Strict
from include.config.decontaminate import DecontaminateConfig
from include.config.filters import FiltersConfig
from include.config.lakehouse import LakehouseConfig
from include.config.near_dedup import NearDedupConfig
from include.config.pii import PiiConfig
from include.config.quality import QualityConfig
from include.config.semantic_dedup import SemanticDedupConfig
from include.config.validate import MAX_TEXT_CHARS, ValidateConfig
from include.formats.reader import MAX_JSON_DEPTH

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")

STAGES = (
    "ingest",
    "normalize",
    "exact_dedup",
    "decontaminate",
    "near_dedup",
    "pii",
    "filters",
    "semantic_dedup",
    "quality",
    "validate",
    "publish",
)


class ConfigError(ValueError):
    """Invalid configuration; the message names every bad key."""


class SparkConfig(_Strict):
    master: str = "local[*]"
    conn_id: str | None = None
    driver_memory: str = "2g"
    shuffle_partitions: int = Field(8, ge=1)
    conf: dict[str, str | int | float | bool] = {}


class StorageConfig(_Strict):
    s3_endpoint_url: str | None = None
    native_spark_io: bool = False


class IngestConfig(_Strict):
    enabled: Literal[True] = True  # ingest cannot be turned off: it makes the canonical rows
    format: str = "auto"
    formats: dict[str, str] = {}
    source_name: str | None = None
    detect_sample: int = Field(50, ge=1)
    extensions: list[str] = [".json", ".jsonl", ".jsonl.gz", ".json.gz", ".parquet"]
    oasst_paths: Literal["all", "best"] = "all"
    oasst_skip_review_failed: bool = True
    preference_pairs: Literal["best_vs_rest", "all_ordered"] = "best_vs_rest"
    max_raw_chars: int = Field(4000, ge=0)
    max_text_chars: int | None = Field(
        MAX_TEXT_CHARS,
        ge=1,
        description="a row whose flattened text is longer is rejected as too_long (null: no limit); "
        "keep it <= validate.max_text_chars or the gate fails the run instead",
    )
    max_json_depth: int = Field(
        MAX_JSON_DEPTH, ge=2, le=900, description="deeper-nested source records are rejected as invalid_json"
    )
    require_user_turn: bool = Field(
        True,
        description="reject conversations without a user message (no_user_turn); false keeps them and "
        "the quality filter flags them no_user_turn",
    )


class NormalizeConfig(StageConfig):
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFKC"
    lowercase: bool = True
    strip_punctuation: bool = True
    collapse_whitespace: bool = True


class ExactDedupConfig(StageConfig):
    keep: Literal["first", "longest"] = "first"


class PipelineConfig(_Strict):
    spark: SparkConfig = SparkConfig()
    storage: StorageConfig = StorageConfig()
    lakehouse: LakehouseConfig = LakehouseConfig()
    ingest: IngestConfig = IngestConfig()
    normalize: NormalizeConfig = NormalizeConfig()
    exact_dedup: ExactDedupConfig = ExactDedupConfig()
    decontaminate: DecontaminateConfig = DecontaminateConfig()
    near_dedup: NearDedupConfig = NearDedupConfig()
    pii: PiiConfig = PiiConfig()
    filters: FiltersConfig = FiltersConfig()
    semantic_dedup: SemanticDedupConfig = SemanticDedupConfig()
    quality: QualityConfig = QualityConfig()
    validate_: ValidateConfig = Field(ValidateConfig(), alias="validate")
    publish: StageConfig = StageConfig()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    def stage(self, name: str) -> StageConfig | IngestConfig:
        if name not in STAGES:
            raise KeyError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
        return getattr(self, "validate_" if name == "validate" else name)

    def enabled(self, name: str) -> bool:
        return bool(self.stage(name).enabled)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    def digest(self) -> str:
        """Hash of the effective config (stable key order)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge ``override`` into a copy of ``base`` (dicts merge, others replace)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join("validate" if p == "validate_" else str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(
            f"  {loc}: {msg} (got {err.get('input')!r})"
            if err["type"] != "extra_forbidden"
            else f"  {loc}: {msg}"
        )
    return "invalid pipeline config:\n" + "\n".join(lines)


def parse_overrides(overrides: dict | str | Path | None) -> dict:
    """Overrides as a dict, a JSON/YAML string, or a path to a YAML/JSON file."""
    if overrides is None or overrides == "":
        return {}
    if isinstance(overrides, dict):
        return overrides
    text = str(overrides)
    path = Path(text)
    if "\n" not in text and len(text) < 4096 and path.suffix in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config is not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a mapping of stage -> settings, got {type(data).__name__}")
    return data


def load_config(overrides: dict | str | Path | None = None) -> PipelineConfig:
    """Defaults deep-merged with ``overrides``, validated; raises ConfigError."""
    base = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    merged = deep_merge(base, parse_overrides(overrides))
    try:  # JSON mode: strict types (no "0.5" for a float, no "yes"/1 for a bool), keys as text
        cfg = PipelineConfig.model_validate_json(json.dumps(merged, default=str))
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc)) from None
    if cfg.ingest.format != "auto" or cfg.ingest.formats:
        from include.formats import ADAPTERS

        for where, name in [("ingest.format", cfg.ingest.format)] + [
            (f"ingest.formats.{k}", v) for k, v in cfg.ingest.formats.items()
        ]:
            if name != "auto" and name not in ADAPTERS:
                raise ConfigError(
                    f"invalid pipeline config:\n  {where}: unknown format {name!r}; "
                    f"known: auto, {', '.join(sorted(ADAPTERS))}"
                )
    return cfg
