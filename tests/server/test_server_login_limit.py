"""Failed-login limit: 429 with Retry-After per username and per client, with doubling backoff."""

from __future__ import annotations

import pytest

from server.login_limit import FORGET_AFTER, FREE_FAILURES, MAX_BACKOFF, LoginLimiter
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


def test_limiter_clients_separate():
    limiter = LoginLimiter()
    for number in range(FREE_FAILURES):
        limiter.record_failure(f"user{number}", "10.0.0.1", now=0.0)
    assert limiter.retry_after("lain", "10.0.0.1", now=0.0) == 1.0
    assert limiter.retry_after("lain", "10.0.0.2", now=0.0) == 0.0


def test_limiter_backoff_capped():
    limiter = LoginLimiter()
    for _ in range(FREE_FAILURES + 40):
        limiter.record_failure("andi", "10.0.0.1", now=0.0)
    assert limiter.retry_after("andi", "10.0.0.9", now=0.0) == MAX_BACKOFF


@pytest.mark.parametrize("quiet_seconds, expected", [(FORGET_AFTER - 1, 2.0), (FORGET_AFTER + 1, 0.0)])
def test_limiter_forgets_old_failures(quiet_seconds, expected):
    limiter = LoginLimiter()
    for _ in range(FREE_FAILURES):
        limiter.record_failure("andi", "10.0.0.1", now=0.0)
    limiter.record_failure("andi", "10.0.0.1", now=quiet_seconds)
    assert limiter.retry_after("andi", "10.0.0.1", now=quiet_seconds) == expected
