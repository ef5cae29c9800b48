"""Reconciliation findings and service point locations.

GET /api/v1/findings?kind=KIND&program=CODE&limit=N (any staff; an OPD
operator sees only its OPD's programmes)
  -> 200 {count, findings: [{id, kind, program, subject, detail, record_ids,
          first_found_at, last_found_at}]}, newest first
  A finding's subject is a card number or household id, so each subject
  listed is written to the audit log as a read of personal data.
The other two calls need an administrator.
POST /api/v1/findings/reconcile -> 200 {changed}: runs every check over every stored record
PUT /api/v1/service-points/{id}/kelurahan {kelurahan} -> 200 {service_point_id, kelurahan}
  Sets where a service point is, which the distant-use check needs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from issuance import regions
from server.audit import SUBJECT_FINDING, record_reads
from server.db import SessionDep
from server.errors import FieldError
from server.fields import KelurahanCode, ProgrammeCode
from server.models import ServicePoint
from server.models_findings import Finding, ServicePointArea, finding_records
from server.periods import utc_datetime
from server.reconcile import reconcile_all
from server.api.responses import errors
from server.sessions import AdminCaller, StaffCaller
from server.settings import SettingsDep

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["findings"])

FindingKind = Literal["quota_overuse", "distant_use", "no_card_signature", "terminal_volume", "pin_unproven"]


class FindingOut(BaseModel):
    id: int
    kind: str
    program: str
    subject: str
    detail: dict[str, Any]
    record_ids: list[str]
    first_found_at: datetime
    last_found_at: datetime


class FindingListOut(BaseModel):
    count: int
    findings: list[FindingOut]


class ReconcileOut(BaseModel):
    changed: int


class AreaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kelurahan: KelurahanCode


class AreaOut(BaseModel):
    service_point_id: int
    kelurahan: str


def _record_ids(session, finding_ids: list[int]) -> dict[int, list[str]]:
    linked: dict[int, list[str]] = {finding_id: [] for finding_id in finding_ids}
    rows = session.execute(
        select(finding_records.c.finding_id, finding_records.c.record_id)
        .where(finding_records.c.finding_id.in_(finding_ids))
        .order_by(finding_records.c.record_id)
    )
    for finding_id, record_id in rows:
        linked[finding_id].append(record_id)
    return linked


@router.get("/findings", response_model=FindingListOut, responses=errors(401, 403))
def list_findings(
    caller: StaffCaller,
    session: SessionDep,
    request: Request,
    kind: Annotated[FindingKind | None, Query(description="only findings of this kind")] = None,
    program: Annotated[ProgrammeCode | None, Query(description="only findings of this programme")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="most recent findings to list")] = 100,
) -> FindingListOut:
    query = select(Finding).order_by(Finding.last_found_at.desc(), Finding.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(Finding.kind == kind)
    if program is not None:
        query = query.where(Finding.program == program)
    scope = caller.programme_scope(session)
    if scope is not None:
        query = query.where(Finding.program.in_(scope))
    findings = session.scalars(query).all()
    records = _record_ids(session, [finding.id for finding in findings])
    record_reads(session, request, caller, SUBJECT_FINDING, [finding.subject for finding in findings])
    return FindingListOut(
        count=len(findings),
        findings=[
            FindingOut(id=finding.id, kind=finding.kind, program=finding.program, subject=finding.subject,
                       detail=finding.detail, record_ids=records[finding.id],
                       first_found_at=finding.first_found_at, last_found_at=finding.last_found_at)
            for finding in findings
        ],
    )


@router.post("/findings/reconcile", response_model=ReconcileOut, responses=errors(401, 403))
def run_reconciliation(admin: AdminCaller, session: SessionDep, settings: SettingsDep) -> ReconcileOut:
    changed = reconcile_all(session, utc_datetime(settings.clock()))
    session.commit()
    logger.info("full reconciliation: %d findings added or changed", changed)
    return ReconcileOut(changed=changed)


@router.put("/service-points/{service_point_id}/kelurahan", response_model=AreaOut, responses=errors(401, 403, 404))
def set_service_point_kelurahan(
    service_point_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="service point id")],
    payload: AreaIn,
    admin: AdminCaller,
    session: SessionDep,
) -> AreaOut:
    if session.get(ServicePoint, service_point_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"service point {service_point_id} not found")
    try:
        regions.kelurahan_by_code(payload.kelurahan)
    except regions.RegionNotFoundError:
        raise FieldError("kelurahan", "is not a kelurahan of Kota Jambi", payload.kelurahan) from None
    area = session.get(ServicePointArea, service_point_id)
    if area is None:
        session.add(ServicePointArea(service_point_id=service_point_id, kelurahan=payload.kelurahan))
    else:
        area.kelurahan = payload.kelurahan
    session.commit()
    logger.info("service point %d is in kelurahan %s", service_point_id, payload.kelurahan)
    return AreaOut(service_point_id=service_point_id, kelurahan=payload.kelurahan)
