"""A kiosk terminal enrolled with the live test server, and the cards whose history it reads."""

from __future__ import annotations

from pathlib import Path

from card.keys import kid_of, save_public_key
from issuance.personalise import IssuedCard
from issuance.register import Resident
from issuance.station import Station
from terminal.enrol import enrol_terminal
from terminal.store import TerminalStore
from tests.server.conftest import Kit

AGENT_NAME = "Agen LPG Talang Banjar"


def kiosk_service_point(kit: Kit) -> int:
    response = kit.admin.post("/api/v1/service-points",
                              json={"name": "Kiosk Kantor Lurah", "kind": "kiosk", "programmes": ["lpg"]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def enrol_kiosk(kit: Kit, station: Station, directory: Path) -> TerminalStore:
    """Enrol a terminal in directory at a new kiosk service point, pinning the station's issuer and the server's root."""
    issuer_file = directory.parent / f"{directory.name}-issuer.pem"
    root_file = directory.parent / f"{directory.name}-root.pem"
    directory.parent.mkdir(parents=True, exist_ok=True)
    save_public_key(station.issuer.public_key, issuer_file)
    save_public_key(kit.city.root.public_key, root_file)
    code = kit.enrolment_code(kiosk_service_point(kit))
    return enrol_terminal(directory, kit.live.base_url, code, [issuer_file], "Kiosk 1", root_key_file=root_file)


def register_chip_card(kit: Kit, station: Station, resident: Resident, issued: IssuedCard) -> None:
    """Register a personalised chip card on the server with its 9E and 9A keys."""
    response = kit.admin.post("/api/v1/cards", json={
        "card_number": issued.card_number, "household_id": issued.household_id.hex(),
        "kelurahan": resident.kelurahan_code, "desil": 1, "issued": issued.issued.isoformat(),
        "expires": issued.expires.isoformat(), "issuer_kid": kid_of(station.issuer.public_key).hex(),
        "assurance": "chip", "card_key": issued.card_key.hex(),
        "authentication_key": issued.authentication_key.hex() if issued.authentication_key else None,
    })
    assert response.status_code in (200, 201), response.text


def push_agent_hand_over(kit: Kit, household_id: bytes, tapped_at: int, quantity: int) -> None:
    """Push a QR hand-over of a new card of household_id from a new LPG agent terminal."""
    response = kit.admin.post("/api/v1/service-points",
                              json={"name": AGENT_NAME, "kind": "lpg_agent", "programmes": ["lpg"]})
    assert response.status_code == 201, response.text
    agent = kit.enrol_terminal(response.json()["id"])
    sibling = kit.register_card(assurance="qr", household_id=household_id)
    pushed = kit.push(agent, [kit.record(agent, sibling, tapped_at=tapped_at, quantity=quantity)])
    assert pushed.status_code == 200, pushed.text
    assert len(pushed.json()["accepted"]) == 1, pushed.text
