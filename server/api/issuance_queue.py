"""The issuance queue: residents waiting for a card, read by the issuance station.

GET /api/v1/issuance/queue?limit=N (administrator)
  -> 200 {count, unmatched_households, residents: [{nik, kk, name,
          birth_date, sex, address, kelurahan, kelurahan_code, kecamatan,
          desil, relationship, reason, revoked_card}]}

Cards are registered per household, because the server stores no NIK with
a card. The queue therefore has one resident per household that is entitled
to at least one programme and has no active, unexpired card. That resident
is the household head (KEPALA KELUARGA), else the oldest member. reason is "reissue" when the
household had a card that was revoked, else "new", and revoked_card is then
the number of that household's most recently issued revoked card (else
null), which the station's batch records as the card the new one replaces.
A household imported without the household key has no household id and
cannot be matched to cards, so it is only counted in unmatched_households.

POST /api/v1/issuance/residents/lookup {nik} (administrator)
  -> 200 one resident in the same form, for a reissue: reason is "reissue"
     when the household has a registered card, else "new"; 404 when no
     imported resident has that NIK or that resident left the register. revoked_card is as in the queue. The
     NIK travels in the body, so it stays out of URLs and access logs.

Every resident returned is written to the personal-data audit log.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from issuance import regions
from server.api.responses import errors
from server.audit import SUBJECT_RESIDENT, record_reads
from server.db import SessionDep
from server.models import CARD_ACTIVE, CARD_REVOKED, Card
from server.models_register import Entitlement, Household, Resident
from server.periods import wib_date
from server.sessions import AdminCaller
from server.settings import SettingsDep

__all__ = ["router", "QueueOut", "QueuedResident"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/issuance", tags=["issuance"])

HEAD_OF_HOUSEHOLD = "KEPALA KELUARGA"
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class QueuedResident(BaseModel):
    nik: str
    kk: str
    name: str
    birth_date: str
    sex: str
    address: str
    kelurahan: str
    kelurahan_code: str
    kecamatan: str
    desil: int
    relationship: str
    reason: str
    revoked_card: str | None = None


class QueueOut(BaseModel):
    count: int
    unmatched_households: int
    residents: list[QueuedResident]


def _region_names(kelurahan_code: str) -> tuple[str, str]:
    """Return the kelurahan and kecamatan names, or the code twice when the code is not a Kota Jambi one."""
    try:
        kelurahan = regions.kelurahan_by_code(kelurahan_code)
    except regions.RegionNotFoundError:
        return kelurahan_code, kelurahan_code
    return kelurahan.name, kelurahan.kecamatan.name


def _queued(resident: Resident, household: Household, reason: str, revoked_card: str | None = None) -> QueuedResident:
    kelurahan, kecamatan = _region_names(resident.kelurahan)
    return QueuedResident(
        nik=resident.nik, kk=household.kk, name=resident.name, birth_date=resident.birth_date.isoformat(),
        sex=resident.sex, address=resident.address, kelurahan=kelurahan, kelurahan_code=resident.kelurahan,
        kecamatan=kecamatan, desil=resident.desil, relationship=resident.relationship, reason=reason,
        revoked_card=revoked_card,
    )


def _card_holder(members: list[Resident]) -> Resident:
    heads = [member for member in members if member.relationship == HEAD_OF_HOUSEHOLD]
    return heads[0] if heads else min(members, key=lambda member: (member.birth_date, member.id))


def _waiting_households(session: Session, today) -> list[Household]:
    entitled = select(Entitlement.household_pk)
    carded = select(Card.household_id).where(Card.status == CARD_ACTIVE, Card.expires >= today)
    return list(session.scalars(
        select(Household)
        .where(Household.id.in_(entitled), Household.household_id.is_not(None),
               Household.household_id.not_in(carded))
        .order_by(Household.id)
    ))


def _unmatched_count(session: Session) -> int:
    entitled = select(Entitlement.household_pk)
    return session.scalar(
        select(func.count()).select_from(Household)
        .where(Household.id.in_(entitled), Household.household_id.is_(None))
    )


def _latest_revoked_cards(session: Session, household_ids: list[bytes]) -> dict[bytes, str]:
    """Map each household id that has a revoked card to its most recently issued revoked card number."""
    rows = session.execute(
        select(Card.household_id, Card.card_number)
        .where(Card.status == CARD_REVOKED, Card.household_id.in_(household_ids))
        .order_by(Card.issued, Card.card_number)
    )
    return {household_id: card_number for household_id, card_number in rows}


@router.get("/queue", response_model=QueueOut, responses=errors(401, 403))
def get_queue(
    caller: AdminCaller,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="maximum number of households to list")] = DEFAULT_LIMIT,
) -> QueueOut:
    today = wib_date(settings.clock())
    households = _waiting_households(session, today)[:limit]
    ids = [household.id for household in households]
    members: dict[int, list[Resident]] = {}
    # A resident who left the register (server.register_leavers) cannot be the household's card holder.
    on_register = select(Resident).where(Resident.household_pk.in_(ids), Resident.left_at.is_(None))
    for resident in session.scalars(on_register.order_by(Resident.id)):
        members.setdefault(resident.household_pk, []).append(resident)
    revoked = _latest_revoked_cards(session, [household.household_id for household in households])
    queued = [
        _queued(_card_holder(members[household.id]), household,
                "reissue" if household.household_id in revoked else "new", revoked.get(household.household_id))
        for household in households if household.id in members
    ]
    unmatched = _unmatched_count(session)
    record_reads(session, request, caller, SUBJECT_RESIDENT, [entry.nik for entry in queued])
    logger.info("issuance queue read by %s: %d households, %d unmatched", caller.actor, len(queued), unmatched)
    return QueueOut(count=len(queued), unmatched_households=unmatched, residents=queued)


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nik: Annotated[StrictStr, Field(pattern=r"^[0-9]{16}$", description="the resident's 16-digit NIK")]


@router.post("/residents/lookup", response_model=QueuedResident, responses=errors(401, 403, 404))
def lookup_resident(payload: LookupIn, caller: AdminCaller, session: SessionDep, request: Request) -> QueuedResident:
    nik = payload.nik
    row = session.execute(
        select(Resident, Household).join(Household, Resident.household_pk == Household.id).where(Resident.nik == nik)
    ).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail="no imported resident has this NIK; import the register that lists them first")
    resident, household = row
    if resident.left_at is not None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"the resident with this NIK left the register in import {resident.left_import_id}; "
                   "import a register that lists them before issuing a card",
        )
    has_card = household.household_id is not None and session.scalar(
        select(func.count()).select_from(Card).where(Card.household_id == household.household_id)
    ) > 0
    revoked = _latest_revoked_cards(session, [household.household_id]) if household.household_id else {}
    record_reads(session, request, caller, SUBJECT_RESIDENT, [resident.nik])
    return _queued(resident, household, "reissue" if has_card else "new", revoked.get(household.household_id))
