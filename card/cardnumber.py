"""Card numbers: 16 digits, the region code 1571, an 11-digit serial and a Luhn check digit."""

from __future__ import annotations

__all__ = ["REGION_PREFIX", "luhn_check_digit", "make_card_number", "is_valid_card_number", "format_card_number"]

REGION_PREFIX = "1571"
SERIAL_DIGITS = 11


def luhn_check_digit(digits: str) -> str:
    """Return the Luhn digit that makes digits + that digit pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def make_card_number(serial: int) -> str:
    if not 0 <= serial < 10**SERIAL_DIGITS:
        raise ValueError(f"card serial {serial} does not fit in {SERIAL_DIGITS} digits")
    body = f"{REGION_PREFIX}{serial:0{SERIAL_DIGITS}d}"
    return body + luhn_check_digit(body)


def is_valid_card_number(text: str) -> bool:
    return (
        isinstance(text, str)
        and len(text) == 16
        and text.isascii()
        and text.isdigit()
        and text.startswith(REGION_PREFIX)
        and luhn_check_digit(text[:-1]) == text[-1]
    )


def format_card_number(card_number: str) -> str:
    """Group the digits in fours, as printed on the card face."""
    return " ".join(card_number[i : i + 4] for i in range(0, len(card_number), 4))
