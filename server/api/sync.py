"""Terminal sync: pushing redemption records and pulling entitlements.

Both routes need a signed terminal request (see card.request_auth).

POST /api/v1/sync/redemptions
  {records: [base64 COSE_Sign1 record]}, at most 1000 records
  -> 200 {accepted: [record_id], duplicates: [record_id],
          rejected: [{index, record_id or null, reason}]}
  A terminal marks a record done when it is accepted or a duplicate, and
  keeps a rejected one for an operator to look at. Sending a batch again,
  in any order, changes nothing. The accepted record ids are queued in the
  same transaction, and server.reconcile_queue reconciles them after the
  response, so reconciliation neither delays nor affects the acknowledgement.

GET /api/v1/sync/entitlements?program=CODE
  -> 200 {program, period: "YYYY-MM" (WIB), quota, unit, benefit_kind, pin_required,
          offline_rule: {max_offline_hours, action: "refuse" | "warn"} or null,
          households: [{household_id: hex, used, persons, amount, valid_until}]}
  Only for a programme offered at the terminal's service point, else 403.
  "used" counts the whole quota period (month, semester or year) and
  server.entitlements says which households are listed. A quota of 0 means
  the programme has no quota (status programmes such as BPJS PBI).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, StrictStr

from server.api.responses import errors
from server.auth import CurrentTerminal
from server.db import SessionDep
from server.entitlements import household_entitlements
from server.fields import ProgrammeCode
from server.intake import BatchResult, store_batch
from server.models import Programme
from server.models_register import ProgrammeRule
from server.periods import period_of, utc_datetime
from server.reconcile_queue import enqueue_batch
from server.settings import SettingsDep

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/sync", tags=["sync"])


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[StrictStr]


class RejectionOut(BaseModel):
    index: int
    record_id: str | None
    reason: str


class PushOut(BaseModel):
    accepted: list[str]
    duplicates: list[str]
    rejected: list[RejectionOut]


class HouseholdOut(BaseModel):
    household_id: str
    used: int
    persons: int | None = None
    amount: int | None = None
    valid_until: date | None = None


class OfflineRuleOut(BaseModel):
    """How long a terminal may serve the programme without a sync, and what it does after that."""

    max_offline_hours: int
    action: str


class EntitlementsOut(BaseModel):
    program: str
    period: str
    quota: int
    unit: str
    benefit_kind: str | None = None
    pin_required: bool | None = None
    offline_rule: OfflineRuleOut | None = None
    households: list[HouseholdOut]


def _log_batch(terminal_id: str, total: int, result: BatchResult) -> None:
    logger.info(
        "terminal %s pushed %d records: %d accepted, %d duplicates, %d rejected",
        terminal_id, total, len(result.accepted), len(result.duplicates), len(result.rejected),
    )
    if result.rejected:
        first = result.rejected[0]
        logger.warning(
            "terminal %s: %d records rejected; first at index %d, record %s: %s",
            terminal_id, len(result.rejected), first.index, first.record_id, first.reason,
        )


@router.post("/redemptions", response_model=PushOut, responses=errors(401, 413))
def push_redemptions(
    payload: PushIn, request: Request, terminal: CurrentTerminal, session: SessionDep, settings: SettingsDep
) -> PushOut:
    limit = settings.max_batch_records
    if len(payload.records) > limit:
        raise HTTPException(
            413,
            detail=f"batch has {len(payload.records)} records; the limit is {limit}, so split it and send the parts",
        )
    now = settings.clock()
    result = store_batch(session, terminal, payload.records, now, settings.max_record_bytes,
                         on_accepted=lambda accepted: enqueue_batch(session, terminal.terminal_id, accepted,
                                                                      utc_datetime(now)))
    _log_batch(terminal.terminal_id, len(payload.records), result)
    if result.accepted:
        request.app.state.reconciler.notify()
    return PushOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=[RejectionOut(index=r.index, record_id=r.record_id, reason=r.reason) for r in result.rejected],
    )


@router.get("/entitlements", response_model=EntitlementsOut, responses=errors(401, 403))
def get_entitlements(
    program: Annotated[ProgrammeCode, Query(description="programme code, such as 'lpg'")],
    terminal: CurrentTerminal,
    session: SessionDep,
    settings: SettingsDep,
) -> EntitlementsOut:
    if program not in terminal.service_point.programme_codes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=(
                f"programme '{program}' is not offered at service point {terminal.service_point_id} "
                f"of terminal '{terminal.terminal_id}'"
            ),
        )
    programme = session.get(Programme, program)
    now = settings.clock()
    period = period_of(now)
    rule = session.get(ProgrammeRule, program)
    households = household_entitlements(session, programme, now)
    logger.info("terminal %s pulled %d %s entitlements for %s", terminal.terminal_id, len(households), program, period)
    return EntitlementsOut(
        program=programme.code,
        period=period,
        quota=programme.quota,
        unit=programme.unit,
        benefit_kind=rule.benefit_kind if rule else None,
        pin_required=rule.pin_required if rule else None,
        offline_rule=_offline_rule(rule),
        households=[
            HouseholdOut(household_id=h.household_id.hex(), used=h.used, persons=h.persons, amount=h.amount,
                         valid_until=h.valid_until)
            for h in households
        ],
    )


def _offline_rule(rule: ProgrammeRule | None) -> OfflineRuleOut | None:
    if rule is None or rule.offline_max_hours is None or rule.offline_action is None:
        return None
    return OfflineRuleOut(max_offline_hours=rule.offline_max_hours, action=rule.offline_action)
