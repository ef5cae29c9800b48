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

GET /api/v1/sync/entitlements?program=CODE&since=REVISION
  -> 200 {program, period: "YYYY-MM" (WIB), households: count, revision,
          base_revision: int or null, removed: count,
          entitlement_set: base64 COSE_Sign1}
  entitlement_set is the only part a terminal applies: the programme's
  rules (quota, unit, benefit kind, PIN, offline rule) and its households
  with their use, signed by the server sync key for the calling terminal
  (layout in card.entitlement_set, checks in terminal.entitlement_check).
  since is the revision the terminal holds (default 0). The set is a delta
  from since (base_revision = since) when the server can build one, else a
  full set (base_revision null); server.entitlement_sets says when.
  The unsigned fields repeat the set's content for logs and people.
  Only for a programme offered at the terminal's service point, else 403;
  503 with code no_sync_key when the server was started without a sync key,
  or sync_key_not_trusted when that key is not a sync key of the stored
  trust list on the current day (server.sync_key_check).
  "used" counts the whole quota period (month, semester or year) and
  server.entitlements says which households are listed. A quota of 0 means
  the programme has no quota (status programmes such as BPJS PBI).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, StrictStr

from server.api.responses import ErrorOut, errors
from server.auth import CurrentTerminal
from server.db import SessionDep
from server.entitlement_sets import signed_entitlement_set
from server.fields import ProgrammeCode, encode_base64
from server.intake import BatchResult, store_batch
from server.models import Programme
from server.periods import utc_datetime
from server.reconcile_queue import enqueue_batch
from server.settings import SettingsDep
from server.sync_key_check import require_sync_signer, require_trusted_sync_key

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


class EntitlementsOut(BaseModel):
    program: str
    period: str
    households: int
    revision: int
    base_revision: int | None
    removed: int
    entitlement_set: str


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
    payload: PushIn, request: Request, response: Response, terminal: CurrentTerminal, session: SessionDep,
    settings: SettingsDep,
) -> PushOut:
    # The terminal opens a new connection for its next batch, which goes to whichever worker process
    # accepts it first. On a kept-alive connection every batch stays with one process, whose
    # interpreter lock then limits it while the other cores wait. In bench/ingest.py the workers
    # shared the CPU evenly only with this header.
    response.headers["Connection"] = "close"
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


@router.get(
    "/entitlements", response_model=EntitlementsOut,
    responses={**errors(401, 403), 503: {"model": ErrorOut, "description": "The server has no sync key."}},
)
def get_entitlements(
    program: Annotated[ProgrammeCode, Query(description="programme code, such as 'lpg'")],
    terminal: CurrentTerminal,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    since: Annotated[int, Query(ge=0, le=2**63 - 1, description="revision of the programme that the terminal "
                                                                "holds; 0 (the default) requests a full set")] = 0,
) -> EntitlementsOut:
    if program not in terminal.service_point.programme_codes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=(
                f"programme '{program}' is not offered at service point {terminal.service_point_id} "
                f"of terminal '{terminal.terminal_id}'"
            ),
        )
    signer = require_sync_signer(request, "entitlement sets")
    require_trusted_sync_key(request, session, signer, settings.clock())
    programme = session.get(Programme, program)
    entitlements, signed = signed_entitlement_set(session, signer, programme, terminal, since, settings.clock())
    logger.info("terminal %s pulled %s entitlements for %s since revision %d: %s to revision %d with %d households "
                "and %d removed, signed by sync key %s (%d bytes)",
                terminal.terminal_id, program, entitlements.period, since,
                "delta" if entitlements.is_delta else "full set", entitlements.revision,
                len(entitlements.households), len(entitlements.removed), signer.kid.hex(), len(signed))
    return EntitlementsOut(
        program=entitlements.program, period=entitlements.period, households=len(entitlements.households),
        revision=entitlements.revision, base_revision=entitlements.base_revision,
        removed=len(entitlements.removed), entitlement_set=encode_base64(signed),
    )
