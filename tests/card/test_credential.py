"""Credential round trip and the tamper cases the offline verifier must refuse."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import cbor2
import pytest

from card import cose
from card.base45 import b45decode, b45encode
from card.credential import Profile, decode_payload, encode_payload, sign_credential, CredentialError
from card.decision import Reason
from card.keys import FileSigner, generate_private_key
from card.qrtext import PREFIX, from_qr_text, to_qr_text
from card.verify import IssuerKey, TrustStore, verify_chip, verify_qr
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


def test_qr_text_for_longest_name_fits_version_10(issuer) -> None:
    credential = make_credential(holder=make_credential().holder.__class__("A" * 30 + "B" * 30, date(1950, 1, 1), "L", "1571111999"))
    text = to_qr_text(sign_credential(credential, issuer))
    # QR version 10 at error correction M holds 311 alphanumeric characters.
    assert len(text) <= 311


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
    assert "QR" in decision.message_id and decision.message_id != decision.message_en
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
    with pytest.raises(CredentialError, match="deterministically"):
        decode_payload(shuffled)
