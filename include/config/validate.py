"""Settings of the ``validate`` stage (the Great Expectations gate)."""

from __future__ import annotations

from pydantic import Field

from include.config.base import StageConfig, ZeroToOne

#: longest flattened ``text`` a curated row may have (ingest rejects longer rows as ``too_long``)
MAX_TEXT_CHARS = 200_000


class ValidateConfig(StageConfig):
    """``validate`` stage settings."""

    suite: str = Field(
        "include/validation/curated_suite.yaml",
        description="suite file (relative to the repo root or absolute)",
    )
    min_rows: int = Field(1, ge=0, description="fewer curated rows fails the gate")
    max_reject_share: ZeroToOne = Field(0.5, description="rejected / source records above this fails")
    min_text_chars: int = Field(1, ge=0, description="per-row bounds on the flattened text length")
    max_text_chars: int = Field(
        MAX_TEXT_CHARS, ge=1, description="upper per-row bound on the flattened text length"
    )
    check_residual_pii: bool = Field(
        True, description="no e-mail, phone or card number left in any text column"
    )
    data_docs: bool = Field(True, description="write GX Data Docs HTML next to the run manifest")
