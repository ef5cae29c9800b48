"""Card numbers: 16 digits, the region code 1571, an 11-digit serial and a Luhn check digit."""

from __future__ import annotations

__all__ = ["REGION_PREFIX", "luhn_check_digit", "make_card_number", "is_valid_card_number", "format_card_number"]

REGION_PREFIX = "1571"
SERIAL_DIGITS = 11


# Byte tables for the Luhn sum: a digit's value, and the digit sum of twice its value.
_DIGIT_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED_DIGIT_SUM = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def luhn_check_digit(digits: str) -> str:
    """Return the Luhn digit that makes digits + that digit pass the Luhn check; raise ValueError for non-digits.

    Every card verification runs this, so it sums with byte tables instead of
    a Python loop (about four times faster).
    """
    raw = digits.encode("ascii", errors="replace")
    if raw and not raw.isdigit():
        raise ValueError(f"Luhn input {digits!r} must be ASCII digits")
    # From the right, the first digit and every second one after it are doubled.
    total = sum(raw[-1::-2].translate(_DOUBLED_DIGIT_SUM)) + sum(raw[-2::-2].translate(_DIGIT_VALUE))
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
