"""Training profiles: what ``finetune_adapter`` trains when a new dataset version arrives.

A YAML file (``LLMOPS_TRAINING_PROFILES``, default ``include/config/training_profiles.yaml``)
lists profiles; the first whose ``match`` glob matches the curated dataset's ``output_uri`` (the
asset event's, or the run's ``dataset_uri``) gives the run's settings. ``plan`` merges, lowest
first: the DAG's Param defaults, the profile, the Params the trigger set (``dag_run.conf``).
``${VAR}`` in values is expanded from the environment.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from include.config import ConfigError
from include.config.base import _Strict
from include.config.training import Backend, Method, PeftMode

DEFAULT_PROFILES_PATH = Path(__file__).resolve().parents[1] / "config" / "training_profiles.yaml"
PROFILES_ENV = "LLMOPS_TRAINING_PROFILES"


class TrainingProfile(_Strict):
    """One profile: the finetune_adapter Params it sets (unset ones keep the DAG's defaults)."""

    match: str = Field("*", description="glob on the dataset's output_uri (or dataset_uri)")
    base_model: str | None = Field(None, description="local model folder or hub id in the HF cache")
    method: Method | None = Field(None, description="sft | reward | dpo | grpo")
    peft: PeftMode | None = Field(None, description="none | lora | qlora")
    backend: Backend | None = Field(None, description="local | kubernetes | sagemaker")
    registry_uri: str | None = Field(None, description="s3://bucket[/prefix] of the adapter registry")
    adapter_name: str | None = Field(None, description="registry name; empty: <base>-<method>-<peft>")
    hyperparameters: dict[str, Any] | None = Field(None, description="as the hyperparameters Param")
    work_uri: str | None = Field(None, description="run files folder")
    aws_conn_id: str | None = Field(None, description="Airflow AWS connection of the registry")
    promote: bool | None = Field(None, description="move 'production' to a passing version")

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude={"match"}).items() if v is not None}


def profiles_path() -> Path:
    return Path(os.environ.get(PROFILES_ENV) or DEFAULT_PROFILES_PATH)


def _expand(value):
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def load_profiles(path: Path | None = None) -> list[TrainingProfile]:
    """The profiles of ``path`` (default :func:`profiles_path`), validated; ConfigError names the entry."""
    path = path or profiles_path()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"training profiles {path}: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("profiles") or []):
        try:
            out.append(TrainingProfile.model_validate(_expand(entry)))
        except ValidationError as exc:
            raise ConfigError(f"training profiles {path}, profile {i}: {exc}") from None
    return out


def find_profile(key: str, profiles: list[TrainingProfile]) -> TrainingProfile | None:
    """The first profile whose ``match`` glob matches ``key`` (trailing slashes ignored)."""
    key = (key or "").rstrip("/")
    return next((p for p in profiles if fnmatch.fnmatchcase(key, p.match.rstrip("/") or "*")), None)


def effective_params(
    defaults: dict, conf: dict | None, key: str, path: Path | None = None
) -> tuple[dict, dict]:
    """Param defaults <- the matching profile <- the trigger's conf; returns (params, provenance)."""
    profile = find_profile(key, load_profiles(path))
    from_profile = profile.params() if profile else {}
    conf = {k: v for k, v in (conf or {}).items() if v not in (None, "")}
    merged = {**defaults, **from_profile, **conf}
    source = {
        "profiles_file": str(path or profiles_path()),
        "profile": profile.match if profile else None,
        "from_profile": sorted(set(from_profile) - set(conf)),
        "from_conf": sorted(conf),
    }
    return merged, source
