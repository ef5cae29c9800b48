"""The terminal store's in-memory entitlement index: new pulls from any connection, and the quota between processes."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from card.decision import Reason
from card.keys import FileSigner, load_private_key
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.store import EntitlementSet, HouseholdUse, TerminalStore
from terminal.tap import TapService
from tests.terminal.conftest import PULLED_AT, make_terminal, qr_card

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
PERIOD = "2026-12"
LPG = EntitlementSet("lpg", PERIOD, 3, "tabung", 0)
FIRST = bytes([1]) * 8
SECOND = bytes([2]) * 8


def pulled_store(path: Path) -> TerminalStore:
    store = TerminalStore(path)
    store.replace_entitlements([(LPG, {FIRST: 1, SECOND: HouseholdUse(0, 2)})], pulled_at=0)
    return store


def test_index_reads_pulled_rows(tmp_path) -> None:
    store = pulled_store(tmp_path / STORE_NAME)

    first = store.entitlement("lpg", FIRST)
    second = store.entitlement("lpg", SECOND)

    assert first.entitlement_set == store.entitlement_set("lpg")
    assert first.use == HouseholdUse(1, None)
    assert second.use == HouseholdUse(0, 2)
    assert store.entitlement("lpg", bytes(8)).use is None
    assert store.entitlement("beasiswa", FIRST) is None


def test_index_sees_pull_of_other_connection(tmp_path) -> None:
    tap_side = pulled_store(tmp_path / STORE_NAME)
    assert tap_side.entitlement("lpg", FIRST).use.used == 1

    sync_side = TerminalStore(tmp_path / STORE_NAME)
    sync_side.replace_entitlements([(LPG, {FIRST: 2})], pulled_at=1)
    sync_side.close()

    after = tap_side.entitlement("lpg", FIRST)
    assert after.use.used == 2
    assert after.entitlement_set.generation == tap_side.entitlement_set("lpg").generation
    assert tap_side.entitlement("lpg", SECOND).use is None


def test_index_sees_own_pull(tmp_path) -> None:
    store = pulled_store(tmp_path / STORE_NAME)
    assert store.entitlement("lpg", SECOND).use is not None

    store.replace_entitlements([(EntitlementSet("lpg", "2027-01", 4, "tabung", 0), {FIRST: 0})], pulled_at=1)

    after = store.entitlement("lpg", FIRST)
    assert after.use.used == 0
    assert after.entitlement_set.period == "2027-01"
    assert after.entitlement_set.quota == 4
    assert store.entitlement("lpg", SECOND).use is None


def test_index_sees_new_programme_elsewhere(tmp_path) -> None:
    tap_side = pulled_store(tmp_path / STORE_NAME)
    assert tap_side.entitlement("beasiswa", FIRST) is None

    sync_side = TerminalStore(tmp_path / STORE_NAME)
    sync_side.replace_entitlements([(EntitlementSet("beasiswa", PERIOD, 1, "pencairan", 0), {FIRST: 0})], pulled_at=1)
    sync_side.close()

    assert tap_side.entitlement("beasiswa", FIRST).use == HouseholdUse(0, None)


def test_index_keeps_other_programme_loaded(tmp_path) -> None:
    tap_side = pulled_store(tmp_path / STORE_NAME)
    before = tap_side.entitlement("lpg", FIRST)

    sync_side = TerminalStore(tmp_path / STORE_NAME)
    sync_side.replace_entitlements([(EntitlementSet("beasiswa", PERIOD, 1, "pencairan", 0), {FIRST: 0})], pulled_at=1)
    sync_side.close()

    assert tap_side.entitlement("lpg", FIRST).entitlement_set is before.entitlement_set


def test_index_unchanged_by_rolled_back_pull(tmp_path) -> None:
    store = pulled_store(tmp_path / STORE_NAME)
    assert store.entitlement("lpg", FIRST).use.used == 1

    def reject(_db) -> None:
        raise RuntimeError("rejected pull")

    with pytest.raises(RuntimeError):
        store.replace_entitlements([(LPG, {FIRST: 3})], pulled_at=1, before_write=reject)

    assert store.entitlement("lpg", FIRST).use.used == 1
    assert store.entitlement("lpg", SECOND).use is not None


def test_tap_refuses_household_removed_elsewhere(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0, FIRST: 0})
    service = TapService(store, signer)
    assert service.scan_qr(issued.qr_text, "lpg", NOW).decision.accepted

    sync_side = TerminalStore(tmp_path / "terminal" / STORE_NAME)
    sync_side.replace_entitlements([(store.entitlement_set("lpg"), {FIRST: 0})], pulled_at=PULLED_AT + 1)
    sync_side.close()

    refused = service.scan_qr(issued.qr_text, "lpg", NOW)
    assert refused.decision.reason is Reason.NOT_ENTITLED


def test_quota_counts_other_connection_redemptions(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 1}, quota=3)
    counter = TapService(store, signer)
    kiosk_store = TerminalStore(tmp_path / "terminal" / STORE_NAME)
    other = TapService(kiosk_store, signer)

    assert counter.scan_qr(issued.qr_text, "lpg", NOW).decision.accepted
    assert other.scan_qr(issued.qr_text, "lpg", NOW).decision.accepted
    refused = counter.scan_qr(issued.qr_text, "lpg", NOW)

    assert refused.decision.reason is Reason.QUOTA_EXCEEDED
    assert refused.remaining == 0
    kiosk_store.close()


def scan_repeatedly(directory: str, qr_text: str, scans: int, start: multiprocessing.Event) -> int:
    """Scan one QR text scans times from a new process; return the count of accepted hand-overs."""
    store = TerminalStore(Path(directory) / STORE_NAME)
    service = TapService(store, FileSigner(load_private_key(Path(directory) / KEY_NAME)))
    store.entitlement("lpg", b"")
    start.wait()
    accepted = sum(service.scan_qr(qr_text, "lpg", NOW).decision.accepted for _ in range(scans))
    store.close()
    return accepted


def test_quota_race_free_across_processes(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    directory = tmp_path / "terminal"
    store, _signer = make_terminal(directory, station, {issued.household_id: 1}, quota=5)
    context = multiprocessing.get_context("spawn")
    start = context.Manager().Event()

    with context.Pool(3) as pool:
        results = [pool.apply_async(scan_repeatedly, (str(directory), issued.qr_text, 4, start)) for _ in range(3)]
        start.set()
        accepted = sum(result.get(timeout=120) for result in results)

    assert accepted == 4
    [(recorded,)] = store.execute("SELECT COUNT(*) FROM redemptions").fetchall()
    assert recorded == 4
