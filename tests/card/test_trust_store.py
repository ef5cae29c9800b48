"""Applying trust lists on a terminal: pinned root, no rollback, atomic replacement."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from card.credential import sign_credential
from card.decision import Reason
from card.keys import kid_of, spki_of
from card.qrtext import to_qr_text
from card.trustlist import Role
from card.verify import verify_qr
from terminal.store import StoreError, TerminalStore
from terminal.trust import Applied, TrustUpdateError, apply_trust_list
from tests.card.trust_kit import City, enrolled_store, entry, new_signer, wib
from tests.conftest import make_credential


@pytest.fixture
def city() -> City:
    return City()


@pytest.fixture
def store(tmp_path, city) -> TerminalStore:
    store = enrolled_store(tmp_path / "terminal.db", city)
    yield store
    store.close()


def _card(signer, issued: date = date(2026, 3, 1)) -> str:
    return to_qr_text(sign_credential(make_credential(issued=issued, expires=date(2031, 3, 1)), signer))


def test_trust_list_applied_and_used_by_verifier(store, city) -> None:
    outcome, trust_list = apply_trust_list(store, city.trust_list(1))
    assert outcome is Applied.APPLIED
    assert store.trust_list_sequence == 1
    assert {item.kid for item in store.trust_keys()} == {city.issuer.kid, city.sync.kid}
    assert verify_qr(_card(city.issuer), store.trust_store(), wib(2026, 3, 2)).accepted


def test_no_issuer_trusted_before_first_trust_list(store, city) -> None:
    result = verify_qr(_card(city.issuer), store.trust_store(), wib(2026, 3, 2))
    assert result.decision.reason is Reason.UNKNOWN_ISSUER


def test_trust_list_signed_by_other_root_rejected(store, city) -> None:
    rogue = City(issuer=new_signer())
    with pytest.raises(TrustUpdateError, match="not by the pinned root key"):
        apply_trust_list(store, rogue.trust_list(9))
    assert store.trust_list_sequence == 0
    assert store.trust_keys() == []


def test_trust_list_rollback_rejected(store, city) -> None:
    apply_trust_list(store, city.trust_list(3))
    with pytest.raises(TrustUpdateError, match="older than the held sequence 3"):
        apply_trust_list(store, city.trust_list(2, entry(Role.ISSUER, new_signer())))
    assert store.trust_list_sequence == 3
    assert {item.kid for item in store.trust_keys()} == {city.issuer.kid, city.sync.kid}


def test_same_sequence_changes_nothing(store, city) -> None:
    apply_trust_list(store, city.trust_list(3))
    other = new_signer()
    outcome, _ = apply_trust_list(store, city.trust_list(3, entry(Role.ISSUER, other)))
    assert outcome is Applied.ALREADY_HELD
    assert other.kid not in {item.kid for item in store.trust_keys()}


def test_newer_trust_list_replaces_keys(store, city) -> None:
    apply_trust_list(store, city.trust_list(1))
    replacement = new_signer()
    apply_trust_list(store, city.trust_list(2, entry(Role.ISSUER, replacement), entry(Role.SYNC, city.sync)))
    kids = {item.kid for item in store.trust_keys(Role.ISSUER)}
    assert kids == {replacement.kid}
    assert store.trust_list_sequence == 2


def test_revocation_of_issuer_key_reaches_verifier(store, city) -> None:
    apply_trust_list(store, city.trust_list(1))
    card = _card(city.issuer, issued=date(2026, 6, 2))
    assert verify_qr(card, store.trust_store(), wib(2026, 6, 3)).accepted
    apply_trust_list(store, city.trust_list(2, entry(Role.ISSUER, city.issuer, revoked_from=date(2026, 6, 1)),
                                            entry(Role.SYNC, city.sync)))
    result = verify_qr(card, store.trust_store(), wib(2026, 6, 3))
    assert result.decision.reason is Reason.ISSUER_KEY_REVOKED


def test_trust_list_applied_atomically(store, city, monkeypatch) -> None:
    apply_trust_list(store, city.trust_list(1))
    original = store.replace_trust_keys

    def fail_midway(db, sequence, entries, signed):
        original(db, sequence, entries[:1], signed)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "replace_trust_keys", fail_midway)
    with pytest.raises(sqlite3.OperationalError):
        apply_trust_list(store, city.trust_list(2, entry(Role.ISSUER, new_signer()), entry(Role.SYNC, city.sync)))
    assert store.trust_list_sequence == 1
    assert {item.kid for item in store.trust_keys()} == {city.issuer.kid, city.sync.kid}


def test_trust_list_without_pinned_root_rejected(tmp_path, city) -> None:
    store = TerminalStore(tmp_path / "bare.db")
    with pytest.raises(TrustUpdateError, match="pins no root key"):
        apply_trust_list(store, city.trust_list(1))
    store.close()


def test_root_key_pinned_once(store, city) -> None:
    store.pin_root_key(city.root.public_key)
    with pytest.raises(StoreError, match="already pins another root key"):
        store.pin_root_key(new_signer().public_key)
    assert store.root_key().public_numbers() == city.root.public_key.public_numbers()


def test_directly_pinned_issuer_still_trusted(store, city) -> None:
    demo_issuer = new_signer()
    store.add_issuer(kid_of(demo_issuer.public_key), spki_of(demo_issuer.public_key))
    apply_trust_list(store, city.trust_list(1))
    assert verify_qr(_card(demo_issuer), store.trust_store(), wib(2026, 3, 2)).accepted
    assert verify_qr(_card(city.issuer), store.trust_store(), wib(2026, 3, 2)).accepted
