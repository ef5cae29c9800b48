"""GET /api/v1/sync/entitlements?since=R: a delta of the changes after revision R, or a full set when R is unusable."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from server.db import create_db_engine, upgrade_database
from server.entitlements import HouseholdEntitlement
from server.served_entitlements import (
    TOMBSTONE_RETENTION,
    ServedState,
    _Row,
    changes_since,
    lock_programme,
    record_served,
    remember_served,
)
from tests.server.register_support import FAMILY, HOUSEHOLD_KEY, csv_bytes, household_of

DAY = 86400


def used_by_household(pulled: dict) -> dict[str, int]:
    return {row["household_id"]: row["used"] for row in pulled["households"]}


def upload_register(kit, rows: list[dict]) -> None:
    response = kit.admin.post("/api/v1/register/imports", params={"filename": "register.csv"},
                              content=csv_bytes(rows), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text


def test_full_then_empty_delta(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    full = kit.pulled(terminal, since=0)
    assert full["revision"] == 1
    assert full["base_revision"] is None
    assert full["removed"] == []
    assert used_by_household(full) == {card.household_id.hex(): 0}

    kit.clock.advance(60)
    delta = kit.pulled(terminal, since=1)
    assert delta["revision"] == 1
    assert delta["base_revision"] == 1
    assert delta["households"] == []
    assert delta["removed"] == []
    assert delta["quota"] == 3
    assert delta["period"] == "2026-03"
    assert delta["issued_at_ms"] == int(kit.clock() * 1000)


def test_redemption_elsewhere_changes_one_household(kit):
    terminal, other = kit.enrol_terminal(), kit.enrol_terminal()
    redeemed, untouched = kit.register_card(), kit.register_card()
    revision = kit.pulled(terminal)["revision"]
    assert kit.push(other, [kit.record(other, redeemed, quantity=2)]).json()["accepted"]

    delta = kit.pulled(terminal, since=revision)
    assert delta["base_revision"] == revision
    assert delta["revision"] == revision + 1
    assert used_by_household(delta) == {redeemed.household_id.hex(): 2}
    assert untouched.household_id.hex() not in used_by_household(delta)
    assert delta["removed"] == []


def test_new_card_added_in_delta(kit):
    terminal = kit.enrol_terminal()
    kit.register_card()
    revision = kit.pulled(terminal)["revision"]
    added = kit.register_card()
    delta = kit.pulled(terminal, since=revision)
    assert used_by_household(delta) == {added.household_id.hex(): 0}


def test_register_change_removes_household(kit):
    kit.live.app.state.household_key = HOUSEHOLD_KEY
    terminal = kit.enrol_terminal()
    household = household_of(FAMILY[0])
    kit.register_card(household_id=household)
    upload_register(kit, FAMILY)
    full = kit.pulled(terminal)
    assert household.hex() in used_by_household(full)

    upload_register(kit, [{**row, "DESIL": "7"} for row in FAMILY])
    delta = kit.pulled(terminal, since=full["revision"])
    assert delta["removed"] == [household.hex()]
    assert delta["households"] == []
    assert delta["revision"] == full["revision"] + 1


def test_expired_card_removes_household(kit):
    terminal = kit.enrol_terminal()
    expiring = kit.register_card(expires="2026-03-16")
    valid = kit.register_card()
    revision = kit.pulled(terminal)["revision"]
    kit.clock.advance(2 * DAY)
    delta = kit.pulled(terminal, since=revision)
    assert delta["removed"] == [expiring.household_id.hex()]
    assert valid.household_id.hex() not in used_by_household(delta)


@pytest.mark.parametrize("since", [2, 1000])
def test_cursor_ahead_gets_full_set(kit, since):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    pulled = kit.pulled(terminal, since=since)
    assert pulled["revision"] == 1
    assert pulled["base_revision"] is None
    assert used_by_household(pulled) == {card.household_id.hex(): 0}


def test_cursor_before_purged_removal_gets_full_set(kit):
    terminal = kit.enrol_terminal()
    kit.register_card(expires="2026-03-16")
    valid = kit.register_card()
    first = kit.pulled(terminal)["revision"]
    kit.clock.advance(2 * DAY)
    removal = kit.pulled(terminal, since=first)
    assert len(removal["removed"]) == 1

    kit.clock.advance(TOMBSTONE_RETENTION.total_seconds() + DAY)
    stale = kit.pulled(terminal, since=first)
    assert stale["base_revision"] is None
    assert list(used_by_household(stale)) == [valid.household_id.hex()]
    current = kit.pulled(terminal, since=removal["revision"])
    assert current["base_revision"] == removal["revision"]


def test_new_month_resets_used(kit):
    terminal, other = kit.enrol_terminal(), kit.enrol_terminal()
    redeemed, untouched = kit.register_card(), kit.register_card()
    assert kit.push(other, [kit.record(other, redeemed, quantity=3)]).json()["accepted"]
    march = kit.pulled(terminal)
    assert used_by_household(march)[redeemed.household_id.hex()] == 3

    kit.clock.advance(17 * DAY)
    april = kit.pulled(terminal, since=march["revision"])
    assert april["period"] == "2026-04"
    assert april["base_revision"] == march["revision"]
    assert used_by_household(april) == {redeemed.household_id.hex(): 0}
    assert untouched.household_id.hex() not in used_by_household(april)


def test_negative_cursor_rejected(kit):
    terminal = kit.enrol_terminal()
    response = kit.entitlements(terminal, since=-1)
    assert response.status_code == 422
    assert "since" in response.text


# --- changes_since over a served state ----------------------------------------

A, B, C = b"\x0a" * 8, b"\x0b" * 8, b"\x0c" * 8


def state(rows: dict[bytes, _Row], revision: int = 10, horizon: int = 0) -> ServedState:
    listed = [HouseholdEntitlement(household_id, row.used, None, None, None)
              for household_id, row in sorted(rows.items()) if not row.removed]
    return ServedState("lpg", revision, horizon, listed, rows)


def row(*, removed: bool, revision: int, present_since: int, known_since: int) -> _Row:
    return _Row(1, None, None, date(2026, 12, 31), removed, revision, present_since, known_since)


def test_removal_of_pulled_household_sent():
    served = state({A: row(removed=True, revision=8, present_since=3, known_since=3)})
    assert changes_since(served, 5).removed == [A]


def test_removal_of_household_added_after_cursor_omitted():
    served = state({A: row(removed=True, revision=8, present_since=6, known_since=6)})
    assert changes_since(served, 5).removed == []


def test_removal_with_unknown_history_needs_full_set():
    served = state({A: row(removed=True, revision=8, present_since=6, known_since=2)})
    assert changes_since(served, 5) is None


def test_removal_before_cursor_not_repeated():
    served = state({A: row(removed=True, revision=4, present_since=2, known_since=2),
                    B: row(removed=False, revision=9, present_since=9, known_since=9)})
    changes = changes_since(served, 5)
    assert changes.removed == []
    assert [entry.household_id for entry in changes.changed] == [B]


@pytest.mark.parametrize("since, horizon", [(0, 0), (3, 4), (11, 0)])
def test_unusable_cursor_needs_full_set(since, horizon):
    served = state({A: row(removed=False, revision=2, present_since=2, known_since=2)}, horizon=horizon)
    assert changes_since(served, since) is None


# --- serialized refreshes -----------------------------------------------------


def _fail_fast(session: Session) -> None:
    """Make the session's next wait for a lock fail at once instead of waiting."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET lock_timeout = '50ms'"))
    else:
        session.connection().exec_driver_sql("PRAGMA busy_timeout = 0")


def test_second_refresh_waits_for_lock(database_url):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    try:
        with Session(engine) as setup:
            lock_programme(setup, "lpg")
            setup.commit()
        with Session(engine) as first, Session(engine) as second:
            assert lock_programme(first, "lpg").revision == 0
            _fail_fast(second)
            with pytest.raises(OperationalError):
                lock_programme(second, "lpg")
            second.rollback()
            first.commit()
            _fail_fast(second)
            assert lock_programme(second, "lpg").revision == 0
            second.commit()
    finally:
        engine.dispose()


def _record(engine, households: list[HouseholdEntitlement], now: float = 1_773_543_600) -> ServedState:
    with Session(engine) as session:
        state = record_served(session, lock_programme(session, "lpg"), households, now)
        session.commit()
        remember_served(session, state)
    return state


def test_recording_by_other_process_not_missed(database_url):
    """A process whose cached rows are out of date reads the table again instead of using them."""
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    other = create_db_engine(database_url)
    try:
        _record(engine, [HouseholdEntitlement(A, 0, None, None, None), HouseholdEntitlement(B, 0, None, None, None)])
        _record(other, [HouseholdEntitlement(A, 1, None, None, None), HouseholdEntitlement(B, 0, None, None, None)])
        state = _record(engine, [HouseholdEntitlement(A, 1, None, None, None),
                                 HouseholdEntitlement(B, 0, None, None, None),
                                 HouseholdEntitlement(C, 0, None, None, None)])
    finally:
        other.dispose()
        engine.dispose()
    assert state.revision == 3
    assert {household_id: row.revision for household_id, row in state.rows.items()} == {A: 2, B: 1, C: 3}


def test_purge_moves_revision_on(database_url):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    try:
        _record(engine, [HouseholdEntitlement(A, 0, None, None, None), HouseholdEntitlement(B, 0, None, None, None)])
        removal = _record(engine, [HouseholdEntitlement(A, 0, None, None, None)])
        later = 1_773_543_600 + TOMBSTONE_RETENTION.total_seconds() + DAY
        purged = _record(engine, [HouseholdEntitlement(A, 0, None, None, None)], later)
    finally:
        engine.dispose()
    assert removal.rows[B].removed
    assert purged.revision == 3
    assert purged.horizon == 2
    assert list(purged.rows) == [A]
