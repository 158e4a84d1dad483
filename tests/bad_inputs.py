"""A source folder mixing good records with every kind of bad input issue #15 lists
(shared by the Spark stage test and the curate_dataset DAG test)."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path

VOCAB = [
    "river",
    "mountain",
    "kettle",
    "violin",
    "harbor",
    "lantern",
    "copper",
    "meadow",
    "glacier",
    "orchard",
    "pepper",
    "canyon",
    "saddle",
    "thunder",
    "biscuit",
    "compass",
    "velvet",
    "anchor",
    "falcon",
    "marble",
    "tundra",
    "walnut",
    "ember",
    "prism",
    "quartz",
    "basil",
    "cobalt",
    "dune",
    "fjord",
    "garnet",
    "hazel",
    "ivory",
    "jasmine",
    "kelp",
    "lagoon",
    "maple",
    "nectar",
    "olive",
    "pebble",
    "quill",
    "raven",
    "sable",
    "thistle",
    "umber",
    "vortex",
    "willow",
    "yarrow",
    "zephyr",
    "amber",
    "birch",
    "cedar",
    "dahlia",
    "elm",
    "fern",
    "grove",
    "heron",
    "iris",
    "juniper",
    "lotus",
    "moss",
    "nutmeg",
    "oak",
    "poppy",
    "reed",
    "sage",
]


def sentence(rng: random.Random, n: int = 9) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n)).capitalize() + "."


def chat(rng: random.Random, user: str | None = None, answer: str | None = None) -> dict:
    return {
        "messages": [
            {"role": "user", "content": user or sentence(rng) + "?"},
            {"role": "assistant", "content": answer or sentence(rng, 12)},
        ]
    }


def write_bad_folder(folder: Path, seed: int = 15) -> dict:
    """Write the folder; returns what must happen: good row count and rejects by stage/reason."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    good = 0

    def jsonl(name: str, recs: list) -> None:
        (folder / name).write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in recs))

    # ordinary chats, one quoting an id "a55" among numbers (not profanity), plus OpenAI's toy
    # file's two bad cases: no user turn, and one sentence repeated 2,000 times
    chats = [chat(rng) for _ in range(6)]
    chats.append(chat(rng, "Where is parcel a55?", "Parcel a55 left bay 7 at 10:55; ticket a55-b follows."))
    no_user = {
        "messages": [{"role": "system", "content": "Be upbeat."}, {"role": "assistant", "content": "Great!"}]
    }
    looping = chat(rng, "I'm hungry.", "Eat a banana!" * 2000)
    jsonl("chat.jsonl", [*chats, no_user, looping])
    good += 7
    # a text file named .parquet
    (folder / "not_really.parquet").write_text("id,text\n1,hello\n")
    # a truncated .jsonl.gz: the lines before the damage are kept
    lines = "".join(json.dumps(chat(rng)) + "\n" for _ in range(40)).encode()
    blob = gzip.compress(lines)
    (folder / "truncated.jsonl.gz").write_bytes(blob[: len(blob) * 2 // 3])
    kept = zlib.decompressobj(31).decompress(blob[: len(blob) * 2 // 3]).count(b"\n")
    good += kept
    # JSON nested 10,000 deep, a lone surrogate, a 5 MB record: each a reject, the rest kept
    deep = '{"messages": ' + "[" * 10_000 + "]" * 10_000 + "}"
    surrogate = (
        '{"messages": [{"role": "user", "content": "hi \\ud800"}, {"role": "assistant", "content": "ok"}]}'
    )
    huge = chat(rng, "Write a lot.", "word " * 1_000_000)
    jsonl("odd.jsonl", [chat(rng), deep, chat(rng), surrogate, huge, chat(rng)])
    good += 3
    # one id in two files with different content
    for name in ("ids_a.json", "ids_b.json"):
        recs = [
            {"id": f"{name}-{i}", "instruction": sentence(rng) + "?", "output": sentence(rng, 12)}
            for i in range(3)
        ]
        recs.append({"id": "shared-1", "instruction": sentence(rng) + "?", "output": sentence(rng, 12)})
        (folder / name).write_text(json.dumps(recs))
    good += 7
    (folder / "empty.jsonl").write_text("")
    return {
        "good": good,
        "ingest": {
            "unreadable_file": 1,
            "bad_gzip": 1,
            "invalid_json": 1,
            "bad_unicode": 1,
            "too_long": 1,
            "no_user_turn": 1,
        },
        "exact_dedup": {"duplicate_id": 1},
        "filters": {"repetition": 1},
        "files": {
            "unreadable_file": "not_really.parquet",
            "bad_gzip": "truncated.jsonl.gz",
            "invalid_json": "odd.jsonl",
            "bad_unicode": "odd.jsonl",
            "too_long": "odd.jsonl",
            "no_user_turn": "chat.jsonl",
            "duplicate_id": "ids_b.json",
            "repetition": "chat.jsonl",
        },
        "records": 9 + 1 + (kept + 1) + 6 + 8,
    }
