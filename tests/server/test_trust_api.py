"""Server trust routes: root pinning, trust list upload and download, card revocation and the revocation lists."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from card.keys import FileSigner, generate_private_key, spki_of
from card.revocation import ListKind, decode_revocation_list, serial_of
from card.trustlist import Role
from server.api import trust as trust_api
from server.fields import decode_base64, encode_base64
from server.models import CARD_REVOKED, Card
from tests.card.trust_kit import City, entry


@pytest.fixture
def city() -> City:
    return City()


def _pin(kit, city: City):
    return kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.root.public_key))})


def _upload(kit, signed: bytes):
    return kit.admin.put("/api/v1/trust/list", json={"trust_list": encode_base64(signed)})


def _trusted_server(kit, city: City) -> None:
    """Pin the root, upload trust list 1 and give the server the city's sync key."""
    assert _pin(kit, city).status_code == 201
    assert _upload(kit, city.trust_list(1)).status_code == 201
    kit.live.app.state.sync_signer = city.sync


def _revoke(kit, number: str, reason: str = "kartu hilang", **extra):
    return kit.admin.post(f"/api/v1/cards/{number}/revocation", json={"reason": reason, **extra})


def _serials(signed_b64: str, city: City):
    return decode_revocation_list(decode_base64(signed_b64), {city.sync.kid: city.sync.public_key})


# --- root key ------------------------------------------------------------------


def test_root_pinned_once(kit, city):
    first = _pin(kit, city)
    assert first.status_code == 201, first.text
    assert first.json() == {"kid": city.root.kid.hex()}
    again = _pin(kit, city)
    assert again.status_code == 200


def test_root_other_key_conflicts(kit, city):
    assert _pin(kit, city).status_code == 201
    other = kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.issuer.public_key))})
    assert other.status_code == 409
    assert "already pinned" in other.json()["detail"]


def test_root_rejects_bad_key(kit):
    response = kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(b"not a key")})
    assert response.status_code == 422
    assert "public_key" in response.json()["detail"]


def test_root_needs_admin(kit, city):
    response = kit.anonymous.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.root.public_key))})
    assert response.status_code == 401


# --- trust list ------------------------------------------------------------------


def test_trust_list_needs_pinned_root(kit, city):
    response = _upload(kit, city.trust_list(1))
    assert response.status_code == 409
    assert "PUT /api/v1/trust/root" in response.json()["detail"]


def test_trust_list_upload_and_download(kit, city):
    assert _pin(kit, city).status_code == 201
    signed = city.trust_list(3)
    uploaded = _upload(kit, signed)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json() == {"sequence": 3, "keys": 2}

    terminal = kit.enrol_terminal()
    served = terminal.client.get("/api/v1/trust/list")
    assert served.status_code == 200
    assert served.json()["sequence"] == 3
    assert decode_base64(served.json()["trust_list"]) == signed


def test_trust_list_wrong_signer_rejected(kit, city):
    assert _pin(kit, city).status_code == 201
    forged = City(root=city.issuer).trust_list(1)
    response = _upload(kit, forged)
    assert response.status_code == 422
    assert "not by the pinned root key" in response.json()["detail"]


def test_trust_list_rollback_rejected(kit, city):
    assert _pin(kit, city).status_code == 201
    assert _upload(kit, city.trust_list(2)).status_code == 201
    for sequence in (1, 2):
        response = _upload(kit, city.trust_list(sequence))
        assert response.status_code == 409
        assert "not above the stored sequence 2" in response.json()["detail"]


def test_trust_list_missing_before_upload(kit):
    terminal = kit.enrol_terminal()
    response = terminal.client.get("/api/v1/trust/list")
    assert response.status_code == 404


def test_trust_list_needs_terminal_signature(kit, city):
    _trusted_server(kit, city)
    assert kit.anonymous.get("/api/v1/trust/list").status_code == 401
    assert kit.admin.get("/api/v1/trust/list").status_code == 401
    assert kit.anonymous.get("/api/v1/trust/revocations", params={"since": 0}).status_code == 401
    assert kit.anonymous.get("/api/v1/trust/revocations/full").status_code == 401


# --- revocation --------------------------------------------------------------------


def test_revoke_publishes_delta_and_full(kit, city, live):
    _trusted_server(kit, city)
    card = kit.register_card()
    response = _revoke(kit, card.number, revoked_from="2026-03-14")
    assert response.status_code == 201, response.text
    assert response.json() == {
        "card_number": card.number, "reason": "kartu hilang", "revoked_from": "2026-03-14", "list_version": 1,
    }

    terminal = kit.enrol_terminal()
    deltas = terminal.client.get("/api/v1/trust/revocations", params={"since": 0}).json()
    assert deltas["version"] == 1
    assert deltas["gap"] is False
    delta = _serials(deltas["deltas"][0], city)
    assert delta.kind is ListKind.DELTA
    assert list(delta.added) == [serial_of(card.number)]

    full = terminal.client.get("/api/v1/trust/revocations/full").json()
    full_list = _serials(full["full"], city)
    assert full["version"] == 1
    assert full_list.kind is ListKind.FULL
    assert list(full_list.added) == [serial_of(card.number)]

    with Session(live.app.state.engine) as session:
        assert session.get(Card, card.number).status == CARD_REVOKED


def test_revoke_default_day_is_today(kit, city):
    _trusted_server(kit, city)
    card = kit.register_card()
    response = _revoke(kit, card.number)
    assert response.status_code == 201, response.text
    assert response.json()["revoked_from"] == "2026-03-15"


def test_revoke_second_card_bumps_version(kit, city):
    _trusted_server(kit, city)
    first, second = kit.register_card(), kit.register_card()
    assert _revoke(kit, first.number).json()["list_version"] == 1
    assert _revoke(kit, second.number).json()["list_version"] == 2

    terminal = kit.enrol_terminal()
    answer = terminal.client.get("/api/v1/trust/revocations", params={"since": 1}).json()
    assert answer["version"] == 2
    assert len(answer["deltas"]) == 1
    delta = _serials(answer["deltas"][0], city)
    assert (delta.base_version, delta.version, delta.count) == (1, 2, 2)
    assert list(delta.added) == [serial_of(second.number)]
    full = _serials(terminal.client.get("/api/v1/trust/revocations/full").json()["full"], city)
    assert sorted(full.added) == sorted([serial_of(first.number), serial_of(second.number)])


def test_revocations_up_to_date(kit, city):
    _trusted_server(kit, city)
    assert _revoke(kit, kit.register_card().number).status_code == 201
    terminal = kit.enrol_terminal()
    answer = terminal.client.get("/api/v1/trust/revocations", params={"since": 1}).json()
    assert answer == {"version": 1, "deltas": [], "gap": False}


def test_revocations_gap_when_ahead(kit, city):
    _trusted_server(kit, city)
    assert _revoke(kit, kit.register_card().number).status_code == 201
    terminal = kit.enrol_terminal()
    answer = terminal.client.get("/api/v1/trust/revocations", params={"since": 7}).json()
    assert answer == {"version": 1, "deltas": [], "gap": True}


def test_revocations_gap_when_far_behind(kit, city, monkeypatch):
    monkeypatch.setattr(trust_api, "MAX_DELTAS", 1)
    _trusted_server(kit, city)
    for _ in range(2):
        assert _revoke(kit, kit.register_card().number).status_code == 201
    terminal = kit.enrol_terminal()
    answer = terminal.client.get("/api/v1/trust/revocations", params={"since": 0}).json()
    assert answer == {"version": 2, "deltas": [], "gap": True}


def test_revocations_since_negative_rejected(kit):
    terminal = kit.enrol_terminal()
    response = terminal.client.get("/api/v1/trust/revocations", params={"since": -1})
    assert response.status_code == 422


def test_full_list_missing_before_revocation(kit):
    terminal = kit.enrol_terminal()
    assert terminal.client.get("/api/v1/trust/revocations/full").status_code == 404
    answer = terminal.client.get("/api/v1/trust/revocations", params={"since": 0}).json()
    assert answer == {"version": 0, "deltas": [], "gap": False}


def test_revoke_twice_conflicts(kit, city):
    _trusted_server(kit, city)
    card = kit.register_card()
    assert _revoke(kit, card.number).status_code == 201
    again = _revoke(kit, card.number)
    assert again.status_code == 409
    assert "already revoked" in again.json()["detail"]


def test_revoke_unknown_card(kit, city):
    _trusted_server(kit, city)
    from card.cardnumber import make_card_number

    response = _revoke(kit, make_card_number(99_999))
    assert response.status_code == 404


def test_revoke_invalid_card_number(kit, city):
    _trusted_server(kit, city)
    response = _revoke(kit, "1571000000000000")
    assert response.status_code == 422


def test_revoke_future_day_rejected(kit, city):
    _trusted_server(kit, city)
    card = kit.register_card()
    response = _revoke(kit, card.number, revoked_from="2026-03-16")
    assert response.status_code == 422
    assert "revoked_from" in response.json()["detail"]


def test_revoke_empty_reason_rejected(kit, city):
    _trusted_server(kit, city)
    response = _revoke(kit, kit.register_card().number, reason="")
    assert response.status_code == 422


def test_revoke_needs_admin(kit, city):
    _trusted_server(kit, city)
    card = kit.register_card()
    assert kit.anonymous.post(f"/api/v1/cards/{card.number}/revocation", json={"reason": "x"}).status_code == 401
    terminal = kit.enrol_terminal()
    assert terminal.client.post(f"/api/v1/cards/{card.number}/revocation", json={"reason": "x"}).status_code == 401


def test_revoke_without_sync_key(kit, city):
    kit.live.app.state.sync_signer = None
    assert _pin(kit, city).status_code == 201
    assert _upload(kit, city.trust_list(1)).status_code == 201
    response = _revoke(kit, kit.register_card().number)
    assert response.status_code == 503
    assert "sync key" in response.json()["detail"]


def test_revoke_without_trust_list(kit, city):
    kit.live.app.state.sync_signer = city.sync
    card = kit.register_card()
    response = _revoke(kit, card.number)
    assert response.status_code == 409
    assert "no trust list" in response.json()["detail"]
    terminal = kit.enrol_terminal()
    assert terminal.client.get("/api/v1/trust/revocations/full").status_code == 404


def test_revoke_with_unlisted_sync_key(kit, city, live):
    _trusted_server(kit, city)
    kit.live.app.state.sync_signer = FileSigner(generate_private_key())
    card = kit.register_card()
    response = _revoke(kit, card.number)
    assert response.status_code == 409
    assert "is not a sync key of trust list sequence 1" in response.json()["detail"]
    with Session(live.app.state.engine) as session:
        assert session.get(Card, card.number).status != CARD_REVOKED


def test_revoke_with_expired_sync_key(kit, city):
    assert _pin(kit, city).status_code == 201
    expired = entry(Role.SYNC, city.sync, not_before=date(2025, 1, 1), not_after=date(2025, 12, 31))
    assert _upload(kit, city.trust_list(1, entry(Role.ISSUER, city.issuer), expired)).status_code == 201
    kit.live.app.state.sync_signer = city.sync
    response = _revoke(kit, kit.register_card().number)
    assert response.status_code == 409
    assert "may not sign on 2026-03-15" in response.json()["detail"]


def test_only_latest_version_keeps_full_list(kit, city, live):
    from server.models_revocation import RevocationListVersion

    _trusted_server(kit, city)
    for _ in range(3):
        assert _revoke(kit, kit.register_card().number).status_code == 201
    with Session(live.app.state.engine) as session:
        rows = session.scalars(select(RevocationListVersion).order_by(RevocationListVersion.version)).all()
        assert [row.version for row in rows] == [1, 2, 3]
        assert [row.full is not None for row in rows] == [False, False, True]


def test_concurrent_revocations_stay_consistent(kit, city, live):
    from concurrent.futures import ThreadPoolExecutor

    _trusted_server(kit, city)
    cards = [kit.register_card() for _ in range(6)]

    def revoke(number: str) -> int:
        with httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {live.admin_token}"}) as client:
            return client.post(f"/api/v1/cards/{number}/revocation", json={"reason": "kartu hilang"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = dict(zip((card.number for card in cards), pool.map(revoke, (card.number for card in cards))))
    assert set(statuses.values()) <= {201, 409}, statuses
    revoked = sorted(serial_of(number) for number, status in statuses.items() if status == 201)
    assert revoked

    terminal = kit.enrol_terminal()
    answer = terminal.client.get("/api/v1/trust/revocations", params={"since": 0}).json()
    assert answer["version"] == len(revoked)
    assert len(answer["deltas"]) == len(revoked)
    full = _serials(terminal.client.get("/api/v1/trust/revocations/full").json()["full"], city)
    assert list(full.added) == revoked
