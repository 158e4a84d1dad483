"""The dataset report of a published version: ``report.html`` and ``DATA_CARD.md`` next to its
``manifest.json``.

:mod:`.data` computes the numbers from the version (manifest, curated, rejects), :mod:`.html`
and :mod:`.card` render them. :func:`write_report` is called after publish (``finalize``) and
by ``python -m include.report`` (``make demo``).
"""

from __future__ import annotations

from include import storage

REPORT, CARD = "report.html", "DATA_CARD.md"


def write_report(version_uri: str, s3_endpoint: str | None = None) -> dict:
    """Write ``report.html`` and ``DATA_CARD.md`` under ``version_uri``; returns their URIs."""
    from include.dataset_report import card, data, html

    d = data.collect(version_uri, s3_endpoint)
    out = {"report": storage.join(version_uri, REPORT), "data_card": storage.join(version_uri, CARD)}
    storage.write_bytes(out["report"], html.render(d).encode(), s3_endpoint)
    storage.write_bytes(out["data_card"], card.render(d).encode(), s3_endpoint)
    return out
