"""Programmes and their rules.

GET /api/v1/programmes (any staff) -> 200 {count, programmes: [{code, name, owner_opd, unit, quota,
    quota_scope, quota_period, desil_min, desil_max, benefit_kind, pin_required, eligibility,
    offline_max_hours, offline_action}]}
PUT /api/v1/programmes/{code}/rule {desil_min, desil_max, pin_required, eligibility,
    offline_max_hours?, offline_action?} (administrator)
  -> 200 {programme, entitlements: {added, changed, removed, total}}
  Replaces the rule and recomputes the programme's entitlements in the same
  transaction. The eligibility keys are described in server.programmes.
  offline_max_hours and offline_action ("refuse" or "warn") come together or
  not at all; terminals receive them with the entitlements (server.api.sync).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from server.api.register import RecomputeOut
from server.db import SessionDep
from server.entitlements import recompute_entitlements
from server.fields import Desil, ProgrammeCode
from server.models import Programme
from server.models_register import ProgrammeRule
from server.periods import utc_datetime
from server.programmes import Eligibility
from server.api.responses import errors
from server.sessions import AdminCaller, StaffCaller
from server.settings import SettingsDep

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/programmes", tags=["programmes"])

# Maximum offline limit an administrator can set: 90 days.
MAX_OFFLINE_HOURS = 90 * 24


class ProgrammeOut(BaseModel):
    code: str
    name: str
    owner_opd: str
    unit: str
    quota: int
    quota_scope: str
    quota_period: str
    desil_min: int
    desil_max: int
    benefit_kind: str | None
    pin_required: bool | None
    eligibility: dict[str, Any] | None
    offline_max_hours: int | None = None
    offline_action: str | None = None


class ProgrammeListOut(BaseModel):
    count: int
    programmes: list[ProgrammeOut]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    desil_min: Desil
    desil_max: Desil
    pin_required: StrictBool
    eligibility: Eligibility
    offline_max_hours: Annotated[StrictInt, Field(ge=1, le=MAX_OFFLINE_HOURS)] | None = None
    offline_action: Literal["refuse", "warn"] | None = None

    @model_validator(mode="after")
    def _check_range(self) -> "RuleIn":
        if self.desil_min > self.desil_max:
            raise ValueError(f"desil_min {self.desil_min} is above desil_max {self.desil_max}")
        if (self.offline_max_hours is None) != (self.offline_action is None):
            raise ValueError("offline_max_hours and offline_action must be given together, or both left out")
        return self


class RuleChangeOut(BaseModel):
    programme: ProgrammeOut
    entitlements: RecomputeOut


def _programme_out(programme: Programme, rule: ProgrammeRule | None) -> ProgrammeOut:
    return ProgrammeOut(
        code=programme.code, name=programme.name, owner_opd=programme.owner_opd, unit=programme.unit,
        quota=programme.quota, quota_scope=programme.quota_scope, quota_period=programme.quota_period,
        desil_min=programme.desil_min, desil_max=programme.desil_max,
        benefit_kind=rule.benefit_kind if rule else None,
        pin_required=rule.pin_required if rule else None,
        eligibility=rule.eligibility if rule else None,
        offline_max_hours=rule.offline_max_hours if rule else None,
        offline_action=rule.offline_action if rule else None,
    )


@router.get("", response_model=ProgrammeListOut, responses=errors(401, 403))
def list_programmes(caller: StaffCaller, session: SessionDep) -> ProgrammeListOut:
    programmes = session.query(Programme).order_by(Programme.code).all()
    rules = {rule.program: rule for rule in session.query(ProgrammeRule).all()}
    return ProgrammeListOut(
        count=len(programmes),
        programmes=[_programme_out(programme, rules.get(programme.code)) for programme in programmes],
    )


@router.put("/{code}/rule", response_model=RuleChangeOut, responses=errors(401, 403, 404))
def replace_rule(code: ProgrammeCode, payload: RuleIn, admin: AdminCaller, session: SessionDep,
                 settings: SettingsDep) -> RuleChangeOut:
    programme = session.get(Programme, code)
    rule = session.get(ProgrammeRule, code)
    if programme is None or rule is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"programme '{code}' not found")
    now = utc_datetime(settings.clock())
    programme.desil_min, programme.desil_max = payload.desil_min, payload.desil_max
    rule.pin_required = payload.pin_required
    rule.eligibility = payload.eligibility.stored()
    rule.offline_max_hours, rule.offline_action = payload.offline_max_hours, payload.offline_action
    rule.updated_at = now
    session.flush()
    result = recompute_entitlements(session, now, [code])
    session.commit()
    logger.info("replaced the rule of programme %s", code)
    return RuleChangeOut(programme=_programme_out(programme, rule), entitlements=RecomputeOut(**result.__dict__))
