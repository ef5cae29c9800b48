"""A terminal applies a signed entitlement delta only on top of its stored revision, as strictly as a full set."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from card import cbor, cose
from card.entitlement_set import (
    HouseholdEntry,
    ProgrammeEntitlements,
    ProgrammeRules,
    encode_entitlements,
    sign_entitlements,
)
from terminal import entitlement_check as check
from terminal.entitlement_check import EntitlementSetError, apply_entitlement_sets, verify_entitlement_set
from terminal.status_cover import status_cover
from terminal.store import TerminalStore
from tests.card.trust_kit import City, new_signer, service_point_store, tamper_payload, unix_wib

NOW = unix_wib(2026, 3, 15)
A, B, C, D = (bytes([value]) * 8 for value in (0x0A, 0x0B, 0x0C, 0x0D))
FULL = ProgrammeEntitlements(
    program="lpg", period="2026-03", quota=3, unit="tabung", rules=ProgrammeRules("quota", False, None),
    issued_at_ms=(NOW - 3600) * 1000, terminal_id="TRM-TRUST001", service_point_id=4,
    households=(HouseholdEntry(A, 1), HouseholdEntry(B, 0), HouseholdEntry(C, 2)), revision=7,
)
DELTA = dataclasses.replace(
    FULL, issued_at_ms=NOW * 1000, households=(HouseholdEntry(A, 3), HouseholdEntry(D, 0)),
    revision=9, base_revision=7, removed=(B,),
)


@pytest.fixture
def store(tmp_path: Path, city: City) -> TerminalStore:
    """Return an enrolled terminal with trust list 1 and the full LPG set at revision 7, issued an hour before NOW."""
    store = service_point_store(tmp_path / "terminal.db", city)
    pull(store, sign_entitlements(FULL, city.sync), NOW - 3600)
    return store


def pull(store: TerminalStore, signed: bytes, now: float = NOW) -> int:
    return apply_entitlement_sets(store, [verify_entitlement_set(store, signed, "lpg", now)], int(now))


def stored_state(store: TerminalStore) -> tuple[int, int, dict[bytes, int]]:
    """Return the stored revision, generation and use by household, which a rejection must leave alone."""
    entitlement_set = store.entitlement_set("lpg")
    rows = store.execute("SELECT household_id, used FROM entitlements WHERE program = 'lpg'").fetchall()
    return entitlement_set.revision, entitlement_set.generation, dict(rows)


def rejected(store: TerminalStore, signed: bytes, template: str) -> EntitlementSetError:
    before = stored_state(store)
    with pytest.raises(EntitlementSetError) as caught:
        pull(store, signed)
    assert caught.value.template == template
    assert stored_state(store) == before
    assert before == (7, 1, {A: 1, B: 0, C: 2})
    return caught.value


def test_delta_applied_on_stored_revision(store, city):
    generation = pull(store, sign_entitlements(DELTA, city.sync))
    assert generation == 2
    assert stored_state(store) == (9, 2, {A: 3, C: 2, D: 0})


def test_delta_seen_by_index(store, city):
    assert store.entitlement("lpg", B).use.used == 0
    pull(store, sign_entitlements(DELTA, city.sync))
    entitlement_set, use = store.entitlement("lpg", A)
    assert entitlement_set.revision == 9
    assert entitlement_set.generation == 2
    assert use.used == 3
    assert store.entitlement("lpg", B).use is None


def test_delta_seen_by_other_connection(store, city):
    other = TerminalStore(store.path)
    try:
        assert other.entitlement("lpg", A).use.used == 1
        pull(store, sign_entitlements(DELTA, city.sync))
        assert other.entitlement("lpg", A).use.used == 3
        assert other.entitlement("lpg", B).use is None
        assert other.entitlement("lpg", D).entitlement_set.generation == 2
    finally:
        other.close()


def test_empty_delta_keeps_households(store, city):
    empty = dataclasses.replace(DELTA, households=(), removed=(), revision=7)
    pull(store, sign_entitlements(empty, city.sync))
    assert stored_state(store) == (7, 2, {A: 1, B: 0, C: 2})


def test_delta_updates_period_and_quota(store, city):
    april = dataclasses.replace(DELTA, period="2026-04", quota=4)
    pull(store, sign_entitlements(april, city.sync))
    entitlement_set = store.entitlement_set("lpg")
    assert entitlement_set.period == "2026-04"
    assert entitlement_set.quota == 4


def test_delta_on_other_base_rejected(store, city):
    error = rejected(store, sign_entitlements(dataclasses.replace(DELTA, base_revision=8), city.sync),
                     check.BASE_MISMATCH)
    assert error.params["base"] == 8
    assert error.params["held"] == 7
    assert check.BASE_MISMATCH in check.NEEDS_FULL_SET


def test_delta_without_stored_set_rejected(tmp_path, city):
    store = service_point_store(tmp_path / "bare.db", city)
    with pytest.raises(EntitlementSetError) as caught:
        pull(store, sign_entitlements(DELTA, city.sync))
    assert caught.value.template == check.BASE_MISMATCH
    assert store.entitlement_set("lpg") is None


def test_delta_of_other_kind_rejected(store, city):
    status = dataclasses.replace(DELTA, rules=ProgrammeRules("status", False, None))
    error = rejected(store, sign_entitlements(status, city.sync), check.KIND_MISMATCH)
    assert error.params["kind"] == "status"
    assert error.params["held"] == "quota"


def test_removal_of_unknown_household_rejected(store, city):
    unknown = dataclasses.replace(DELTA, removed=(B, b"\x0e" * 8))
    error = rejected(store, sign_entitlements(unknown, city.sync), check.REMOVED_NOT_HELD)
    assert error.params["household"] == (b"\x0e" * 8).hex()


def _forged(payload: dict, signer) -> bytes:
    """Sign a payload that the encoder would not produce, as a faulty server could."""
    return cose.sign1(cbor.encode(payload), signer)


def _payload(delta: ProgrammeEntitlements) -> dict:
    return cbor.decode(encode_entitlements(delta), max_size=1 << 20)


@pytest.mark.parametrize("key, value, problem", [
    (13, [B, B], "ascending"),
    (13, [C, B], "ascending"),
    (13, [A], "both changed and removed"),
    (10, [[D, 0, None, None, None], [A, 3, None, None, None]], "ascending"),
    (10, [[A, 3, None, None, None], [A, 3, None, None, None]], "ascending"),
])
def test_malformed_delta_rejected(store, city, key, value, problem):
    payload = _payload(DELTA) | {key: value}
    error = rejected(store, _forged(payload, city.sync), check.INVALID)
    assert problem in error.params["detail"]


def test_tampered_delta_rejected(store, city):
    forged = tamper_payload(sign_entitlements(DELTA, city.sync), A + b"\x03", A + b"\x00")
    error = rejected(store, forged, check.INVALID)
    assert "signature" in error.params["detail"]


def test_delta_from_unknown_key_rejected(store):
    rejected(store, sign_entitlements(DELTA, new_signer()), check.NOT_SYNC_KEY)


def test_delta_for_other_terminal_rejected(store, city):
    rejected(store, sign_entitlements(dataclasses.replace(DELTA, terminal_id="TRM-OTHER"), city.sync),
             check.OTHER_TERMINAL)


def test_stale_delta_rejected(store, city):
    stale = dataclasses.replace(DELTA, issued_at_ms=(NOW - 3600) * 1000 + 1)
    rejected(store, sign_entitlements(stale, city.sync), check.STALE)


def test_replayed_delta_rejected(store, city):
    signed = sign_entitlements(DELTA, city.sync)
    pull(store, signed)
    with pytest.raises(EntitlementSetError) as caught:
        pull(store, signed)
    assert caught.value.template == check.ROLLBACK
    assert stored_state(store) == (9, 2, {A: 3, C: 2, D: 0})


def test_status_delta_updates_cover(tmp_path, city):
    store = service_point_store(tmp_path / "status.db", city)
    store.set_meta({"programmes": '["pbi"]'})
    rules = ProgrammeRules("status", False, None)
    full = dataclasses.replace(FULL, program="pbi", quota=0, rules=rules, households=(
        HouseholdEntry(A, 0, valid_until=date(2026, 6, 30)), HouseholdEntry(B, 0, valid_until=date(2026, 6, 30))))
    delta = dataclasses.replace(full, issued_at_ms=NOW * 1000, revision=8, base_revision=7, removed=(B,),
                                households=(HouseholdEntry(A, 0, valid_until=date(2026, 12, 31)),))
    for entitlements, now in ((full, NOW - 3600), (delta, NOW)):
        verified = verify_entitlement_set(store, sign_entitlements(entitlements, city.sync), "pbi", now)
        apply_entitlement_sets(store, [verified], now)
    assert status_cover(store._db, "pbi", A).valid_until == date(2026, 12, 31)
    assert status_cover(store._db, "pbi", B) is None


def _redemption(store: TerminalStore, record_id: str, household: bytes, quantity: int) -> None:
    with store.transaction() as db:
        store.insert_redemption(db, {
            "record_id": record_id, "program": "lpg", "household_id": household, "card_number": "1571000000000429",
            "quantity": quantity, "period": "2026-03", "tapped_at": NOW - 60, "assurance": "qr",
            "signed_record": b"record",
        })


def test_delta_use_replaces_acknowledged_count(store, city):
    """Records acknowledged before the pull count through the delta's use, but pending ones still count here."""
    _redemption(store, "acked", A, 2)
    _redemption(store, "pending", C, 1)
    store.mark_acked(["acked"])
    before = store.quota_usage("lpg", A, "2026-03")
    assert before.used_at_sync == 1
    assert before.used_here == 2

    pull(store, sign_entitlements(DELTA, city.sync))
    after = store.quota_usage("lpg", A, "2026-03")
    assert after.used_at_sync == 3
    assert after.used_here == 0
    untouched = store.quota_usage("lpg", C, "2026-03")
    assert untouched.used_at_sync == 2
    assert untouched.used_here == 1
