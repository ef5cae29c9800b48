"""Caller checks: Bearer tokens on staff routes and signed requests on terminal routes."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from card.keys import FileSigner, generate_private_key
from server.models import Terminal

ADMIN_ROUTES = [
    ("POST", "/api/v1/cards"),
    ("POST", "/api/v1/service-points"),
    ("POST", "/api/v1/service-points/1/enrolment-codes"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/cards/1571000000000001"),
    ("GET", "/api/v1/cards/1571000000000001/redemptions"),
    ("DELETE", "/api/v1/sessions/current"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users/1/deactivate"),
    ("GET", "/api/v1/audit-log"),
    ("POST", "/api/v1/register/imports"),
    ("GET", "/api/v1/register/imports"),
    ("GET", "/api/v1/programmes"),
    ("PUT", "/api/v1/programmes/lpg/rule"),
    ("GET", "/api/v1/findings"),
    ("POST", "/api/v1/findings/reconcile"),
    ("PUT", "/api/v1/service-points/1/kelurahan"),
    ("PUT", "/api/v1/trust/root"),
    ("PUT", "/api/v1/trust/list"),
    ("POST", "/api/v1/cards/1571000000000001/revocation"),
    ("GET", "/api/v1/issuance/queue"),
    ("POST", "/api/v1/issuance/residents/lookup"),
]
TERMINAL_ROUTES = [
    ("POST", "/api/v1/sync/redemptions"),
    ("GET", "/api/v1/sync/entitlements?program=lpg"),
    ("GET", "/api/v1/trust/list"),
    ("GET", "/api/v1/trust/revocations?since=0"),
    ("GET", "/api/v1/trust/revocations/full"),
    ("POST", "/api/v1/kiosk/history"),
]


def test_route_tables_cover_app(live):
    """Every route of the app is listed here, so a new route cannot skip these tests."""
    templates = {"/api/v1/service-points/1/": "/api/v1/service-points/{service_point_id}/",
                 "/api/v1/users/1/": "/api/v1/users/{user_id}/", "1571000000000001": "{card_number}",
                 "/api/v1/programmes/lpg/": "/api/v1/programmes/{code}/"}
    listed = set()
    for method, path in ADMIN_ROUTES + TERMINAL_ROUTES:
        path = path.split("?")[0]
        for concrete, template in templates.items():
            path = path.replace(concrete, template)
        listed.add((method, path))
    listed.update({("POST", "/api/v1/terminals/enrol"), ("POST", "/api/v1/sessions")})
    served = {(method.upper(), path) for path, operations in live.app.openapi()["paths"].items()
              for method in operations}
    assert served == listed


@pytest.mark.parametrize("method, path", ADMIN_ROUTES + TERMINAL_ROUTES)
def test_anonymous_call_rejected(kit, method, path):
    response = kit.anonymous.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("missing ")


def test_docs_not_served(kit):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert kit.anonymous.get(path).status_code == 404


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_admin_route_missing_token(kit, method, path):
    response = kit.anonymous.request(method, path, json={})
    assert response.status_code == 401
    assert response.json() == {
        "detail": "missing Authorization header; send 'Authorization: Bearer <session token or admin token>', "
        "a session token comes from POST /api/v1/sessions"
    }
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_admin_route_wrong_token(kit, method, path):
    response = kit.anonymous.request(method, path, json={}, headers={"Authorization": "Bearer " + "x" * 43})
    assert response.status_code == 401
    assert response.json() == {"detail": "invalid admin token"}


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
def test_admin_wrong_scheme(kit, header):
    response = kit.anonymous.get("/api/v1/stats", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json() == {"detail": "Authorization header must be 'Bearer <session token or admin token>'"}


def test_admin_token_prefix_rejected(kit):
    token = kit.live.admin_token
    response = kit.anonymous.get("/api/v1/stats", headers={"Authorization": f"Bearer {token[:-1]}"})
    assert response.status_code == 401
    assert token[:-1] not in response.text


def test_admin_token_on_terminal_route(kit):
    response = kit.admin.get("/api/v1/sync/entitlements", params={"program": "lpg"})
    assert response.status_code == 401
    assert "missing X-Kartu-Terminal header" in response.json()["detail"]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_terminal_signature_on_admin_route(kit, method, path):
    terminal = kit.enrol_terminal()
    response = terminal.client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("missing Authorization header")


@pytest.mark.parametrize("method, path", TERMINAL_ROUTES)
def test_unknown_terminal(kit, method, path):
    signer = FileSigner(generate_private_key())
    client = kit.terminal_client(signer, "T-ghost")
    response = client.request(method, path, json={"records": []} if method == "POST" else None)
    assert response.status_code == 401
    assert response.json() == {"detail": "unknown terminal 'T-ghost'; enrol it with a one-time code first"}


def test_invalid_terminal_id_header(kit):
    signer = FileSigner(generate_private_key())
    response = kit.terminal_client(signer, "bad id/..").get("/api/v1/sync/entitlements?program=lpg")
    assert response.status_code == 401
    assert response.json() == {"detail": "X-Kartu-Terminal is not a valid terminal id"}


@pytest.mark.parametrize("method, path", TERMINAL_ROUTES)
def test_wrong_terminal_key(kit, method, path):
    terminal = kit.enrol_terminal()
    impostor = kit.terminal_client(FileSigner(generate_private_key()), terminal.terminal_id)
    response = impostor.request(method, path, json={"records": []} if method == "POST" else None)
    assert response.status_code == 401
    assert response.json() == {
        "detail": f"request signature does not verify with the key enrolled for terminal '{terminal.terminal_id}'"
    }


def test_signature_over_other_body(kit):
    terminal = kit.enrol_terminal()
    signed = terminal.client.build_request("POST", "/api/v1/sync/redemptions", json={"records": []})
    signed = next(terminal.client.auth.auth_flow(signed))
    response = terminal.client.send(
        terminal.client.build_request(
            "POST", "/api/v1/sync/redemptions", content=b'{"records": ["AAAA"]}',
            headers={name: signed.headers[name] for name in ("X-Kartu-Terminal", "X-Kartu-Time", "X-Kartu-Signature")}
            | {"Content-Type": "application/json"},
        ),
        auth=None,
    )
    assert response.status_code == 401
    assert "request signature does not verify" in response.json()["detail"]


def test_signature_over_other_query(kit):
    terminal = kit.enrol_terminal()
    signed = next(terminal.client.auth.auth_flow(
        terminal.client.build_request("GET", "/api/v1/sync/entitlements?program=lpg")))
    response = kit.anonymous.get(
        "/api/v1/sync/entitlements?program=pbi",
        headers={name: signed.headers[name] for name in ("X-Kartu-Terminal", "X-Kartu-Time", "X-Kartu-Signature")},
    )
    assert response.status_code == 401
    assert "request signature does not verify" in response.json()["detail"]


@pytest.mark.parametrize("skew", [-301, 301])
def test_clock_skew_rejected(kit, skew):
    terminal = kit.enrol_terminal()
    skewed = kit.terminal_client(terminal.signer, terminal.terminal_id, skew=skew)
    response = skewed.get("/api/v1/sync/entitlements", params={"program": "lpg"})
    now = int(kit.clock())
    assert response.status_code == 401
    assert response.json() == {
        "detail": f"terminal '{terminal.terminal_id}': request time {now + skew} is 301 s away from "
        f"server time {now} (limit 300 s); set the terminal clock"
    }


@pytest.mark.parametrize("skew", [-300, 300])
def test_clock_skew_at_limit_accepted(kit, skew):
    terminal = kit.enrol_terminal()
    skewed = kit.terminal_client(terminal.signer, terminal.terminal_id, skew=skew)
    response = skewed.get("/api/v1/sync/entitlements", params={"program": "lpg"})
    assert response.status_code == 200, response.text


def test_last_seen_updated(kit):
    terminal = kit.enrol_terminal()
    kit.clock.advance(90)
    assert kit.entitlements(terminal).status_code == 200
    with Session(kit.live.app.state.engine) as session:
        stored = session.get(Terminal, terminal.terminal_id)
        assert stored.last_seen == datetime.fromtimestamp(kit.clock(), timezone.utc)


def test_last_seen_unchanged_on_failure(kit):
    terminal = kit.enrol_terminal()
    impostor = kit.terminal_client(FileSigner(generate_private_key()), terminal.terminal_id)
    assert impostor.get("/api/v1/sync/entitlements?program=lpg").status_code == 401
    with Session(kit.live.app.state.engine) as session:
        assert session.get(Terminal, terminal.terminal_id).last_seen is None
