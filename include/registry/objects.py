"""JSON objects in one S3 bucket: reads that treat a missing key as ``None``, conditional writes
(``If-None-Match`` / ``If-Match``) and listings that follow continuation tokens."""

from __future__ import annotations

import json
from typing import Any


def is_precondition_failed(exc: Exception) -> bool:
    """A conditional write lost: another writer created (or changed) the object first."""
    resp = getattr(exc, "response", None) or {}
    code = str(resp.get("Error", {}).get("Code", ""))
    status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "412", "ConditionalRequestConflict") or status in (409, 412)


def is_missing(exc: Exception) -> bool:
    """The key (or the bucket) does not exist."""
    resp = getattr(exc, "response", None) or {}
    code = str(resp.get("Error", {}).get("Code", ""))
    return (
        code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
        or resp.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
    )


class JsonObjects:
    """JSON documents under keys of ``bucket``, through the boto3 client ``s3``."""

    def __init__(self, s3, bucket: str):
        self.s3, self.bucket = s3, bucket

    def get(self, key: str) -> dict | None:
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[dict | None, str | None]:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:  # noqa: BLE001
            if is_missing(exc):
                return None, None
            raise
        return json.loads(obj["Body"].read()), obj.get("ETag")

    def put(self, key: str, obj: dict, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        """Write ``obj``; ``if_none_match``: only if the key does not exist; ``if_match``: only if its
        ETag is still this one. A lost condition raises (see :func:`is_precondition_failed`)."""
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": "application/json",
            "Body": (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(),
        }
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match:
            kwargs["IfMatch"] = if_match
        return self.s3.put_object(**kwargs).get("ETag", "")

    def exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
            return True
        except Exception as exc:  # noqa: BLE001
            if is_missing(exc):
                return False
            raise

    def _pages(self, **kwargs):
        token = None
        while True:
            resp = self.s3.list_objects_v2(
                Bucket=self.bucket, **kwargs, **({"ContinuationToken": token} if token else {})
            )
            yield resp
            if not resp.get("IsTruncated"):
                return
            token = resp["NextContinuationToken"]

    def prefixes(self, prefix: str) -> list[str]:
        """The "folder" names directly under ``prefix``."""
        return [
            p["Prefix"][len(prefix) :].strip("/")
            for resp in self._pages(Prefix=prefix, Delimiter="/")
            for p in resp.get("CommonPrefixes", [])
        ]

    def keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix``."""
        return [o["Key"] for resp in self._pages(Prefix=prefix) for o in resp.get("Contents", [])]
