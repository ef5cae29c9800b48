"""Service points and their terminal enrolment codes (administrator calls).

POST /api/v1/service-points {name, kind, programmes: [code]} -> 201 {id, name, kind, programmes}
POST /api/v1/service-points/{id}/enrolment-codes -> 201 {code, service_point_id, expires_at}

An enrolment code can enrol one terminal within 24 hours. The response is
the only place the code appears: the server keeps its hash.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select

from server.api.responses import errors
from server.db import SessionDep
from server.enrolment_codes import generate_code, hash_code
from server.errors import FieldError
from server.fields import Name, ProgrammeCode
from server.models import EnrolmentCode, Programme, ServicePoint
from server.periods import utc_datetime
from server.sessions import AdminCaller
from server.settings import SettingsDep

__all__ = ["router", "ServicePointIn", "ServicePointOut", "EnrolmentCodeOut"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/service-points", tags=["service points"])

_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _check_kind(text: str) -> str:
    if not _KIND_PATTERN.match(text):
        raise ValueError("must be 1 to 40 lower-case letters, digits or '_', such as 'lpg_agent'")
    return text


def _check_unique(codes: list[str]) -> list[str]:
    if len(set(codes)) != len(codes):
        raise ValueError("lists a programme more than once")
    return codes


class ServicePointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: Annotated[StrictStr, AfterValidator(_check_kind)]
    programmes: Annotated[list[ProgrammeCode], Field(min_length=1, max_length=50), AfterValidator(_check_unique)]


class ServicePointOut(BaseModel):
    id: int
    name: str
    kind: str
    programmes: list[str]


class EnrolmentCodeOut(BaseModel):
    code: str
    service_point_id: int
    expires_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ServicePointOut, responses=errors(401, 403))
def create_service_point(
    payload: ServicePointIn, admin: AdminCaller, session: SessionDep, settings: SettingsDep
) -> ServicePointOut:
    found = session.scalars(select(Programme).where(Programme.code.in_(payload.programmes))).all()
    by_code = {programme.code: programme for programme in found}
    for code in payload.programmes:
        if code not in by_code:
            raise FieldError("programmes", "names a programme that does not exist", code)

    service_point = ServicePoint(
        name=payload.name,
        kind=payload.kind,
        created_at=utc_datetime(settings.clock()),
        programmes=[by_code[code] for code in payload.programmes],
    )
    session.add(service_point)
    session.commit()
    logger.info("created service point %d, kind %s, programmes %s", service_point.id, service_point.kind,
                ",".join(service_point.programme_codes))
    return ServicePointOut(
        id=service_point.id,
        name=service_point.name,
        kind=service_point.kind,
        programmes=service_point.programme_codes,
    )


@router.post(
    "/{service_point_id}/enrolment-codes", status_code=status.HTTP_201_CREATED, response_model=EnrolmentCodeOut,
    responses=errors(401, 403, 404),
)
def create_enrolment_code(
    service_point_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="service point id")],
    admin: AdminCaller,
    session: SessionDep,
    settings: SettingsDep,
) -> EnrolmentCodeOut:
    if session.get(ServicePoint, service_point_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"service point {service_point_id} not found")
    code = generate_code()
    now = utc_datetime(settings.clock())
    row = EnrolmentCode(
        code_hash=hash_code(code),
        service_point_id=service_point_id,
        created_at=now,
        expires_at=now + settings.enrolment_code_lifetime,
    )
    session.add(row)
    session.commit()
    logger.info("created enrolment code %d for service point %d, expires %s",
                row.id, service_point_id, row.expires_at.isoformat())
    return EnrolmentCodeOut(code=code, service_point_id=service_point_id, expires_at=row.expires_at)
