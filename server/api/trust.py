"""Trust list and card revocation lists: upload by administrators, download by terminals.

The city root key stays offline. The administrator pins the root public key
once, then uploads each trust list signed offline with `kartu keys`. The
server verifies every upload against the pinned key and serves the newest. Revoking a card
makes the server sign the next revocation list version with its sync key. The
first trust list upload that names the sync key also publishes an empty
version 1, so terminals hold a revocation list before the first revocation.

Administrator routes (administrator token or an administrator session):
  PUT  /api/v1/trust/root {public_key: base64 SubjectPublicKeyInfo DER}
       -> 201 {kid} when pinned, 200 when this key was already pinned,
          409 when another key is pinned
  PUT  /api/v1/trust/list {trust_list: base64 COSE_Sign1}
       -> 201 {sequence, keys}; 422 when it does not verify to the pinned
          root, 409 when no root is pinned or the sequence is not higher
  POST /api/v1/cards/{card_number}/revocation {reason, revoked_from?: YYYY-MM-DD}
       -> 201 {card_number, reason, revoked_from, list_version}; 404 for an
          unregistered card, 409 when it is revoked already or the sync key
          is not in the trust list, 422 for a revoked_from after today (WIB),
          503 when the server was started without a sync key. Each error
          body has a "code": card_not_registered (404),
          card_already_revoked, revocation_conflict or
          revocation_collision (409, the last one worth sending again),
          revoked_from_after_today (422), no_sync_key (503).

Terminal routes (signed terminal requests):
  GET /api/v1/trust/list -> 200 {sequence, trust_list: base64}; 404 before the first upload
  GET /api/v1/trust/revocations?since=V
       -> 200 {version, deltas: [base64], gap}. deltas bring version V to
          the latest, oldest first. gap is true when V is not a version the
          deltas can start from (V above the latest, or more than
          MAX_DELTAS behind), and the terminal then fetches the full list.
  GET /api/v1/trust/revocations/full -> 200 {version, full: base64}; 404 before the first list is published
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from card.keys import kid_of, public_key_from_spki
from card.trustlist import TrustListError
from server.api.responses import ErrorOut, errors
from server.auth import CurrentTerminal
from server.db import SessionDep
from server.errors import CodedError, FieldError
from server.fields import CardNumber, IsoDate, decode_base64, encode_base64
from server.models import Card
from server.models_revocation import MAX_REASON_LENGTH, CardRevocation, RevocationListVersion
from server.periods import wib_date
from server.revocations import (
    TrustConflict,
    latest_revocation_version,
    latest_trust_list,
    publish_empty_revocation_list,
    pin_root,
    revocation_day_is_valid,
    revoke_card,
    store_trust_list,
)
from server.sessions import AdminCaller
from server.settings import SettingsDep
from server.sync_key_check import check_sync_key_now, require_sync_signer

__all__ = ["router", "MAX_DELTAS"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["trust"])

# A terminal more than this many versions behind gets the full list in one
# answer instead of a long run of deltas.
MAX_DELTAS = 200
# Estimate: a key entry is about 110 bytes, so a list of a few hundred keys
# takes tens of kilobytes and this limit leaves a wide margin.
_MAX_LIST_BASE64 = 1 << 20
_MAX_SPKI_BASE64 = 512


class RootIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: Annotated[StrictStr, Field(min_length=1, max_length=_MAX_SPKI_BASE64)]


class RootOut(BaseModel):
    kid: str


class TrustListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trust_list: Annotated[StrictStr, Field(min_length=1, max_length=_MAX_LIST_BASE64)]


class TrustListOut(BaseModel):
    sequence: int
    keys: int


class SignedTrustListOut(BaseModel):
    sequence: int
    trust_list: str


class RevocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[StrictStr, Field(min_length=1, max_length=MAX_REASON_LENGTH)]
    revoked_from: IsoDate | None = None


class RevocationOut(BaseModel):
    card_number: str
    reason: str
    revoked_from: date
    list_version: int


class DeltasOut(BaseModel):
    version: int
    deltas: list[str]
    gap: bool


class FullListOut(BaseModel):
    version: int
    full: str


def _conflict(exc: TrustConflict) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=str(exc))


def _blob(field: str, text: str) -> bytes:
    try:
        return decode_base64(text)
    except ValueError as exc:
        raise FieldError(field, str(exc), text) from None


@router.put("/trust/root", response_model=RootOut, status_code=201, responses=errors(401, 403, 409, 422))
def put_root(payload: RootIn, _caller: AdminCaller, session: SessionDep, settings: SettingsDep,
             response: Response) -> RootOut:
    try:
        public_key = public_key_from_spki(_blob("public_key", payload.public_key))
    except ValueError as exc:
        raise FieldError("public_key", f"is not a P-256 SubjectPublicKeyInfo ({exc})", payload.public_key) from None
    try:
        pinned = pin_root(session, public_key, settings.clock())
    except TrustConflict as exc:
        logger.warning("root key %s rejected: %s", kid_of(public_key).hex(), exc)
        raise _conflict(exc) from None
    if not pinned:
        response.status_code = status.HTTP_200_OK
    return RootOut(kid=kid_of(public_key).hex())


@router.put("/trust/list", response_model=TrustListOut, status_code=201, responses=errors(401, 403, 409, 422))
def put_trust_list(payload: TrustListIn, caller: AdminCaller, session: SessionDep,
                   settings: SettingsDep, request: Request) -> TrustListOut:
    signed = _blob("trust_list", payload.trust_list)
    try:
        trust_list = store_trust_list(session, signed, settings.clock())
    except TrustListError as exc:
        logger.warning("trust list upload by %s rejected: %s", caller.actor, exc)
        raise FieldError("trust_list", str(exc), payload.trust_list[:20]) from None
    except TrustConflict as exc:
        logger.warning("trust list upload by %s rejected: %s", caller.actor, exc)
        raise _conflict(exc) from None
    check_sync_key_now(request.app, session, settings.clock())
    signer = getattr(request.app.state, "sync_signer", None)
    if signer is not None:
        publish_empty_revocation_list(session, signer, settings.clock())
    return TrustListOut(sequence=trust_list.sequence, keys=len(trust_list.keys))


@router.get("/trust/list", response_model=SignedTrustListOut, responses=errors(401, 404))
def get_trust_list(_terminal: CurrentTerminal, session: SessionDep) -> SignedTrustListOut:
    latest = latest_trust_list(session)
    if latest is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no trust list has been uploaded to this server yet")
    return SignedTrustListOut(sequence=latest.sequence, trust_list=encode_base64(latest.signed))


@router.get("/trust/revocations", response_model=DeltasOut, responses=errors(401, 422))
def get_revocation_deltas(
    since: Annotated[int, Query(ge=0, description="the revocation list version the terminal holds (0 for none)")],
    _terminal: CurrentTerminal,
    session: SessionDep,
) -> DeltasOut:
    latest = latest_revocation_version(session)
    version = latest.version if latest else 0
    if since == version:
        return DeltasOut(version=version, deltas=[], gap=False)
    if since > version or version - since > MAX_DELTAS:
        return DeltasOut(version=version, deltas=[], gap=True)
    rows = session.scalars(
        select(RevocationListVersion.delta)
        .where(RevocationListVersion.version > since)
        .order_by(RevocationListVersion.version)
    ).all()
    return DeltasOut(version=version, deltas=[encode_base64(delta) for delta in rows], gap=False)


@router.get("/trust/revocations/full", response_model=FullListOut, responses=errors(401, 404))
def get_full_revocation_list(_terminal: CurrentTerminal, session: SessionDep) -> FullListOut:
    latest = latest_revocation_version(session)
    if latest is None or latest.full is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail="no revocation list has been published on this server yet; upload a trust list that names the sync key",
        )
    return FullListOut(version=latest.version, full=encode_base64(latest.full))


@router.post(
    "/cards/{card_number}/revocation", response_model=RevocationOut, status_code=201,
    responses={**errors(401, 403, 404, 409, 422), 503: {"model": ErrorOut, "description": "The server has no sync key."}},
)
def post_revocation(
    card_number: Annotated[CardNumber, Path(description="the 16-digit card number")],
    payload: RevocationIn,
    caller: AdminCaller,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
) -> RevocationOut:
    signer = require_sync_signer(request, "revocation lists")
    now = settings.clock()
    revoked_from = payload.revoked_from or wib_date(now)
    if not revocation_day_is_valid(revoked_from, now):
        raise FieldError(
            "revoked_from", f"is after today ({wib_date(now)} WIB); revoke the card on the day it stops being valid",
            revoked_from.isoformat(), code="revoked_from_after_today",
        )
    card = session.get(Card, card_number)
    if card is None:
        raise CodedError(status.HTTP_404_NOT_FOUND, "card_not_registered",
                         detail=f"card {card_number} is not registered on this server")
    existing = session.get(CardRevocation, card_number)
    if existing is not None:
        logger.info("card %s is already revoked (list version %d)", card_number, existing.list_version)
        raise CodedError(
            status.HTTP_409_CONFLICT, "card_already_revoked",
            detail=f"card {card_number} is already revoked from {existing.revoked_from} "
                   f"(revocation list version {existing.list_version})",
        )
    try:
        revocation = revoke_card(session, signer, card, payload.reason, revoked_from, now)
    except TrustConflict as exc:
        session.rollback()
        logger.warning("revocation of card %s rejected: %s", card_number, exc)
        raise CodedError(status.HTTP_409_CONFLICT, "revocation_conflict", detail=str(exc)) from None
    except IntegrityError:
        session.rollback()
        logger.warning("revocation of card %s collided with another revocation", card_number)
        raise CodedError(
            status.HTTP_409_CONFLICT, "revocation_collision",
            detail=f"another revocation was published at the same moment as card {card_number}'s; send the request again",
        ) from None
    logger.info("card %s revoked by %s", card_number, caller.actor)
    return RevocationOut(
        card_number=card_number, reason=revocation.reason, revoked_from=revocation.revoked_from,
        list_version=revocation.list_version,
    )
