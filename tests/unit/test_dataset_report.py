"""report.html / DATA_CARD.md of a version published by the real publish step (small staged run)."""

from __future__ import annotations

import pytest

from include.config import STAGES
from include.dataset_report import write_report
from include.dataset_report.html import SECTIONS
from include.dataset_report.svg import histogram_counts
from include.publish import publish_run
from tests.dags.test_dataset_report_e2e import fmt, funnel_rows
from tests.integration.test_publish import CFG, stage_run


@pytest.fixture
def version(tmp_path):
    out = str(tmp_path / "out")
    stage_run(out, "r1", curated_rows=3)
    return publish_run(run_id="r1", source_uri="/src", output_uri=out, cfg=CFG)


def test_report_sections_and_numbers_equal_the_manifest(version):
    from include import storage

    paths = write_report(version["version_uri"])
    html = storage.read_bytes(paths["report"]).decode()
    card = storage.read_bytes(paths["data_card"]).decode()
    m = storage.read_json(version["manifest"])
    assert all(f'<section id="{sid}">' in html for sid in SECTIONS)
    rows = funnel_rows(html)
    assert list(rows) == [s for s in STAGES if s in m["stages"]]  # in run order
    for stage, st in m["stages"].items():
        assert rows[stage] == (fmt(st["in"]), fmt(st["out"]), fmt(st["rejected"] or 0))
        assert f"| {stage} | {st['in']} | {st['out']} | {st['rejected']} |" in card
    assert f"- curated rows: {m['accounting']['curated_rows']}" in card
    # PII was off: reject examples carry no text, and the card says why
    assert "text withheld: rejected before PII scrubbing" in html
    assert "text was not PII-scrubbed" in card


def test_histogram_bins_cover_every_value():
    values = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    edges, counts = histogram_counts(values, bins=5)
    assert sum(counts) == len(values) and edges[0] == 0 and edges[-1] == 34
    assert counts[0] == 6 and counts[-1] == 1  # 0..6.8 holds six values; 34 lands in the last bin
