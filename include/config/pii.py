"""Settings of the ``pii`` stage (defaults documented per field, mirrored in default.yaml)."""

from __future__ import annotations

from include.config.base import StageConfig


class PiiConfig(StageConfig):
    """``pii`` stage settings."""
