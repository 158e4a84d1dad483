"""boto3 settings for the registry: an Airflow AWS connection, the environment, or AWS."""

from __future__ import annotations

from typing import Any

from include import storage


def connection_settings(aws_conn_id: str | None) -> dict:
    """boto3 client kwargs from an Airflow AWS connection (endpoint_url, region, keys)."""
    if not aws_conn_id:
        return {}
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(aws_conn_id)
    extra = conn.extra_dejson or {}
    out: dict[str, Any] = {}
    endpoint = extra.get("endpoint_url") or extra.get("host") or (conn.host if conn.host else None)
    if endpoint:
        out["endpoint_url"] = endpoint
    if extra.get("region_name"):
        out["region_name"] = extra["region_name"]
    if conn.login:
        out["aws_access_key_id"] = conn.login
        out["aws_secret_access_key"] = conn.password
    if extra.get("aws_session_token"):
        out["aws_session_token"] = extra["aws_session_token"]
    return out


def connection_env(aws_conn_id: str | None) -> dict[str, str]:
    """The connection's S3 settings as the environment variables boto3 reads, for a child
    process that cannot see Airflow's connections (e.g. the local training subprocess)."""
    names = {
        "endpoint_url": "AWS_ENDPOINT_URL",
        "region_name": "AWS_DEFAULT_REGION",
        "aws_access_key_id": "AWS_ACCESS_KEY_ID",
        "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
        "aws_session_token": "AWS_SESSION_TOKEN",
    }
    return {names[k]: str(v) for k, v in connection_settings(aws_conn_id).items() if v and k in names}


def s3_client(endpoint_url: str | None = None, aws_conn_id: str | None = None):
    """An S3 client: ``endpoint_url``, else the connection's, else ``$AWS_ENDPOINT_URL(_S3)``, else AWS."""
    import boto3
    from botocore.config import Config

    kwargs = connection_settings(aws_conn_id)
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    kwargs.setdefault("endpoint_url", storage.endpoint_url())
    kwargs.setdefault("region_name", storage.region())
    if not kwargs.get("endpoint_url"):
        kwargs.pop("endpoint_url")
    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}), **kwargs)
