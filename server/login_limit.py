"""Failed-login limit with exponential backoff, per username and per client address.

Each failed login counts against two keys: the username (lower-cased) and
the client address. Once a key has FREE_FAILURES failures, every further
login on that key is rejected until a backoff has passed. The backoff starts
at BASE_BACKOFF seconds and doubles with each further failure, up to
MAX_BACKOFF. A key's failures are forgotten FORGET_AFTER seconds after its
last failure, and a successful login clears its username's failures (not
its client's, so an attacker cannot reset the client count with an account
of their own).

Rejected attempts are checked before the password is hashed, so a locked key
costs no Argon2id work.

The counts live in the memory of one server process. With `--workers N`
each worker keeps its own counts, so a client can make up to N times the
free failures before every worker rejects it, and a restart clears them.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

__all__ = ["LoginLimiter", "LoginLocked", "login_limiter", "client_address"]

logger = logging.getLogger(__name__)

FREE_FAILURES = 5
BASE_BACKOFF = 1.0
MAX_BACKOFF = 15 * 60.0
FORGET_AFTER = 60 * 60.0
# Bound on tracked keys, so a flood of made-up usernames cannot grow memory without limit.
MAX_KEYS = 100_000


@dataclass
class _Failures:
    count: int
    last_at: float

    def locked_until(self) -> float:
        if self.count < FREE_FAILURES:
            return 0.0
        return self.last_at + min(BASE_BACKOFF * 2 ** (self.count - FREE_FAILURES), MAX_BACKOFF)


class LoginLocked(HTTPException):
    """429 Too Many Requests with a Retry-After header in whole seconds."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins for this username or client; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
        self.retry_after = seconds


class LoginLimiter:
    """In-process failure counts; thread-safe because FastAPI runs sync routes in a thread pool."""

    def __init__(self) -> None:
        self._failures: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, client: str) -> tuple[str, str]:
        return "user:" + username.strip().lower(), "client:" + client

    def retry_after(self, username: str, client: str, now: float) -> float:
        """Return the seconds until a login for username from client may be tried, 0 when it may be tried now."""
        with self._lock:
            wait = 0.0
            for key in self._keys(username, client):
                failures = self._failures.get(key)
                if failures is not None:
                    wait = max(wait, failures.locked_until() - now)
            return wait

    def check(self, username: str, client: str, now: float) -> None:
        """Raise LoginLocked when username or client is in backoff."""
        wait = self.retry_after(username, client, now)
        if wait > 0:
            logger.warning("login rejected during backoff for client %s (%.0f s left)", client, wait)
            raise LoginLocked(wait)

    def record_failure(self, username: str, client: str, now: float) -> None:
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._forget_old(now)
            for key in self._keys(username, client):
                failures = self._failures.get(key)
                if failures is None or now - failures.last_at > FORGET_AFTER:
                    self._failures[key] = _Failures(1, now)
                else:
                    failures.count += 1
                    failures.last_at = now

    def record_success(self, username: str, client: str) -> None:
        user_key, _client_key = self._keys(username, client)
        with self._lock:
            self._failures.pop(user_key, None)

    def _forget_old(self, now: float) -> None:
        stale = [key for key, failures in self._failures.items() if now - failures.last_at > FORGET_AFTER]
        for key in stale:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:
            # Every key is recent: drop the oldest half rather than grow.
            by_age = sorted(self._failures, key=lambda key: self._failures[key].last_at)
            for key in by_age[: len(by_age) // 2]:
                del self._failures[key]
            logger.warning("login limiter held %d keys; dropped the oldest half", MAX_KEYS)


def login_limiter(request: Request) -> LoginLimiter:
    return request.app.state.login_limiter


def client_address(request: Request) -> str:
    """Return the peer address of the connection.

    NOTE: behind a reverse proxy this is the proxy's address, so every client shares one
    per-client count; the per-username count still applies.
    """
    return request.client.host if request.client is not None else "unknown"
