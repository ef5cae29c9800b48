"""Mode definitions, card number masking, household standing and the status bar, without a card."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from card.keys import generate_private_key, save_private_key
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.modes import MODES, ModeName, household_history, household_standing, mask_card_number, mode_named
from terminal.status import TerminalStatus, read_status
from terminal.offline_rules import OfflineAction, OfflineRule, save_rule
from terminal.store import EntitlementSet, TerminalStore

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
HOUSEHOLD = bytes.fromhex("0011223344556677")


@pytest.fixture
def store(tmp_path) -> TerminalStore:
    save_private_key(generate_private_key(), tmp_path / KEY_NAME)
    store = TerminalStore(tmp_path / STORE_NAME)
    store.set_meta({"terminal_id": "TRM-MODES001", "programmes": json.dumps(["lpg", "pbi"])})
    store.replace_entitlements([
        (EntitlementSet("lpg", "2026-12", 3, "tabung", 0), {HOUSEHOLD: 1}),
        (EntitlementSet("pbi", "2026-12", 31, "kunjungan", 0), {bytes(8): 0}),
    ], pulled_at=int(NOW.timestamp()))
    return store


def test_mask_card_number_keeps_last_four() -> None:
    assert mask_card_number("1571000000000421") == "•••• •••• •••• 0421"
    assert mask_card_number("1571 0000 0000 0421") == "•••• •••• •••• 0421"


def test_mode_named_rejects_unknown() -> None:
    assert mode_named("lpg") is MODES[ModeName.LPG]
    with pytest.raises(ValueError, match="mode 'bakery' is unknown; use one of lpg, clinic"):
        mode_named("bakery")


def test_modes_match_their_counter() -> None:
    assert not MODES[ModeName.LPG].check_photo
    assert not MODES[ModeName.LPG].requires_pin
    assert MODES[ModeName.CLINIC].check_photo
    assert MODES[ModeName.CASH_AID].requires_pin
    assert MODES[ModeName.CASH_AID].check_photo
    assert not MODES[ModeName.KIOSK].records
    assert all(mode.records for name, mode in MODES.items() if name is not ModeName.KIOSK)


def test_household_standing_counts_local_use(store) -> None:
    with store.transaction() as db:
        store.insert_redemption(db, {
            "record_id": "r1", "program": "lpg", "household_id": HOUSEHOLD, "card_number": "1571000000000421",
            "quantity": 1, "period": "2026-12", "tapped_at": int(NOW.timestamp()), "assurance": "chip",
            "signed_record": b"x",
        })
    lpg, pbi = household_standing(store, HOUSEHOLD, NOW)

    assert (lpg.program, lpg.entitled, lpg.used, lpg.remaining) == ("lpg", True, 2, 1)
    assert (pbi.program, pbi.entitled, pbi.remaining) == ("pbi", False, 0)
    assert [entry.program for entry in household_history(store, HOUSEHOLD)] == ["lpg"]
    assert household_history(store, bytes(8)) == []


def test_household_standing_resets_in_new_period(store) -> None:
    [lpg, _pbi] = household_standing(store, HOUSEHOLD, NOW + timedelta(days=31))
    assert (lpg.period, lpg.used, lpg.remaining) == ("2027-01", 0, 3)


def test_status_fresh_and_stale(store) -> None:
    store.set_meta({"revocation_issued_at": str(int(NOW.timestamp()) - 3600)})
    status = read_status(store, NOW)

    assert status.last_sync_at == int(NOW.timestamp())
    assert status.pending == 0
    # No trust list was applied to this store, so the status bar must warn.
    assert status.trust_list_issued_at is None
    assert status.stale
    assert "belum pernah" in status.render("id")["trust"]
    assert status.render("en")["revocation"] == "Revocation list: 1 hour old"


def test_status_stale_after_max_age() -> None:
    moment = int(NOW.timestamp())
    fresh = TerminalStatus(moment - 3600, 0, moment - 86400, moment - 86400, moment)
    old = TerminalStatus(moment - 8 * 86400, 2, moment - 86400, moment - 86400, moment)

    assert not fresh.stale
    assert fresh.render("en")["warning"] == ""
    assert old.stale
    assert old.render("en")["warning"] == "Lists are older than 7 days. Sync the terminal before serving more cards."
    assert old.render("id")["pending"] == "Menunggu dikirim: 2"


def test_status_uses_offline_rule_for_sync() -> None:
    moment = int(NOW.timestamp())
    synced_two_hours_ago = TerminalStatus(moment - 7200, 0, moment, moment, moment, offline_limit=("lpg", 3600))
    synced_just_now = TerminalStatus(moment - 60, 0, moment, moment, moment, offline_limit=("lpg", 3600))

    assert synced_two_hours_ago.sync_overdue
    assert synced_two_hours_ago.stale
    assert synced_two_hours_ago.render("en")["warning"] == (
        "The last sync is older than the 1 hour that LPG 3 kg allows. Sync the terminal before serving more cards."
    )
    assert not synced_just_now.stale


def test_read_status_reads_offline_rule(store) -> None:
    save_rule(store, OfflineRule("lpg", 3600, OfflineAction.REFUSE))
    assert read_status(store, NOW, program="lpg").offline_limit == ("lpg", 3600)
    assert read_status(store, NOW, program="pbi").offline_limit is None
