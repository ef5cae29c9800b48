"""GET /api/v1/sync/entitlements signs the set with the sync key, for the calling terminal only."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from card import cose
from card.entitlement_set import MAX_SET_BYTES, decode_entitlements, encode_entitlements
from server.fields import decode_base64
from server.models import Programme


def _message(response) -> cose.Sign1:
    assert response.status_code == 200, response.text
    return cose.decode_sign1(decode_base64(response.json()["entitlement_set"]), max_size=MAX_SET_BYTES)


def test_set_signed_by_sync_key(kit):
    terminal = kit.enrol_terminal()
    kit.register_card()
    message = _message(kit.entitlements(terminal))
    signer = kit.live.app.state.sync_signer
    assert message.kid == signer.kid
    assert cose.verify_sign1(message, signer.public_key)


def test_set_names_terminal_and_time(kit):
    terminal = kit.enrol_terminal()
    body = kit.pulled(terminal)
    assert body["terminal_id"] == terminal.terminal_id
    assert body["service_point_id"] == terminal.service_point_id
    assert body["issued_at_ms"] == int(kit.clock() * 1000)


def test_set_carries_offline_rule(kit):
    terminal = kit.enrol_terminal()
    listed = {item["code"]: item for item in kit.admin.get("/api/v1/programmes").json()["programmes"]}["lpg"]
    rule = {"desil_min": listed["desil_min"], "desil_max": listed["desil_max"], "pin_required": True,
            "eligibility": listed["eligibility"], "offline_max_hours": 48, "offline_action": "warn"}
    assert kit.admin.put("/api/v1/programmes/lpg/rule", json=rule).status_code == 200
    body = kit.pulled(terminal)
    assert body["offline_rule"] == {"max_offline_hours": 48, "action": "warn"}
    assert body["pin_required"] is True


def test_each_terminal_gets_own_set(kit):
    service_point_id = kit.service_point()
    first, second = kit.enrol_terminal(service_point_id), kit.enrol_terminal(service_point_id)
    kit.register_card()
    assert kit.pulled(first)["terminal_id"] == first.terminal_id
    assert kit.pulled(second)["terminal_id"] == second.terminal_id
    assert kit.pulled(first)["households"] == kit.pulled(second)["households"]


def test_payload_deterministic(kit):
    terminal = kit.enrol_terminal()
    for _ in range(3):
        kit.register_card()
    payload = _message(kit.entitlements(terminal)).payload
    assert encode_entitlements(decode_entitlements(payload)) == payload


def test_unsigned_fields_match_set(kit):
    terminal = kit.enrol_terminal()
    kit.register_card()
    body = kit.entitlements(terminal).json()
    assert set(body) == {"program", "period", "households", "revision", "base_revision", "removed",
                         "entitlement_set"}
    assert (body["program"], body["period"], body["households"]) == ("lpg", "2026-03", 1)
    assert (body["revision"], body["base_revision"], body["removed"]) == (1, None, 0)


def test_no_sync_key_returns_503(kit):
    terminal = kit.enrol_terminal()
    kit.live.app.state.sync_signer = None
    response = kit.entitlements(terminal)
    assert response.status_code == 503
    assert response.json()["code"] == "no_sync_key"
    assert "restart it with a sync key" in response.json()["detail"]


def test_other_programme_refused_before_signing(kit):
    terminal = kit.enrol_terminal()
    kit.live.app.state.sync_signer = None
    assert kit.entitlements(terminal, program="pbi").status_code == 403


@pytest.mark.parametrize(("program", "quota_period"), [
    ("lpg", "month"), ("beasiswa", "semester"), ("bantuan_bencana", "event"), ("pbi", "none"),
])
def test_set_carries_seeded_quota_period(kit, program, quota_period):
    terminal = kit.enrol_terminal(kit.service_point((program,)))
    content = decode_entitlements(_message(kit.entitlements(terminal, program)).payload)
    assert content.rules.quota_period == quota_period


def test_set_carries_changed_quota_period(kit):
    terminal = kit.enrol_terminal()
    with Session(kit.live.app.state.engine) as session:
        session.execute(update(Programme).where(Programme.code == "lpg").values(quota_period="year"))
        session.commit()
    content = decode_entitlements(_message(kit.entitlements(terminal)).payload)
    assert content.rules.quota_period == "year"
    assert content.rules.benefit_kind == "quota"
