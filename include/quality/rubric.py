"""Judge rubrics: prompt files (``prompts/judge_<lang>.yaml`` or any YAML path) and their hash.

A rubric names its criteria (the JSON keys the judge must answer with) and holds the
pointwise, pairwise and repair prompts as ``string.Template`` texts. ``digest`` hashes
everything the judge sees, so editing a prompt invalidates cached verdicts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import yaml

from include.settings import REPO_ROOT

SHIPPED = ("en", "ru")

_KEYS = ("name", "criteria", "system", "user", "pairwise_system", "pairwise_user", "repair")


@dataclass(frozen=True)
class Rubric:
    name: str
    criteria: tuple[str, ...]
    system: str
    user: str
    pairwise_system: str
    pairwise_user: str
    repair: str
    language: str = ""

    @property
    def digest(self) -> str:
        blob = json.dumps({k: getattr(self, k) for k in _KEYS}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def pointwise(self, conversation: str, answer: str) -> list[dict]:
        user = Template(self.user).safe_substitute(conversation=conversation, answer=answer)
        return [{"role": "system", "content": self.system.strip()}, {"role": "user", "content": user.strip()}]

    def pairwise(self, conversation: str, answer_a: str, answer_b: str) -> list[dict]:
        user = Template(self.pairwise_user).safe_substitute(
            conversation=conversation, answer_a=answer_a, answer_b=answer_b
        )
        return [
            {"role": "system", "content": self.pairwise_system.strip()},
            {"role": "user", "content": user.strip()},
        ]

    def repair_message(self, error: str) -> dict:
        return {"role": "user", "content": Template(self.repair).safe_substitute(error=error).strip()}


def _text(rubric: str) -> str:
    if rubric in SHIPPED:
        return (
            resources.files("include.quality")
            .joinpath("prompts")
            .joinpath(f"judge_{rubric}.yaml")
            .read_text("utf-8")
        )
    path = Path(rubric) if Path(rubric).is_absolute() else REPO_ROOT / rubric
    if not path.is_file():
        raise ValueError(f"rubric {rubric!r} is neither one of {', '.join(SHIPPED)} nor a file")
    return path.read_text("utf-8")


def load_rubric(rubric: str) -> Rubric:
    """The rubric ``en`` / ``ru`` or the YAML file at ``rubric``; raises ValueError naming what is wrong."""
    try:
        data = yaml.safe_load(_text(rubric))
    except yaml.YAMLError as exc:
        raise ValueError(f"rubric {rubric!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"rubric {rubric!r} must be a mapping")
    missing = [k for k in _KEYS if not data.get(k)]
    if missing:
        raise ValueError(f"rubric {rubric!r} lacks {', '.join(missing)}")
    criteria = data["criteria"]
    if not isinstance(criteria, list) or not all(isinstance(c, str) and c for c in criteria):
        raise ValueError(f"rubric {rubric!r}: criteria must be a list of names")
    for key, needs in (("user", ("$answer",)), ("pairwise_user", ("$answer_a", "$answer_b"))):
        for n in needs:
            if n not in data[key]:
                raise ValueError(f"rubric {rubric!r}: {key} must contain {n}")
    return Rubric(
        name=str(data["name"]),
        criteria=tuple(criteria),
        language=str(data.get("language", "")),
        **{k: str(data[k]) for k in _KEYS if k not in ("name", "criteria")},
    )
