"""verify_qr()'s fast path for the issuer's layout against its general path.

verify_qr() first tries card.verify._accept_common_qr(), which slices the
COSE envelope and the payload. Every QR text must get the same decision,
parameters and credential with and without that fast path.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from card import cose, verify
from card.base45 import b45decode, b45encode
from card.cardnumber import make_card_number
from card.credential import Profile, sign_credential
from card.decision import Reason
from card.keys import FileSigner, generate_private_key
from card.qrtext import PREFIX, to_qr_text
from card.revocation import RevokedSerials, serial_of
from card.verify import IssuerKey, TrustStore, verify_qr
from tests.conftest import make_credential

SIGNER = FileSigner(generate_private_key())
OTHER_SIGNER = FileSigner(generate_private_key())
NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
CREDENTIAL = make_credential()
TEXT = to_qr_text(sign_credential(CREDENTIAL, SIGNER))


class RevokedSet:
    """A card revocation check other than RevokedSerials, as a terminal store may pass."""

    def __init__(self, *card_numbers: str):
        self.card_numbers = set(card_numbers)

    def is_revoked(self, card_number: str) -> bool:
        return card_number in self.card_numbers


def trust_of(key: IssuerKey | None = None, **changes: object) -> TrustStore:
    return dataclasses.replace(TrustStore.of(key or IssuerKey(SIGNER.public_key)), **changes)


def outcome(verification: verify.Verification) -> tuple:
    decision = verification.decision
    return decision.accepted, decision.reason, decision.params, verification.credential


def verify_both(text: str, trust: TrustStore, now: datetime, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple, tuple]:
    """Return the outcome of verify_qr() with its fast path and with the general path alone."""
    fast = outcome(verify_qr(text, trust, now))
    with monkeypatch.context() as patch:
        patch.setattr(verify, "_accept_common_qr", lambda text, trust, now: None)
        general = outcome(verify_qr(text, trust, now))
    return fast, general


SCENARIOS = {
    "accepted": (TEXT, trust_of(), NOW, None),
    "accepted with clock skew": (TEXT, trust_of(clock_skew=timedelta(hours=12)), datetime(2026, 11, 30, 13, tzinfo=timezone.utc), None),
    "revoked in RevokedSerials": (TEXT, trust_of(revoked_cards=RevokedSerials([serial_of(CREDENTIAL.card_number)])), NOW, Reason.CARD_REVOKED),
    "other card in RevokedSerials": (TEXT, trust_of(revoked_cards=RevokedSerials([serial_of(make_card_number(7))])), NOW, None),
    "revoked in another revocation check": (TEXT, trust_of(revoked_cards=RevokedSet(CREDENTIAL.card_number)), NOW, Reason.CARD_REVOKED),
    "other card in another revocation check": (TEXT, trust_of(revoked_cards=RevokedSet(make_card_number(7))), NOW, None),
    "expired": (TEXT, trust_of(), datetime(2031, 12, 1, 17, tzinfo=timezone.utc), Reason.EXPIRED),
    "last second": (TEXT, trust_of(), datetime(2031, 12, 1, 16, 59, 59, tzinfo=timezone.utc), None),
    "not yet valid": (TEXT, trust_of(), datetime(2026, 11, 30, 16, 59, 59, tzinfo=timezone.utc), Reason.NOT_YET_VALID),
    "first second": (TEXT, trust_of(), datetime(2026, 11, 30, 17, tzinfo=timezone.utc), None),
    "issuer key revoked": (TEXT, trust_of(IssuerKey(SIGNER.public_key, revoked_from=date(2026, 11, 1))), NOW, Reason.ISSUER_KEY_REVOKED),
    "issuer key revoked later": (TEXT, trust_of(IssuerKey(SIGNER.public_key, revoked_from=date(2026, 12, 2))), NOW, None),
    "issuer key not yet valid": (TEXT, trust_of(IssuerKey(SIGNER.public_key, not_before=date(2026, 12, 2))), NOW, Reason.ISSUER_KEY_NOT_VALID),
    "issuer key no longer valid": (TEXT, trust_of(IssuerKey(SIGNER.public_key, not_after=date(2026, 11, 30))), NOW, Reason.ISSUER_KEY_NOT_VALID),
    "issuer key window holds the day": (TEXT, trust_of(IssuerKey(SIGNER.public_key, date(2026, 12, 1), date(2026, 12, 1))), NOW, None),
    "unknown issuer": (TEXT, trust_of(IssuerKey(OTHER_SIGNER.public_key)), NOW, Reason.UNKNOWN_ISSUER),
    "chip credential": (to_qr_text(sign_credential(make_credential(Profile.CHIP), SIGNER)), trust_of(), NOW, Reason.WRONG_PROFILE),
    "QR code on a chip card": (to_qr_text(sign_credential(make_credential(on_chip_card=True), SIGNER)), trust_of(), NOW, None),
    "lower-case prefix": ("kb1:" + TEXT[len(PREFIX):], trust_of(), NOW, Reason.QR_TEXT_INVALID),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_same_on_both_paths(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text, trust, now, reason = SCENARIOS[name]
    fast, general = verify_both(text, trust, now, monkeypatch)
    assert fast == general
    assert fast[0] is (reason is None)
    assert fast[1] is reason


def test_fast_path_accepts_issuer_layout() -> None:
    verification = verify._accept_common_qr(TEXT, trust_of(), NOW)
    assert verification is not None
    assert verification.accepted
    assert verification.credential == CREDENTIAL


def test_fast_path_sets_every_verification_field() -> None:
    verification = verify._accept_common_qr(TEXT, trust_of(), NOW)
    assert set(vars(verification)) == {field.name for field in dataclasses.fields(verify.Verification)}


def test_bad_signature_refused_on_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    message = bytearray(b45decode(TEXT[len(PREFIX):]))
    message[-1] ^= 0x01
    text = PREFIX + b45encode(bytes(message))
    refusal = verify._accept_common_qr(text, trust_of(), NOW)
    assert refusal is not None
    fast, general = verify_both(text, trust_of(), NOW, monkeypatch)
    assert outcome(refusal) == general
    assert fast == general
    assert fast[1] is Reason.BAD_SIGNATURE


def test_naive_time_raises_on_both_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_qr(TEXT, trust_of(), datetime(2026, 12, 4, 3, 0))
    with monkeypatch.context() as patch:
        patch.setattr(verify, "_accept_common_qr", lambda text, trust, now: None)
        with pytest.raises(ValueError, match="timezone-aware"):
            verify_qr(TEXT, trust_of(), datetime(2026, 12, 4, 3, 0))


@settings(database=None, deadline=None, max_examples=300)
@given(st.data())
def test_changed_message_same_outcome(data: st.DataObject) -> None:
    message = bytearray(b45decode(TEXT[len(PREFIX):]))
    edit = data.draw(st.sampled_from(("replace", "truncate", "append")))
    if edit == "replace":
        position = data.draw(st.integers(0, len(message) - 1))
        message[position] = data.draw(st.integers(0, 255))
    elif edit == "truncate":
        del message[data.draw(st.integers(0, len(message) - 1)) :]
    else:
        message += data.draw(st.binary(min_size=1, max_size=3))
    text = PREFIX + b45encode(bytes(message))
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, general = verify_both(text, trust_of(), NOW, monkeypatch)
    assert fast == general


@settings(database=None, deadline=None, max_examples=300)
@given(st.data())
def test_common_layout_parts_match_decode_sign1(data: st.DataObject) -> None:
    message = bytearray(b45decode(TEXT[len(PREFIX):]))
    edit = data.draw(st.sampled_from(("replace", "truncate", "insert")))
    position = data.draw(st.integers(0, len(message) - 1))
    if edit == "replace":
        message[position] = data.draw(st.integers(0, 255))
    elif edit == "truncate":
        del message[position:]
    else:
        message[position:position] = data.draw(st.binary(min_size=1, max_size=2))
    parts = cose.common_layout_parts(bytes(message))
    if parts is None:
        return
    decoded = cose.decode_sign1(bytes(message))
    assert parts == (decoded.kid, decoded.to_be_signed(), decoded.payload, decoded.signature)


@pytest.mark.parametrize("size", [0, 1, 23, 24, 77, 255])
def test_common_layout_parts_of_signed_message(size: int) -> None:
    message = cose.sign1(bytes(range(size)), SIGNER)
    decoded = cose.decode_sign1(message)
    expected = (decoded.kid, decoded.to_be_signed(), decoded.payload, decoded.signature)
    assert cose.common_layout_parts(message) == expected
    assert cose.common_layout_parts(bytearray(message)) == expected


def test_common_layout_parts_other_layouts() -> None:
    message = cose.sign1(b"payload", SIGNER)
    assert cose.common_layout_parts(message[1:]) is None
    assert cose.common_layout_parts(message + b"\x00") is None
    assert cose.common_layout_parts(message[:-1]) is None
    assert cose.common_layout_parts(cose.sign1(bytes(256), SIGNER)) is None
