"""Base classes of the typed config: strict (unknown keys are errors) and frozen."""

from __future__ import annotations

import importlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: a setting in [0, 1]: a share, a probability or a score threshold
ZeroToOne = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StageConfig(_Strict):
    """Settings every stage has. ``enabled: false`` skips the stage."""

    enabled: bool = Field(True, description="run this stage; false = its rows pass through unchanged")


def resolve_auto_enabled(data, on: bool):
    """``enabled: auto`` (or unset) in raw stage settings becomes ``on``; for a stage's
    ``model_validator(mode="before")``."""
    if isinstance(data, dict) and data.get("enabled", "auto") in ("auto", None):
        return {**data, "enabled": on}
    return data


def check_regexes(patterns: list[str], engine: str = "re") -> list[str]:
    """Each pattern compiles with ``engine`` (``re``, or ``regex`` for Presidio's recognizers);
    raises ValueError naming the bad one."""
    module = importlib.import_module(engine)
    for rx in patterns:
        try:
            module.compile(rx)
        except module.error as exc:
            raise ValueError(f"invalid regex {rx!r}: {exc}") from None
    return patterns


def format_errors(exc: ValidationError, what: str, rename: dict[str, str] | None = None) -> str:
    """``invalid <what> config:`` and a line a bad key (``  lora.r: <message> (got 0)``);
    ``rename`` maps field names to the keys users write."""
    lines = []
    for err in exc.errors():
        loc = ".".join((rename or {}).get(str(p), str(p)) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {loc or 'config'}: unknown key")
        elif loc:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
        else:  # a check of the whole config
            lines.append(f"  {err['msg']}")
    return f"invalid {what} config:\n" + "\n".join(lines)
