"""A real central server (create_app on uvicorn at 127.0.0.1, SQLite) with an enrolled terminal, for sync tests."""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from card.keys import kid_of, save_public_key
from issuance.personalise import IssuedCard, issue_qr_only
from issuance.register import Resident
from issuance.station import Station
from server.app import create_app
from server.models import Programme, Redemption
from terminal.enrol import enrol_terminal
from terminal.store import TerminalStore
from tests.server.conftest import Kit, LiveServer, start_server, stop_server

ISSUED = date(2026, 12, 1)


@contextmanager
def live_server(tmp_path: Path) -> Iterator[Kit]:
    """Serve a fresh SQLite server on a free loopback port with the real clock; yield its admin kit."""
    token = secrets.token_urlsafe(32)
    app = create_app(f"sqlite:///{tmp_path / 'server.db'}", token)
    server, thread, sock, base_url = start_server(app)
    kit = Kit(LiveServer(base_url=base_url, admin_token=token, clock=time.time, app=app))
    try:
        yield kit
    finally:
        kit.close()
        stop_server(server, thread, sock)


def register_qr_cards(kit: Kit, station: Station, residents: list[Resident]) -> list[IssuedCard]:
    """Issue a QR-only card per resident and register it on the server with desil 1 (eligible for LPG)."""
    cards = []
    for resident in residents:
        card = issue_qr_only(resident, station, ISSUED)
        response = kit.admin.post("/api/v1/cards", json={
            "card_number": card.card_number, "household_id": card.household_id.hex(),
            "kelurahan": resident.kelurahan_code, "desil": 1, "issued": card.issued.isoformat(),
            "expires": card.expires.isoformat(), "issuer_kid": kid_of(station.issuer.public_key).hex(),
            "assurance": "qr", "card_key": None,
        })
        assert response.status_code == 201, response.text
        cards.append(card)
    return cards


def set_quota(kit: Kit, program: str, quota: int) -> None:
    with Session(kit.live.app.state.engine) as session:
        session.execute(update(Programme).where(Programme.code == program).values(quota=quota))
        session.commit()


def enrol(kit: Kit, station: Station, directory: Path, server_url: str | None = None,
          programmes: tuple[str, ...] = ("lpg",)) -> TerminalStore:
    """Enrol a terminal in directory at a new service point offering programmes, pinning the station's issuer key."""
    issuer_file = directory.parent / f"{directory.name}-issuer.pem"
    directory.parent.mkdir(parents=True, exist_ok=True)
    save_public_key(station.issuer.public_key, issuer_file)
    code = kit.enrolment_code(kit.service_point(programmes))
    return enrol_terminal(directory, server_url or kit.live.base_url, code, [issuer_file], "Kasir 1")


def server_record_ids(kit: Kit) -> list[str]:
    with Session(kit.live.app.state.engine) as session:
        return list(session.scalars(select(Redemption.record_id)))
