"""Process-wide singletons: an engine or model built once per Python worker, then reused.

Spark reuses Python workers across tasks, so anything costly (a spaCy pipeline, a
transformer, a judge client) is built on first use and kept for every later task the
worker runs. One lock guards the build so two threads never load the same model twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_STORE: dict[tuple[str, Hashable], Any] = {}
_LOCK = threading.RLock()  # re-entrant: a builder may itself ask for another cached object


def process_cached(namespace: str, key: Hashable, build: Callable[[], T]) -> T:
    """The object for ``(namespace, key)``, built by ``build()`` on first use in this process."""
    slot = (namespace, key)
    try:
        return _STORE[slot]
    except KeyError:
        pass
    with _LOCK:
        if slot not in _STORE:
            _STORE[slot] = build()
        return _STORE[slot]


def fingerprint(*parts: Any) -> str:
    """A stable key for settings: sha256 of their sorted JSON (pydantic models dumped first)."""
    plain = [p.model_dump(mode="json") if hasattr(p, "model_dump") else p for p in parts]
    return hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()
