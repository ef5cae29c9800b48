"""The server's sync key against the stored trust list: ERROR at startup and after uploads, 503 on pulls."""

from __future__ import annotations

import logging
import secrets
from datetime import date

import pytest
from sqlalchemy.orm import Session

from card.keys import spki_of
from card.trustlist import Role
from server.app import create_app
from server.fields import encode_base64
from server.revocations import pin_root, store_trust_list
from server.sync_key_check import sync_key_problem
from tests.card.trust_kit import City, entry, new_signer
from tests.server.conftest import START_TIME, FakeClock

# START_TIME is 2026-03-15 in WIB.
TODAY = date(2026, 3, 15)
SYNC_LOGGER = "server.sync_key_check"


@pytest.fixture
def city() -> City:
    return City()


def upload(kit, city: City, sequence: int, *entries) -> None:
    response = kit.admin.put("/api/v1/trust/root", json={"public_key": encode_base64(spki_of(city.root.public_key))})
    assert response.status_code in (200, 201), response.text
    signed = city.trust_list(sequence, *entries)
    response = kit.admin.put("/api/v1/trust/list", json={"trust_list": encode_base64(signed)})
    assert response.status_code == 201, response.text


def pull(kit):
    terminal = kit.enrol_terminal()
    return kit.entitlements(terminal)


def test_trusted_sync_key_pulls(kit, city):
    kit.live.app.state.sync_signer = city.sync
    upload(kit, city, 1, entry(Role.SYNC, city.sync))
    assert pull(kit).status_code == 200


@pytest.mark.parametrize("case", ["missing", "issuer_role", "expired", "not_yet_valid", "revoked"])
def test_untrusted_sync_key_503(kit, city, case, caplog):
    kit.live.app.state.sync_signer = city.sync
    entries = {
        "missing": [entry(Role.ISSUER, city.issuer)],
        "issuer_role": [entry(Role.ISSUER, city.sync)],
        "expired": [entry(Role.SYNC, city.sync, date(2025, 1, 1), date(2026, 3, 14))],
        "not_yet_valid": [entry(Role.SYNC, city.sync, date(2026, 3, 16), date(2027, 1, 1))],
        "revoked": [entry(Role.SYNC, city.sync, revoked_from=date(2026, 3, 1))],
    }[case]
    with caplog.at_level(logging.ERROR, logger=SYNC_LOGGER):
        upload(kit, city, 1, *entries)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert city.sync.kid.hex() in errors[0].getMessage()

    response = pull(kit)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "sync_key_not_trusted"
    assert city.sync.kid.hex() in body["detail"]
    assert "kartu keys sign-trust-list" in body["detail"]
    assert "PUT /api/v1/trust/list" in body["detail"]


def test_problem_messages_name_cause(database_url, city):
    app = create_app(database_url, secrets.token_urlsafe(32), clock=FakeClock(START_TIME))
    with Session(app.state.engine) as session:
        assert sync_key_problem(session, city.sync, TODAY) is None
        pin_root(session, city.root.public_key, START_TIME)
        store_trust_list(session, city.trust_list(1, entry(Role.ISSUER, city.issuer)), START_TIME)
        assert "is not in trust list sequence 1" in sync_key_problem(session, city.sync, TODAY)
        store_trust_list(session, city.trust_list(2, entry(Role.TERMINAL, city.sync)), START_TIME)
        assert "has role terminal in trust list sequence 2, not sync" in sync_key_problem(session, city.sync, TODAY)
        store_trust_list(session, city.trust_list(3, entry(Role.SYNC, city.sync, date(2026, 4, 1))), START_TIME)
        assert "may sign from 2026-04-01 to 2026-12-31" in sync_key_problem(session, city.sync, TODAY)
        store_trust_list(session, city.trust_list(4, entry(Role.SYNC, city.sync, revoked_from=TODAY)), START_TIME)
        assert "is revoked from 2026-03-15" in sync_key_problem(session, city.sync, TODAY)
        store_trust_list(session, city.trust_list(5, entry(Role.SYNC, city.sync)), START_TIME)
        assert sync_key_problem(session, city.sync, TODAY) is None
    app.state.engine.dispose()


def test_new_trust_list_lifts_503(kit, city):
    kit.live.app.state.sync_signer = city.sync
    upload(kit, city, 1, entry(Role.ISSUER, city.issuer))
    terminal = kit.enrol_terminal()
    assert kit.entitlements(terminal).status_code == 503

    upload(kit, city, 2, entry(Role.SYNC, city.sync))
    assert kit.entitlements(terminal).status_code == 200


def test_window_end_blocks_next_day(kit, city):
    kit.live.app.state.sync_signer = city.sync
    upload(kit, city, 1, entry(Role.SYNC, city.sync, date(2026, 1, 1), TODAY))
    terminal = kit.enrol_terminal()
    assert kit.entitlements(terminal).status_code == 200

    kit.clock.advance(24 * 3600)
    response = kit.entitlements(terminal)
    assert response.status_code == 503
    assert "not on 2026-03-16" in response.json()["detail"]


def test_startup_logs_error(database_url, city, caplog):
    token = secrets.token_urlsafe(32)
    first = create_app(database_url, token, clock=FakeClock(START_TIME), sync_signer=city.sync)
    with Session(first.state.engine) as session:
        pin_root(session, city.root.public_key, START_TIME)
        store_trust_list(session, city.trust_list(1, entry(Role.ISSUER, city.issuer)), START_TIME)
    first.state.engine.dispose()

    other_key = new_signer()
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        second = create_app(database_url, token, clock=FakeClock(START_TIME), sync_signer=other_key)
    second.state.engine.dispose()
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"sync key {other_key.kid.hex()} is not in trust list sequence 1" in errors[0]


def test_startup_without_trust_list_warns(database_url, city, caplog):
    with caplog.at_level(logging.WARNING, logger=SYNC_LOGGER):
        app = create_app(database_url, secrets.token_urlsafe(32), clock=FakeClock(START_TIME), sync_signer=city.sync)
    app.state.engine.dispose()
    warnings = [record.getMessage() for record in caplog.records if record.name == SYNC_LOGGER]
    assert len(warnings) == 1
    assert "no trust list is stored" in warnings[0]
