"""Base classes of the typed config: strict (unknown keys are errors) and frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageConfig(_Strict):
    """Settings every stage has. ``enabled: false`` skips the stage."""

    enabled: bool = True
