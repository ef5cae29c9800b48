"""Counts for the dashboard, and the readiness check for clients.

GET /api/v1/stats (any staff; an operator's redemption counts cover only its OPD's programmes)
  -> 200 {cards, service_points, terminals, redemptions,
          redemptions_by_program: {code: count},
          redemptions_by_assurance: {"chip": count, "qr": count}}
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select, true

from server.api.responses import errors
from server.db import SessionDep
from server.models import Card, Redemption, ServicePoint, Terminal
from server.sessions import StaffCaller

__all__ = ["router", "StatsOut"]

router = APIRouter(prefix="/stats", tags=["stats"])


class StatsOut(BaseModel):
    cards: int
    service_points: int
    terminals: int
    redemptions: int
    redemptions_by_program: dict[str, int]
    redemptions_by_assurance: dict[str, int]


@router.get("", response_model=StatsOut, responses=errors(401, 403))
def get_stats(caller: StaffCaller, session: SessionDep) -> StatsOut:
    scope = caller.programme_scope(session)
    visible = Redemption.program.in_(scope) if scope is not None else true()
    by_program = session.execute(
        select(Redemption.program, func.count()).where(visible).group_by(Redemption.program)
    ).all()
    by_assurance = session.execute(
        select(Redemption.assurance, func.count()).where(visible).group_by(Redemption.assurance)
    ).all()
    return StatsOut(
        cards=session.scalar(select(func.count()).select_from(Card)),
        service_points=session.scalar(select(func.count()).select_from(ServicePoint)),
        terminals=session.scalar(select(func.count()).select_from(Terminal)),
        redemptions=session.scalar(select(func.count()).select_from(Redemption).where(visible)),
        redemptions_by_program=dict(by_program),
        redemptions_by_assurance={"chip": 0, "qr": 0, **dict(by_assurance)},
    )
