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

The counts live in the login_failures table, so every worker of
`kartu server --workers N` shares them and a restart keeps them. A failure is
counted with one INSERT ... ON CONFLICT DO UPDATE. PostgreSQL and SQLite
both run it atomically, so concurrent failures in two workers both count.
"""

from __future__ import annotations

import logging
import math

from fastapi import HTTPException, Request, status
from sqlalchemy import Float, Integer, String, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from server.models import Base

__all__ = ["LoginFailure", "LoginLimiter", "LoginLocked", "login_limiter", "client_address"]

logger = logging.getLogger(__name__)

FREE_FAILURES = 5
BASE_BACKOFF = 1.0
MAX_BACKOFF = 15 * 60.0
FORGET_AFTER = 60 * 60.0
# Bound on stored keys, so a flood of made-up usernames cannot grow the table without limit.
MAX_KEYS = 100_000
# "user:" plus a username of at most 64 characters, or "client:" plus an IPv6 address.
MAX_KEY_LENGTH = 80


class LoginFailure(Base):
    """The failed-login count of one key ("user:<username>" or "client:<address>") since its last reset."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[float] = mapped_column(Float, index=True)
    """Unix time of the latest failure, in seconds."""


def backoff_until(count: int, last_at: float) -> float:
    """Return the Unix time before which a key with count failures, the latest at last_at, is rejected."""
    if count < FREE_FAILURES:
        return 0.0
    return last_at + min(BASE_BACKOFF * 2 ** (count - FREE_FAILURES), MAX_BACKOFF)


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
    """Failure counts in the database of engine. Each call runs in its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine)

    @staticmethod
    def _keys(username: str, client: str) -> tuple[str, str]:
        user_key = "user:" + username.strip().lower()
        client_key = "client:" + client
        return user_key[:MAX_KEY_LENGTH], client_key[:MAX_KEY_LENGTH]

    def retry_after(self, username: str, client: str, now: float) -> float:
        """Return the seconds until a login for username from client may be tried, 0 when it may be tried now."""
        with self._sessions() as session:
            rows = session.execute(
                select(LoginFailure.count, LoginFailure.last_at).where(
                    LoginFailure.key.in_(self._keys(username, client))
                )
            ).all()
        wait = 0.0
        for count, last_at in rows:
            if now - last_at <= FORGET_AFTER:
                wait = max(wait, backoff_until(count, last_at) - now)
        return wait

    def check(self, username: str, client: str, now: float) -> None:
        """Raise LoginLocked when username or client is in backoff."""
        wait = self.retry_after(username, client, now)
        if wait > 0:
            logger.warning("login rejected during backoff for client %s (%.0f s left)", client, wait)
            raise LoginLocked(wait)

    def record_failure(self, username: str, client: str, now: float) -> None:
        """Count one failed login against username and client. A key quiet for FORGET_AFTER starts again at 1."""
        with self._sessions() as session:
            if session.scalar(select(func.count()).select_from(LoginFailure)) >= MAX_KEYS:
                self._forget_old(session, now)
            for key in self._keys(username, client):
                session.execute(self._count_failure(key, now))
            session.commit()

    def record_success(self, username: str, client: str) -> None:
        user_key, _client_key = self._keys(username, client)
        with self._sessions() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.key == user_key))
            session.commit()

    def _count_failure(self, key: str, now: float):
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(LoginFailure).values(key=key, count=1, last_at=now)
        table = LoginFailure.__table__
        forgotten = insert.excluded.last_at - table.c.last_at > FORGET_AFTER
        return insert.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "count": case((forgotten, 1), else_=table.c.count + 1),
                "last_at": insert.excluded.last_at,
            },
        )

    @staticmethod
    def _forget_old(session: Session, now: float) -> None:
        session.execute(delete(LoginFailure).where(LoginFailure.last_at < now - FORGET_AFTER))
        remaining = session.scalar(select(func.count()).select_from(LoginFailure))
        if remaining < MAX_KEYS:
            return
        # Every key is recent, so drop the oldest half rather than grow the table.
        median = session.scalar(select(LoginFailure.last_at).order_by(LoginFailure.last_at).offset(remaining // 2).limit(1))
        session.execute(delete(LoginFailure).where(LoginFailure.last_at <= median))
        logger.warning("login limiter stored %d keys; dropped the oldest half", remaining)


def login_limiter(request: Request) -> LoginLimiter:
    return request.app.state.login_limiter


def client_address(request: Request) -> str:
    """Return the peer address of the connection.

    NOTE: behind a reverse proxy this is the proxy's address, so every client shares one
    per-client count; the per-username count still applies.
    """
    return request.client.host if request.client is not None else "unknown"
