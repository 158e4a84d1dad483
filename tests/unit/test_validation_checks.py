import pytest

from include.validation.checks import conversation_problem
from include.validation.residual_pii import luhn_ok, residual_pii, row_residual_pii


def m(role, content="x", **kw):
    return {"role": role, "content": content, **kw}


@pytest.mark.parametrize(
    "row, problem",
    [
        ({"kind": "sft", "messages": [m("system"), m("user"), m("assistant")]}, None),
        (
            {
                "kind": "sft",
                "messages": [
                    m("user"),
                    m("assistant", "", tool_calls=[{"name": "f"}]),
                    m("tool"),
                    m("assistant"),
                ],
            },
            None,
        ),
        (
            {"kind": "sft", "messages": [m("user"), m("assistant"), m("user")]},
            "sft: ends with user, not assistant",
        ),
        ({"kind": "sft", "messages": [m("assistant")]}, "messages: starts with assistant, not user"),
        (
            {"kind": "sft", "messages": [m("user"), m("user"), m("assistant")]},
            "messages: user after user at turn 1",
        ),
        ({"kind": "sft", "messages": [m("user"), m("assistant", " ")]}, "messages[1]: empty assistant turn"),
        ({"kind": "kto", "messages": [m("user"), m("assistant")], "label": None}, "kto: missing label"),
        (
            {
                "kind": "preference",
                "messages": [m("user")],
                "chosen": [m("assistant", "a")],
                "rejected": [m("assistant", "b")],
            },
            None,
        ),
        (
            {
                "kind": "preference",
                "messages": [m("user")],
                "chosen": [m("assistant", "a")],
                "rejected": [m("assistant", "a")],
            },
            "preference: chosen equals rejected",
        ),
        (
            {"kind": "preference", "messages": [m("user")], "chosen": [], "rejected": [m("assistant")]},
            "chosen: missing",
        ),
        ({"kind": "pretrain", "messages": [], "text": "doc"}, None),
    ],
)
def test_conversation_problem(row, problem):
    assert conversation_problem(row) == problem


@pytest.mark.parametrize(
    "text, kind",
    [
        ("write to jane.doe@example.co.uk today", "email"),
        ("card 4111 1111 1111 1111 exp 12/29", "card"),
        ("call +44 20 7946 0958 now", "phone"),
        ("call (555) 123-4567", "phone"),
        ("my e-mail is <EMAIL_ADDRESS> and card <CREDIT_CARD>", None),
        ("order 1234 5678 9012 3456 is not a Luhn number", None),
        ("the year 2024 and 3.14159", None),
        ("a measured value of 0.0072973525693, or about 1/137", None),  # a fraction that passes Luhn
        ("card:4111111111111111", "card"),
        ("use SELECT * FROM users WHERE id = 1", None),
    ],
)
def test_residual_pii(text, kind):
    assert residual_pii(text) == kind


def test_luhn_and_row_fields():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    row = {
        "kind": "sft",
        "messages": [
            m("user", "hi"),
            m("assistant", "", tool_calls=[{"name": "send", "arguments": '{"to": "bob@example.org"}'}]),
        ],
    }
    assert row_residual_pii(row) == "email in messages[1].tool_calls[0].arguments"
