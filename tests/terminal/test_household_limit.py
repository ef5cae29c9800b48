"""A household's limit per period: the quota times its entitled persons, or the quota when the server sends none."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from card.decision import Reason
from issuance.personalise import issue_qr_only
from terminal.enrol import STORE_NAME, open_terminal
from terminal.modes import household_standing
from terminal.receipt_queue import ReceiptQueue
from terminal.store import (
    MAX_PERSONS, SCHEMA, SCHEMA_STEPS, EntitlementDataError, EntitlementSet, HouseholdUse, TerminalStore,
)
from terminal.tap import TapService
from tests.terminal.conftest import make_terminal

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
PERIOD = "2026-12"


@pytest.fixture
def card(station, residents):
    return issue_qr_only(residents[0], station, NOW.date().replace(day=1))


@pytest.fixture
def sibling_card(station, residents):
    """A card of another member of the first card's household (same KK)."""
    sibling = replace(residents[0], nik=residents[0].nik[:-4] + "9901", name="SITI AMINAH")
    return issue_qr_only(sibling, station, NOW.date().replace(day=1))


def scholarship_terminal(tmp_path, station, household: bytes, persons: int | None):
    return make_terminal(tmp_path / "terminal", station, {household: HouseholdUse(0, persons)}, quota=1,
                         period=PERIOD, program="beasiswa", unit="pencairan")


def count_records(store: TerminalStore) -> int:
    return store.execute("SELECT COUNT(*) FROM redemptions").fetchone()[0]


def test_two_pupils_two_taps_across_restart(station, card, sibling_card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, persons=2)
    first = TapService(store, signer).scan_qr(card.qr_text, "beasiswa", NOW)
    store.close()

    store, signer = open_terminal(tmp_path / "terminal")
    second = TapService(store, signer).scan_qr(sibling_card.qr_text, "beasiswa", NOW)
    store.close()

    store, signer = open_terminal(tmp_path / "terminal")
    third = TapService(store, signer).scan_qr(card.qr_text, "beasiswa", NOW)

    assert first.decision.accepted, first.decision.message_en
    assert first.remaining == 1
    assert second.decision.accepted, second.decision.message_en
    assert second.remaining == 0
    assert third.decision.reason is Reason.QUOTA_EXCEEDED
    assert "2 of 2 payouts of its Scholarship quota" in third.decision.message_en
    assert count_records(store) == 2


def test_household_without_persons_keeps_quota(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: HouseholdUse(1, None)}, quota=3)
    service = TapService(store, signer)
    accepted = service.scan_qr(card.qr_text, "lpg", NOW, quantity=2)
    over = service.scan_qr(card.qr_text, "lpg", NOW)

    assert accepted.decision.accepted, accepted.decision.message_en
    assert accepted.remaining == 0
    assert over.decision.reason is Reason.QUOTA_EXCEEDED
    assert "3 of 3 cylinders" in over.decision.message_en
    assert count_records(store) == 1


def test_scholarship_without_persons_allows_quota(station, card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, persons=None)
    service = TapService(store, signer)
    assert service.scan_qr(card.qr_text, "beasiswa", NOW).decision.accepted
    assert service.scan_qr(card.qr_text, "beasiswa", NOW).decision.reason is Reason.QUOTA_EXCEEDED


def test_receipt_and_standing_use_limit(station, card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, persons=3)
    service = TapService(store, signer)
    service.on_record = ReceiptQueue(store).add_in_transaction
    outcome = service.scan_qr(card.qr_text, "beasiswa", NOW)

    receipt = ReceiptQueue(store).find(outcome.record_id)
    [standing] = household_standing(store, card.household_id, NOW)
    assert receipt.remaining == 2
    assert (standing.limit, standing.used, standing.remaining) == (3, 1, 2)


def test_quota_usage_reads_persons(tmp_path) -> None:
    store = TerminalStore(tmp_path / STORE_NAME)
    pupils, lpg_household = bytes([1]) * 8, bytes([2]) * 8
    store.replace_entitlements([
        (EntitlementSet("beasiswa", PERIOD, 1, "pencairan", 0), {pupils: HouseholdUse(1, 2)}),
        (EntitlementSet("lpg", PERIOD, 3, "tabung", 0), {lpg_household: 2}),
    ], pulled_at=0)

    scholarship = store.quota_usage("beasiswa", pupils, PERIOD)
    lpg = store.quota_usage("lpg", lpg_household, PERIOD)
    absent = store.quota_usage("beasiswa", lpg_household, PERIOD)
    assert (scholarship.used_at_sync, scholarship.persons, scholarship.limit) == (1, 2, 2)
    assert (lpg.used_at_sync, lpg.persons, lpg.limit) == (2, None, 3)
    assert (absent.used_at_sync, absent.persons) == (None, None)


def previous_store(path) -> None:
    """Create a store as the version before the persons column wrote it, with one cached household."""
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    for statement in SCHEMA_STEPS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO entitlement_sets VALUES ('lpg', ?, 3, 'tabung', 1, 0)", (PERIOD,))
    db.execute("INSERT INTO entitlements (program, household_id, used) VALUES ('lpg', ?, 2)", (bytes(8),))
    db.commit()
    db.close()


def test_previous_schema_upgraded_in_place(tmp_path) -> None:
    path = tmp_path / STORE_NAME
    previous_store(path)

    store = TerminalStore(path)
    columns = [row[1] for row in store.execute("PRAGMA table_info(entitlements)")]
    version = store.execute("PRAGMA user_version").fetchone()[0]
    usage = store.quota_usage("lpg", bytes(8), PERIOD)
    store.close()
    reopened = TerminalStore(path)

    assert "persons" in columns
    assert version == len(SCHEMA_STEPS)
    assert (usage.used_at_sync, usage.persons, usage.limit) == (2, None, 3)
    assert reopened.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA_STEPS)
    reopened.replace_entitlements([(EntitlementSet("lpg", PERIOD, 3, "tabung", 0), {bytes(8): HouseholdUse(0, 2)})], 1)
    assert reopened.quota_usage("lpg", bytes(8), PERIOD).limit == 6


@pytest.mark.parametrize("persons", [-1, 0, 1.5, 2.0, "2", True, [], MAX_PERSONS + 1, 10**12])
def test_malformed_persons_rejected(tmp_path, persons) -> None:
    store = TerminalStore(tmp_path / STORE_NAME)
    lpg_household, pupils = bytes([2]) * 8, bytes([1]) * 8
    store.replace_entitlements([(EntitlementSet("lpg", PERIOD, 3, "tabung", 0), {lpg_household: 1})], pulled_at=0)
    generation = store.generation

    with pytest.raises(EntitlementDataError) as raised:
        store.replace_entitlements([
            (EntitlementSet("lpg", PERIOD, 3, "tabung", 0), {lpg_household: HouseholdUse(3, None)}),
            (EntitlementSet("beasiswa", PERIOD, 1, "pencairan", 0), {pupils: HouseholdUse(0, persons)}),
        ], pulled_at=1)

    assert f"persons={persons!r}" in str(raised.value)
    assert pupils.hex() in str(raised.value)
    assert "beasiswa" in str(raised.value)
    assert store.generation == generation
    assert store.entitlement_set("beasiswa") is None
    assert store.quota_usage("lpg", lpg_household, PERIOD).used_at_sync == 1
