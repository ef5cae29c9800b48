"""POST /api/v1/kiosk/history: a household's recent hand-overs for the kiosk that has the card on its reader."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from card.cardnumber import make_card_number
from card.records import tap_digest
from server.fields import encode_base64
from server.models import CARD_REVOKED, Card
from server.models_people import AuditEntry
from tests.server.conftest import EnrolledTerminal, IssuedCard, Kit

PATH = "/api/v1/kiosk/history"
DAY = 86400
KIOSK_PROGRAM = "kiosk"


def _service_point(kit: Kit, kind: str, name: str) -> int:
    response = kit.admin.post("/api/v1/service-points", json={"name": name, "kind": kind, "programmes": ["lpg"]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _kiosk(kit: Kit) -> EnrolledTerminal:
    return kit.enrol_terminal(_service_point(kit, "kiosk", "Kiosk Kantor Lurah"))


def _proof(kit: Kit, terminal: EnrolledTerminal, card: IssuedCard, *, tapped_at: int | None = None,
           signing_card: IssuedCard | None = None) -> dict:
    """Return the request body of a chip read of card at terminal, signed by signing_card's key (default card's)."""
    tapped_at = int(kit.clock()) if tapped_at is None else tapped_at
    nonce = secrets.token_bytes(16)
    digest = tap_digest(nonce, terminal.terminal_id, KIOSK_PROGRAM, 1, tapped_at)
    return {
        "card_number": card.number, "tapped_at": tapped_at, "nonce": encode_base64(nonce),
        "program": KIOSK_PROGRAM, "quantity": 1,
        "card_signature": encode_base64((signing_card or card).sign_tap(digest)),
    }


def _audit_entries(kit: Kit) -> list[AuditEntry]:
    with Session(kit.live.app.state.engine) as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_kiosk_reads_household_history(kit: Kit) -> None:
    household = secrets.token_bytes(8)
    card = kit.register_card(household_id=household)
    sibling = kit.register_card(household_id=household)
    stranger = kit.register_card()
    agent = kit.enrol_terminal(_service_point(kit, "lpg_agent", "Agen LPG Talang Banjar"))
    now = int(kit.clock())
    records = [kit.record(agent, card, tapped_at=now - day * DAY, quantity=1 + day % 3) for day in range(1, 13)]
    records.append(kit.record(agent, sibling, tapped_at=now - 3600, quantity=2))
    records.append(kit.record(agent, stranger, tapped_at=now - 60))
    records.append(kit.record(agent, card, tapped_at=now - 200 * DAY))
    pushed = kit.push(agent, records)
    assert pushed.status_code == 200, pushed.text
    assert len(pushed.json()["accepted"]) == len(records)
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 200, response.text
    body = response.json()
    entries = body["redemptions"]
    assert len(entries) == 10
    assert entries[0]["quantity"] == 2
    assert datetime.fromisoformat(entries[0]["tapped_at"]).timestamp() == now - 3600
    assert datetime.fromisoformat(entries[1]["tapped_at"]).timestamp() == now - DAY
    assert datetime.fromisoformat(entries[-1]["tapped_at"]).timestamp() == now - 9 * DAY
    assert {entry["service_point"] for entry in entries} == {"Agen LPG Talang Banjar"}
    assert {entry["program"] for entry in entries} == {"lpg"}
    assert set(entries[0]) == {"tapped_at", "program", "quantity", "service_point"}
    assert card.number not in response.text
    assert sibling.number not in response.text
    assert datetime.fromisoformat(body["since"]).timestamp() == now - 183 * DAY


def test_history_leaves_out_old_redemptions(kit: Kit) -> None:
    card = kit.register_card()
    agent = kit.enrol_terminal()
    now = int(kit.clock())
    pushed = kit.push(agent, [kit.record(agent, card, tapped_at=now - 190 * DAY),
                              kit.record(agent, card, tapped_at=now - 20 * DAY)])
    assert len(pushed.json()["accepted"]) == 2
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 200, response.text
    [entry] = response.json()["redemptions"]
    assert datetime.fromisoformat(entry["tapped_at"]).timestamp() == now - 20 * DAY


def test_history_read_is_audited(kit: Kit) -> None:
    card = kit.register_card()
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 200, response.text
    assert response.json()["redemptions"] == []
    [entry] = _audit_entries(kit)
    assert entry.actor == f"terminal:{kiosk.terminal_id}"
    assert entry.subject_kind == "card"
    assert entry.subject_id == card.number
    assert entry.request == f"POST {PATH}"


def test_history_rejects_non_kiosk(kit: Kit) -> None:
    card = kit.register_card()
    agent = kit.enrol_terminal()

    response = agent.client.post(PATH, json=_proof(kit, agent, card))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "not_a_kiosk"
    assert "lpg_agent" in response.json()["detail"]
    assert _audit_entries(kit) == []


def test_history_rejects_bad_signature(kit: Kit) -> None:
    card = kit.register_card()
    other = kit.register_card()
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card, signing_card=other))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "card_signature_invalid"
    assert _audit_entries(kit) == []


def test_history_rejects_signature_for_other_terminal(kit: Kit) -> None:
    card = kit.register_card()
    kiosk = _kiosk(kit)
    second_kiosk = _kiosk(kit)

    response = second_kiosk.client.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "card_signature_invalid"


def test_history_rejects_revoked_card(kit: Kit) -> None:
    card = kit.register_card()
    with Session(kit.live.app.state.engine) as session:
        session.execute(update(Card).where(Card.card_number == card.number).values(status=CARD_REVOKED))
        session.commit()
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "card_revoked"
    assert _audit_entries(kit) == []


def test_history_rejects_unknown_card(kit: Kit) -> None:
    card = kit.register_card()
    kiosk = _kiosk(kit)
    body = _proof(kit, kiosk, card)
    body["card_number"] = make_card_number(99_999)

    response = kiosk.client.post(PATH, json=body)

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "card_not_registered"


def test_history_rejects_qr_only_card(kit: Kit) -> None:
    chip = kit.register_card()
    qr_card = kit.register_card(assurance="qr")
    kiosk = _kiosk(kit)
    body = _proof(kit, kiosk, chip)
    body["card_number"] = qr_card.number

    response = kiosk.client.post(PATH, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "card_without_chip"


def test_history_rejects_stale_tap(kit: Kit) -> None:
    card = kit.register_card()
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card, tapped_at=int(kit.clock()) - 301))

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "tap_not_fresh"


def test_history_rejects_unsigned_request(kit: Kit) -> None:
    card = kit.register_card()
    kiosk = _kiosk(kit)

    response = kit.anonymous.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 401, response.text
    assert _audit_entries(kit) == []


def test_history_rejects_short_nonce(kit: Kit) -> None:
    card = kit.register_card()
    kiosk = _kiosk(kit)
    body = _proof(kit, kiosk, card)
    body["nonce"] = encode_base64(b"short")

    response = kiosk.client.post(PATH, json=body)

    assert response.status_code == 422, response.text
    assert "16 bytes" in response.text


def test_history_rejects_expired_card(kit: Kit) -> None:
    card = kit.register_card(expires="2026-02-28")
    kiosk = _kiosk(kit)

    response = kiosk.client.post(PATH, json=_proof(kit, kiosk, card))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "card_expired"
    assert "2026-02-28" in response.json()["detail"]
