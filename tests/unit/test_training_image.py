"""The training image: its entry point is the training module, its pins match the Airflow image's."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)$", line.strip())
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_dockerfile_entrypoint_is_the_training_module():
    text = (REPO / "Dockerfile.training").read_text()
    (entry,) = re.findall(r"^ENTRYPOINT (.+)$", text, re.MULTILINE)
    assert json.loads(entry) == ["python", "-m", "include.training.train"]
    assert "COPY requirements-training.txt" in text and "COPY include/ include/" in text
    assert "requirements.txt" not in text.replace("requirements-training.txt", "")  # not the Airflow pins


def test_training_pins_are_the_airflow_image_versions():
    training, airflow = _pins(REPO / "requirements-training.txt"), _pins(REPO / "requirements.txt")
    from include.training.provenance import TRAINING_LIBRARIES

    assert {*TRAINING_LIBRARIES, "pyarrow"} <= set(training)
    assert not any(p.startswith("apache-airflow") or p == "pyspark" for p in training)
    drift = {p: (v, airflow.get(p)) for p, v in training.items() if airflow.get(p) != v}
    assert drift == {}, f"requirements-training.txt differs from requirements.txt: {drift}"
