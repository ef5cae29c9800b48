"""Answer-to-reset parsing (ISO 7816-3) and the card capabilities in its historical bytes (ISO 7816-4).

A host learns from the ATR whether a card accepts extended-length APDUs:
the third byte of the card capabilities (compact-TLV tag 7) has bit 0x40
set for extended Lc and Le fields and bit 0x80 for command chaining.
"""

from __future__ import annotations

import functools
import operator

__all__ = ["historical_bytes", "card_capabilities", "supports_extended_length", "build_atr"]

CAPABILITIES_TAG = 0x7
CHAINING = 0x80
EXTENDED_LENGTH = 0x40


def historical_bytes(atr: bytes) -> bytes:
    """Return the historical bytes of an ATR; raise ValueError when it is too short for its own format bytes."""
    if len(atr) < 2:
        raise ValueError(f"ATR of {len(atr)} bytes has no format byte")
    count = atr[1] & 0x0F
    indicator = atr[1] >> 4
    pos = 2
    while True:
        present = [bit for bit in (0x1, 0x2, 0x4, 0x8) if indicator & bit]
        td_pos = pos + len(present) - 1 if indicator & 0x8 else None
        pos += len(present)
        if td_pos is None:
            break
        if td_pos >= len(atr):
            raise ValueError("ATR ends inside its interface bytes")
        indicator = atr[td_pos] >> 4
    if pos + count > len(atr):
        raise ValueError(f"ATR announces {count} historical bytes but has {len(atr) - pos}")
    return atr[pos : pos + count]


def _compact_tlv(data: bytes) -> dict[int, bytes]:
    objects = {}
    pos = 0
    while pos < len(data):
        tag, length = data[pos] >> 4, data[pos] & 0x0F
        objects[tag] = data[pos + 1 : pos + 1 + length]
        pos += 1 + length
    return objects


def card_capabilities(atr: bytes) -> bytes | None:
    """Return the card capabilities bytes (compact-TLV tag 7) of the ATR, or None when it has none."""
    try:
        history = historical_bytes(atr)
    except ValueError:
        return None
    if not history:
        return None
    if history[0] == 0x80:
        objects = _compact_tlv(history[1:])
    elif history[0] == 0x00 and len(history) >= 4:
        objects = _compact_tlv(history[1:-3])
    else:
        return None
    return objects.get(CAPABILITIES_TAG)


def supports_extended_length(atr: bytes) -> bool:
    capabilities = card_capabilities(atr)
    return capabilities is not None and len(capabilities) >= 3 and bool(capabilities[2] & EXTENDED_LENGTH)


def build_atr(historical: bytes) -> bytes:
    """Build a T=1 ATR (TD1 announces T=0 and TD2 T=1, as many dual-protocol cards do) with its TCK."""
    if len(historical) > 15:
        raise ValueError(f"an ATR contains at most 15 historical bytes, got {len(historical)}")
    body = bytes([0x3B, 0x80 | len(historical), 0x80, 0x01]) + historical
    return body + bytes([functools.reduce(operator.xor, body[1:], 0)])
