"""Check-digit validators usable by recognizers declared in YAML (``validator: <name>``)."""

from __future__ import annotations

import re
from collections.abc import Callable


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check of a digit string."""
    if not digits.isdigit():
        return False
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def npi_ok(value: str) -> bool:
    """US National Provider Identifier: 10 digits starting 1 or 2, Luhn over ``80840`` + NPI."""
    digits = re.sub(r"[\s\-]", "", value)
    return len(digits) == 10 and digits[0] in "12" and len(set(digits[:-1])) > 1 and luhn_ok("80840" + digits)


def luhn_value_ok(value: str) -> bool:
    return luhn_ok(re.sub(r"[\s\-]", "", value))


VALIDATORS: dict[str, Callable[[str], bool]] = {"luhn": luhn_value_ok, "npi": npi_ok}
