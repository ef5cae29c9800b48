"""Reads of card holders and their redemptions; each read is written to the audit log.

GET /api/v1/cards/{card_number} -> the registered card              any staff
GET /api/v1/cards/{card_number}/redemptions?limit= -> [redemption]  any staff

An operator sees only redemptions of programmes its OPD owns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import select

from server.api.cards import CardOut
from server.api.responses import errors
from server.audit import SUBJECT_CARD, SUBJECT_REDEMPTION, record_reads
from server.db import SessionDep
from server.fields import CardNumber
from server.models import Card, Redemption
from server.sessions import StaffCaller

__all__ = ["router", "RedemptionOut"]

router = APIRouter(prefix="/cards", tags=["card holders"])

CardNumberPath = Annotated[CardNumber, Path(description="16-digit card number")]


class RedemptionOut(BaseModel):
    record_id: str
    terminal_id: str
    card_number: str
    household_id: str
    program: str
    quantity: int
    period: str
    tapped_at: datetime
    assurance: str
    received_at: datetime


def _card_or_404(session, card_number: str) -> Card:
    card = session.get(Card, card_number)
    if card is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"card {card_number} is not registered")
    return card


@router.get("/{card_number}", response_model=CardOut, responses=errors(401, 403, 404))
def read_card(card_number: CardNumberPath, caller: StaffCaller, session: SessionDep, request: Request) -> CardOut:
    card = _card_or_404(session, card_number)
    record_reads(session, request, caller, SUBJECT_CARD, [card.card_number])
    return CardOut.of(card)


@router.get("/{card_number}/redemptions", response_model=list[RedemptionOut], responses=errors(401, 403, 404))
def read_card_redemptions(
    card_number: CardNumberPath,
    caller: StaffCaller,
    session: SessionDep,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RedemptionOut]:
    _card_or_404(session, card_number)
    query = (
        select(Redemption)
        .where(Redemption.card_number == card_number)
        .order_by(Redemption.tapped_at.desc(), Redemption.record_id)
        .limit(limit)
    )
    scope = caller.programme_scope(session)
    if scope is not None:
        query = query.where(Redemption.program.in_(scope))
    rows = list(session.scalars(query))
    record_reads(session, request, caller, SUBJECT_CARD, [card_number])
    record_reads(session, request, caller, SUBJECT_REDEMPTION, [row.record_id for row in rows])
    return [
        RedemptionOut(
            record_id=row.record_id, terminal_id=row.terminal_id, card_number=row.card_number,
            household_id=row.household_id.hex(), program=row.program, quantity=row.quantity, period=row.period,
            tapped_at=row.tapped_at, assurance=row.assurance, received_at=row.received_at,
        )
        for row in rows
    ]
