"""Staff login sessions and the role checks that every staff route depends on.

A session is an opaque random token that starts with "kbs_". The server keeps
only its SHA-256 and an absolute expiry, SESSION_LIFETIME after login. The API
takes the token as `Authorization: Bearer <token>`; the dashboard takes it from
the HttpOnly, SameSite=Strict cookie COOKIE_NAME. The API never reads the
cookie, so a browser cannot be made to send API writes on a staff member's behalf.

The administrator token that the server was started with still works as a
Bearer credential with the administrator role, so that the first staff
account can be created over the API.

Roles: an administrator reads and writes everything. An operator reads the
programmes that its OPD owns and writes nothing. An auditor reads everything
and writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.db import SessionDep
from server.models import Programme
from server.models_people import ROLE_ADMINISTRATOR, ROLE_AUDITOR, ROLE_OPERATOR, StaffSession, StaffUser
from server.periods import utc_datetime

__all__ = [
    "SESSION_LIFETIME",
    "SESSION_TOKEN_PREFIX",
    "COOKIE_NAME",
    "Caller",
    "create_session",
    "find_session",
    "end_session",
    "require_roles",
    "api_caller",
    "AdminCaller",
    "StaffCaller",
    "OverseerCaller",
]

logger = logging.getLogger(__name__)

SESSION_LIFETIME = timedelta(hours=8)
SESSION_TOKEN_PREFIX = "kbs_"
COOKIE_NAME = "kartu_session"
ADMIN_TOKEN_ACTOR = "admin-token"


@dataclass(frozen=True)
class Caller:
    """A staff member, or the holder of the administrator token, making a request."""

    actor: str
    role: str
    user_id: int | None = None
    username: str | None = None
    opd: str | None = None

    @classmethod
    def of_user(cls, user: StaffUser) -> "Caller":
        return cls(actor=f"user:{user.username}", role=user.role, user_id=user.id, username=user.username, opd=user.opd)

    @property
    def can_write(self) -> bool:
        return self.role == ROLE_ADMINISTRATOR

    def programme_scope(self, session: Session) -> set[str] | None:
        """Return the programme codes this caller may see, or None for every programme."""
        if self.role != ROLE_OPERATOR:
            return None
        return set(session.scalars(select(Programme.code).where(Programme.owner_opd == self.opd)))


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def create_session(session: Session, user: StaffUser, now: datetime) -> tuple[str, StaffSession]:
    """Store a new session for user and return its token, which is shown only this once."""
    token = SESSION_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = StaffSession(token_hash=_token_hash(token), user_id=user.id, created_at=now, expires_at=now + SESSION_LIFETIME)
    session.add(row)
    session.commit()
    logger.info("staff account %d logged in, session expires %s", user.id, row.expires_at.isoformat())
    return token, row


def find_session(session: Session, token: str, now: datetime) -> StaffSession | None:
    """Return the live session for token; an expired one is deleted and None returned."""
    if not token.startswith(SESSION_TOKEN_PREFIX) or len(token) > 100:
        return None
    row = session.get(StaffSession, _token_hash(token))
    if row is None:
        return None
    if row.expires_at <= now:
        session.delete(row)
        session.commit()
        return None
    if not row.user.active:
        return None
    return row


def end_session(session: Session, token: str) -> bool:
    """Delete the session for token (logout); return whether one existed."""
    result = session.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))
    session.commit()
    return result.rowcount == 1


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(request: Request) -> str:
    """Return the token of the Authorization header, or raise 401 naming what is missing."""
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized(
            "missing Authorization header; send 'Authorization: Bearer <session token or admin token>', "
            "a session token comes from POST /api/v1/sessions"
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization header must be 'Bearer <session token or admin token>'")
    return token.strip()


def api_caller(request: Request, session: SessionDep) -> Caller:
    """Identify the caller of an API route from its Bearer token; raise 401 when it is not valid."""
    token = bearer_token(request)
    if token.startswith(SESSION_TOKEN_PREFIX):
        row = find_session(session, token, utc_datetime(request.app.state.settings.clock()))
        if row is None:
            raise _unauthorized("session token is not valid or has expired; log in again at POST /api/v1/sessions")
        return Caller.of_user(row.user)

    expected = request.app.state.settings.admin_token
    if hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8")):
        return Caller(actor=ADMIN_TOKEN_ACTOR, role=ROLE_ADMINISTRATOR)
    client = request.client.host if request.client else "unknown"
    logger.warning("invalid Bearer token from %s on %s %s", client, request.method, request.url.path)
    raise _unauthorized("invalid admin token")


def require_roles(*roles: str):
    """Return a dependency that admits API callers with one of roles and raises 403 for the others."""

    def check(caller: Annotated[Caller, Depends(api_caller)], request: Request) -> Caller:
        if caller.role not in roles:
            logger.warning("%s (role %s) was denied %s %s", caller.actor, caller.role, request.method, request.url.path)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"the role {caller.role} may not {request.method} {request.url.path}; "
                f"this needs the role {' or '.join(roles)}",
            )
        return caller

    return check


AdminCaller = Annotated[Caller, Depends(require_roles(ROLE_ADMINISTRATOR))]
StaffCaller = Annotated[Caller, Depends(require_roles(ROLE_ADMINISTRATOR, ROLE_OPERATOR, ROLE_AUDITOR))]
OverseerCaller = Annotated[Caller, Depends(require_roles(ROLE_ADMINISTRATOR, ROLE_AUDITOR))]
