"""A resident's recent hand-overs from every service point, for the kiosk where the card is on the reader.

POST /api/v1/kiosk/history   (signed terminal request, see card.request_auth)
  {card_number, tapped_at, nonce, program, quantity, card_signature}
  -> 200 {since, redemptions: [{tapped_at, program, quantity, service_point}]}

The body repeats the fields of the kiosk's chip read: the card signed
card.records.tap_digest(nonce, terminal id, program, quantity, tapped_at)
with its slot 9E key. nonce (16 bytes) and card_signature (DER ECDSA) are
standard base64. The server rebuilds the digest with the calling terminal's
id and checks the signature with the card key registered at issuance. So
the response goes only to a kiosk that had the card on its reader within
the request skew window.

The response lists the household's latest MAX_REDEMPTIONS redemptions of the
last HISTORY_DAYS days, newest first, from any card of the household. It
carries no NIK, name, household id or card number. Every successful read is
written to the audit log under the actor "terminal:<id>" with the card number.

Error codes:
  not_a_kiosk (403)             the terminal's service point is not of kind "kiosk"
  tap_not_fresh (422)           tapped_at is further than the request skew limit from the server clock
  card_not_registered (404)
  card_revoked, card_expired (403)
  card_without_chip (422)       a QR-only card, which cannot prove that it is present
  card_signature_invalid (403)

NOTE: the same body can be sent again by the same kiosk until tapped_at
leaves the skew window (300 s by default). A replay reads the same
household that was on the reader, and only that kiosk's key can sign it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from card.keys import decompress_point, verify_der_prehashed
from card.records import NONCE_SIZE, tap_digest
from server.api.responses import errors
from server.audit import SUBJECT_CARD, record_reads
from server.auth import CurrentTerminal
from server.db import SessionDep
from server.errors import CodedError
from server.fields import CardNumber, ProgrammeCode, decode_base64
from server.models import CARD_ACTIVE, Card, Redemption, ServicePoint, Terminal
from server.periods import utc_datetime, wib_date
from server.sessions import Caller
from server.settings import SettingsDep

__all__ = ["router", "KIOSK_KIND", "MAX_REDEMPTIONS", "HISTORY_DAYS", "KioskHistoryIn", "KioskHistoryOut"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/kiosk", tags=["kiosk"])

# Service point kind whose terminals may read household history.
KIOSK_KIND = "kiosk"
MAX_REDEMPTIONS = 10
# About six months.
HISTORY_DAYS = 183
# A DER ECDSA P-256 signature is at most 72 bytes.
_MAX_SIGNATURE_BYTES = 72
_TERMINAL_ROLE = "terminal"


def _nonce(text: str) -> bytes:
    data = decode_base64(text)
    if len(data) != NONCE_SIZE:
        raise ValueError(f"must encode {NONCE_SIZE} bytes, got {len(data)}")
    return data


def _signature(text: str) -> bytes:
    data = decode_base64(text)
    if not 8 <= len(data) <= _MAX_SIGNATURE_BYTES:
        raise ValueError(f"must encode a DER ECDSA signature of 8 to {_MAX_SIGNATURE_BYTES} bytes, got {len(data)}")
    return data


class KioskHistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card_number: CardNumber
    tapped_at: Annotated[StrictInt, Field(ge=0, le=2**40)]
    nonce: Annotated[StrictStr, AfterValidator(_nonce)]
    program: ProgrammeCode
    quantity: Annotated[StrictInt, Field(ge=1, le=1000)]
    card_signature: Annotated[StrictStr, AfterValidator(_signature)]


class HistoryEntryOut(BaseModel):
    tapped_at: datetime
    program: str
    quantity: int
    service_point: str


class KioskHistoryOut(BaseModel):
    since: datetime
    redemptions: list[HistoryEntryOut]


def _require_kiosk(terminal: Terminal) -> None:
    kind = terminal.service_point.kind
    if kind != KIOSK_KIND:
        logger.warning("terminal %s at a %s service point requested household history", terminal.terminal_id, kind)
        raise CodedError(
            status.HTTP_403_FORBIDDEN, "not_a_kiosk",
            detail=f"terminal '{terminal.terminal_id}' is at service point {terminal.service_point_id} of kind "
                   f"'{kind}'; only terminals at a service point of kind '{KIOSK_KIND}' may read household history",
        )


def _require_fresh(payload: KioskHistoryIn, now: int, max_skew: int) -> None:
    if abs(now - payload.tapped_at) > max_skew:
        raise CodedError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "tap_not_fresh",
            detail=f"tapped_at {payload.tapped_at} is {abs(now - payload.tapped_at)} s away from server time {now} "
                   f"(limit {max_skew} s); read the card again and check the terminal clock",
        )


def _present_card(session: Session, payload: KioskHistoryIn, terminal: Terminal, now: int) -> Card:
    """Return the registered, active chip card whose signature proves it is on this terminal's reader."""
    card = session.get(Card, payload.card_number)
    if card is None:
        raise CodedError(status.HTTP_404_NOT_FOUND, "card_not_registered",
                         detail=f"card {payload.card_number} is not registered")
    if card.status != CARD_ACTIVE:
        raise CodedError(status.HTTP_403_FORBIDDEN, "card_revoked", detail=f"card {payload.card_number} is revoked")
    if card.expires < wib_date(now):
        raise CodedError(status.HTTP_403_FORBIDDEN, "card_expired",
                         detail=f"card {payload.card_number} expired on {card.expires.isoformat()}")
    if card.card_key is None:
        raise CodedError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "card_without_chip",
            detail=f"card {payload.card_number} is QR-only, so it cannot prove that it is on the reader",
        )
    digest = tap_digest(payload.nonce, terminal.terminal_id, payload.program, payload.quantity, payload.tapped_at)
    if not verify_der_prehashed(decompress_point(bytes(card.card_key)), payload.card_signature, digest):
        logger.warning("terminal %s sent a card signature that does not verify for card %s",
                       terminal.terminal_id, payload.card_number)
        raise CodedError(
            status.HTTP_403_FORBIDDEN, "card_signature_invalid",
            detail=f"card signature does not verify with the registered key of card {payload.card_number} over a "
                   f"tap digest for terminal '{terminal.terminal_id}'; read the card again",
        )
    return card


def _recent_redemptions(session: Session, household_id: bytes, since: datetime) -> list[HistoryEntryOut]:
    rows = session.execute(
        select(Redemption.tapped_at, Redemption.program, Redemption.quantity, ServicePoint.name)
        .join(Terminal, Terminal.terminal_id == Redemption.terminal_id)
        .join(ServicePoint, ServicePoint.id == Terminal.service_point_id)
        .where(Redemption.household_id == household_id, Redemption.tapped_at >= since)
        .order_by(Redemption.tapped_at.desc(), Redemption.record_id)
        .limit(MAX_REDEMPTIONS)
    ).all()
    return [
        HistoryEntryOut(tapped_at=tapped_at, program=program, quantity=quantity, service_point=name)
        for tapped_at, program, quantity, name in rows
    ]


@router.post("/history", response_model=KioskHistoryOut, responses=errors(401, 403, 404))
def household_history(
    payload: KioskHistoryIn, request: Request, terminal: CurrentTerminal, session: SessionDep, settings: SettingsDep
) -> KioskHistoryOut:
    now = int(settings.clock())
    _require_kiosk(terminal)
    _require_fresh(payload, now, settings.max_skew)
    card = _present_card(session, payload, terminal, now)
    since = utc_datetime(now) - timedelta(days=HISTORY_DAYS)
    redemptions = _recent_redemptions(session, bytes(card.household_id), since)
    caller = Caller(actor=f"terminal:{terminal.terminal_id}", role=_TERMINAL_ROLE)
    record_reads(session, request, caller, SUBJECT_CARD, [card.card_number])
    logger.info("terminal %s read %d recent redemptions of the household of card %s",
                terminal.terminal_id, len(redemptions), card.card_number)
    return KioskHistoryOut(since=since, redemptions=redemptions)
