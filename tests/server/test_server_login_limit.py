"""Failed-login limit: 429 with Retry-After per username and per client, with doubling backoff."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import login_limit
from server.app import create_app
from server.db import create_db_engine, upgrade_database
from server.login_limit import FORGET_AFTER, FREE_FAILURES, MAX_BACKOFF, LoginFailure, LoginLimiter
from tests.server.conftest import START_TIME, FakeClock, start_server, stop_server
from tests.server.test_server_people import PASSWORD, create_user

SESSIONS = "/api/v1/sessions"
WRONG = "salah-salah-salah"


def attempt(kit, username: str, password: str = WRONG):
    return kit.anonymous.post(SESSIONS, json={"username": username, "password": password})


def fail_freely(kit, usernames: list[str]) -> None:
    for username in usernames:
        assert attempt(kit, username).status_code == 401


def test_account_locked_after_failures(kit):
    create_user(kit, "andi", "auditor")
    fail_freely(kit, ["andi"] * FREE_FAILURES)

    response = attempt(kit, "andi", PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"detail": "too many failed logins for this username or client; try again in 1 s"}


def test_lock_ends_after_retry_after(kit):
    create_user(kit, "andi", "auditor")
    fail_freely(kit, ["andi"] * FREE_FAILURES)
    kit.clock.advance(1)
    assert attempt(kit, "andi", PASSWORD).status_code == 201


def test_backoff_doubles(kit):
    fail_freely(kit, ["andi"] * FREE_FAILURES)
    waits = []
    for _ in range(3):
        kit.clock.advance(int(attempt(kit, "andi").headers["retry-after"]))
        assert attempt(kit, "andi").status_code == 401
        waits.append(attempt(kit, "andi").headers["retry-after"])
    assert waits == ["2", "4", "8"]


def test_client_locked_across_usernames(kit):
    create_user(kit, "andi", "auditor")
    fail_freely(kit, [f"tebak{number}" for number in range(FREE_FAILURES)])
    response = attempt(kit, "andi", PASSWORD)
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_username_case_shares_count(kit):
    fail_freely(kit, ["Andi", "ANDI", "andi", " andi", "aNdi"])
    assert attempt(kit, "andi").status_code == 429


def test_success_clears_username_count(kit):
    create_user(kit, "andi", "auditor")
    fail_freely(kit, ["andi"] * (FREE_FAILURES - 1))
    assert attempt(kit, "andi", PASSWORD).status_code == 201
    # The client count is not cleared, so this is the 5th client failure and the 1st of the account.
    assert attempt(kit, "andi").status_code == 401
    assert attempt(kit, "andi").status_code == 429


def test_dashboard_login_locked(kit):
    create_user(kit, "andi", "auditor")
    for _ in range(FREE_FAILURES):
        response = kit.anonymous.post("/dashboard/login", data={"username": "andi", "password": WRONG})
        assert response.status_code == 401
    response = kit.anonymous.post("/dashboard/login", data={"username": "andi", "password": PASSWORD})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert "Terlalu banyak" in response.text


@pytest.fixture
def engine(database_url):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def limiter(engine) -> LoginLimiter:
    return LoginLimiter(engine)


def test_limiter_clients_separate(limiter):
    for number in range(FREE_FAILURES):
        limiter.record_failure(f"user{number}", "10.0.0.1", now=0.0)
    assert limiter.retry_after("lain", "10.0.0.1", now=0.0) == 1.0
    assert limiter.retry_after("lain", "10.0.0.2", now=0.0) == 0.0


def test_limiter_backoff_capped(limiter):
    for _ in range(FREE_FAILURES + 40):
        limiter.record_failure("andi", "10.0.0.1", now=0.0)
    assert limiter.retry_after("andi", "10.0.0.9", now=0.0) == MAX_BACKOFF


@pytest.mark.parametrize("quiet_seconds, expected", [(FORGET_AFTER - 1, 2.0), (FORGET_AFTER + 1, 0.0)])
def test_limiter_forgets_old_failures(limiter, quiet_seconds, expected):
    for _ in range(FREE_FAILURES):
        limiter.record_failure("andi", "10.0.0.1", now=0.0)
    limiter.record_failure("andi", "10.0.0.1", now=quiet_seconds)
    assert limiter.retry_after("andi", "10.0.0.1", now=quiet_seconds) == expected


def test_limiter_counts_survive_restart(engine, database_url):
    LoginLimiter(engine).record_failure("andi", "10.0.0.1", now=0.0)
    engine.dispose()
    for _ in range(FREE_FAILURES - 1):
        LoginLimiter(create_db_engine(database_url)).record_failure("andi", "10.0.0.2", now=0.0)
    assert LoginLimiter(create_db_engine(database_url)).retry_after("andi", "10.0.0.3", now=0.0) == 1.0


def test_limiter_long_username_fits(limiter):
    for _ in range(FREE_FAILURES):
        limiter.record_failure("a" * 64, "f" * 200, now=0.0)
    assert limiter.retry_after("a" * 64, "10.0.0.1", now=0.0) == 1.0


def test_limiter_table_bounded(limiter, engine, monkeypatch):
    monkeypatch.setattr(login_limit, "MAX_KEYS", 10)
    for number in range(3):
        limiter.record_failure(f"lama{number}", "10.0.0.1", now=0.0)
    for number in range(7):
        limiter.record_failure(f"baru{number}", "10.0.0.2", now=FORGET_AFTER + 10 + number)
    with Session(engine) as session:
        keys = set(session.scalars(select(LoginFailure.key)))
    # The 11th key triggered the clean-up, which removed the three stale user keys and the stale client.
    assert "user:lama0" not in keys
    assert "client:10.0.0.1" not in keys
    assert "user:baru6" in keys
    assert len(keys) <= 10


def test_limiter_drops_oldest_half_when_full(limiter, engine, monkeypatch):
    monkeypatch.setattr(login_limit, "MAX_KEYS", 10)
    for number in range(10):
        limiter.record_failure(f"u{number}", "10.0.0.1", now=float(number))
    limiter.record_failure("terakhir", "10.0.0.1", now=20.0)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(LoginFailure))
        keys = set(session.scalars(select(LoginFailure.key)))
    assert count < 10
    assert "user:u0" not in keys
    assert "user:terakhir" in keys
    assert "client:10.0.0.1" in keys


def test_two_apps_share_count(database_url):
    """Two server processes on one database: failures on one lock the username on the other."""
    clock = FakeClock(START_TIME)
    token = secrets.token_urlsafe(32)
    first = create_app(database_url, token, clock=clock)
    second = create_app(database_url, token, clock=clock)
    servers = [start_server(first), start_server(second)]
    try:
        first_url, second_url = servers[0][3], servers[1][3]
        admin = {"Authorization": f"Bearer {token}"}
        response = httpx.post(f"{first_url}/api/v1/users", headers=admin,
                              json={"username": "andi", "password": PASSWORD, "role": "auditor", "opd": None})
        assert response.status_code == 201, response.text
        for url in [first_url, second_url] * 2 + [first_url]:
            response = httpx.post(f"{url}{SESSIONS}", json={"username": "andi", "password": WRONG})
            assert response.status_code == 401
        response = httpx.post(f"{second_url}{SESSIONS}", json={"username": "andi", "password": PASSWORD})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "1"
    finally:
        for server, thread, sock, _url in servers:
            stop_server(server, thread, sock)


def test_locked_login_skips_password_hash(kit, monkeypatch):
    create_user(kit, "andi", "auditor")
    fail_freely(kit, ["andi"] * FREE_FAILURES)
    calls = []
    monkeypatch.setattr("server.api.people.authenticate", lambda *args: calls.append(args))
    assert attempt(kit, "andi", PASSWORD).status_code == 429
    assert calls == []
