"""Aggregates that the dashboard shows, each limited to the programmes the caller may see.

Days are calendar days in WIB (UTC+7), like quota periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, cast, func, literal_column, or_, select, true
from sqlalchemy.orm import Session

from server.models import Card, Programme, Redemption, ServicePoint, Terminal, service_point_programmes
from server.models_findings import Finding, finding_records
from server.periods import utc_datetime, wib_date

__all__ = [
    "PENDING_AFTER",
    "DAYS_SHOWN",
    "ProgrammeTotal",
    "PendingTerminal",
    "FindingRow",
    "programme_totals",
    "kelurahan_totals",
    "daily_totals",
    "pending_terminals",
    "findings",
    "service_points",
]

PENDING_AFTER = timedelta(hours=48)
DAYS_SHOWN = 30
KELURAHAN_SHOWN = 20
FINDINGS_SHOWN = 50


@dataclass(frozen=True)
class ProgrammeTotal:
    code: str
    name: str
    unit: str
    redemptions: int
    quantity: int


@dataclass(frozen=True)
class FindingRow:
    kind: str
    program: str
    subject: str
    last_found_at: datetime
    records: int


@dataclass(frozen=True)
class PendingTerminal:
    terminal_id: str
    name: str
    service_point: str
    last_seen: datetime | None


def _visible(scope: set[str] | None):
    return Redemption.program.in_(scope) if scope is not None else true()


def programme_totals(session: Session, scope: set[str] | None) -> list[ProgrammeTotal]:
    query = (
        select(Programme.code, Programme.name, Programme.unit, func.count(Redemption.record_id),
               func.coalesce(func.sum(Redemption.quantity), 0))
        .select_from(Programme)
        .outerjoin(Redemption, Redemption.program == Programme.code)
        .group_by(Programme.code, Programme.name, Programme.unit)
        .order_by(Programme.code)
    )
    if scope is not None:
        query = query.where(Programme.code.in_(scope))
    return [ProgrammeTotal(*row) for row in session.execute(query)]


def kelurahan_totals(session: Session, scope: set[str] | None) -> list[tuple[str, int]]:
    """Return (kelurahan code, redemptions) for the kelurahan with the most redemptions."""
    count = func.count(Redemption.record_id)
    query = (
        select(Card.kelurahan, count)
        .join(Redemption, Redemption.card_number == Card.card_number)
        .where(_visible(scope))
        .group_by(Card.kelurahan)
        .order_by(count.desc(), Card.kelurahan)
        .limit(KELURAHAN_SHOWN)
    )
    return [(kelurahan, total) for kelurahan, total in session.execute(query)]


def _wib_day(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Jakarta", Redemption.tapped_at), Date)
    return func.date(Redemption.tapped_at, literal_column("'+7 hours'"))


def daily_totals(session: Session, scope: set[str] | None, now: float) -> list[tuple[str, int]]:
    """Return (YYYY-MM-DD, redemptions) for each of the last DAYS_SHOWN WIB days, zeros included."""
    today = wib_date(now)
    first = today - timedelta(days=DAYS_SHOWN - 1)
    day = _wib_day(session)
    since = utc_datetime(now) - timedelta(days=DAYS_SHOWN + 1)
    query = select(day, func.count()).where(_visible(scope), Redemption.tapped_at >= since).group_by(day)
    counts: dict[date, int] = {}
    for value, total in session.execute(query):
        parsed = value if isinstance(value, date) else date.fromisoformat(value)
        counts[parsed] = total
    return [
        ((first + timedelta(days=offset)).isoformat(), counts.get(first + timedelta(days=offset), 0))
        for offset in range(DAYS_SHOWN)
    ]


def pending_terminals(session: Session, scope: set[str] | None, now: datetime) -> list[PendingTerminal]:
    """Return terminals not seen for more than PENDING_AFTER (or never seen since an older enrolment)."""
    cutoff = now - PENDING_AFTER
    query = (
        select(Terminal)
        .where(or_(Terminal.last_seen < cutoff, (Terminal.last_seen.is_(None)) & (Terminal.enrolled_at < cutoff)))
        .order_by(Terminal.last_seen.asc().nulls_first(), Terminal.terminal_id)
    )
    if scope is not None:
        offering = select(service_point_programmes.c.service_point_id).where(
            service_point_programmes.c.program.in_(scope)
        )
        query = query.where(Terminal.service_point_id.in_(offering))
    return [
        PendingTerminal(t.terminal_id, t.name, t.service_point.name, t.last_seen) for t in session.scalars(query)
    ]


def findings(session: Session, scope: set[str] | None) -> list[FindingRow]:
    """Return the most recently found reconciliation findings, newest first."""
    evidence = (
        select(finding_records.c.finding_id, func.count().label("records"))
        .group_by(finding_records.c.finding_id)
        .subquery()
    )
    query = (
        select(Finding.kind, Finding.program, Finding.subject, Finding.last_found_at,
               func.coalesce(evidence.c.records, 0))
        .outerjoin(evidence, evidence.c.finding_id == Finding.id)
        .order_by(Finding.last_found_at.desc(), Finding.id.desc())
        .limit(FINDINGS_SHOWN)
    )
    if scope is not None:
        query = query.where(Finding.program.in_(scope))
    return [FindingRow(*row) for row in session.execute(query)]


def service_points(session: Session, scope: set[str] | None) -> list[ServicePoint]:
    query = select(ServicePoint).order_by(ServicePoint.id)
    if scope is not None:
        offering = select(service_point_programmes.c.service_point_id).where(
            service_point_programmes.c.program.in_(scope)
        )
        query = query.where(ServicePoint.id.in_(offering))
    return list(session.scalars(query))
