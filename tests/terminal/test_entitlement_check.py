"""A terminal applies an entitlement set only when the sync key signed it for this terminal.

The set must also be newer than the stored one.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from card.entitlement_set import HouseholdEntry, ProgrammeEntitlements, ProgrammeRules, sign_entitlements
from card.trustlist import Role
from terminal import entitlement_check as check
from terminal.entitlement_check import EntitlementSetError, apply_entitlement_sets, verify_entitlement_set
from terminal.store import TerminalStore
from terminal.trust import apply_trust_list
from tests.card.trust_kit import (
    City,
    enrolled_store,
    entry,
    new_signer,
    service_point_store,
    tamper_payload,
    unix_wib,
)

NOW = unix_wib(2026, 3, 15)
HOUSEHOLD = b"\x11" * 8
APPLIED = ProgrammeEntitlements(
    program="lpg", period="2026-03", quota=3, unit="tabung", rules=ProgrammeRules("quota", False, None),
    issued_at_ms=(NOW - 3600) * 1000, terminal_id="TRM-TRUST001", service_point_id=4,
    households=(HouseholdEntry(HOUSEHOLD, 1),),
)
FRESH = dataclasses.replace(APPLIED, issued_at_ms=NOW * 1000, households=(HouseholdEntry(HOUSEHOLD, 2),))


@pytest.fixture
def store(tmp_path: Path, city: City) -> TerminalStore:
    """Return an enrolled terminal with trust list 1 and the LPG set issued an hour before NOW."""
    store = service_point_store(tmp_path / "terminal.db", city)
    signed = sign_entitlements(APPLIED, city.sync)
    apply_entitlement_sets(store, [verify_entitlement_set(store, signed, "lpg", NOW - 3600)], NOW - 3600)
    return store


def stored_use(store: TerminalStore) -> tuple[int | None, int | None]:
    """Return the stored set's household use and generation, which every rejection must leave alone."""
    entitlement_set = store.entitlement_set("lpg")
    return store.used_at_sync("lpg", HOUSEHOLD), entitlement_set.generation if entitlement_set else None


def pull(store: TerminalStore, signed: bytes | None, program: str = "lpg", now: float = NOW) -> None:
    apply_entitlement_sets(store, [verify_entitlement_set(store, signed, program, now)], int(now))


def rejected(store: TerminalStore, signed: bytes | None, template: str, **options) -> EntitlementSetError:
    before = stored_use(store)
    with pytest.raises(EntitlementSetError) as caught:
        pull(store, signed, **options)
    assert caught.value.template == template
    assert stored_use(store) == before
    assert before == (1, 1)
    return caught.value


def test_signed_set_applied(store, city):
    pull(store, sign_entitlements(FRESH, city.sync))
    assert stored_use(store) == (2, 2)
    assert store.get_meta("entitlement_issued_at_ms:lpg") == str(NOW * 1000)


def test_tampered_payload_rejected(store, city):
    signed = sign_entitlements(FRESH, city.sync)
    position = signed.index(HOUSEHOLD) + len(HOUSEHOLD)
    tampered = signed[:position] + b"\x00" + signed[position + 1:]
    error = rejected(store, tampered, check.INVALID)
    assert "signature" in error.params["detail"]


def test_truncated_set_rejected(store, city):
    rejected(store, sign_entitlements(FRESH, city.sync)[:-10], check.INVALID)


def test_missing_set_rejected(store):
    rejected(store, None, check.MISSING)


def test_unknown_key_rejected(store):
    error = rejected(store, sign_entitlements(FRESH, new_signer()), check.NOT_SYNC_KEY)
    assert error.params["sequence"] == 1


def test_issuer_key_rejected(store, city):
    rejected(store, sign_entitlements(FRESH, city.issuer), check.NOT_SYNC_KEY)


def test_expired_sync_key_rejected(store, city):
    expired = entry(Role.SYNC, city.sync, date(2025, 1, 1), date(2026, 3, 14))
    apply_trust_list(store, city.trust_list(2, entry(Role.ISSUER, city.issuer), expired))
    error = rejected(store, sign_entitlements(FRESH, city.sync), check.KEY_NOT_VALID)
    assert error.params["not_after"] == date(2026, 3, 14)


def test_revoked_sync_key_rejected(store, city):
    revoked = entry(Role.SYNC, city.sync, revoked_from=date(2026, 3, 15))
    apply_trust_list(store, city.trust_list(2, entry(Role.ISSUER, city.issuer), revoked))
    rejected(store, sign_entitlements(FRESH, city.sync), check.KEY_REVOKED)


def test_older_set_rejected(store, city):
    older = dataclasses.replace(FRESH, issued_at_ms=APPLIED.issued_at_ms - 1)
    error = rejected(store, sign_entitlements(older, city.sync), check.ROLLBACK, now=NOW - 3600)
    assert error.params["held"].endswith("WIB")


def test_replayed_set_rejected(store, city):
    rejected(store, sign_entitlements(APPLIED, city.sync), check.ROLLBACK, now=NOW - 3600)


def test_other_programme_rejected(store, city):
    pbi = dataclasses.replace(FRESH, program="pbi")
    error = rejected(store, sign_entitlements(pbi, city.sync), check.OTHER_PROGRAMME)
    assert error.params["other"] == "pbi"
    assert error.params["program"] == "lpg"


def test_other_terminal_rejected(store, city):
    rejected(store, sign_entitlements(dataclasses.replace(FRESH, terminal_id="TRM-OTHER01"), city.sync),
             check.OTHER_TERMINAL)


def test_other_service_point_rejected(store, city):
    rejected(store, sign_entitlements(dataclasses.replace(FRESH, service_point_id=5), city.sync), check.OTHER_TERMINAL)


@pytest.mark.parametrize("offset", [-check.MAX_SET_AGE.total_seconds() - 1, check.MAX_SET_AHEAD.total_seconds() + 1])
def test_stale_set_rejected(store, city, offset):
    rejected(store, sign_entitlements(FRESH, city.sync), check.STALE, now=NOW - offset)


def test_set_within_clock_window_applied(store, city):
    pull(store, sign_entitlements(FRESH, city.sync), now=NOW + check.MAX_SET_AGE.total_seconds())
    assert stored_use(store) == (2, 2)


def test_terminal_without_trust_list_rejects(tmp_path, city):
    bare = enrolled_store(tmp_path / "bare.db", city)
    bare.set_meta({"service_point_id": "4"})
    with pytest.raises(EntitlementSetError) as caught:
        pull(bare, sign_entitlements(FRESH, city.sync))
    assert caught.value.template == check.NO_TRUST_LIST
    assert bare.entitlement_set("lpg") is None


def test_one_bad_set_applies_none(store, city):
    """Two programmes pulled together: the rollback of one keeps the other from being applied."""
    store.set_meta({"programmes": '["lpg", "pbi"]'})
    pbi = dataclasses.replace(APPLIED, program="pbi", quota=0, unit="kunjungan")
    sets = [verify_entitlement_set(store, sign_entitlements(pbi, city.sync), "pbi", NOW - 3600),
            verify_entitlement_set(store, sign_entitlements(APPLIED, city.sync), "lpg", NOW - 3600)]
    with pytest.raises(EntitlementSetError) as caught:
        apply_entitlement_sets(store, sets, NOW - 3600)
    assert caught.value.template == check.ROLLBACK
    assert store.entitlement_set("pbi") is None
    assert store.get_meta("entitlement_issued_at_ms:pbi") is None
    assert stored_use(store) == (1, 1)


def test_message_in_both_languages(store, city):
    error = rejected(store, sign_entitlements(FRESH, new_signer()), check.NOT_SYNC_KEY)
    assert error.message("id").startswith("Daftar hak untuk lpg ditandatangani dengan kunci")
    assert error.message("en").startswith("The entitlements for lpg are signed by key")
    assert str(error) == error.message("en")


def test_lowered_use_with_old_signature_rejected(store, city):
    """A proxy that lowers a household's use and keeps the signature gets the whole set rejected."""
    forged = tamper_payload(sign_entitlements(FRESH, city.sync), HOUSEHOLD + b"\x02", HOUSEHOLD + b"\x00")
    error = rejected(store, forged, check.INVALID)
    assert "signature" in error.params["detail"]
