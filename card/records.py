"""Redemption records and the tap challenge, shared by terminals and the server.

A terminal signs each redemption record as a COSE_Sign1 with its own key. A
chip redemption carries the card's GENERAL AUTHENTICATE signature (DER ECDSA
with the card key of slot 9E) over tap_digest(), which proves the card was
present; a QR redemption carries none.

Record CBOR key map:
  1 record id (text, UUID)     2 terminal id (text)      3 card number (text)
  4 household id (8 bytes)     5 programme code (text)    6 quantity (uint)
  7 period (text, YYYY-MM)     8 tapped at (uint, Unix seconds UTC)
  9 terminal nonce (16 bytes)  10 assurance (text: chip or qr)
  11 card signature (DER bytes, chip only)
  12 PIN signature (DER bytes, chip only): the card's slot 9A key over the
     same tap digest, made only after the card verified the cardholder PIN
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

from cryptography.hazmat.primitives.asymmetric import ec

from card import cbor, cose
from card.keys import verify_raw

__all__ = [
    "Assurance", "Redemption", "RecordError", "tap_digest", "encode_record", "decode_record", "sign_record",
    "verify_signed_record", "decode_common_record", "verify_common_signed_record",
]

NONCE_SIZE = 16


class Assurance(str, Enum):
    CHIP = "chip"
    QR = "qr"


class RecordError(ValueError):
    """A redemption record is malformed."""


@dataclass(frozen=True)
class Redemption:
    record_id: str
    terminal_id: str
    card_number: str
    household_id: bytes
    program: str
    quantity: int
    period: str
    tapped_at: int
    nonce: bytes
    assurance: Assurance
    card_signature: bytes | None = None
    pin_signature: bytes | None = None

    def digest(self) -> bytes:
        return tap_digest(self.nonce, self.terminal_id, self.program, self.quantity, self.tapped_at)


def tap_digest(nonce: bytes, terminal_id: str, program: str, quantity: int, tapped_at: int) -> bytes:
    """SHA-256 over the CBOR array [nonce, terminal id, programme, quantity, time] that a card signs."""
    return hashlib.sha256(cbor.encode([nonce, terminal_id, program, quantity, tapped_at])).digest()


def encode_record(record: Redemption) -> bytes:
    item = {
        1: record.record_id,
        2: record.terminal_id,
        3: record.card_number,
        4: record.household_id,
        5: record.program,
        6: record.quantity,
        7: record.period,
        8: record.tapped_at,
        9: record.nonce,
        10: record.assurance.value,
    }
    if record.card_signature is not None:
        item[11] = record.card_signature
    if record.pin_signature is not None:
        item[12] = record.pin_signature
    return cbor.encode(item)


_FIELD_TYPES = {1: str, 2: str, 3: str, 4: bytes, 5: str, 6: int, 7: str, 8: int, 9: bytes, 10: str}


def decode_record(data: bytes) -> Redemption:
    try:
        item = cbor.decode(data)
    except cbor.CBORError as exc:
        raise RecordError(str(exc)) from None
    if not isinstance(item, dict):
        raise RecordError("redemption record must be a CBOR map")
    for key, kind in _FIELD_TYPES.items():
        if not isinstance(item.get(key), kind) or isinstance(item.get(key), bool):
            raise RecordError(f"redemption record field {key} is missing or not {kind.__name__}")
    unknown = set(item) - set(_FIELD_TYPES) - {11, 12}
    if unknown:
        raise RecordError(f"redemption record has unknown fields {sorted(map(str, unknown))}")
    try:
        assurance = Assurance(item[10])
    except ValueError:
        raise RecordError(f"redemption record assurance {item[10]!r} is not 'chip' or 'qr'") from None
    signature = item.get(11)
    if assurance is Assurance.CHIP and not isinstance(signature, bytes):
        raise RecordError("chip redemption record has no card signature")
    if assurance is Assurance.QR and signature is not None:
        raise RecordError("QR redemption record must not carry a card signature")
    pin_signature = item.get(12)
    if pin_signature is not None and (assurance is Assurance.QR or not isinstance(pin_signature, bytes)):
        raise RecordError("redemption record PIN signature must be bytes and only in a chip record")
    if len(item[4]) != 8 or len(item[9]) != NONCE_SIZE or item[6] <= 0:
        raise RecordError("redemption record household id, nonce or quantity is out of range")
    return Redemption(
        record_id=item[1], terminal_id=item[2], card_number=item[3], household_id=item[4],
        program=item[5], quantity=item[6], period=item[7], tapped_at=item[8], nonce=item[9],
        assurance=assurance, card_signature=signature, pin_signature=pin_signature,
    )


def sign_record(record: Redemption, signer: cose.Signer) -> bytes:
    """Return the record as a COSE_Sign1 signed by the terminal key."""
    return cose.sign1(encode_record(record), signer)


def verify_signed_record(data: bytes, terminal_key: ec.EllipticCurvePublicKey) -> Redemption:
    """Decode and verify a terminal-signed record; raise RecordError when it does not verify."""
    try:
        message = cose.decode_sign1(data)
    except cose.COSEError as exc:
        raise RecordError(f"signed record: {exc}") from None
    if not cose.verify_sign1(message, terminal_key):
        raise RecordError("terminal signature on the record does not verify")
    return decode_record(message.payload)


# CBOR major type of each field in encode_record()'s layout, indexed by key:
# 0 unsigned integer, 2 byte string, 3 text string.
_COMMON_MAJOR_TYPES = (None, 3, 3, 3, 2, 3, 0, 3, 0, 2, 3, 2, 2)
# Map heads of 10, 11 and 12 pairs: a QR record, a chip record, a chip record with a PIN signature.
_COMMON_MAP_SIZES = {0xAA: 10, 0xAB: 11, 0xAC: 12}
# Bytes that follow a head with additional information 24 to 27, and the
# smallest argument that needs them (a smaller one is not the shortest form).
_ARGUMENT_WIDTHS = {24: 1, 25: 2, 26: 4, 27: 8}
_ARGUMENT_MINIMUMS = {24: 24, 25: 1 << 8, 26: 1 << 16, 27: 1 << 32}


def _common_record_fields(data: bytes) -> list | None:
    """Slice the field values of a record in encode_record()'s layout into a list whose index i is field i.

    The map must contain the keys 1 to n in order, every head must be in its
    shortest form, every value must have its field's type and the map must
    end the input, so cbor.decode() would return the same values. Any other
    input returns None.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    count = _COMMON_MAP_SIZES.get(data[0]) if 0 < size <= cbor.MAX_SIZE else None
    if count is None:
        return None
    values: list = [None] * (count + 1)
    position = 1
    for key in range(1, count + 1):
        if position + 1 >= size or data[position] != key:
            return None
        head = data[position + 1]
        major = head >> 5
        if major != _COMMON_MAJOR_TYPES[key]:
            return None
        argument = head & 0x1F
        position += 2
        if argument >= 24:
            width = _ARGUMENT_WIDTHS.get(argument)
            if width is None or position + width > size:
                return None
            minimum = _ARGUMENT_MINIMUMS[argument]
            argument = int.from_bytes(data[position : position + width], "big")
            if argument < minimum:
                return None
            position += width
        if major == 0:
            values[key] = argument
            continue
        end = position + argument
        if end > size:
            return None
        if major == 2:
            values[key] = data[position:end]
        else:
            try:
                values[key] = data[position:end].decode("utf-8")
            except UnicodeDecodeError:
                return None
        position = end
    if position != size:
        return None
    return values


def decode_common_record(data: bytes) -> Redemption | None:
    """Decode a record in encode_record()'s layout without the general CBOR decoder, or return None.

    A record returned here equals what decode_record() returns for the same
    bytes. None means the record has another layout or breaks a rule, and
    decode_record() then accepts it or raises RecordError with the reason.
    """
    values = _common_record_fields(data)
    if values is None:
        return None
    count = len(values) - 1
    if values[10] == "chip" and count >= 11:
        assurance = Assurance.CHIP
    elif values[10] == "qr" and count == 10:
        assurance = Assurance.QR
    else:
        # Another assurance, a chip record without a card signature or a QR record with one.
        return None
    if len(values[4]) != 8 or len(values[9]) != NONCE_SIZE or values[6] <= 0:
        return None
    return _new_redemption(values, assurance)


def _new_redemption(values: list, assurance: Assurance) -> Redemption:
    """Build the Redemption by writing its instance dictionary, which gives an equal object.

    The frozen dataclass __init__ sets each of the 12 fields through
    object.__setattr__, which took about 2 us of a 7 us decode (timeit).
    tests/server/test_server_record_layout.py compares the result with
    decode_record()'s, so a field added to Redemption and not set here fails it.
    """
    record = object.__new__(Redemption)
    record.__dict__.update(
        record_id=values[1], terminal_id=values[2], card_number=values[3], household_id=values[4],
        program=values[5], quantity=values[6], period=values[7], tapped_at=values[8], nonce=values[9],
        assurance=assurance, card_signature=values[11] if len(values) > 11 else None,
        pin_signature=values[12] if len(values) > 12 else None,
    )
    return record


def verify_common_signed_record(data: bytes, terminal_key: ec.EllipticCurvePublicKey) -> Redemption:
    """Verify a terminal-signed record like verify_signed_record(), slicing the common layout where it can.

    A message in the layout that sign1() writes is sliced by
    cose.common_layout_parts, which takes payloads of up to 255 bytes, and
    any other message is parsed by cose.decode_sign1. A payload in
    encode_record()'s layout is sliced by decode_common_record, and any other
    payload is decoded by decode_record. The result, and the RecordError
    raised for a record that does not verify, are those of
    verify_signed_record().
    """
    parts = cose.common_layout_parts(data) if len(data) <= cbor.MAX_SIZE else None
    if parts is None:
        try:
            message = cose.decode_sign1(data)
        except cose.COSEError as exc:
            raise RecordError(f"signed record: {exc}") from None
        verified = cose.verify_sign1(message, terminal_key)
        payload = message.payload
    else:
        _kid, to_be_signed, payload, signature = parts
        verified = verify_raw(terminal_key, signature, to_be_signed)
    if not verified:
        raise RecordError("terminal signature on the record does not verify")
    record = decode_common_record(payload)
    if record is None:
        return decode_record(payload)
    return record
