"""Staff accounts, login sessions, roles and the personal-data audit log."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from server.models import Programme
from server.models_people import AuditEntry, StaffSession, StaffUser
from server.sessions import SESSION_LIFETIME

PASSWORD = "kata-sandi-panjang-1"
LPG_OPD = "Dinas Perindustrian dan Perdagangan"
TEST_OPD = "OPD Uji Coba"


def add_programme(live, code: str, owner_opd: str) -> None:
    with live.app.state.sessionmaker() as session:
        session.add(Programme(code=code, name=f"Programme {code}", owner_opd=owner_opd, unit="unit", quota=1,
                              quota_scope="person", quota_period="month", desil_min=1, desil_max=10))
        session.commit()


def create_user(kit, username: str, role: str, opd: str | None = None) -> httpx.Response:
    return kit.admin.post("/api/v1/users", json={"username": username, "password": PASSWORD, "role": role, "opd": opd})


def log_in(kit, username: str, role: str, opd: str | None = None) -> httpx.Client:
    assert create_user(kit, username, role, opd).status_code == 201
    response = kit.anonymous.post("/api/v1/sessions", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    client = httpx.Client(base_url=kit.live.base_url, headers={"Authorization": f"Bearer {response.json()['token']}"})
    kit._clients.append(client)
    return client


def test_user_created_with_argon2id(kit):
    response = create_user(kit, "andi", "administrator")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["username"], body["role"], body["opd"], body["active"]) == ("andi", "administrator", None, True)
    assert "password" not in response.text
    with kit.live.app.state.sessionmaker() as session:
        stored = session.scalars(select(StaffUser)).one()
    assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize("payload, field", [
    ({"username": "Andi", "password": PASSWORD, "role": "auditor"}, "username"),
    ({"username": "andi", "password": "short", "role": "auditor"}, "password"),
    ({"username": "andi", "password": PASSWORD, "role": "operator"}, "opd"),
    ({"username": "andi", "password": PASSWORD, "role": "auditor", "opd": TEST_OPD}, "opd"),
    ({"username": "andi", "password": PASSWORD, "role": "operator", "opd": TEST_OPD}, "opd"),
])
def test_user_invalid_fields(kit, payload, field):
    response = kit.admin.post("/api/v1/users", json=payload)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == field
    assert "short" not in response.text


def test_username_taken(kit):
    assert create_user(kit, "andi", "auditor").status_code == 201
    response = create_user(kit, "andi", "administrator")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("username: 'andi' is already taken")


def test_login_wrong_password(kit):
    create_user(kit, "andi", "auditor")
    for username, password in (("andi", "salah-salah-salah"), ("budi", PASSWORD)):
        response = kit.anonymous.post("/api/v1/sessions", json={"username": username, "password": password})
        assert response.status_code == 401
        assert response.json() == {"detail": "username or password is not valid; try again"}


def test_session_token_stored_hashed(kit):
    client = log_in(kit, "andi", "auditor")
    token = client.headers["authorization"].split()[1]
    assert token.startswith("kbs_")
    with kit.live.app.state.sessionmaker() as session:
        stored = session.scalars(select(StaffSession)).one()
    assert token.encode() not in stored.token_hash
    assert len(stored.token_hash) == 32


def test_session_expires(kit):
    client = log_in(kit, "andi", "auditor")
    kit.clock.advance(SESSION_LIFETIME.total_seconds() - 1)
    assert client.get("/api/v1/me").status_code == 200
    kit.clock.advance(1)
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_logout_ends_session(kit):
    client = log_in(kit, "andi", "auditor")
    assert client.delete("/api/v1/sessions/current").status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_deactivated_user_loses_access(kit):
    client = log_in(kit, "andi", "auditor")
    assert client.get("/api/v1/me").status_code == 200
    users = kit.admin.get("/api/v1/users").json()
    user_id = next(user["id"] for user in users if user["username"] == "andi")
    assert kit.admin.post(f"/api/v1/users/{user_id}/deactivate").json()["active"] is False
    assert client.get("/api/v1/me").status_code == 401
    response = kit.anonymous.post("/api/v1/sessions", json={"username": "andi", "password": PASSWORD})
    assert response.status_code == 401


def test_me_names_caller(kit):
    client = log_in(kit, "sari", "operator", LPG_OPD)
    assert client.get("/api/v1/me").json() == {"actor": "user:sari", "role": "operator", "username": "sari",
                                               "opd": LPG_OPD}
    assert kit.admin.get("/api/v1/me").json()["actor"] == "admin-token"


WRITES = [
    ("POST", "/api/v1/cards", {}),
    ("POST", "/api/v1/service-points", {"name": "x", "kind": "lpg_agent", "programmes": ["lpg"]}),
    ("POST", "/api/v1/service-points/1/enrolment-codes", None),
    ("POST", "/api/v1/users", {"username": "budi", "password": PASSWORD, "role": "administrator"}),
    ("POST", "/api/v1/users/1/deactivate", None),
]


@pytest.mark.parametrize("role, opd", [("auditor", None), ("operator", LPG_OPD)])
@pytest.mark.parametrize("method, path, body", WRITES)
def test_readers_cannot_write(kit, role, opd, method, path, body):
    client = log_in(kit, "reader", role, opd)
    response = client.request(method, path, json=body)
    assert response.status_code == 403
    assert response.json()["detail"].startswith(f"the role {role} may not {method} {path}")


def test_administrator_user_can_write(kit):
    client = log_in(kit, "andi", "administrator")
    response = client.post("/api/v1/service-points", json={"name": "Agen", "kind": "lpg_agent", "programmes": ["lpg"]})
    assert response.status_code == 201, response.text


def test_operator_cannot_read_accounts_or_audit(kit):
    client = log_in(kit, "sari", "operator", LPG_OPD)
    assert client.get("/api/v1/users").status_code == 403
    assert client.get("/api/v1/audit-log").status_code == 403


def test_operator_stats_scoped(kit):
    add_programme(kit.live, "uji_sehat", TEST_OPD)
    card = kit.register_card()
    lpg_terminal = kit.enrol_terminal(kit.service_point(("lpg",)))
    health_terminal = kit.enrol_terminal(kit.service_point(("uji_sehat",)))
    assert kit.push(lpg_terminal, [kit.record(lpg_terminal, card)]).json()["accepted"]
    assert kit.push(health_terminal, [kit.record(health_terminal, card, program="uji_sehat")]).json()["accepted"]

    health = log_in(kit, "dewi", "operator", TEST_OPD).get("/api/v1/stats").json()
    assert health["redemptions"] == 1
    assert health["redemptions_by_program"] == {"uji_sehat": 1}
    auditor = log_in(kit, "audit", "auditor").get("/api/v1/stats").json()
    assert auditor["redemptions_by_program"] == {"lpg": 1, "uji_sehat": 1}


def test_card_read_audited(kit):
    card = kit.register_card()
    client = log_in(kit, "audit", "auditor")
    response = client.get(f"/api/v1/cards/{card.number}")
    assert response.status_code == 200
    assert response.json()["card_number"] == card.number

    log = kit.admin.get("/api/v1/audit-log", params={"subject_kind": "card"}).json()
    assert len(log) == 1
    assert (log[0]["actor"], log[0]["action"], log[0]["subject_id"]) == ("user:audit", "read", card.number)
    assert log[0]["request"] == f"GET /api/v1/cards/{card.number}"


def test_redemption_read_audited_and_scoped(kit):
    add_programme(kit.live, "uji_sehat", TEST_OPD)
    card = kit.register_card()
    lpg_terminal = kit.enrol_terminal(kit.service_point(("lpg",)))
    health_terminal = kit.enrol_terminal(kit.service_point(("uji_sehat",)))
    kit.push(lpg_terminal, [kit.record(lpg_terminal, card)])
    health_push = kit.push(health_terminal, [kit.record(health_terminal, card, program="uji_sehat")]).json()

    client = log_in(kit, "dewi", "operator", TEST_OPD)
    rows = client.get(f"/api/v1/cards/{card.number}/redemptions").json()
    assert [row["program"] for row in rows] == ["uji_sehat"]

    with kit.live.app.state.sessionmaker() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(e.actor, e.subject_kind, e.subject_id) for e in entries] == [
        ("user:dewi", "card", card.number),
        ("user:dewi", "redemption", health_push["accepted"][0]),
    ]


def test_unknown_card_not_audited(kit):
    client = log_in(kit, "audit", "auditor")
    response = client.get("/api/v1/cards/1571000000000009")
    assert response.status_code in (404, 422)
    assert kit.admin.get("/api/v1/audit-log").json() == []


def test_terminal_cannot_use_staff_routes(kit):
    terminal = kit.enrol_terminal()
    response = terminal.client.get("/api/v1/me")
    assert response.status_code == 401
