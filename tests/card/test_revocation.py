"""Revocation list format: serial coding, signing, decoding, sizes and lookup."""

from __future__ import annotations

import random
from array import array

import pytest

from card import cbor, cose
from card.cardnumber import make_card_number
from card.credential import Profile, sign_credential
from card.decision import Reason
from card.qrtext import to_qr_text
from card.revocation import (
    ListKind,
    RevocationError,
    RevocationList,
    RevokedSerials,
    decode_revocation_list,
    decode_serials,
    encode_serials,
    serial_of,
    sign_revocation_list,
)
from card.verify import IssuerKey, TrustStore, verify_chip, verify_qr
from tests.card.trust_kit import new_signer, wib
from tests.conftest import make_credential


def _full(serials, version: int = 1) -> RevocationList:
    ordered = array("Q", sorted(serials))
    return RevocationList(ListKind.FULL, version, 1_790_000_000, ordered, count=len(ordered))


def test_serial_of_card_number() -> None:
    assert serial_of(make_card_number(1_000_000_042)) == 1_000_000_042
    assert serial_of(make_card_number(0)) == 0
    assert serial_of(make_card_number(99_999_999_999)) == 99_999_999_999


def test_serial_of_invalid_card_number_rejected() -> None:
    number = make_card_number(42)
    wrong_check = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(ValueError, match="valid check digit"):
        serial_of(wrong_check)


def test_serial_coding_round_trip() -> None:
    serials = [0, 1, 127, 128, 16_383, 16_384, 1_000_000_001, 99_999_999_999]
    assert list(decode_serials(encode_serials(reversed(serials)))) == serials


def test_serial_coding_drops_duplicates() -> None:
    assert list(decode_serials(encode_serials([5, 5, 3]))) == [3, 5]


def test_serial_coding_of_nothing_is_empty() -> None:
    assert encode_serials([]) == b""
    assert len(decode_serials(b"")) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80", "ends inside a varint"),
        (b"\x05\x00", "repeats serial 5"),
        (b"\xff\xff\xff\xff\xff\xff\x01", "longer than 6 bytes"),
        (b"\xff\xff\xff\xff\xff\x7f", "which has more than 11 digits"),
    ],
)
def test_malformed_serial_run_rejected(data: bytes, message: str) -> None:
    with pytest.raises(RevocationError, match=message):
        decode_serials(data)


def test_serial_above_eleven_digits_not_encoded() -> None:
    with pytest.raises(RevocationError, match="not an 11-digit serial"):
        encode_serials([10**11])


def test_full_list_round_trip() -> None:
    sync = new_signer()
    serials = [1_000_000_001, 1_000_000_002, 2_000_000_500]
    signed = sign_revocation_list(_full(serials, version=7), sync)
    decoded = decode_revocation_list(signed, {sync.kid: sync.public_key})
    assert decoded.kind is ListKind.FULL
    assert decoded.version == 7
    assert list(decoded.added) == serials
    assert decoded.count == 3


def test_delta_round_trip() -> None:
    sync = new_signer()
    delta = RevocationList(ListKind.DELTA, 8, 1_790_000_000, array("Q", [5, 9]), count=4, base_version=7,
                           removed=array("Q", [2]))
    decoded = decode_revocation_list(sign_revocation_list(delta, sync), {sync.kid: sync.public_key})
    assert decoded.kind is ListKind.DELTA
    assert decoded.base_version == 7
    assert list(decoded.added) == [5, 9]
    assert list(decoded.removed) == [2]


def test_revocation_list_by_unknown_key_rejected() -> None:
    signed = sign_revocation_list(_full([1]), new_signer())
    other = new_signer()
    with pytest.raises(RevocationError, match="not a trusted sync key"):
        decode_revocation_list(signed, {other.kid: other.public_key})


def test_revocation_list_every_byte_change_rejected() -> None:
    sync = new_signer()
    signed = sign_revocation_list(_full([1_000_000_001, 1_000_000_900]), sync)
    for index in range(len(signed)):
        tampered = bytearray(signed)
        tampered[index] ^= 0x04
        with pytest.raises(RevocationError):
            decode_revocation_list(bytes(tampered), {sync.kid: sync.public_key})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({1: 1, 2: 1, 3: 1, 5: 0, 6: b"", 8: 1}, "declares 1 serials but contains 0"),
        ({1: 1, 2: 1, 3: 1, 4: 0, 5: 0, 6: b"", 8: 0}, "has fields \\[4\\]"),
        ({1: 1, 2: 2, 3: 1, 5: 0, 6: b"", 7: b"", 8: 0}, "misses fields \\[4\\]"),
        ({1: 1, 2: 2, 3: 3, 4: 3, 5: 0, 6: b"", 7: b"", 8: 0}, "base version below it"),
        ({1: 1, 2: 2, 3: 3, 4: 2, 5: 0, 6: b"\x05", 7: b"\x05", 8: 0}, "adds and removes the same serial"),
        ({1: 1, 2: 3, 3: 1, 5: 0, 6: b"", 8: 0}, "kind 3"),
        ({1: 2, 2: 1, 3: 1, 5: 0, 6: b"", 8: 0}, "format 2"),
        ({1: 1, 2: 1, 3: 0, 5: 0, 6: b"", 8: 0}, "version 0 must be 1 or more"),
        ({1: 1, 2: 1, 3: 1, 5: 0, 6: "", 8: 0}, "field 6 must be bytes"),
        ({1: 1, 2: 1, 3: 1, 5: 0, 6: b"", 8: 0, 10: 0}, "unknown field 10"),
        ([1, 2, 3], "must be a CBOR map"),
    ],
)
def test_malformed_revocation_list_rejected(payload: object, message: str) -> None:
    sync = new_signer()
    signed = cose.sign1(cbor.encode(payload), sync)
    with pytest.raises(RevocationError, match=message):
        decode_revocation_list(signed, {sync.kid: sync.public_key})


def test_revoked_serials_lookup() -> None:
    serials = random.Random(1).sample(range(1_000_000_000, 1_000_250_000), 12_500)
    revoked = RevokedSerials(serials)
    assert len(revoked) == 12_500
    assert all(revoked.contains_serial(serial) for serial in serials[:500])
    others = set(range(1_000_000_000, 1_000_250_000)) - set(serials)
    assert not any(revoked.contains_serial(serial) for serial in list(others)[:500])
    assert not revoked.contains_serial(0)
    assert not revoked.contains_serial(10**11)


def test_revoked_serials_from_full_list() -> None:
    revoked = RevokedSerials.from_list(_full([3, 1_000_000_001]))
    assert revoked.is_revoked(make_card_number(1_000_000_001))
    assert not revoked.is_revoked(make_card_number(1_000_000_002))


def test_full_list_for_city_within_size_budget() -> None:
    """250,000 cards over ten stations, 5 % revoked: the signed full list must stay under 200 KB."""
    rng = random.Random(1571)
    cards = [station * 10**9 + counter for station in range(1, 11) for counter in range(1, 25_001)]
    revoked = rng.sample(cards, 12_500)
    signed = sign_revocation_list(_full(revoked), new_signer())
    assert len(signed) <= 200 * 1024
    remaining = sorted(set(cards) - set(revoked))
    delta = RevocationList(ListKind.DELTA, 2, 0, array("Q", sorted(rng.sample(remaining, 500))), count=13_000,
                           base_version=1)
    assert len(sign_revocation_list(delta, new_signer())) <= 10 * 1024


def test_revoked_card_refused_by_verifier() -> None:
    issuer = new_signer()
    credential = make_credential(Profile.CHIP)
    revoked = RevokedSerials([serial_of(credential.card_number)])
    trust = TrustStore({issuer.kid: IssuerKey(issuer.public_key)}, revoked_cards=revoked)
    result = verify_chip(sign_credential(credential, issuer), trust, wib(2027, 1, 1))
    assert result.decision.reason is Reason.CARD_REVOKED
    assert result.credential.card_number == credential.card_number
    assert "revoked" in result.decision.message_en
    assert "dicabut" in result.decision.message_id


def test_other_card_accepted_with_revocations() -> None:
    issuer = new_signer()
    credential = make_credential()
    revoked = RevokedSerials([serial_of(credential.card_number) + 1])
    trust = TrustStore({issuer.kid: IssuerKey(issuer.public_key)}, revoked_cards=revoked)
    assert verify_qr(to_qr_text(sign_credential(credential, issuer)), trust, wib(2027, 1, 1)).accepted
