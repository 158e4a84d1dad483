"""Names and layout of the registry: file names, version folders, valid adapter and alias names."""

from __future__ import annotations

import re

MANIFEST = "manifest.json"
LATEST = "latest"
CLAIM = "_claim.json"
VERSION_RE = re.compile(r"^v(\d+)$")
#: adapter names and aliases (also checked by finetune_adapter's plan before any work)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
NAME_RULE = "letters, digits, '.', '_' or '-' (max 128)"


class RegistryError(RuntimeError):
    """Bad registry request (unknown adapter/version/alias, bad name)."""


def check_name(kind: str, value: str) -> str:
    """``value`` when it is a valid adapter name / alias, else :class:`RegistryError`."""
    if not NAME_RE.match(value or ""):
        raise RegistryError(f"invalid {kind} {value!r}: use {NAME_RULE}")
    return value
