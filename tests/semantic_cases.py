"""Real Alpaca records and reworded copies of them (the same instruction answered again), shared
by the semantic_dedup Spark and DAG tests."""

from __future__ import annotations


def reworded_pairs(alpaca: list[dict]) -> tuple[dict, dict, dict, dict]:
    """(adams, adams reworded, sing, sing reworded): two paraphrase pairs MinHash cannot see."""
    adams, sing = alpaca[405], alpaca[84]
    adams2 = {
        "instruction": "Summarize the passage below.",
        "input": adams["input"],
        "output": "John Adams, the second U.S. president, was a statesman, diplomat and leader of the American "
        "Revolution. He was influential in drafting and ratifying the Constitution, led the Federalist "
        "Party and argued for the Bill of Rights.",
    }
    sing2 = {
        "instruction": "Give the past tense form of this verb.",
        "input": "Sing",
        "output": '"Sing" becomes "sang" in the past tense.',
    }
    return adams, adams2, sing, sing2
