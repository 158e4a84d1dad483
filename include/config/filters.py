"""Settings of the ``filters`` stage (defaults documented per field, mirrored in default.yaml)."""

from __future__ import annotations

from include.config.base import StageConfig


class FiltersConfig(StageConfig):
    """``filters`` stage settings."""
