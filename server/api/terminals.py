"""Terminal enrolment, authenticated by a one-time enrolment code.

POST /api/v1/terminals/enrol
  {code, terminal_id, public_key: base64 SubjectPublicKeyInfo DER (P-256), name}
  -> 201 {terminal_id, service_point_id, service_point_name, kelurahan, kelurahan_name, programmes: [code]}

kelurahan (the 10-digit code) and kelurahan_name are null while the
service point has no kelurahan set; terminals print them on receipts.

An unknown, used or expired code gives 403. The code is marked used in the
same transaction that stores the terminal, so a failed enrolment (409 for a
terminal id or key that is already enrolled, 422 for a bad key) leaves the
code usable.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from card.keys import kid_of, public_key_from_spki, spki_of
from issuance import regions
from server.api.responses import errors
from server.db import SessionDep
from server.enrolment_codes import hash_code
from server.errors import FieldError
from server.fields import Name, TerminalId, decode_base64
from server.models import EnrolmentCode, ServicePoint, Terminal
from server.models_findings import ServicePointArea
from server.periods import utc_datetime
from server.settings import SettingsDep

__all__ = ["router", "EnrolmentIn", "EnrolmentOut"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/terminals", tags=["terminals"])

_MAX_SPKI_BASE64 = 512


class EnrolmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    terminal_id: TerminalId
    public_key: Annotated[StrictStr, Field(min_length=1, max_length=_MAX_SPKI_BASE64)]
    name: Name


class EnrolmentOut(BaseModel):
    terminal_id: str
    service_point_id: int
    service_point_name: str
    kelurahan: str | None
    kelurahan_name: str | None
    programmes: list[str]


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


def _valid_code(session: Session, code: str, terminal_id: str, now: datetime) -> EnrolmentCode:
    """Return the stored code or raise 403 when it is unknown, used or expired."""
    row = session.scalars(select(EnrolmentCode).where(EnrolmentCode.code_hash == hash_code(code))).one_or_none()
    if row is None:
        logger.warning("enrolment of terminal %s rejected: unknown code", terminal_id)
        raise _forbidden("enrolment code is not valid; check it or ask an administrator for a new one")
    if row.used_at is not None:
        logger.warning("enrolment of terminal %s rejected: code %d was used by %s", terminal_id, row.id, row.used_by)
        raise _forbidden("enrolment code was already used; ask an administrator for a new one")
    if row.expires_at <= now:
        logger.warning("enrolment of terminal %s rejected: code %d expired", terminal_id, row.id)
        raise _forbidden(f"enrolment code expired at {row.expires_at.isoformat()}; ask an administrator for a new one")
    return row


def _parse_public_key(text: str) -> ec.EllipticCurvePublicKey:
    try:
        return public_key_from_spki(decode_base64(text))
    except ValueError:
        raise FieldError("public_key", "is not a base64 SubjectPublicKeyInfo DER of a P-256 key", text) from None


def _check_not_enrolled(session: Session, terminal_id: str, kid: bytes) -> None:
    if session.get(Terminal, terminal_id) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"terminal '{terminal_id}' is already enrolled; choose another terminal id"
        )
    if session.scalars(select(Terminal.terminal_id).where(Terminal.kid == kid)).first() is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail="this public key is already enrolled for another terminal; generate a new key pair",
        )


def _consume_code(session: Session, code_row: EnrolmentCode, terminal_id: str, now: datetime) -> None:
    result = session.execute(
        update(EnrolmentCode)
        .where(EnrolmentCode.id == code_row.id, EnrolmentCode.used_at.is_(None))
        .values(used_at=now, used_by=terminal_id)
    )
    if result.rowcount != 1:
        session.rollback()
        raise _forbidden("enrolment code was already used; ask an administrator for a new one")


@router.post("/enrol", status_code=status.HTTP_201_CREATED, response_model=EnrolmentOut, responses=errors(403, 409))
def enrol_terminal(payload: EnrolmentIn, session: SessionDep, settings: SettingsDep) -> EnrolmentOut:
    now = utc_datetime(settings.clock())
    code_row = _valid_code(session, payload.code, payload.terminal_id, now)
    public_key = _parse_public_key(payload.public_key)
    kid = kid_of(public_key)
    _check_not_enrolled(session, payload.terminal_id, kid)

    _consume_code(session, code_row, payload.terminal_id, now)
    session.add(
        Terminal(
            terminal_id=payload.terminal_id,
            name=payload.name,
            public_key=spki_of(public_key),
            kid=kid,
            service_point_id=code_row.service_point_id,
            enrolled_at=now,
        )
    )
    try:
        session.commit()
    except IntegrityError:
        # A concurrent enrolment took the terminal id or the key; the code stays unused.
        session.rollback()
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"terminal '{payload.terminal_id}' or its public key was enrolled concurrently; retry",
        ) from None

    service_point = session.get(ServicePoint, code_row.service_point_id)
    logger.info(
        "enrolled terminal %s at service point %d, key kid %s",
        payload.terminal_id, code_row.service_point_id, kid.hex(),
    )
    kelurahan = _kelurahan_of(session, code_row.service_point_id)
    return EnrolmentOut(
        terminal_id=payload.terminal_id,
        service_point_id=code_row.service_point_id,
        service_point_name=service_point.name,
        kelurahan=kelurahan.code if kelurahan else None,
        kelurahan_name=kelurahan.name if kelurahan else None,
        programmes=service_point.programme_codes,
    )


def _kelurahan_of(session: Session, service_point_id: int) -> regions.Kelurahan | None:
    """Return the kelurahan set for the service point, or None when none is set or its code is unknown."""
    area = session.get(ServicePointArea, service_point_id)
    if area is None:
        return None
    try:
        return regions.kelurahan_by_code(area.kelurahan)
    except regions.RegionNotFoundError:
        logger.warning("service point %d has unknown kelurahan code %s", service_point_id, area.kelurahan)
        return None
