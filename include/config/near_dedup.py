"""Settings of the ``near_dedup`` stage (defaults documented per field, mirrored in default.yaml)."""

from __future__ import annotations

from include.config.base import StageConfig


class NearDedupConfig(StageConfig):
    """``near_dedup`` stage settings."""
