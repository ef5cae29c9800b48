"""Programme rules and entitlements computed from the register, and what terminals pull."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.entitlements import recompute_entitlements
from server.models_register import Entitlement, Resident
from tests.server.register_support import (
    CHILD, ELDER, FAMILY, HEAD, HOUSEHOLD_KEY, WIFE, csv_bytes, household_of,
)
from tests.server.test_server_people import log_in

NOW = datetime(2026, 3, 15, 3, 0, tzinfo=timezone.utc)


def upload(kit, rows, extra=("PEKERJAAN", "SEKOLAH")):
    kit.live.app.state.household_key = HOUSEHOLD_KEY
    response = kit.admin.post("/api/v1/register/imports", content=csv_bytes(rows, extra=extra))
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []
    return response.json()


def entitlements(kit) -> dict[str, set[tuple]]:
    """Return programme -> {(nik or None, subject kind, amount, valid_until)}."""
    with Session(kit.live.app.state.engine) as session:
        niks = dict(session.execute(select(Resident.id, Resident.nik)).all())
        rows = session.scalars(select(Entitlement)).all()
    result: dict[str, set[tuple]] = {}
    for row in rows:
        result.setdefault(row.program, set()).add(
            (niks.get(row.resident_pk), row.subject.split(":")[0], row.amount, row.valid_until)
        )
    return result


def pulled(kit, terminal, program):
    return kit.pulled(terminal, program)


def test_rules_applied_to_register(kit):
    rows = [{**HEAD, "PEKERJAAN": "GURU NGAJI"}, WIFE, {**CHILD, "SEKOLAH": "SMP"}, ELDER]
    upload(kit, rows)
    found = entitlements(kit)
    family = {HEAD["NIK"], WIFE["NIK"], CHILD["NIK"]}
    assert found["lpg"] == {(None, "household", None, None)}
    assert {nik for nik, *_ in found["pbi"]} == family
    assert found["bpjstk"] == {(HEAD["NIK"], "resident", None, date(2026, 12, 31))}
    assert found["beasiswa"] == {(CHILD["NIK"], "resident", 750000, None)}
    assert found["lansia"] == {(ELDER["NIK"], "resident", 300000, None)}
    assert "bantuan_bencana" not in found


def test_household_desil_is_lowest_member(kit):
    upload(kit, [{**HEAD, "DESIL": "7"}, {**WIFE, "DESIL": "4"}, {**CHILD, "DESIL": "7"}])
    assert entitlements(kit)["lpg"] == {(None, "household", None, None)}


def test_register_decides_over_card_desil(kit):
    upload(kit, [{**HEAD, "DESIL": "6"}, {**WIFE, "DESIL": "6"}])
    terminal = kit.enrol_terminal()
    kit.register_card(household_id=household_of(HEAD), desil=2)
    other = kit.register_card(desil=3)
    listed = {row["household_id"] for row in pulled(kit, terminal, "lpg")["households"]}
    assert listed == {other.household_id.hex()}


def test_entitled_household_listed_before_card(kit):
    upload(kit, FAMILY)
    terminal = kit.enrol_terminal()
    expected = [
        {"household_id": household_of(HEAD).hex(), "used": 0, "persons": None, "amount": None, "valid_until": None}
    ]
    body = pulled(kit, terminal, "lpg")
    assert body["households"] == expected
    assert (body["benefit_kind"], body["pin_required"]) == ("quota", False)

    kit.register_card(household_id=household_of(HEAD), desil=9)
    assert pulled(kit, terminal, "lpg")["households"] == expected


def test_register_and_card_desil_listed(kit):
    upload(kit, FAMILY)
    terminal = kit.enrol_terminal()
    other = kit.register_card(desil=3)
    listed = {row["household_id"] for row in pulled(kit, terminal, "lpg")["households"]}
    assert listed == {household_of(HEAD).hex(), other.household_id.hex()}


def test_person_programme_pull(kit):
    upload(kit, FAMILY + [ELDER])
    terminal = kit.enrol_terminal(kit.service_point(("lansia", "pbi")))
    kit.register_card(household_id=household_of(ELDER))
    kit.register_card(household_id=household_of(HEAD))

    lansia = pulled(kit, terminal, "lansia")
    assert lansia["households"] == [{"household_id": household_of(ELDER).hex(), "used": 0, "persons": 1,
                                     "amount": 300000, "valid_until": None}]
    pbi = pulled(kit, terminal, "pbi")
    assert pbi["quota"] == 0
    assert pbi["households"] == [{"household_id": household_of(HEAD).hex(), "used": 0, "persons": 3,
                                  "amount": None, "valid_until": "2026-12-31"}]


def test_semester_use_counted(kit):
    upload(kit, [HEAD, WIFE, {**CHILD, "SEKOLAH": "SD"}])
    terminal = kit.enrol_terminal(kit.service_point(("beasiswa",)))
    card = kit.register_card(household_id=household_of(HEAD))
    january = int(datetime(2026, 1, 20, 3, 0, tzinfo=timezone.utc).timestamp())
    accepted = kit.push(terminal, [kit.record(terminal, card, program="beasiswa", tapped_at=january)]).json()
    assert len(accepted["accepted"]) == 1
    [household] = pulled(kit, terminal, "beasiswa")["households"]
    assert (household["used"], household["amount"], household["persons"]) == (1, 450000, 1)


def test_rule_change_recomputes(kit):
    upload(kit, FAMILY + [ELDER])
    rule = {"desil_min": 1, "desil_max": 10, "pin_required": False,
            "eligibility": {"min_age": 70, "amount": 350000}}
    response = kit.admin.put("/api/v1/programmes/lansia/rule", json=rule)
    assert response.status_code == 200, response.text
    assert response.json()["entitlements"] == {"added": 0, "changed": 0, "removed": 1, "total": 0}
    assert "lansia" not in entitlements(kit)

    rule["eligibility"]["min_age"] = 60
    assert kit.admin.put("/api/v1/programmes/lansia/rule", json=rule).json()["entitlements"]["added"] == 1
    assert entitlements(kit)["lansia"] == {(ELDER["NIK"], "resident", 350000, None)}


def test_disaster_event_entitlement(kit):
    upload(kit, FAMILY)
    rule = {"desil_min": 1, "desil_max": 10, "pin_required": True, "eligibility": {"events": [
        {"code": "banjir-2026-01", "name": "Banjir Januari 2026", "kelurahan": ["1571011002"], "amount": 500000},
        {"code": "angin-2026-02", "name": "Angin puting beliung", "kelurahan": ["1571081001"], "amount": 250000},
    ]}}
    response = kit.admin.put("/api/v1/programmes/bantuan_bencana/rule", json=rule)
    assert response.status_code == 200, response.text
    assert entitlements(kit)["bantuan_bencana"] == {(None, "event", 500000, None)}

    terminal = kit.enrol_terminal(kit.service_point(("bantuan_bencana",)))
    kit.register_card(household_id=household_of(HEAD))
    body = pulled(kit, terminal, "bantuan_bencana")
    assert body["pin_required"] is True
    assert body["households"][0]["amount"] == 500000


@pytest.mark.parametrize("eligibility, field", [
    ({"events": [{"code": "x", "name": "X", "kelurahan": ["1571999001"], "amount": 1}]}, "kelurahan"),
    ({"relationships": ["SUAMI"]}, "relationships"),
    ({"school_amounts": {"TK": 100}}, "school_amounts"),
    ({"min_age": -1}, "min_age"),
    ({"colour": "blue"}, "colour"),
])
def test_invalid_rule_rejected(kit, eligibility, field):
    rule = {"desil_min": 1, "desil_max": 4, "pin_required": False, "eligibility": eligibility}
    response = kit.admin.put("/api/v1/programmes/lpg/rule", json=rule)
    assert response.status_code == 422
    assert field in response.json()["detail"]


def test_rule_of_unknown_programme(kit):
    rule = {"desil_min": 1, "desil_max": 4, "pin_required": False, "eligibility": {}}
    response = kit.admin.put("/api/v1/programmes/zakat/rule", json=rule)
    assert response.status_code == 404
    assert response.json() == {"detail": "programme 'zakat' not found"}


def test_rule_change_needs_admin(kit):
    rule = {"desil_min": 1, "desil_max": 4, "pin_required": False, "eligibility": {}}
    assert kit.anonymous.put("/api/v1/programmes/lpg/rule", json=rule).status_code == 401


def test_programme_list(kit):
    body = kit.admin.get("/api/v1/programmes").json()
    assert body["count"] == 6
    by_code = {programme["code"]: programme for programme in body["programmes"]}
    assert by_code["lansia"]["owner_opd"] == "Dinas Sosial"
    assert by_code["bantuan_bencana"]["pin_required"] is True
    assert by_code["pbi"]["benefit_kind"] == "status"


def test_recompute_is_idempotent(kit):
    upload(kit, FAMILY + [ELDER])
    with Session(kit.live.app.state.engine) as session:
        result = recompute_entitlements(session, NOW)
        session.commit()
    assert (result.added, result.changed, result.removed) == (0, 0, 0)
    assert result.total > 0


def test_operator_cannot_change_rule(kit):
    operator = log_in(kit, "rina", "operator", "Dinas Sosial")
    rule = {"desil_min": 1, "desil_max": 10, "pin_required": False, "eligibility": {"min_age": 65}}
    response = operator.put("/api/v1/programmes/lansia/rule", json=rule)
    assert response.status_code == 403
    assert operator.get("/api/v1/programmes").json()["count"] == 6
