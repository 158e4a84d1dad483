"""Write the bundled demo data in include/sample_data/ (our own hand-made records).

Every supported format is represented, plus malformed lines that must end in rejects:
invalid JSON, bad UTF-8, a non-object line, an unknown role, empty content, a record
that fits no format. Run: ``python scripts/make_sample_data.py``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).resolve().parents[1] / "include" / "sample_data"


def jsonl(name: str, records: list, extra_lines: list[bytes] = ()) -> None:
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records] + list(extra_lines)
    (OUT / name).write_bytes(b"\n".join(lines) + b"\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # --- OpenAI chat messages (string content, typed parts, tool calls) + malformed lines
    jsonl(
        "openai_chat.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "You are a concise assistant."},
                    {"role": "user", "content": "What is the boiling point of water at sea level?"},
                    {"role": "assistant", "content": "100 degrees Celsius (212 degrees Fahrenheit)."},
                ]
            },
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Convert 5 km to miles."}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "5 km is about 3.11 miles."}]},
                ]
            },
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        },
                    }
                ],
                "messages": [
                    {"role": "user", "content": "Is it raining in Lisbon?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": '{"city": "Lisbon"}'},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": '{"rain": false, "temp_c": 19}'},
                    {"role": "assistant", "content": "No, it is dry in Lisbon right now, about 19 degrees."},
                ],
            },
            # exact duplicate of the first record after normalization (case, punctuation, spacing)
            {
                "messages": [
                    {"role": "system", "content": "you are a concise assistant"},
                    {"role": "user", "content": "What is the boiling point of  water at sea level"},
                    {"role": "assistant", "content": "100 degrees celsius (212 degrees fahrenheit)!"},
                ]
            },
            {"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "boop"}]},
            {
                "messages": [
                    {"role": "user", "content": "Say something."},
                    {"role": "assistant", "content": "   "},
                ]
            },
        ],
        extra_lines=[
            b'{"messages": [{"role": "user", "content": "unterminated',
            b"[1, 2, 3]",
            b'{"messages": [{"role": "user", "content": "caf\xe9"}]}',
        ],
    )
    # --- Alpaca (JSON array), with history and a duplicate
    alpaca = [
        {
            "instruction": "Give three tips for staying healthy.",
            "input": "",
            "output": "Eat a balanced diet, exercise regularly and sleep seven to nine hours a night.",
        },
        {
            "instruction": "Translate to French.",
            "input": "Good morning, friends.",
            "output": "Bonjour, les amis.",
        },
        {
            "instruction": "And to Spanish?",
            "input": "",
            "output": "Buenos dias, amigos.",
            "history": [["Translate to German: Good morning, friends.", "Guten Morgen, Freunde."]],
        },
        {
            "instruction": "Summarize the water cycle in one sentence.",
            "input": "",
            "output": "Water evaporates, condenses into clouds and falls back as precipitation.",
            "system": "Answer in one sentence.",
        },
        {
            "instruction": "Give three tips for staying healthy.",
            "input": "",
            "output": "Eat a balanced diet, exercise regularly and sleep seven to nine hours a night.",
        },
        {"instruction": "Missing its output field.", "input": ""},
    ]
    (OUT / "alpaca.json").write_text(json.dumps(alpaca, indent=1, ensure_ascii=False) + "\n")
    # --- ShareGPT with function calls
    tools = json.dumps(
        [
            {
                "name": "convert_currency",
                "description": "Convert an amount between currencies",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "amount": {"type": "number"},
                        "from": {"type": "string"},
                        "to": {"type": "string"},
                    },
                },
            }
        ]
    )
    jsonl(
        "sharegpt_tools.jsonl",
        [
            {
                "conversations": [
                    {"from": "human", "value": "How much is 100 US dollars in euros?"},
                    {
                        "from": "function_call",
                        "value": json.dumps(
                            {
                                "name": "convert_currency",
                                "arguments": {"amount": 100, "from": "USD", "to": "EUR"},
                            }
                        ),
                    },
                    {
                        "from": "observation",
                        "value": json.dumps({"converted_amount": 92.4, "currency": "EUR"}),
                    },
                    {"from": "gpt", "value": "100 US dollars is about 92.40 euros."},
                ],
                "tools": tools,
            },
            {
                "conversations": [
                    {"from": "human", "value": "Name a prime number between 10 and 20."},
                    {"from": "gpt", "value": "13 is a prime number between 10 and 20."},
                ],
                "system": "You are a math tutor.",
            },
            {
                "conversations": [
                    {"from": "human", "value": "Hello?"},
                    {"from": "wizard", "value": "Greetings."},
                ]
            },
        ],
    )
    # --- OASST tree export (one tree, a deleted branch and two ranked answers)
    tree = {
        "message_tree_id": "t-1",
        "tree_state": "ready_for_export",
        "prompt": {
            "message_id": "t-1",
            "role": "prompter",
            "text": "What should I pack for a weekend hike?",
            "lang": "en",
            "deleted": False,
            "review_result": True,
            "replies": [
                {
                    "message_id": "t-1-a",
                    "parent_id": "t-1",
                    "role": "assistant",
                    "rank": 0,
                    "lang": "en",
                    "deleted": False,
                    "review_result": True,
                    "text": "Water, layers, a map, snacks, a first-aid kit and a headlamp.",
                    "replies": [
                        {
                            "message_id": "t-1-a-q",
                            "parent_id": "t-1-a",
                            "role": "prompter",
                            "rank": 0,
                            "lang": "en",
                            "deleted": False,
                            "review_result": True,
                            "text": "Which snacks travel well?",
                            "replies": [
                                {
                                    "message_id": "t-1-a-q-a",
                                    "parent_id": "t-1-a-q",
                                    "role": "assistant",
                                    "rank": 0,
                                    "lang": "en",
                                    "deleted": False,
                                    "review_result": True,
                                    "text": "Nuts, dried fruit, jerky and energy bars.",
                                    "replies": [],
                                }
                            ],
                        }
                    ],
                },
                {
                    "message_id": "t-1-b",
                    "parent_id": "t-1",
                    "role": "assistant",
                    "rank": 1,
                    "lang": "en",
                    "deleted": False,
                    "review_result": True,
                    "text": "A tent and a sleeping bag.",
                    "replies": [],
                },
                {
                    "message_id": "t-1-c",
                    "parent_id": "t-1",
                    "role": "assistant",
                    "rank": None,
                    "lang": "en",
                    "deleted": True,
                    "review_result": True,
                    "text": "spam spam",
                    "replies": [],
                },
            ],
        },
    }
    jsonl("oasst_tree.jsonl", [tree])
    # --- OASST flat message table as Parquet
    flat = [
        {
            "message_id": "m1",
            "parent_id": None,
            "message_tree_id": "m1",
            "role": "prompter",
            "text": "How do I boil an egg?",
            "lang": "en",
            "rank": None,
            "deleted": False,
            "review_result": True,
        },
        {
            "message_id": "m2",
            "parent_id": "m1",
            "message_tree_id": "m1",
            "role": "assistant",
            "text": "Put it in boiling water for 9 minutes, then cool it in cold water.",
            "lang": "en",
            "rank": 0,
            "deleted": False,
            "review_result": True,
        },
        {
            "message_id": "m3",
            "parent_id": "m1",
            "message_tree_id": "m1",
            "role": "assistant",
            "text": "Microwave it.",
            "lang": "en",
            "rank": 1,
            "deleted": False,
            "review_result": False,
        },
        {
            "message_id": "m4",
            "parent_id": "m9",
            "message_tree_id": "m9",
            "role": "assistant",
            "text": "An answer whose question is missing.",
            "lang": "en",
            "rank": 0,
            "deleted": False,
            "review_result": True,
        },
    ]
    pq.write_table(pa.Table.from_pylist(flat), OUT / "oasst_messages.parquet")
    # --- preference data in four shapes
    jsonl(
        "preference_ranked.jsonl",
        [
            {
                "context": "Suggest a name for a bakery.",
                "responses": [
                    {"text": "Rise and Shine Bakery", "rank": 1},
                    {"text": "Bread Place", "rank": 2},
                    {"text": "Store", "rank": 3},
                ],
            },
            {"context": "Is the Earth flat?", "responses": [{"text": "No.", "rank": 1}]},
        ],
    )
    jsonl(
        "prompt_chosen_rejected.jsonl",
        [
            {
                "prompt": "Explain recursion to a child.",
                "chosen": "It is when something is defined using a smaller copy of itself, like Russian dolls.",
                "rejected": "Recursion is recursion.",
            },
        ],
    )
    (OUT / "sharegpt_preference.json").write_text(
        json.dumps(
            [
                {
                    "conversations": [{"from": "human", "value": "Write a haiku about autumn."}],
                    "chosen": {
                        "from": "gpt",
                        "value": "Crisp leaves drift and fall / golden light on quiet paths / "
                        "the year breathes slower",
                    },
                    "rejected": {"from": "gpt", "value": "Autumn is a season."},
                }
            ],
            indent=1,
        )
        + "\n"
    )
    hh = [
        {
            "chosen": "\n\nHuman: How can I be a better listener?\n\nAssistant: Make eye contact, do not "
            "interrupt, and repeat back what you heard.",
            "rejected": "\n\nHuman: How can I be a better listener?\n\nAssistant: Just talk more.",
        }
    ]
    with gzip.GzipFile(OUT / "hh_rlhf.jsonl.gz", "wb", mtime=0) as f:  # mtime=0: byte-reproducible
        f.write("".join(json.dumps(r) + "\n" for r in hh).encode())
    # --- KTO (unpaired, boolean label)
    jsonl(
        "kto.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "What is 2 + 2?"},
                    {"role": "assistant", "content": "4"},
                ],
                "label": True,
            },
            {
                "messages": [
                    {"role": "user", "content": "What is 2 + 2?"},
                    {"role": "assistant", "content": "5"},
                ],
                "label": False,
            },
            {
                "messages": [
                    {"role": "user", "content": "Capital of Italy?"},
                    {"role": "assistant", "content": "Rome"},
                ],
                "label": "yes",
            },
        ],
    )
    # --- a near duplicate: the same long answer with two words changed and other punctuation
    answer = (
        "Photosynthesis is the process by which plants, algae and some bacteria turn light into chemical "
        "energy. Chlorophyll in the chloroplasts absorbs mostly red and blue light. The energy splits water "
        "molecules, which releases oxygen as a by-product, and produces the carriers ATP and NADPH. In the "
        "Calvin cycle, which takes place in the stroma, these carriers power the fixation of carbon dioxide "
        "from the air into three-carbon sugars. The plant then builds glucose, sucrose and starch from those "
        "sugars, and uses them for growth, for storage in roots and seeds, and as fuel for respiration at "
        "night. Because nearly every food chain starts with organisms that photosynthesise, the process "
        "supports almost all life on Earth, and over millions of years it filled the atmosphere with the "
        "oxygen that animals breathe today. Scientists study it closely to improve crop yields and to design "
        "artificial systems that could make clean fuels directly from sunlight, water and carbon dioxide."
    )
    edited = (
        answer.replace("mostly red", "mainly red")
        .replace("improve crop", "raise crop")
        .replace(", ", "; ", 3)
    )
    jsonl(
        "alpaca_near_duplicates.jsonl",
        [
            {"instruction": "Explain photosynthesis.", "input": "", "output": answer},
            {"instruction": "Explain photosynthesis!", "input": "", "output": edited},
        ],
    )
    # --- a file that fits no format
    jsonl("unknown_format.jsonl", [{"foo": 1, "bar": "baz"}, {"foo": 2, "bar": "qux"}])
    print(f"wrote sample data to {OUT}")


if __name__ == "__main__":
    main()
