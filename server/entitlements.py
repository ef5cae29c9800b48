"""Household entitlements of a programme for the current quota period.

A household is listed when at least one of its cards is active (status
"active" and not expired on today's WIB date) and carries a DTSEN desil
inside the programme's range. "used" is the sum of the quantities of every
stored redemption of that household, programme and period, from any terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import CARD_ACTIVE, Card, Programme, Redemption

__all__ = ["HouseholdUse", "household_use"]


@dataclass(frozen=True)
class HouseholdUse:
    household_id: bytes
    used: int


def household_use(session: Session, programme: Programme, period: str, today: date) -> list[HouseholdUse]:
    """Return every eligible household with its use in period, ordered by household id."""
    eligible = (
        select(Card.household_id)
        .where(
            Card.status == CARD_ACTIVE,
            Card.expires >= today,
            Card.desil.between(programme.desil_min, programme.desil_max),
        )
        .distinct()
        .subquery()
    )
    used = (
        select(Redemption.household_id, func.sum(Redemption.quantity).label("used"))
        .where(Redemption.program == programme.code, Redemption.period == period)
        .group_by(Redemption.household_id)
        .subquery()
    )
    rows = session.execute(
        select(eligible.c.household_id, func.coalesce(used.c.used, 0))
        .outerjoin(used, used.c.household_id == eligible.c.household_id)
        .order_by(eligible.c.household_id)
    )
    return [HouseholdUse(household_id=household_id, used=int(total)) for household_id, total in rows]
