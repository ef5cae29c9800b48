"""ISO 7816-4 command APDUs, status words and BER-TLV helpers shared by both sides of the card."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["SW", "ApduError", "build_apdu", "tlv", "parse_tlv", "find_tlv"]


class SW(IntEnum):
    """Status words (ISO 7816-4, NIST SP 800-73-4 part 2)."""

    SUCCESS = 0x9000
    WRONG_LENGTH = 0x6700
    SECURITY_CONDITION_NOT_SATISFIED = 0x6982
    AUTH_METHOD_BLOCKED = 0x6983
    CONDITIONS_NOT_SATISFIED = 0x6985
    INCORRECT_DATA = 0x6A80
    FUNCTION_NOT_SUPPORTED = 0x6A81
    FILE_NOT_FOUND = 0x6A82
    NOT_ENOUGH_MEMORY = 0x6A84
    INCORRECT_P1P2 = 0x6A86
    REFERENCE_NOT_FOUND = 0x6A88
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00
    NO_PRECISE_DIAGNOSIS = 0x6F00


class ApduError(Exception):
    """A card answered a command with an error status word."""

    def __init__(self, sw: int, command: str):
        self.sw = sw
        self.command = command
        try:
            name = SW(sw).name
        except ValueError:
            name = "unknown status"
        super().__init__(f"{command} failed with status word {sw:04X} ({name})")


def build_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None) -> bytes:
    """Build a short APDU; le=0 asks for up to 256 bytes."""
    if len(data) > 255:
        raise ValueError(f"short APDU data is at most 255 bytes, got {len(data)}")
    apdu = bytes([cla, ins, p1, p2])
    if data:
        apdu += bytes([len(data)]) + data
    if le is not None:
        apdu += bytes([le & 0xFF])
    return apdu


def _length_bytes(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length <= 0xFF:
        return bytes([0x81, length])
    if length <= 0xFFFF:
        return bytes([0x82]) + length.to_bytes(2, "big")
    raise ValueError(f"TLV length {length} is too large")


def tlv(tag: int, value: bytes) -> bytes:
    tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return tag_bytes + _length_bytes(len(value)) + value


def _read_tag(data: bytes, pos: int) -> tuple[int, int]:
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        while True:
            byte = data[pos]
            tag = (tag << 8) | byte
            pos += 1
            if not byte & 0x80:
                break
    return tag, pos


def _read_length(data: bytes, pos: int) -> tuple[int, int]:
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count not in (1, 2):
        raise ValueError(f"unsupported BER length form 0x{first:02X}")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def parse_tlv(data: bytes) -> list[tuple[int, bytes]]:
    """Split BER-TLV bytes into (tag, value) pairs; raise ValueError when malformed."""
    items = []
    pos = 0
    try:
        while pos < len(data):
            tag, pos = _read_tag(data, pos)
            length, pos = _read_length(data, pos)
            if pos + length > len(data):
                raise ValueError(f"TLV tag {tag:X} length {length} runs past the end of the data")
            items.append((tag, data[pos : pos + length]))
            pos += length
    except IndexError:
        raise ValueError("TLV data is truncated") from None
    return items


def find_tlv(data: bytes, tag: int) -> bytes:
    for found, value in parse_tlv(data):
        if found == tag:
            return value
    raise ValueError(f"TLV tag {tag:X} not found")
