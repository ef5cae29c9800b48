"""`kartu terminal sync` pulls the trust list and revocation lists from a real server and applies them.

The server runs on the real clock (tests.terminal.live_server), so key
windows here are wide instead of tied to one year.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from card.cardnumber import make_card_number
from card.keys import save_public_key, spki_of
from card.revocation import ListKind, RevocationList, decode_revocation_list, sign_revocation_list
from card.trustlist import Role
from server.app import create_app
from server.fields import encode_base64
from server.models_revocation import RevocationListVersion
from terminal.enrol import enrol_terminal, open_terminal
from terminal.status import read_status
from terminal.store import TerminalStore
from terminal.sync import EntitlementSetRejected, SyncClient, SyncError
from tests.card.trust_kit import City, entry, new_signer
from tests.terminal.live_server import live_server

WIDE_START, WIDE_END = date(2020, 1, 1), date(2099, 12, 31)


@pytest.fixture
def city() -> City:
    return City()


def _keys(city: City, sync=None):
    return (entry(Role.ISSUER, city.issuer, WIDE_START, WIDE_END),
            entry(Role.SYNC, sync or city.sync, WIDE_START, WIDE_END))


def _trusted(kit, city: City, sequence: int = 1) -> None:
    response = kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.root.public_key))})
    assert response.status_code in (200, 201), response.text
    response = kit.admin.put("/api/v1/trust/list", json={"trust_list": encode_base64(city.trust_list(sequence, *_keys(city)))})
    assert response.status_code == 201, response.text
    kit.live.app.state.sync_signer = city.sync


def _terminal(kit, city: City, tmp_path: Path) -> Path:
    root_file = tmp_path / "root.pem"
    save_public_key(city.root.public_key, root_file)
    directory = tmp_path / "terminal"
    store = enrol_terminal(directory, kit.live.base_url, kit.enrolment_code(kit.service_point()), [], "Kasir 1",
                           root_key_file=root_file)
    store.close()
    return directory


def _sync(directory: Path):
    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"))
    try:
        return store, client.sync()
    finally:
        client.close()


def _revoke(kit, number: str) -> None:
    response = kit.admin.post(f"/api/v1/cards/{number}/revocation", json={"reason": "kartu dicuri"})
    assert response.status_code == 201, response.text


def test_sync_applies_trust_and_revocations(kit_city_dir):
    kit, city, directory = kit_city_dir
    first, second = kit.register_card(), kit.register_card()
    _revoke(kit, first.number)

    store, report = _sync(directory)
    assert report.trust_list_sequence == 1
    assert report.revocation_version == 1
    assert store.trust_store().revoked_cards.is_revoked(first.number)
    assert not store.trust_store().revoked_cards.is_revoked(second.number)
    assert city.issuer.kid in store.trust_store().issuers
    store.close()

    _revoke(kit, second.number)
    store, report = _sync(directory)
    assert report.revocation_version == 2
    assert store.trust_store().revoked_cards.is_revoked(second.number)
    assert store.revoked_count() == 2
    store.close()


def test_sync_gap_fetches_full_list(kit_city_dir, monkeypatch):
    from server.api import trust as trust_api

    kit, _city, directory = kit_city_dir
    cards = [kit.register_card() for _ in range(3)]
    for card in cards:
        _revoke(kit, card.number)
    monkeypatch.setattr(trust_api, "MAX_DELTAS", 1)

    store, report = _sync(directory)
    assert report.revocation_version == 3
    assert store.revoked_count() == 3
    assert all(store.trust_store().revoked_cards.is_revoked(card.number) for card in cards)
    store.close()


def test_sync_rejects_forged_revocation(kit_city_dir):
    kit, _city, directory = kit_city_dir
    card = kit.register_card()
    _revoke(kit, card.number)
    store, _report = _sync(directory)
    store.close()

    # A list signed by a key outside the trust list replaces version 2 on the server.
    forger = new_signer()
    _revoke(kit, kit.register_card().number)
    forged = RevocationList(ListKind.DELTA, 2, 0, _serials(make_card_number(424_242)), count=2, base_version=1)
    with Session(kit.live.app.state.engine) as session:
        session.execute(update(RevocationListVersion).where(RevocationListVersion.version == 2)
                        .values(delta=sign_revocation_list(forged, forger)))
        session.commit()

    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"))
    with pytest.raises(SyncError, match="not a sync key"):
        client.sync()
    client.close()
    assert store.revocation_version == 1
    assert store.revoked_count() == 1
    assert not store.trust_store().revoked_cards.is_revoked(make_card_number(424_242))
    store.close()


def test_sync_rejects_trust_rollback(kit_city_dir):
    kit, city, directory = kit_city_dir
    store, report = _sync(directory)
    assert report.trust_list_sequence == 1
    store.close()

    # The terminal already has sequence 5 from another source, so the server's sequence 1 is a rollback.
    store = TerminalStore(directory / "terminal.db")
    from terminal.trust import apply_trust_list

    apply_trust_list(store, city.trust_list(5, *_keys(city)))
    store.close()
    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"))
    with pytest.raises(SyncError, match="rollback"):
        client.sync()
    client.close()
    assert store.trust_list_sequence == 5
    store.close()


def test_sync_without_root_skips_lists(kit, tmp_path, city):
    """A terminal without a root key pulls no lists, and so cannot verify entitlements either."""
    _trusted(kit, city)
    _revoke(kit, kit.register_card().number)
    issuer_file = tmp_path / "issuer.pem"
    save_public_key(city.issuer.public_key, issuer_file)
    directory = tmp_path / "terminal"
    enrol_terminal(directory, kit.live.base_url, kit.enrolment_code(kit.service_point()), [issuer_file],
                   "Kasir 1").close()

    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"))
    with pytest.raises(EntitlementSetRejected, match="no trust list with a sync key"):
        client.sync()
    client.close()
    assert store.revocation_version == 0
    assert store.revoked_count() == 0
    assert store.entitlement_set("lpg") is None
    store.close()


def _serials(card_number: str):
    from array import array

    from card.revocation import serial_of

    return array("Q", [serial_of(card_number)])


@pytest.fixture
def kit(tmp_path):
    with live_server(tmp_path, trusted=False) as server_kit:
        yield server_kit


@pytest.fixture
def kit_city_dir(kit, city, tmp_path):
    _trusted(kit, city)
    return kit, city, _terminal(kit, city, tmp_path)


def test_fresh_server_publishes_empty_list(kit, city, tmp_path):
    kit.live.app.state.sync_signer = city.sync
    _trusted(kit, city)
    directory = _terminal(kit, city, tmp_path)

    store, report = _sync(directory)
    assert report.revocation_version == 1
    assert store.revoked_count() == 0
    # The test city's trust list carries a fixed issue time, so list age is not judged here.
    status = read_status(store, max_list_age=timedelta(days=36500))
    assert status.revocation_issued_at is not None
    assert status.render("en")["warning"] == ""
    store.close()

    # The first revocation follows the empty list as version 2.
    _revoke(kit, kit.register_card().number)
    store, report = _sync(directory)
    assert report.revocation_version == 2
    assert store.revoked_count() == 1
    store.close()


def test_startup_publishes_empty_list(kit, city, tmp_path):
    _trusted(kit, city)
    kit.live.app.state.sync_signer = None
    with Session(kit.live.app.state.engine) as session:
        assert session.query(RevocationListVersion).count() == 0

    restarted = create_app(f"sqlite:///{tmp_path / 'server.db'}", kit.live.admin_token, sync_signer=city.sync)
    restarted.state.engine.dispose()
    with Session(kit.live.app.state.engine) as session:
        [published] = session.query(RevocationListVersion).all()
    assert (published.version, published.count, published.signer_kid) == (1, 0, city.sync.kid)
    full = decode_revocation_list(published.full, {city.sync.kid: city.sync.public_key})
    assert (full.kind, len(full.added)) == (ListKind.FULL, 0)


def test_untrusted_sync_key_publishes_nothing(kit, city):
    kit.live.app.state.sync_signer = new_signer()
    _trusted(kit, city)
    with Session(kit.live.app.state.engine) as session:
        assert session.query(RevocationListVersion).count() == 0
