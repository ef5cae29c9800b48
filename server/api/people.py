"""Staff login, accounts and the audit log.

POST   /api/v1/sessions {username, password} -> 201 {token, expires_at, ...}   anyone
       repeated failures -> 429 with Retry-After (see server.login_limit)
DELETE /api/v1/sessions/current -> 204                                       the session's owner
GET    /api/v1/me -> the caller                                              any staff
POST   /api/v1/users {username, password, role, opd} -> 201                  administrator
GET    /api/v1/users -> [user]                                               administrator, auditor
POST   /api/v1/users/{id}/deactivate -> user, its sessions ended             administrator
GET    /api/v1/audit-log?subject_kind=&subject_id=&limit= -> [entry]         administrator, auditor
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import delete, select

from server.api.responses import errors
from server.db import SessionDep
from server.errors import FieldError
from server.login_limit import client_address, login_limiter
from server.models_people import AuditEntry, StaffSession, StaffUser
from server.people import AccountError, authenticate, create_user
from server.periods import utc_datetime
from server.sessions import (
    SESSION_TOKEN_PREFIX,
    AdminCaller,
    OverseerCaller,
    StaffCaller,
    bearer_token,
    create_session,
    end_session,
)
from server.settings import SettingsDep

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["people"])

# Largest value of the 32-bit integer id columns; a larger path value could not name a row.
MAX_ID = 2**31 - 1


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]


class SessionOut(BaseModel):
    token: str
    expires_at: datetime
    username: str
    role: str
    opd: str | None


class CallerOut(BaseModel):
    actor: str
    role: str
    username: str | None
    opd: str | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1024)]
    role: Literal["administrator", "operator", "auditor"]
    opd: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    opd: str | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: StaffUser) -> "UserOut":
        return cls(id=user.id, username=user.username, role=user.role, opd=user.opd, active=user.active,
                   created_at=user.created_at)


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject_kind: str
    subject_id: str
    request: str


@router.post("/sessions", status_code=status.HTTP_201_CREATED, response_model=SessionOut, responses=errors(401, 429))
def log_in(payload: LoginIn, request: Request, session: SessionDep, settings: SettingsDep) -> SessionOut:
    limiter = login_limiter(request)
    client = client_address(request)
    now = settings.clock()
    limiter.check(payload.username, client, now)
    user = authenticate(session, payload.username, payload.password)
    if user is None:
        limiter.record_failure(payload.username, client, now)
        logger.warning("failed login for a staff account from client %s", client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="username or password is not valid; try again")
    limiter.record_success(payload.username, client)
    token, row = create_session(session, user, utc_datetime(now))
    return SessionOut(token=token, expires_at=row.expires_at, username=user.username, role=user.role, opd=user.opd)


@router.delete("/sessions/current", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401))
def log_out(request: Request, caller: StaffCaller, session: SessionDep) -> Response:
    token = bearer_token(request)
    if not token.startswith(SESSION_TOKEN_PREFIX):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="only a session token can be logged out")
    end_session(session, token)
    logger.info("%s logged out", caller.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=CallerOut, responses=errors(401, 403))
def who_am_i(caller: StaffCaller) -> CallerOut:
    return CallerOut(actor=caller.actor, role=caller.role, username=caller.username, opd=caller.opd)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=errors(401, 403))
def add_user(payload: UserIn, caller: AdminCaller, session: SessionDep, settings: SettingsDep) -> UserOut:
    try:
        user = create_user(session, payload.username, payload.password, payload.role, payload.opd,
                           utc_datetime(settings.clock()))
    except AccountError as exc:
        # The error detail repeats the rejected value, except a password.
        rejected_value = "" if exc.field == "password" else getattr(payload, exc.field)
        raise FieldError(exc.field, exc.message("en"), rejected_value) from None
    logger.info("%s created staff account %d, role %s", caller.actor, user.id, user.role)
    return UserOut.of(user)


@router.get("/users", response_model=list[UserOut], responses=errors(401, 403))
def list_users(caller: OverseerCaller, session: SessionDep) -> list[UserOut]:
    return [UserOut.of(user) for user in session.scalars(select(StaffUser).order_by(StaffUser.id))]


@router.post("/users/{user_id}/deactivate", response_model=UserOut, responses=errors(401, 403, 404))
def deactivate_user(user_id: Annotated[int, Path(ge=1, le=MAX_ID)], caller: AdminCaller, session: SessionDep) -> UserOut:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"staff account {user_id} not found")
    user.active = False
    session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))
    session.commit()
    logger.info("%s deactivated staff account %d", caller.actor, user_id)
    return UserOut.of(user)


@router.get("/audit-log", response_model=list[AuditEntryOut], responses=errors(401, 403))
def read_audit_log(
    caller: OverseerCaller,
    session: SessionDep,
    subject_kind: Annotated[str | None, Query(max_length=32)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntryOut]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject_kind is not None:
        query = query.where(AuditEntry.subject_kind == subject_kind)
    if subject_id is not None:
        query = query.where(AuditEntry.subject_id == subject_id)
    return [
        AuditEntryOut(id=e.id, at=e.at, actor=e.actor, action=e.action, subject_kind=e.subject_kind,
                      subject_id=e.subject_id, request=e.request)
        for e in session.scalars(query)
    ]
