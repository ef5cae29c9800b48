"""Card registration by the issuance station.

POST /api/v1/cards (administrator) registers an issued card and returns 201 with
the stored card. Registering the same card again with identical data returns
200 and changes nothing, so issuance can retry safely. Different data under a
registered card number returns 409.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from card.keys import decompress_point
from server.api.responses import errors
from server.card_points import registered_point, stored_point
from server.db import SessionDep
from server.errors import FieldError
from server.fields import CardNumber, CompressedPoint, Desil, HouseholdId, IsoDate, KelurahanCode, Kid
from server.models import CARD_ACTIVE, Card
from server.periods import utc_datetime
from server.sessions import AdminCaller
from server.settings import SettingsDep

__all__ = ["router", "CardIn", "CardOut"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/cards", tags=["cards"])

_REGISTERED_FIELDS = (
    "household_id", "kelurahan", "desil", "issued", "expires", "issuer_kid", "assurance", "card_key",
    "authentication_key",
)
# Stored uncompressed and compared, shown and accepted compressed (server.card_points).
_POINT_FIELDS = ("card_key", "authentication_key")


class CardIn(BaseModel):
    """An issued card. Binary fields are hex: household_id and issuer_kid 8 bytes, the keys 33 bytes.

    authentication_key is the slot 9A key that signs PIN hand-overs. It is
    optional for a chip card, because stations journaled registrations
    before they sent it, and a PIN hand-over of a card without it is
    reported as a finding.
    """

    model_config = ConfigDict(extra="forbid")

    card_number: CardNumber
    household_id: HouseholdId
    kelurahan: KelurahanCode
    desil: Desil
    issued: IsoDate
    expires: IsoDate
    issuer_kid: Kid
    assurance: Literal["chip", "qr"]
    card_key: CompressedPoint | None = None
    authentication_key: CompressedPoint | None = None


class CardOut(BaseModel):
    card_number: str
    household_id: str
    kelurahan: str
    desil: int
    issued: date
    expires: date
    issuer_kid: str
    assurance: str
    card_key: str | None
    authentication_key: str | None
    status: str
    created_at: datetime

    @classmethod
    def of(cls, card: Card) -> "CardOut":
        return cls(
            card_number=card.card_number,
            household_id=card.household_id.hex(),
            kelurahan=card.kelurahan,
            desil=card.desil,
            issued=card.issued,
            expires=card.expires,
            issuer_kid=card.issuer_kid.hex(),
            assurance=card.assurance,
            card_key=_hex(registered_point(card.card_key)),
            authentication_key=_hex(registered_point(card.authentication_key)),
            status=card.status,
            created_at=card.created_at,
        )


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def _check_card_rules(payload: CardIn) -> None:
    """Raise FieldError for rules that span fields or need the key to be parsed."""
    if payload.expires <= payload.issued:
        raise FieldError("expires", f"must be after issued {payload.issued.isoformat()}", payload.expires.isoformat())
    if payload.assurance == "chip":
        if payload.card_key is None:
            raise FieldError("card_key", "is required when assurance is 'chip'", None)
        for name in ("card_key", "authentication_key"):
            _check_point(name, getattr(payload, name))
    else:
        for name in ("card_key", "authentication_key"):
            if getattr(payload, name) is not None:
                raise FieldError(name, "must be null when assurance is 'qr'", getattr(payload, name).hex())


def _check_point(name: str, point: bytes | None) -> None:
    if point is None:
        return
    try:
        decompress_point(point)
    except ValueError:
        raise FieldError(name, "is not a compressed P-256 point", point.hex()) from None


def _registered_value(card: Card, name: str):
    value = getattr(card, name)
    return registered_point(value) if name in _POINT_FIELDS else value


def _differing_fields(card: Card, payload: CardIn) -> list[str]:
    return [name for name in _REGISTERED_FIELDS if _registered_value(card, name) != getattr(payload, name)]


def _existing_card_response(card: Card, payload: CardIn, response: Response) -> CardOut:
    differing = _differing_fields(card, payload)
    if differing:
        logger.warning("registration of card %s conflicts on %s", card.card_number, ", ".join(differing))
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=(
                f"card {card.card_number} is already registered with different {', '.join(differing)}; "
                "a reissued card needs a new card number"
            ),
        )
    response.status_code = status.HTTP_200_OK
    return CardOut.of(card)


def _insert_card(session: Session, payload: CardIn, now: datetime) -> Card:
    fields = {name: getattr(payload, name) for name in _REGISTERED_FIELDS}
    fields.update({name: stored_point(fields[name]) for name in _POINT_FIELDS})
    card = Card(
        card_number=payload.card_number,
        **fields,
        status=CARD_ACTIVE,
        created_at=now,
    )
    session.add(card)
    session.commit()
    return card


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CardOut,
             responses={200: {"model": CardOut, "description": "Already registered with identical data."},
                        **errors(401, 403, 409)})
def register_card(
    payload: CardIn, admin: AdminCaller, session: SessionDep, settings: SettingsDep, response: Response
) -> CardOut:
    _check_card_rules(payload)
    existing = session.get(Card, payload.card_number)
    if existing is not None:
        return _existing_card_response(existing, payload, response)
    try:
        card = _insert_card(session, payload, utc_datetime(settings.clock()))
    except IntegrityError:
        # Another request registered the same card number between the read and the insert.
        session.rollback()
        existing = session.get(Card, payload.card_number)
        if existing is None:
            raise
        return _existing_card_response(existing, payload, response)
    logger.info("registered card %s, assurance %s", card.card_number, card.assurance)
    return CardOut.of(card)
