"""curate_dataset on the bundled sample data (PII scrub on, real Presidio): the published version
gets report.html and DATA_CARD.md whose numbers are the manifest's and the curated rows'."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from include.dataset_report.html import SECTIONS

pytestmark = [pytest.mark.dag, pytest.mark.spark, pytest.mark.slow]


def funnel_rows(html: str) -> dict[str, tuple[str, str, str]]:
    """``stage -> (in, out, rejected)`` as the report's funnel table prints them."""
    section = re.search(r'<section id="funnel">(.*?)</section>', html, re.S).group(1)
    cells = re.findall(
        r"<tr[^>]*><td>([a-z_]+)</td><td class=n>([^<]*)</td><td class=n>([^<]*)</td>"
        r"<td class=n>([^<]*)</td>",
        section,
    )
    return {stage: (a, b, c) for stage, a, b, c in cells}


def fmt(v) -> str:
    return "–" if v is None else f"{v:,}"


def test_published_version_has_a_report_and_data_card(default_published):
    vdir = default_published.version_dir
    m = json.loads((vdir / "manifest.json").read_text())
    html = (vdir / "report.html").read_text()
    card = (vdir / "DATA_CARD.md").read_text()

    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html, sid
    assert "<script" not in html and "<link" not in html and " src=" not in html  # self-contained
    assert "<code>None</code>" not in html  # ingest rejects have no id: their detail names file and row
    rows = funnel_rows(html)
    assert set(rows) == set(m["stages"])
    for stage, st in m["stages"].items():
        assert rows[stage] == (fmt(st["in"]), fmt(st["out"]), fmt(st["rejected"] or 0)), stage
        for reason, n in (st.get("rejected_by_reason") or {}).items():
            assert f"{reason}: {n}" in html and f"{reason}: {n}" in card
        assert f"| {stage} | {st['in']} | {st['out']} | {st['rejected']} |" in card
    acc = m["accounting"]
    assert f"{acc['source_records']:,} source records → {acc['curated_rows']:,} curated rows" in html
    assert f"- curated rows: {acc['curated_rows']}" in card and f"- rejected: {acc['rejected_total']}" in card

    curated = pq.read_table(vdir / "curated", columns=["pii"]).to_pylist()
    pii = Counter()
    for r in curated:
        for entity, n in json.loads(r["pii"] or "{}").items():
            pii[entity] += n
    assert sum(pii.values()) > 0  # the sample data has e-mails / phone numbers; the scrub counted them
    assert f"per type ({sum(pii.values())} in all)" in html
    for entity, n in pii.items():
        assert f"{entity}: {n} entities" in html
    hist = m["stages"]["near_dedup"]["details"]["cluster_size_histogram"]
    for size, n in hist.items():
        assert f"{size}: {n} clusters" in html
    assert "## Known limits" in card and "## Filters applied, with their settings" in card

    shots = os.environ.get("REPORT_SCREENSHOT_DIR")
    if shots and shutil.which("chromium"):
        Path(shots).mkdir(parents=True, exist_ok=True)
        shutil.copytree(vdir, Path(shots) / "version", dirs_exist_ok=True)
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--screenshot={shots}/report.png",
                "--window-size=1280,2000",
                f"file://{vdir / 'report.html'}",
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
