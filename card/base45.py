"""Base45 (RFC 9285), the QR alphanumeric-mode encoding of the QR credential.

Every character of the 45-character alphabet is valid, space included. The
decoder rejects any other character, a text whose length leaves one
character over (length % 3 == 1), a three-character group above 65535 and a
final two-character group above 255, so each byte string has exactly one
Base45 text.
"""

from __future__ import annotations

import functools

__all__ = ["ALPHABET", "Base45Error", "b45encode", "b45decode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
# Maps each ASCII byte to its Base45 value, every other byte to _INVALID.
_VALUE_TABLE = bytes(ALPHABET.index(chr(byte)) if chr(byte) in ALPHABET else _INVALID for byte in range(256))


class Base45Error(ValueError):
    """The text is not valid Base45."""


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        value = data[i] * 256 + data[i + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        out.append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out.append(ALPHABET[c] + ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    """Decode Base45 text; raise Base45Error naming the offending character or group.

    Every QR verification decodes about 250 characters, so the valid path
    runs inline, with one call for the cached lane masks.
    """
    try:
        values = text.encode("ascii").translate(_VALUE_TABLE)
    except UnicodeEncodeError as exc:
        invalid = exc.start
    else:
        invalid = values.find(_INVALID)
    if invalid >= 0:
        raise Base45Error(
            f"character {text[invalid]!r} at position {invalid} is not in the Base45 alphabet "
            f"(0-9, A-Z, space and $%*+-./:)"
        )
    count, rest = divmod(len(values), 3)
    if rest == 1:
        raise Base45Error(f"Base45 text of length {len(text)} ends with a single dangling character")
    out = bytearray()
    if count:
        # Read as one big-endian integer, group i (values c, d, e) fills one
        # 24-bit lane, with group 0 in the most significant lane. Masking out
        # c, d and e and forming c + 45*d + 2025*e computes every group in
        # parallel: the largest sum, 91124, fits in the lane, so no carry
        # crosses into the next group. Each lane's bytes are then 0, high
        # byte, low byte. This is about ten times faster than a Python loop
        # over the groups.
        packed = int.from_bytes(values[: 3 * count] if rest else values, "big")
        low_bytes, high_bytes = _lane_masks(count)
        lanes = ((packed >> 16) & low_bytes) + 45 * ((packed >> 8) & low_bytes) + 2025 * (packed & low_bytes)
        out = bytearray(lanes.to_bytes(3 * count, "big"))
        if lanes & high_bytes:
            _raise_group_overflow(text, out)
        del out[0::3]
    if rest == 2:
        number = values[-2] + values[-1] * 45
        if number > 0xFF:
            raise Base45Error(f"Base45 final group {text[-2:]!r} is {number}, which exceeds 255")
        out.append(number)
    return bytes(out)


@functools.lru_cache(maxsize=64)
def _lane_masks(count: int) -> tuple[int, int]:
    """Return the integers with the low byte, and with the high byte, of each of count 24-bit lanes set."""
    low_bytes = int.from_bytes(b"\x00\x00\xff" * count, "big")
    return low_bytes, low_bytes << 16


def _raise_group_overflow(text: str, lane_bytes: bytes) -> None:
    for index, high in enumerate(lane_bytes[0::3]):
        if high:
            number = int.from_bytes(lane_bytes[3 * index : 3 * index + 3], "big")
            position = 3 * index
            raise Base45Error(
                f"Base45 group {text[position:position + 3]!r} at position {position} is {number}, which exceeds 65535"
            )
