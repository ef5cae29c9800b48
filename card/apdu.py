"""ISO 7816-4 command APDUs, status words and BER-TLV helpers shared by both sides of the card."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "SW", "ApduError", "CommandApdu", "build_apdu", "parse_command", "retries_from_sw",
    "tlv", "parse_tlv", "find_tlv", "MAX_SHORT_LC", "MAX_SHORT_NE", "MAX_EXTENDED_LC", "MAX_EXTENDED_NE",
]

MAX_SHORT_LC = 255
MAX_SHORT_NE = 256
MAX_EXTENDED_LC = 65535
MAX_EXTENDED_NE = 65536


class SW(IntEnum):
    """Status words (ISO 7816-4, NIST SP 800-73-4 part 2)."""

    SUCCESS = 0x9000
    # 61xx: xx more bytes wait for GET RESPONSE; 63Cx: wrong reference data, x tries remain.
    MORE_DATA = 0x6100
    VERIFY_FAILED = 0x63C0
    WRONG_LENGTH = 0x6700
    LOGICAL_CHANNEL_NOT_SUPPORTED = 0x6881
    SECURE_MESSAGING_NOT_SUPPORTED = 0x6882
    LAST_COMMAND_OF_CHAIN_EXPECTED = 0x6883
    CHAINING_NOT_SUPPORTED = 0x6884
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


def retries_from_sw(sw: int) -> int | None:
    """Return x of a 63Cx status word (tries remaining), or None for any other status word."""
    if sw & 0xFFF0 == SW.VERIFY_FAILED:
        return sw & 0x0F
    return None


class ApduError(Exception):
    """A card returned an error status word to a command."""

    def __init__(self, sw: int, command: str):
        self.sw = sw
        self.command = command
        try:
            name = SW(sw).name
        except ValueError:
            name = "VERIFY_FAILED" if retries_from_sw(sw) is not None else "unknown status"
        super().__init__(f"{command} failed with status word {sw:04X} ({name})")


@dataclass(frozen=True)
class CommandApdu:
    """A parsed command APDU; ne is the number of response bytes expected (None when Le is absent)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int | None = None
    extended: bool = False


def build_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes = b"", le: int | None = None,
               extended: bool = False) -> bytes:
    """Build a command APDU in short form, or in extended form when extended is true.

    le is the number of response bytes expected; 0 requests the maximum
    (256 bytes short, 65536 extended) and None leaves Le out.
    """
    header = bytes([cla, ins, p1, p2])
    if not extended:
        if len(data) > MAX_SHORT_LC:
            raise ValueError(f"short APDU data is at most {MAX_SHORT_LC} bytes, got {len(data)}; use extended=True")
        if le is not None and not 0 <= le <= MAX_SHORT_NE:
            raise ValueError(f"short APDU Le must be 0 to {MAX_SHORT_NE}, got {le}")
        body = bytes([len(data)]) + data if data else b""
        if le is not None:
            body += bytes([le & 0xFF])
        return header + body
    if len(data) > MAX_EXTENDED_LC:
        raise ValueError(f"extended APDU data is at most {MAX_EXTENDED_LC} bytes, got {len(data)}")
    if le is not None and not 0 <= le <= MAX_EXTENDED_NE:
        raise ValueError(f"extended APDU Le must be 0 to {MAX_EXTENDED_NE}, got {le}")
    body = b"\x00" + len(data).to_bytes(2, "big") + data if data else b""
    if le is not None:
        le_field = (le & 0xFFFF).to_bytes(2, "big")
        body += le_field if data else b"\x00" + le_field
    return header + body


def parse_command(apdu: bytes) -> CommandApdu:
    """Parse a short or extended command APDU (ISO 7816-4 cases 1 to 4); raise ValueError on a wrong length."""
    if len(apdu) < 4:
        raise ValueError(f"command APDU of {len(apdu)} bytes has no complete header")
    cla, ins, p1, p2 = apdu[:4]
    body = apdu[4:]
    if not body:
        return CommandApdu(cla, ins, p1, p2)
    if len(body) == 1:
        return CommandApdu(cla, ins, p1, p2, ne=body[0] or MAX_SHORT_NE)
    if body[0] != 0:
        lc = body[0]
        if len(body) == 1 + lc:
            return CommandApdu(cla, ins, p1, p2, body[1:])
        if len(body) == 2 + lc:
            return CommandApdu(cla, ins, p1, p2, body[1:-1], ne=body[-1] or MAX_SHORT_NE)
        raise ValueError(f"short Lc {lc} does not match the {len(body) - 1} bytes that follow it")
    return _parse_extended(cla, ins, p1, p2, body)


def _parse_extended(cla: int, ins: int, p1: int, p2: int, body: bytes) -> CommandApdu:
    if len(body) < 3:
        raise ValueError(f"extended length field of {len(body)} bytes is truncated")
    if len(body) == 3:
        ne = int.from_bytes(body[1:3], "big") or MAX_EXTENDED_NE
        return CommandApdu(cla, ins, p1, p2, ne=ne, extended=True)
    lc = int.from_bytes(body[1:3], "big")
    if lc == 0:
        raise ValueError("extended Lc is 0")
    if len(body) == 3 + lc:
        return CommandApdu(cla, ins, p1, p2, body[3:], extended=True)
    if len(body) == 5 + lc:
        ne = int.from_bytes(body[-2:], "big") or MAX_EXTENDED_NE
        return CommandApdu(cla, ins, p1, p2, body[3:-2], ne=ne, extended=True)
    raise ValueError(f"extended Lc {lc} does not match the {len(body) - 3} bytes that follow it")


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
    if count not in (1, 2, 3):
        raise ValueError(f"unsupported BER length form 0x{first:02X}")
    if pos + count > len(data):
        raise ValueError("TLV length field is truncated")
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
