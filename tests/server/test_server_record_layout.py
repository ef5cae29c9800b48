"""card.records fast path for the terminal's record layout: the same outcome as the general decoder."""

from __future__ import annotations

import secrets
import uuid

import cbor2
import pytest

from card import cbor, cose
from card.keys import FileSigner, generate_private_key
from card.records import (
    Assurance, RecordError, Redemption, decode_common_record, decode_record, encode_record, sign_record,
    verify_common_signed_record, verify_signed_record,
)

SIGNATURE = bytes(range(71))
PIN_SIGNATURE = bytes(range(70, 0, -1))


def make_record(assurance: Assurance = Assurance.CHIP, **fields) -> Redemption:
    values = dict(
        record_id=str(uuid.uuid4()), terminal_id="T-0001", card_number="1571000000000018",
        household_id=secrets.token_bytes(8), program="lpg", quantity=2, period="2026-03",
        tapped_at=1_774_976_399, nonce=secrets.token_bytes(16), assurance=assurance,
        card_signature=SIGNATURE if assurance is Assurance.CHIP else None,
    )
    values.update(fields)
    return Redemption(**values)


def item(value) -> bytes:
    return cbor2.dumps(value)


def cbor_map(pairs: list[tuple[int, bytes]]) -> bytes:
    """Encode a map of at most 23 pairs from keys and already encoded values, in the order given."""
    return bytes([0xA0 + len(pairs)]) + b"".join(item(key) + value for key, value in pairs)


def common_pairs(assurance: str = "chip", signature: bytes | None = SIGNATURE) -> list[tuple[int, bytes]]:
    pairs = [
        (1, item(str(uuid.uuid4()))), (2, item("T-0001")), (3, item("1571000000000018")),
        (4, item(b"\x01" * 8)), (5, item("lpg")), (6, item(2)), (7, item("2026-03")),
        (8, item(1_774_976_399)), (9, item(b"\x02" * 16)), (10, item(assurance)),
    ]
    if signature is not None:
        pairs.append((11, item(signature)))
    return pairs


def replaced(pairs: list[tuple[int, bytes]], key: int, value: bytes) -> list[tuple[int, bytes]]:
    return [(k, value if k == key else v) for k, v in pairs]


def outcome(decode, data: bytes):
    try:
        return decode(data)
    except RecordError as exc:
        return ("RecordError", str(exc))


@pytest.mark.parametrize("record", [
    make_record(),
    make_record(pin_signature=PIN_SIGNATURE),
    make_record(Assurance.QR),
    make_record(quantity=23, tapped_at=0),
    make_record(quantity=24, tapped_at=23),
    make_record(quantity=255, tapped_at=65_535),
    make_record(quantity=256, tapped_at=2**32),
    make_record(quantity=65_536, tapped_at=2**64 - 1),
    make_record(record_id="", terminal_id="x" * 23, card_number="y" * 24, program="élpiji", period="z" * 255),
    make_record(card_signature=b""),
])
def test_common_record_equals_general(record):
    data = encode_record(record)
    assert decode_common_record(data) == record
    assert decode_record(data) == record


MALFORMED = {
    "keys out of order": lambda: cbor_map([common_pairs()[1], common_pairs()[0], *common_pairs()[2:]]),
    "duplicate key": lambda: cbor_map([(1, item("a")), *common_pairs()[1:]]).replace(b"\xab\x01", b"\xac\x01\x61a\x01", 1),
    "unknown key 13": lambda: cbor_map([*common_pairs(), (13, item(b"x"))]),
    "PIN signature without card signature": lambda: cbor_map([*common_pairs(signature=None), (12, item(b"x"))]),
    "chip without card signature": lambda: cbor_map(common_pairs(signature=None)),
    "QR with card signature": lambda: cbor_map(common_pairs("qr")),
    "assurance not chip or qr": lambda: cbor_map(common_pairs("nfc")),
    "quantity zero": lambda: cbor_map(replaced(common_pairs(), 6, item(0))),
    "quantity negative": lambda: cbor_map(replaced(common_pairs(), 6, item(-1))),
    "quantity true": lambda: cbor_map(replaced(common_pairs(), 6, b"\xf5")),
    "quantity not shortest": lambda: cbor_map(replaced(common_pairs(), 6, b"\x18\x05")),
    "tapped_at not shortest": lambda: cbor_map(replaced(common_pairs(), 8, b"\x1b" + (5).to_bytes(8, "big"))),
    "tapped_at reserved head": lambda: cbor_map(replaced(common_pairs(), 8, b"\x1c")),
    "text head not shortest": lambda: cbor_map(replaced(common_pairs(), 5, b"\x78\x03lpg")),
    "text indefinite": lambda: cbor_map(replaced(common_pairs(), 5, b"\x7f\x63lpg\xff")),
    "text not UTF-8": lambda: cbor_map(replaced(common_pairs(), 5, b"\x62\xc3\x28")),
    "record id as bytes": lambda: cbor_map(replaced(common_pairs(), 1, item(b"id"))),
    "household id 7 bytes": lambda: cbor_map(replaced(common_pairs(), 4, item(b"\x01" * 7))),
    "nonce 15 bytes": lambda: cbor_map(replaced(common_pairs(), 9, item(b"\x02" * 15))),
    "nonce as array": lambda: cbor_map(replaced(common_pairs(), 9, item([1, 2]))),
    "trailing byte": lambda: cbor_map(common_pairs()) + b"\x00",
    "truncated": lambda: cbor_map(common_pairs())[:-1],
    "truncated in a head": lambda: cbor_map(replaced(common_pairs(), 8, b"\x1a\x00")),
    "indefinite map": lambda: b"\xbf" + cbor_map(common_pairs())[1:] + b"\xff",
    "array instead of map": lambda: item([1, 2, 3]),
    "empty": lambda: b"",
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_record_same_rejection(name):
    data = MALFORMED[name]()
    general = outcome(decode_record, data)
    assert general[0] == "RecordError"
    assert decode_common_record(data) is None
    assert outcome(lambda d: decode_common_record(d) or decode_record(d), data) == general


@pytest.fixture(scope="module")
def signer() -> FileSigner:
    return FileSigner(generate_private_key())


def test_signed_common_layout_verifies(signer):
    record = make_record()
    data = sign_record(record, signer)
    assert cose.common_layout_parts(data) is not None
    assert verify_common_signed_record(data, signer.public_key) == record


def test_signed_long_payload_verifies(signer):
    record = make_record(pin_signature=PIN_SIGNATURE)
    data = sign_record(record, signer)
    # cose.common_layout_parts takes payloads of up to 255 bytes only.
    assert cose.common_layout_parts(data) is None
    assert verify_common_signed_record(data, signer.public_key) == record


def test_signed_other_layout_verifies(signer):
    record = make_record()
    message = cose.decode_sign1(sign_record(record, signer))
    # An unknown unprotected label (5) is ignored by the general decoder but leaves the common layout.
    data = cbor.encode(cbor.CBORTag(cose.COSE_SIGN1_TAG, [message.protected, {5: b"iv"}, message.payload, message.signature]))
    assert cose.common_layout_parts(data) is None
    assert verify_common_signed_record(data, signer.public_key) == record


def tampered_signature(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def signed_payload(payload: bytes, signer: FileSigner) -> bytes:
    return cose.sign1(payload, signer)


@pytest.mark.parametrize("make", [
    lambda signer: tampered_signature(sign_record(make_record(), signer)),
    lambda signer: sign_record(make_record(), FileSigner(generate_private_key())),
    lambda signer: signed_payload(MALFORMED["QR with card signature"](), signer),
    lambda signer: signed_payload(MALFORMED["quantity not shortest"](), signer),
    lambda signer: sign_record(make_record(), signer)[:-1],
    lambda signer: b"\xd2\x84" + sign_record(make_record(), signer)[2:] + b"\x00",
    lambda signer: sign_record(make_record(), signer)[1:],
], ids=["bad signature", "other terminal", "QR with signature", "non-shortest quantity", "truncated",
        "trailing byte", "untagged"])
def test_signed_invalid_same_rejection(signer, make):
    data = make(signer)
    general = outcome(lambda d: verify_signed_record(d, signer.public_key), data)
    assert general[0] == "RecordError"
    assert outcome(lambda d: verify_common_signed_record(d, signer.public_key), data) == general
