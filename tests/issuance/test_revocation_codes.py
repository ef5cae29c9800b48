"""Revocation error codes: the server names each case in "code", and the station acts on the code alone."""

from __future__ import annotations

import json

import httpx
import pytest

from card.cardnumber import make_card_number
from card.keys import spki_of
from issuance.server_client import RegistrationError, revoke_card
from server.fields import encode_base64
from tests.card.trust_kit import City
from tests.server.conftest import database_url, kit, live, postgres_database  # noqa: F401 (fixtures)

CARD = "1571010000000019"
BODY = {"card_number": CARD, "reason": "lost", "effective": "2026-12-01"}


class ScriptedServer:
    """A mock server that returns the given responses in order and records each request body."""

    def __init__(self, *responses: httpx.Response):
        self.responses = list(responses)
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return self.responses.pop(0)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def _answer(status: int, code: str | None = None, detail: str = "rejected") -> httpx.Response:
    body = {"detail": detail} if code is None else {"detail": detail, "code": code}
    return httpx.Response(status, json=body)


def test_already_revoked_code_counts_as_done():
    server = ScriptedServer(_answer(409, "card_already_revoked"))
    revoke_card("http://127.0.0.1:9", "token", BODY, server.client())
    assert len(server.bodies) == 1


def test_already_revoked_words_without_code_rejected():
    server = ScriptedServer(_answer(409, None, f"card {CARD} is already revoked from 2026-12-01"))
    with pytest.raises(RegistrationError, match="409"):
        revoke_card("http://127.0.0.1:9", "token", BODY, server.client())


def test_other_conflict_code_rejected():
    server = ScriptedServer(_answer(409, "revocation_conflict", "card is already revoked"))
    with pytest.raises(RegistrationError, match="409"):
        revoke_card("http://127.0.0.1:9", "token", BODY, server.client())


def test_future_date_code_resent_without_date():
    server = ScriptedServer(_answer(422, "revoked_from_after_today"), httpx.Response(201, json={}))
    revoke_card("http://127.0.0.1:9", "token", BODY, server.client())
    assert server.bodies[0] == {"reason": "lost", "revoked_from": "2026-12-01"}
    assert server.bodies[1] == {"reason": "lost"}


def test_other_invalid_input_not_resent():
    server = ScriptedServer(_answer(422, None, "revoked_from: is after today"))
    with pytest.raises(RegistrationError, match="422"):
        revoke_card("http://127.0.0.1:9", "token", BODY, server.client())
    assert len(server.bodies) == 1


def test_collision_code_sent_again():
    server = ScriptedServer(_answer(409, "revocation_collision"), httpx.Response(201, json={}))
    revoke_card("http://127.0.0.1:9", "token", BODY, server.client())
    assert len(server.bodies) == 2


def test_error_body_not_json_rejected():
    server = ScriptedServer(httpx.Response(409, text="conflict"))
    with pytest.raises(RegistrationError, match="409"):
        revoke_card("http://127.0.0.1:9", "token", BODY, server.client())


# --- the server's answers ---------------------------------------------------------


@pytest.fixture
def trusted(kit):
    """A server with a pinned root, trust list 1 and the city's sync key."""
    city = City()
    assert kit.admin.put("/api/v1/trust/root",
                         json={"public_key": encode_base64(spki_of(city.root.public_key))}).status_code == 201
    assert kit.admin.put("/api/v1/trust/list",
                         json={"trust_list": encode_base64(city.trust_list(1))}).status_code == 201
    kit.live.app.state.sync_signer = city.sync
    return kit


def _revoke(kit, number: str, **extra) -> httpx.Response:
    return kit.admin.post(f"/api/v1/cards/{number}/revocation", json={"reason": "kartu hilang", **extra})


def test_server_codes_already_revoked(trusted):
    number = trusted.register_card().number
    assert _revoke(trusted, number).status_code == 201
    again = _revoke(trusted, number)
    assert again.status_code == 409
    assert again.json()["code"] == "card_already_revoked"
    assert "already revoked" in again.json()["detail"]


def test_server_codes_unregistered_card(trusted):
    response = _revoke(trusted, make_card_number(99_999))
    assert response.status_code == 404
    assert response.json()["code"] == "card_not_registered"


def test_server_codes_future_date(trusted):
    response = _revoke(trusted, trusted.register_card().number, revoked_from="2099-01-01")
    assert response.status_code == 422
    assert response.json()["code"] == "revoked_from_after_today"
    assert response.json()["errors"][0]["field"] == "revoked_from"


def test_server_codes_no_sync_key(trusted):
    trusted.live.app.state.sync_signer = None
    response = _revoke(trusted, trusted.register_card().number)
    assert response.status_code == 503
    assert response.json()["code"] == "no_sync_key"


def test_station_revokes_twice_on_live_server(trusted):
    number = trusted.register_card().number
    body = {"card_number": number, "reason": "lost", "effective": "2026-01-01"}
    revoke_card(trusted.live.base_url, trusted.live.admin_token, body)
    revoke_card(trusted.live.base_url, trusted.live.admin_token, body)
    again = _revoke(trusted, number)
    assert again.json()["code"] == "card_already_revoked"
