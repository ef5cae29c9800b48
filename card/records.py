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

__all__ = ["Assurance", "Redemption", "RecordError", "tap_digest", "encode_record", "decode_record", "sign_record", "verify_signed_record"]

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
