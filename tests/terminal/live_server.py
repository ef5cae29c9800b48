"""A real central server (create_app on uvicorn at 127.0.0.1, SQLite) with an enrolled terminal, for sync tests.

By default the server has a sync key named in trust list 1 of a fresh
root key, so terminals enrolled with enrol() pin that root key, pull the
trust list and accept the entitlement sets the server signs.
"""

from __future__ import annotations

import secrets
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from card.keys import kid_of, save_public_key, spki_of
from card.trustlist import Role
from issuance.personalise import IssuedCard, issue_qr_only
from issuance.register import Resident
from issuance.station import Station
from server.app import create_app
from server.fields import encode_base64
from server.models import Programme, Redemption
from terminal.enrol import enrol_terminal, open_terminal
from terminal.store import TerminalStore
from terminal.sync import SyncClient
from tests.card.trust_kit import City, entry
from tests.server.conftest import Kit, LiveServer, start_server, stop_server

ISSUED = date(2026, 12, 1)
# The server runs on the real clock, so the sync key's window is wide instead of tied to one year.
WIDE_START, WIDE_END = date(2020, 1, 1), date(2099, 12, 31)


@contextmanager
def live_server(tmp_path: Path, trusted: bool = True) -> Iterator[Kit]:
    """Serve a fresh SQLite server on a free loopback port with the real clock; yield its admin kit.

    With trusted=False the server has no root key, trust list or sync key,
    and the test sets them up itself.
    """
    token = secrets.token_urlsafe(32)
    city = City()
    app = create_app(f"sqlite:///{tmp_path / 'server.db'}", token, sync_signer=city.sync if trusted else None)
    server, thread, sock, base_url = start_server(app)
    kit = Kit(LiveServer(base_url=base_url, admin_token=token, clock=time.time, app=app))
    kit.city = city
    try:
        if trusted:
            _publish_trust_list(kit, city)
        yield kit
    finally:
        kit.close()
        stop_server(server, thread, sock)


def _publish_trust_list(kit: Kit, city: City) -> None:
    pinned = kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.root.public_key))})
    assert pinned.status_code == 201, pinned.text
    signed = city.trust_list(1, entry(Role.SYNC, city.sync, WIDE_START, WIDE_END, label="test server"))
    uploaded = kit.admin.put("/api/v1/trust/list", json={"trust_list": encode_base64(signed)})
    assert uploaded.status_code == 201, uploaded.text


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
    """Enrol a terminal in directory at a new service point offering programmes.

    The terminal pins the station's issuer key and the server's root key, so
    its first sync pulls the trust list that names the server's sync key.
    """
    issuer_file = directory.parent / f"{directory.name}-issuer.pem"
    root_file = directory.parent / f"{directory.name}-root.pem"
    directory.parent.mkdir(parents=True, exist_ok=True)
    save_public_key(station.issuer.public_key, issuer_file)
    save_public_key(kit.city.root.public_key, root_file)
    code = kit.enrolment_code(kit.service_point(programmes))
    return enrol_terminal(directory, server_url or kit.live.base_url, code, [issuer_file], "Kasir 1",
                          root_key_file=root_file)


def server_record_ids(kit: Kit) -> list[str]:
    with Session(kit.live.app.state.engine) as session:
        return list(session.scalars(select(Redemption.record_id)))


def sync(directory: Path):
    """Run one full sync of the enrolled terminal in directory against its server and return its report."""
    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"))
    try:
        return client.sync()
    finally:
        client.close()
        store.close()
