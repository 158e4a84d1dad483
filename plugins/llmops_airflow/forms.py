"""Trigger-form helpers: JSON schemas for object Params derived from the pydantic config models.

The model is the one source: the form validates an override object with the same keys, types
and ``extra="forbid"`` the run validates again (``load_config``) before any work.
"""

from __future__ import annotations

from typing import Any

#: keywords dropped: an override names only the keys it changes (no ``required``); the defaults
#: live in the YAML the override is merged over, not in the form (no ``default``)
_DROPPED = ("required", "default")


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DROPPED}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def override_schema(model) -> dict:
    """JSON-schema keywords for an ``object`` Param holding a partial override of ``model``:
    ``properties``, ``additionalProperties`` and ``$defs`` (no ``title``/``description``, which
    the Param sets itself)."""
    schema = _strip(model.model_json_schema())
    return {k: v for k, v in schema.items() if k in ("properties", "additionalProperties", "$defs")}


def hyperparameters_schema() -> dict:
    """JSON-schema keywords for the ``hyperparameters`` Param of ``finetune_adapter``: what
    :func:`include.config.training.hyperparameters_to_overrides` takes — a section of the training
    config (``{"lora": {"r": 16}}``) or a bare ``train`` setting (``{"max_steps": 10}``), nothing else."""
    from include.config.training import SECTIONS, TrainingConfig, TrainSettings

    full = _strip(TrainingConfig.model_json_schema())
    train = _strip(TrainSettings.model_json_schema())
    properties = {k: v for k, v in full["properties"].items() if k in SECTIONS}
    properties.update({k: v for k, v in train["properties"].items() if k not in properties})
    return {"properties": properties, "additionalProperties": False, "$defs": full.get("$defs", {})}
