"""PIN and PUK reference data (NIST SP 800-73-4 part 2) and the errors a wrong one raises.

Both are 6 to 8 characters padded to 8 bytes with 0xFF. The PIV Card
Application PIN is digits only; the PUK may be any printable ASCII here,
because the card accepts any 8 bytes as PUK.
"""

from __future__ import annotations

from card.i18n import N_, translate

__all__ = [
    "DEFAULT_PIN", "DEFAULT_PUK", "PIN_RETRIES", "PUK_RETRIES", "REFERENCE_SIZE",
    "pad_reference", "is_valid_padded_pin", "InvalidPinError",
]

# Factory values of a blank card; personalisation replaces both.
DEFAULT_PIN = "123456"
DEFAULT_PUK = "12345678"
PIN_RETRIES = 3
PUK_RETRIES = 3
REFERENCE_SIZE = 8
MIN_REFERENCE_LENGTH = 6
PAD = 0xFF


def pad_reference(value: str, digits_only: bool = True) -> bytes:
    """Encode a PIN (digits_only) or PUK as 8 bytes padded with 0xFF; raise ValueError on a bad format."""
    kind = "PIN" if digits_only else "PUK"
    if not MIN_REFERENCE_LENGTH <= len(value) <= REFERENCE_SIZE:
        raise ValueError(f"{kind} must be {MIN_REFERENCE_LENGTH} to {REFERENCE_SIZE} characters, got {len(value)}")
    if digits_only and not (value.isascii() and value.isdigit()):
        raise ValueError(f"{kind} must contain digits 0-9 only")
    if not (value.isascii() and value.isprintable()):
        raise ValueError(f"{kind} must contain printable ASCII characters only")
    return value.encode("ascii").ljust(REFERENCE_SIZE, bytes([PAD]))


def is_valid_padded_pin(data: bytes) -> bool:
    """Check the card-side PIN format: 6 to 8 ASCII digits, then 0xFF up to 8 bytes."""
    if len(data) != REFERENCE_SIZE:
        return False
    digits = data.rstrip(bytes([PAD]))
    return MIN_REFERENCE_LENGTH <= len(digits) <= REFERENCE_SIZE and all(0x30 <= b <= 0x39 for b in digits)


_MESSAGES = {
    ("PIN", False): N_("Wrong PIN. Attempts left before the card blocks the PIN: {attempts}."),
    ("PIN", True): N_(
        "The PIN is blocked after too many wrong attempts. Ask the issuance station to unblock it with the PUK."
    ),
    ("PUK", False): N_("Wrong PUK. Attempts left before the card blocks the PUK: {attempts}."),
    ("PUK", True): N_(
        "The PUK is blocked after too many wrong attempts, so the PIN can no longer be reset. Issue a new card."
    ),
}


class InvalidPinError(Exception):
    """The card rejected a PIN or PUK; attempts_remaining is 0 once it is blocked (status word 6983)."""

    def __init__(self, reference: str, attempts_remaining: int):
        self.reference = reference
        self.attempts_remaining = attempts_remaining
        super().__init__(self.message("en"))

    @property
    def blocked(self) -> bool:
        return self.attempts_remaining == 0

    def message(self, language: str = "id") -> str:
        return translate(_MESSAGES[(self.reference, self.blocked)], language, attempts=self.attempts_remaining)
