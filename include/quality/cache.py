"""Persistent judge-verdict cache: one small JSON object per key, local or on S3.

Key = sha256(rubric digest | judge model | content hash), so a rerun with the same rubric
and judge pays nothing for records it already scored; changing the prompt or the model
starts afresh. Only usable verdicts are cached (failures are retried on the next run).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

from include import storage


def content_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def cache_key(rubric_digest: str, model: str, content: str) -> str:
    return hashlib.sha256(f"{rubric_digest}|{model}|{content}".encode()).hexdigest()


def default_cache_uri(stage_output_uri: str) -> str:
    """``<output root>/_cache/quality_judge``: the DAG's output_uri (outside per-run staging)
    or, for a standalone job, the stage's own output folder."""
    root = (
        stage_output_uri.split("/_staging/", 1)[0] if "/_staging/" in stage_output_uri else stage_output_uri
    )
    return storage.join(root, "_cache", "quality_judge")


class VerdictCache:
    def __init__(self, uri: str, s3_endpoint: str | None = None):
        self.uri, self.endpoint = uri, s3_endpoint

    def _uri(self, key: str) -> str:
        return storage.join(self.uri, key[:2], f"{key}.json")

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(storage.read_bytes(self._uri(key), self.endpoint))
        except (FileNotFoundError, OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        data = json.dumps(value, sort_keys=True, ensure_ascii=False).encode()
        target = self._uri(key)
        if storage.is_local(target):  # atomic: concurrent writers of one key never leave half a file
            path = storage.local_path(target)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        else:
            storage.write_bytes(target, data, self.endpoint)
