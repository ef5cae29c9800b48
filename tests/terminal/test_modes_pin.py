"""The PIN signature (slot 9A) in redemption records: encoded, decoded, and rejected where it cannot be."""

from __future__ import annotations

import pytest

from card import cbor
from card.records import Assurance, RecordError, Redemption, decode_record, encode_record

BASE = dict(
    record_id="00000000-0000-4000-8000-000000000001", terminal_id="TRM-PIN00001", card_number="1571000000000421",
    household_id=bytes(8), program="bantuan_bencana", quantity=1, period="2026-12", tapped_at=1_796_000_000,
    nonce=bytes(16),
)


def test_pin_signature_round_trip() -> None:
    record = Redemption(**BASE, assurance=Assurance.CHIP, card_signature=b"card", pin_signature=b"pin")
    decoded = decode_record(encode_record(record))
    assert decoded.pin_signature == b"pin"
    assert decoded == record


def test_record_without_pin_signature_unchanged() -> None:
    record = Redemption(**BASE, assurance=Assurance.CHIP, card_signature=b"card")
    encoded = encode_record(record)
    assert 12 not in cbor.decode(encoded)
    assert decode_record(encoded).pin_signature is None


def test_qr_record_with_pin_signature_rejected() -> None:
    item = cbor.decode(encode_record(Redemption(**BASE, assurance=Assurance.QR)))
    item[12] = b"pin"
    with pytest.raises(RecordError, match="PIN signature must be bytes and only in a chip record"):
        decode_record(cbor.encode(item))


def test_pin_signature_of_wrong_type_rejected() -> None:
    item = cbor.decode(encode_record(Redemption(**BASE, assurance=Assurance.CHIP, card_signature=b"card")))
    item[12] = "pin"
    with pytest.raises(RecordError, match="PIN signature"):
        decode_record(cbor.encode(item))
