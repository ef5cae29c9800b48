"""GET /api/v1/sync/entitlements: eligible households, their use, the WIB period."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from server.models import Card


def households(pulled: dict) -> dict[str, int]:
    return {row["household_id"]: row["used"] for row in pulled["households"]}


def test_entitlements_list_use(kit):
    terminal = kit.enrol_terminal()
    shared = b"\x10" * 8
    first = kit.register_card(household_id=shared)
    second = kit.register_card(household_id=shared, assurance="qr")
    untouched = kit.register_card()
    records = [kit.record(terminal, first, quantity=1), kit.record(terminal, second, quantity=2)]
    assert len(kit.push(terminal, records).json()["accepted"]) == 2

    body = kit.pulled(terminal)
    assert (body["program"], body["period"], body["quota"], body["unit"]) == ("lpg", "2026-03", 3, "tabung")
    assert households(body) == {shared.hex(): 3, untouched.household_id.hex(): 0}


def test_households_sorted(kit):
    terminal = kit.enrol_terminal()
    for value in (b"\x03", b"\x01", b"\x02"):
        kit.register_card(household_id=value * 8)
    ids = [row["household_id"] for row in kit.pulled(terminal)["households"]]
    assert ids == sorted(ids)
    assert len(ids) == 3


def test_use_from_every_terminal_counted(kit):
    service_point_id = kit.service_point()
    terminals = [kit.enrol_terminal(service_point_id), kit.enrol_terminal(kit.service_point())]
    card = kit.register_card()
    for terminal in terminals:
        assert kit.push(terminal, [kit.record(terminal, card, quantity=2)]).json()["accepted"]
    assert households(kit.pulled(terminals[0])) == {card.household_id.hex(): 4}


@pytest.mark.parametrize("desil, listed", [(1, True), (4, True), (5, False), (10, False)])
def test_desil_eligibility(kit, desil, listed):
    terminal = kit.enrol_terminal()
    card = kit.register_card(desil=desil)
    assert (card.household_id.hex() in households(kit.pulled(terminal))) is listed


def test_household_with_one_eligible_card_listed(kit):
    terminal = kit.enrol_terminal()
    shared = b"\x20" * 8
    kit.register_card(household_id=shared, desil=7)
    kit.register_card(household_id=shared, desil=3)
    assert households(kit.pulled(terminal)) == {shared.hex(): 0}


def test_revoked_card_not_listed(kit):
    terminal = kit.enrol_terminal()
    revoked = kit.register_card()
    active = kit.register_card()
    with Session(kit.live.app.state.engine) as session:
        session.execute(update(Card).where(Card.card_number == revoked.number).values(status="revoked"))
        session.commit()
    assert households(kit.pulled(terminal)) == {active.household_id.hex(): 0}


def test_expired_card_not_listed(kit):
    """A card is valid through its expiry date in WIB and gone the day after."""
    terminal = kit.enrol_terminal()
    card = kit.register_card(expires="2026-03-15")
    assert card.household_id.hex() in households(kit.pulled(terminal))
    kit.clock.now = datetime(2026, 3, 15, 17, 0, tzinfo=timezone.utc).timestamp()  # 16 March 00:00 WIB
    assert households(kit.pulled(terminal)) == {}


def test_previous_period_not_counted(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    february = int(datetime(2026, 2, 20, 3, 0, tzinfo=timezone.utc).timestamp())
    records = [kit.record(terminal, card, tapped_at=february, quantity=3), kit.record(terminal, card, quantity=1)]
    assert len(kit.push(terminal, records).json()["accepted"]) == 2
    assert households(kit.pulled(terminal)) == {card.household_id.hex(): 1}


def test_period_turns_at_wib_midnight(kit):
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    kit.clock.now = datetime(2026, 3, 31, 16, 59, 59, tzinfo=timezone.utc).timestamp()
    assert kit.push(terminal, [kit.record(terminal, card, quantity=2)]).json()["accepted"]
    assert kit.pulled(terminal)["period"] == "2026-03"
    assert households(kit.pulled(terminal)) == {card.household_id.hex(): 2}

    kit.clock.advance(1)
    body = kit.pulled(terminal)
    assert body["period"] == "2026-04"
    assert households(body) == {card.household_id.hex(): 0}


def test_programme_of_other_service_point(kit):
    terminal = kit.enrol_terminal()
    response = kit.entitlements(terminal, program="pbi")
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"programme 'pbi' is not offered at service point {terminal.service_point_id} "
        f"of terminal '{terminal.terminal_id}'"
    }


def test_missing_programme(kit):
    terminal = kit.enrol_terminal()
    response = terminal.client.get("/api/v1/sync/entitlements")
    assert response.status_code == 422
    assert response.json()["detail"] == "program: Field required"


def test_malformed_programme(kit):
    terminal = kit.enrol_terminal()
    response = kit.entitlements(terminal, program="LPG 3kg")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "program: must be 1 to 32 lower-case letters, digits or '_', starting with a letter (got 'LPG 3kg')"
    )
