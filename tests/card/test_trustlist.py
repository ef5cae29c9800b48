"""Trust list format, key rotation and compromise, and the validity boundary with clock skew."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from card import cbor, cose
from card.credential import sign_credential
from card.decision import Reason
from card.qrtext import to_qr_text
from card.trustlist import KeyEntry, Role, TrustList, TrustListError, decode_trust_list, issuer_keys, sign_trust_list
from card.verify import CLOCK_SKEW_TOLERANCE, IssuerKey, TrustStore, verify_qr
from tests.card.trust_kit import City, entry, new_signer, wib
from tests.conftest import make_credential


def test_trust_list_round_trip() -> None:
    city = City()
    terminal = new_signer()
    keys = (*city.base_entries(), entry(Role.TERMINAL, terminal, revoked_from=date(2026, 7, 1)))
    signed = sign_trust_list(TrustList(5, 1_790_000_000, keys), city.root)

    decoded = decode_trust_list(signed, city.root.public_key)

    assert decoded.sequence == 5
    assert decoded.issued_at == 1_790_000_000
    assert [item.kid for item in decoded.keys] == [item.kid for item in keys]
    assert [item.role for item in decoded.keys] == [Role.ISSUER, Role.SYNC, Role.TERMINAL]
    assert decoded.keys[0].label == "station 01"
    assert decoded.keys[2].revoked_from == date(2026, 7, 1)
    assert decoded.keys[1].not_after == date(2027, 12, 31)


def test_trust_list_from_other_root_rejected() -> None:
    city = City()
    with pytest.raises(TrustListError, match="not by the pinned root key"):
        decode_trust_list(city.trust_list(1), new_signer().public_key)


def test_trust_list_impostor_root_rejected() -> None:
    city = City()
    impostor = new_signer()
    impostor.kid = city.root.kid
    signed = sign_trust_list(TrustList(1, 0, tuple(city.base_entries())), impostor)
    with pytest.raises(TrustListError, match="signature .* is invalid"):
        decode_trust_list(signed, city.root.public_key)


def test_trust_list_every_byte_change_rejected() -> None:
    city = City()
    signed = city.trust_list(1)
    for index in range(len(signed)):
        tampered = bytearray(signed)
        tampered[index] ^= 0x01
        with pytest.raises(TrustListError):
            decode_trust_list(bytes(tampered), city.root.public_key)


def _signed_payload(city: City, payload: object) -> bytes:
    return cose.sign1(cbor.encode(payload), city.root)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({1: 1, 2: 1, 3: 0}, "misses fields"),
        ({1: 2, 2: 1, 3: 0, 4: []}, "format 2 is not supported"),
        ({1: 1, 2: 1, 3: 0, 4: [], 9: 0}, "unknown field 9"),
        ({1: 1, 2: "1", 3: 0, 4: []}, "field 2 must be int"),
        ({1: 1, 2: 0, 3: 0, 4: []}, "sequence 0 must be 1 or more"),
        ({1: 1, 2: 1, 3: 0, 4: [{1: 4, 2: b"", 3: 0, 4: 0}]}, "role 4"),
        ({1: 1, 2: 1, 3: 0, 4: [{1: 1, 2: b"\x30\x00", 3: 0, 4: 0}]}, "trust list key 0"),
        ({1: 1, 2: 1, 3: 0, 4: [{1: 1, 3: 0, 4: 0}]}, "misses fields \\[2\\]"),
        ({1: 1, 2: 1, 3: 0, 4: "keys"}, "field 4 must be array"),
    ],
)
def test_malformed_trust_list_rejected(payload: object, message: str) -> None:
    city = City()
    with pytest.raises(TrustListError, match=message):
        decode_trust_list(_signed_payload(city, payload), city.root.public_key)


def test_duplicate_key_in_trust_list_rejected() -> None:
    city = City()
    with pytest.raises(TrustListError, match="more than once"):
        TrustList(1, 0, (entry(Role.ISSUER, city.issuer), entry(Role.SYNC, city.issuer)))


def test_key_window_ending_before_start_rejected() -> None:
    with pytest.raises(TrustListError, match="before not-before"):
        entry(Role.ISSUER, new_signer(), not_before=date(2026, 2, 1), not_after=date(2026, 1, 31))


def test_key_entry_signing_window() -> None:
    key = KeyEntry(Role.SYNC, new_signer().public_key, date(2026, 1, 1), date(2026, 12, 31), date(2026, 6, 1))
    assert not key.may_sign_on(date(2025, 12, 31))
    assert key.may_sign_on(date(2026, 1, 1))
    assert key.may_sign_on(date(2026, 5, 31))
    assert not key.may_sign_on(date(2026, 6, 1))


# --- rotation and compromise, through the verifier ----------------------------------


def _qr(signer, issued: date, expires: date) -> str:
    return to_qr_text(sign_credential(make_credential(issued=issued, expires=expires), signer))


def _store_from(city: City, *entries: KeyEntry) -> TrustStore:
    trust_list = decode_trust_list(city.trust_list(1, *entries), city.root.public_key)
    return TrustStore.of(*issuer_keys(trust_list))


def test_rotated_issuer_cards_stay_valid_until_expiry() -> None:
    city = City()
    old, new = city.issuer, new_signer()
    trust = _store_from(
        city,
        entry(Role.ISSUER, old, date(2025, 1, 1), date(2025, 12, 31)),
        entry(Role.ISSUER, new, date(2026, 1, 1), date(2026, 12, 31)),
    )
    old_card = _qr(old, date(2025, 6, 1), date(2030, 6, 1))
    new_card = _qr(new, date(2026, 3, 1), date(2031, 3, 1))

    # Years after the old key left service, its card still verifies until its own expiry.
    assert verify_qr(old_card, trust, wib(2029, 1, 1, 9)).accepted
    assert verify_qr(new_card, trust, wib(2029, 1, 1, 9)).accepted
    assert verify_qr(old_card, trust, wib(2030, 6, 2)).decision.reason is Reason.EXPIRED


def test_old_issuer_key_signing_after_rotation_refused() -> None:
    city = City()
    trust = _store_from(city, entry(Role.ISSUER, city.issuer, date(2025, 1, 1), date(2025, 12, 31)))
    late_card = _qr(city.issuer, date(2026, 1, 1), date(2031, 1, 1))
    result = verify_qr(late_card, trust, wib(2026, 1, 2, 9))
    assert result.decision.reason is Reason.ISSUER_KEY_NOT_VALID


def test_new_issuer_key_unknown_before_trust_list_update() -> None:
    city = City()
    old_trust = _store_from(city, entry(Role.ISSUER, city.issuer))
    new_issuer = new_signer()
    card = _qr(new_issuer, date(2026, 3, 1), date(2031, 3, 1))
    assert verify_qr(card, old_trust, wib(2026, 3, 2)).decision.reason is Reason.UNKNOWN_ISSUER
    new_trust = _store_from(city, entry(Role.ISSUER, city.issuer), entry(Role.ISSUER, new_issuer))
    assert verify_qr(card, new_trust, wib(2026, 3, 2)).accepted


def test_compromised_issuer_refused_from_revocation_day() -> None:
    city = City()
    trust = _store_from(city, entry(Role.ISSUER, city.issuer, revoked_from=date(2026, 6, 1)))
    now = wib(2026, 8, 1, 10)

    before = verify_qr(_qr(city.issuer, date(2026, 5, 31), date(2031, 5, 31)), trust, now)
    on_day = verify_qr(_qr(city.issuer, date(2026, 6, 1), date(2031, 6, 1)), trust, now)
    after = verify_qr(_qr(city.issuer, date(2026, 7, 15), date(2031, 7, 15)), trust, now)

    assert before.accepted
    assert on_day.decision.reason is Reason.ISSUER_KEY_REVOKED
    assert after.decision.reason is Reason.ISSUER_KEY_REVOKED
    assert "2026-06-01" in on_day.decision.message_en
    assert "2026-06-01" in on_day.decision.message_id
    assert "dicabut" in on_day.decision.message_id


# --- validity boundary and clock skew ------------------------------------------------


def test_issued_day_boundary_with_clock_skew() -> None:
    issuer = new_signer()
    trust = TrustStore({issuer.kid: IssuerKey(issuer.public_key)}, clock_skew=CLOCK_SKEW_TOLERANCE)
    card = _qr(issuer, date(2026, 12, 1), date(2031, 12, 1))
    # 12 hours before 00:00 WIB on the issued day is the first accepted second.
    first = wib(2026, 11, 30, 12, 0, 0)
    assert CLOCK_SKEW_TOLERANCE == timedelta(hours=12)
    assert verify_qr(card, trust, first).accepted
    assert verify_qr(card, trust, first - timedelta(seconds=1)).decision.reason is Reason.NOT_YET_VALID


def test_issued_today_slow_clock_accepted() -> None:
    issuer = new_signer()
    trust = TrustStore({issuer.kid: IssuerKey(issuer.public_key)}, clock_skew=CLOCK_SKEW_TOLERANCE)
    card = _qr(issuer, date(2026, 12, 1), date(2031, 12, 1))
    issued_at_office = wib(2026, 12, 1, 0, 0, 1)
    terminal_clock = issued_at_office - timedelta(hours=12)
    assert verify_qr(card, trust, terminal_clock).accepted


def test_expiry_has_no_skew_tolerance() -> None:
    issuer = new_signer()
    trust = TrustStore({issuer.kid: IssuerKey(issuer.public_key)}, clock_skew=CLOCK_SKEW_TOLERANCE)
    card = _qr(issuer, date(2026, 12, 1), date(2031, 12, 1))
    last = wib(2031, 12, 1, 23, 59, 59)
    assert verify_qr(card, trust, last).accepted
    assert verify_qr(card, trust, last + timedelta(seconds=1)).decision.reason is Reason.EXPIRED


def test_boundary_holds_for_utc_input() -> None:
    issuer = new_signer()
    trust = TrustStore({issuer.kid: IssuerKey(issuer.public_key)})
    card = _qr(issuer, date(2026, 12, 1), date(2031, 12, 1))
    # 17:00 UTC on 2031-12-01 is 00:00 WIB on 2031-12-02.
    assert verify_qr(card, trust, datetime(2031, 12, 1, 16, 59, 59, tzinfo=timezone.utc)).accepted
    assert not verify_qr(card, trust, datetime(2031, 12, 1, 17, 0, 0, tzinfo=timezone.utc)).accepted


def test_negative_clock_skew_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        TrustStore({}, clock_skew=timedelta(hours=-1))


def test_naive_time_rejected() -> None:
    issuer = new_signer()
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_qr(_qr(issuer, date(2026, 1, 1), date(2031, 1, 1)), TrustStore.of(IssuerKey(issuer.public_key)),
                  datetime(2026, 6, 1))
