"""Credential round trip and the tamper cases the offline verifier must refuse."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import cbor2
import pytest
import qrcode

from card import cbor, cose
from card.base45 import b45decode, b45encode
from card.cardnumber import make_card_number
from card.credential import (
    MAX_NAME_LENGTH,
    Credential,
    CredentialError,
    Holder,
    Profile,
    decode_payload,
    encode_payload,
    sign_credential,
)
from card.decision import Reason
from card.keys import FileSigner, generate_private_key
from card.qrtext import PREFIX, from_qr_text, to_qr_text
from card.verify import IssuerKey, TrustStore, verify_chip, verify_qr
from issuance.face import make_qr_code
from tests.conftest import make_credential


def test_payload_round_trip_qr() -> None:
    credential = make_credential()
    assert decode_payload(encode_payload(credential)) == credential


def test_payload_round_trip_chip() -> None:
    credential = make_credential(Profile.CHIP)
    assert decode_payload(encode_payload(credential)) == credential


def test_qr_credential_accepted(issuer, trust, now) -> None:
    credential = make_credential()
    text = to_qr_text(sign_credential(credential, issuer))
    result = verify_qr(text, trust, now)
    assert result.accepted
    assert result.credential == credential


def test_chip_credential_accepted(issuer, trust, now) -> None:
    credential = make_credential(Profile.CHIP)
    result = verify_chip(sign_credential(credential, issuer), trust, now)
    assert result.accepted
    assert result.credential == credential


# Built from synthetic name parts, not repeated letters, so that deflate cannot shrink it.
LONGEST_NAME = "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK"
# QR version 10 at error correction M has room for 311 alphanumeric characters.
VERSION_10_M_ALPHANUMERIC = 311


def longest_qr_credential() -> Credential:
    """The QR credential with the widest encoding of every field.

    The QR profile has no optional field, because photo digest and card key
    are chip-only. So the largest QR credential has a 60-character name and
    the largest encodings of the rest: the last 11-digit serial and a birth
    day before 1970 (a negative day number). Issue and expiry take three
    bytes each, as every day number from 256 to 65535 does.
    """
    holder = Holder(LONGEST_NAME, date(1900, 1, 1), "P", "1571999999")
    return make_credential(
        holder=holder, card_number=make_card_number(10**11 - 1), issued=date(2026, 12, 1), expires=date(2031, 12, 1)
    )


def test_qr_text_for_longest_holder_fits_version_10(issuer) -> None:
    assert len(LONGEST_NAME) == MAX_NAME_LENGTH
    message = sign_credential(longest_qr_credential(), issuer)
    text = to_qr_text(message)
    assert len(PREFIX + b45encode(message)) <= VERSION_10_M_ALPHANUMERIC, "too long even without deflate"
    assert len(text) <= VERSION_10_M_ALPHANUMERIC
    code = make_qr_code(text)
    assert code.version <= 10
    assert code.error_correction == qrcode.constants.ERROR_CORRECT_M


def test_longest_holder_verifies(issuer, trust, now) -> None:
    credential = longest_qr_credential()
    result = verify_qr(to_qr_text(sign_credential(credential, issuer)), trust, now)
    assert result.accepted
    assert result.credential == credential


def test_changed_payload_byte_refused(issuer, trust, now) -> None:
    message = bytearray(sign_credential(make_credential(Profile.CHIP), issuer))
    name_at = message.index(b"SITI")
    message[name_at] ^= 0x01
    result = verify_chip(bytes(message), trust, now)
    assert result.decision.reason is Reason.BAD_SIGNATURE


def test_every_single_byte_change_refused(issuer, trust, now) -> None:
    message = sign_credential(make_credential(Profile.CHIP), issuer)
    for index in range(len(message)):
        tampered = bytearray(message)
        tampered[index] ^= 0x40
        assert not verify_chip(bytes(tampered), trust, now).accepted, f"byte {index} changed, still accepted"


def test_changed_protected_header_refused(issuer, trust, now) -> None:
    message = cose.decode_sign1(sign_credential(make_credential(), issuer))
    header = cbor2.loads(message.protected)
    header[99] = "extra"
    forged = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(header), {}, message.payload, message.signature]))
    result = verify_qr(PREFIX + b45encode(forged), trust, now)
    assert result.decision.reason is Reason.BAD_SIGNATURE


def test_other_issuer_key_refused(trust, now) -> None:
    stranger = FileSigner(generate_private_key())
    result = verify_qr(to_qr_text(sign_credential(make_credential(), stranger)), trust, now)
    assert result.decision.reason is Reason.UNKNOWN_ISSUER


def test_kid_of_trusted_issuer_with_other_key_refused(issuer, trust, now) -> None:
    stranger = FileSigner(generate_private_key())
    stranger.kid = issuer.kid
    result = verify_qr(to_qr_text(sign_credential(make_credential(), stranger)), trust, now)
    assert result.decision.reason is Reason.BAD_SIGNATURE


def test_expiry_boundary_in_wib(issuer, trust) -> None:
    text = to_qr_text(sign_credential(make_credential(expires=date(2031, 12, 1)), issuer))
    last_second = datetime(2031, 12, 1, 23, 59, 59, tzinfo=timezone(timedelta(hours=7)))
    assert verify_qr(text, trust, last_second).accepted
    result = verify_qr(text, trust, last_second + timedelta(seconds=1))
    assert result.decision.reason is Reason.EXPIRED
    assert "2031-12-01" in result.decision.message_id


def test_not_yet_valid_boundary(issuer, trust) -> None:
    text = to_qr_text(sign_credential(make_credential(issued=date(2026, 12, 1)), issuer))
    first_second = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone(timedelta(hours=7)))
    assert verify_qr(text, trust, first_second).accepted
    result = verify_qr(text, trust, first_second - timedelta(seconds=1))
    assert result.decision.reason is Reason.NOT_YET_VALID


def test_issuer_key_outside_validity_refused(issuer, now) -> None:
    trust = TrustStore.of(IssuerKey(issuer.public_key, not_after=date(2026, 11, 30)))
    result = verify_qr(to_qr_text(sign_credential(make_credential(), issuer)), trust, now)
    assert result.decision.reason is Reason.ISSUER_KEY_NOT_VALID


def test_truncated_qr_text_refused(issuer, trust, now) -> None:
    text = to_qr_text(sign_credential(make_credential(), issuer))
    for cut in (len(text) - 1, len(text) - 3, len(text) // 2, len(PREFIX) + 1):
        result = verify_qr(text[:cut], trust, now)
        assert not result.accepted, f"cut at {cut} accepted"
        assert result.decision.reason in (Reason.QR_TEXT_INVALID, Reason.CREDENTIAL_MALFORMED)


def test_text_not_base45_refused(trust, now) -> None:
    result = verify_qr(PREFIX + "abc", trust, now)
    assert result.decision.reason is Reason.QR_TEXT_INVALID
    assert "'a'" in result.decision.message_en


def test_missing_prefix_refused(issuer, trust, now) -> None:
    text = to_qr_text(sign_credential(make_credential(), issuer))
    result = verify_qr(text[len(PREFIX):], trust, now)
    assert result.decision.reason is Reason.QR_TEXT_INVALID


def test_chip_credential_on_qr_path_refused(issuer, trust, now) -> None:
    text = to_qr_text(sign_credential(make_credential(Profile.CHIP), issuer))
    assert verify_qr(text, trust, now).decision.reason is Reason.WRONG_PROFILE


def test_refusal_messages_in_both_languages(trust, now) -> None:
    decision = verify_qr("KB1:", trust, now).decision
    assert "QR" in decision.message_id
    assert decision.message_id != decision.message_en
    assert decision.message_en.startswith("The QR code is not a Kartu Bahagia code")


def test_base45_rejects_group_above_65535() -> None:
    with pytest.raises(ValueError, match="exceeds 65535"):
        b45decode("GGW")


def test_base45_round_trip_rfc_examples() -> None:
    assert b45encode(b"ietf!") == "QED8WEX0"
    assert b45decode("QED8WEX0") == b"ietf!"


def test_zlib_bomb_refused() -> None:
    import zlib

    bomb = zlib.compress(b"\0" * 200_000, 9)
    assert len(bomb) < 400
    with pytest.raises(ValueError, match="inflates beyond"):
        from_qr_text(PREFIX + b45encode(bomb))


def test_non_canonical_payload_refused() -> None:
    payload = encode_payload(make_credential())
    shuffled = cbor2.dumps(dict(reversed(list(cbor2.loads(payload).items()))))
    with pytest.raises(CredentialError, match="deterministic order"):
        decode_payload(shuffled)


def payload_with(**changes) -> bytes:
    """The QR credential payload with fields replaced (value None removes the field)."""
    item = cbor2.loads(encode_payload(make_credential()))
    for key, value in changes.items():
        number = int(key.removeprefix("field_"))
        if value is None:
            item.pop(number)
        else:
            item[number] = value
    return cbor.encode(item)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"field_4": None}, "field 4 is missing"),
        ({"field_14": 1}, "unknown fields 14"),
        ({"field_1": True}, "field 1 must be int, got bool"),
        ({"field_1": 2}, "version 2 is not supported"),
        ({"field_2": 3}, "profile 3 is not 1"),
        ({"field_3": "1571000000000422"}, "field 3 must be int, got str"),
        ({"field_3": 1571000000000423}, "card number '1571000000000423'"),
        ({"field_3": -1}, "card number '-1'"),
        ({"field_4": ""}, "holder name must be 1 to 60 characters, got 0"),
        ({"field_4": "A" * 61}, "holder name must be 1 to 60 characters, got 61"),
        ({"field_4": "SITI\u202eHALIMAH"}, "control or formatting character"),
        ({"field_4": "SITI\nHALIMAH"}, "control or formatting character"),
        ({"field_4": b"SITI"}, "field 4 must be str, got bytes"),
        ({"field_5": 10**9}, "day number 1000000000 is out of range"),
        ({"field_9": -(2**63)}, "is out of range"),
        ({"field_6": 0}, "sex code 0"),
        ({"field_7": 1471011001}, "kelurahan code '1471011001'"),
        ({"field_8": b"short"}, "household id must be 8 bytes, got 5"),
        ({"field_10": 20000}, "expires .* before it is issued"),
        ({"field_11": bytes(32)}, "QR credential must not carry"),
        ({"field_12": [1]}, "field 12 must be bytes, got list"),
    ],
)
def test_malformed_payload_rejected(changes: dict, match: str) -> None:
    with pytest.raises(CredentialError, match=match):
        decode_payload(payload_with(**changes))


@pytest.mark.parametrize("payload", [b"", b"\x80", b"\xa0", b"\x01", cbor.encode([1, 2])])
def test_payload_not_a_credential_map_rejected(payload: bytes) -> None:
    with pytest.raises(CredentialError):
        decode_payload(payload)


def test_payload_with_trailing_byte_rejected() -> None:
    with pytest.raises(CredentialError, match="trailing"):
        decode_payload(encode_payload(make_credential()) + b"\x00")


def test_payload_with_duplicate_key_rejected() -> None:
    payload = encode_payload(make_credential())
    # Append a second field 10 by hand and raise the map's pair count from 10 to 11.
    duplicated = bytes([0xAB]) + payload[1:] + b"\x0a\x19\x58\x56"
    with pytest.raises(CredentialError, match="duplicate map key 10"):
        decode_payload(duplicated)


def test_signed_payload_with_duplicate_key_refused(issuer, trust, now) -> None:
    payload = encode_payload(make_credential())
    duplicated = bytes([0xAB]) + payload[1:] + b"\x0a\x19\x58\x56"
    text = to_qr_text(cose.sign1(duplicated, issuer))
    result = verify_qr(text, trust, now)
    assert result.decision.reason is Reason.CREDENTIAL_MALFORMED
    assert "duplicate map key 10" in result.decision.message_en
