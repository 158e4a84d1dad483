"""Anonymization operators from config: typed placeholder, mask, redact, keyed pseudonym.

A pseudonym is ``<TAG_hex>`` with ``hex`` = HMAC-SHA256(key, entity + normalized value):
the same e-mail (case-insensitive), phone or card (digits only) gets the same token in every
record and every run with the same key, and the token reveals nothing without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re

from include.config.pii import PiiConfig

#: entity type -> placeholder tag (``<EMAIL>``); others use the entity name
TAGS = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "US_SSN": "SSN",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "CREDIT_CARD": "CREDIT_CARD",
}
_DIGITS_ONLY = {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE", "US_NPI"}


class PseudonymKeyMissing(RuntimeError):
    """Pseudonym mode is configured but no key was found (the message names where we looked)."""


def tag(entity: str) -> str:
    return TAGS.get(entity, entity)


def normalize_value(entity: str, value: str) -> str:
    """Canonical form hashed for pseudonyms: formatting differences map to the same token."""
    if entity in _DIGITS_ONLY:
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return " ".join(value.split()).casefold()


def pseudonym(key: bytes, entity: str, value: str, digest_chars: int = 10) -> str:
    mac = hmac.new(key, f"{entity}\x00{normalize_value(entity, value)}".encode(), hashlib.sha256)
    return f"<{tag(entity)}_{mac.hexdigest()[:digest_chars]}>"


def resolve_key(cfg: PiiConfig) -> bytes | None:
    """The pseudonym key (None when no operator needs one); raises PseudonymKeyMissing.

    Looks in the Airflow connection ``pseudonym_key.conn_id`` (password, else extra ``key``),
    then the Airflow Variable ``pseudonym_key.variable`` (both through Airflow's secrets
    backends, environment variables included), then ``$<pseudonym_key.env>``.
    """
    if not cfg.uses_pseudonyms():
        return None
    src = cfg.pseudonym_key
    tried = []
    if src.conn_id:
        tried.append(f"Airflow connection {src.conn_id!r}")
        value = _airflow_connection_secret(src.conn_id)
        if value:
            return value.encode()
    if src.variable:
        tried.append(f"Airflow variable {src.variable!r}")
        value = _airflow_variable(src.variable)
        if value:
            return value.encode()
    tried.append(f"environment variable {src.env}")
    value = os.environ.get(src.env)
    if value:
        return value.encode()
    raise PseudonymKeyMissing(
        "pii: an operator is 'pseudonym' but no pseudonym key was found (looked in: "
        + ", ".join(tried)
        + "); set one of them, or use another operator"
    )


def _airflow_connection_secret(conn_id: str) -> str | None:
    from include.connections import airflow_connection

    conn = airflow_connection(conn_id)
    return (conn.password or (conn.extra_dejson or {}).get("key")) if conn is not None else None


def _airflow_variable(name: str) -> str | None:
    from include.connections import airflow_variable

    return airflow_variable(name)


def operator_configs(cfg: PiiConfig, entities: list[str], key: bytes | None) -> dict:
    """Presidio ``OperatorConfig`` per entity type (plus ``DEFAULT``)."""
    from presidio_anonymizer.entities import OperatorConfig

    def build(entity: str):
        spec = cfg.operator(entity)
        if spec.type == "replace":
            return OperatorConfig("replace", {"new_value": spec.placeholder or f"<{tag(entity)}>"})
        if spec.type == "mask":
            return OperatorConfig(
                "mask",
                {
                    "masking_char": spec.masking_char,
                    "chars_to_mask": spec.chars_to_mask,
                    "from_end": spec.from_end,
                },
            )
        if spec.type == "redact":
            return OperatorConfig("redact", {})
        if key is None:
            raise PseudonymKeyMissing("pii: pseudonym operator without a key (resolve_key first)")
        digest = cfg.pseudonym_key.digest_chars
        return OperatorConfig("custom", {"lambda": lambda value, e=entity: pseudonym(key, e, value, digest)})

    ops = {e: build(e) for e in entities}
    ops["DEFAULT"] = build("PII")
    return ops
