"""The self-instruct prompt (template, rendering, digest) and robust parsing of the answers.

A request shows ``k`` seed examples as demonstrations and asks for one new instruction and its
answer as a JSON object. Parsing accepts what generators actually send: the bare object, the
object in a Markdown fence or with prose around it (the judge's :func:`load_json_object`), a few
key aliases (``task`` / ``question``, ``output`` / ``response``), or labelled text
(``Instruction: ...`` / ``Answer: ...``). Anything else is a :class:`GenerationRejected` whose
``reason`` is a short code for the rejects list.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from include.quality.parse import JudgeParseError, load_json_object

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
#: characters of each demonstration's instruction / answer shown in a prompt
DEMO_CHARS = 1500

_INSTRUCTION_KEYS = ("instruction", "task", "question", "prompt")
_INPUT_KEYS = ("input", "context")
_ANSWER_KEYS = ("answer", "output", "response", "completion")
_LABELLED = re.compile(
    r"^\W*(?:new\s+)?(?:instruction|task|question)\W*?:[*_\s]*(?P<instruction>.+?)\s*\n"
    r"\W*(?:answer|output|response)\W*?:[*_\s]*(?P<answer>.+?)\s*$",
    re.I | re.S,
)


class GenerationRejected(ValueError):
    """A response that gives no usable example; ``reason`` is a code, ``detail`` says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Demo:
    """One seed example as a demonstration."""

    id: str
    instruction: str
    answer: str


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def render(self, demos: list[Demo]) -> list[dict]:
        """The chat messages of one request showing ``demos``."""
        shown = "\n\n".join(
            f"Example {i}\nInstruction: {d.instruction[:DEMO_CHARS]}\nAnswer: {d.answer[:DEMO_CHARS]}"
            for i, d in enumerate(demos, 1)
        )
        return [{"role": "user", "content": self.text.format(k=len(demos), demonstrations=shown)}]


def load_prompt(name: str) -> PromptTemplate:
    """A shipped template (``self_instruct``) or a template file; raises ValueError naming the
    problem (missing file, no ``{demonstrations}``, stray braces)."""
    shipped = PROMPTS_DIR / f"{name}.txt"
    path = shipped if shipped.is_file() else Path(name)
    if not path.is_file():
        shipped_names = ", ".join(sorted(p.stem for p in PROMPTS_DIR.glob("*.txt")))
        raise ValueError(f"prompt {name!r}: not a shipped prompt ({shipped_names}) nor a file")
    text = path.read_text(encoding="utf-8")
    if "{demonstrations}" not in text:
        raise ValueError(f"prompt {name!r}: the template has no {{demonstrations}} placeholder")
    try:
        text.format(k=1, demonstrations="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"prompt {name!r}: bad placeholder {exc} (only {{k}} and {{demonstrations}}; "
            "write literal braces as {{{{ }}}})"
        ) from None
    return PromptTemplate(path.stem if path != shipped else name, text)


def _field(obj: dict, keys: tuple[str, ...]) -> tuple[str | None, object]:
    for k in keys:
        if k in obj:
            return k, obj[k]
    return None, None


def parse_generation(text: str) -> tuple[str, str]:
    """``(instruction, answer)`` of a response; raises GenerationRejected."""
    text = (text or "").strip()
    if not text:
        raise GenerationRejected("empty_response", "the generator returned no text")
    try:
        obj, _ = load_json_object(text)
    except JudgeParseError as exc:
        m = _LABELLED.match(text)
        if m is None:
            raise GenerationRejected("unparseable", f"{exc}; no 'Instruction:' / 'Answer:' labels") from None
        return m.group("instruction").strip(), m.group("answer").strip()
    obj = {str(k).strip().lower(): v for k, v in obj.items()}
    ikey, instruction = _field(obj, _INSTRUCTION_KEYS)
    akey, answer = _field(obj, _ANSWER_KEYS)
    if ikey is None:
        raise GenerationRejected("missing_instruction", f"no {' / '.join(_INSTRUCTION_KEYS)} key")
    if akey is None:
        raise GenerationRejected("missing_answer", f"no {' / '.join(_ANSWER_KEYS)} key")
    for key, value in ((ikey, instruction), (akey, answer)):
        if not isinstance(value, str):
            raise GenerationRejected("bad_field", f"{key}: expected text, got {type(value).__name__}")
    _, extra = _field(obj, _INPUT_KEYS)
    if isinstance(extra, str) and extra.strip():
        instruction = f"{instruction.strip()}\n\n{extra.strip()}"
    return instruction.strip(), answer.strip()
