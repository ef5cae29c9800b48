"""Entitlements: computed from the register and the programme rules, and served to terminals.

recompute_entitlements() evaluates every programme rule (server.programmes)
over every imported resident and brings the entitlements table in line with
the result: new entitlements are inserted, changed ones updated, lapsed ones
deleted, and an unchanged one is not touched. The register import and a rule
change call it in their own transaction.

NOTE: age rules (Lansia Bahagia, the scholarship's maximum age) are judged on
the day of computation, so a resident who turns 60 is entitled only after the
next recomputation. Run `kartu server recompute-entitlements` daily.

household_entitlements() is what a terminal pulls for one programme: every
entitled household of the register that has a household id, with its use so
far in the programme's quota period from any terminal. A household is listed
whether or not a card has been issued to it yet, so a card issued after a
terminal's last pull is accepted at once. The terminal checks the card itself
by its signature and the revocation list. A household that is not in the
imported register at all is listed when it has an active card (status
"active", not expired on today's WIB date) with a desil in range, but only for
a programme whose rule is a desil range alone (such as LPG). The issuance
station copied that desil from its register.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from server.models import CARD_ACTIVE, Card, Programme, Redemption
from server.models_register import Entitlement, Household, ProgrammeRule, Resident
from server.programmes import Eligibility, age_on, quota_months
from server.periods import wib_date

__all__ = [
    "RecomputeResult",
    "HouseholdEntitlement",
    "recompute_entitlements",
    "household_entitlements",
]

logger = logging.getLogger(__name__)

_CHUNK = 5000


@dataclass(frozen=True)
class RecomputeResult:
    added: int
    changed: int
    removed: int
    total: int


@dataclass(frozen=True)
class HouseholdEntitlement:
    household_id: bytes
    used: int
    persons: int | None
    """Entitled members, for a programme whose rule judges residents; None otherwise."""
    amount: int | None
    valid_until: date | None


class _Member(NamedTuple):
    id: int
    household_pk: int
    age: int
    kelurahan: str
    relationship: str
    occupation: str | None
    school: str | None


class _Values(NamedTuple):
    """The stored columns of one entitlement besides its key (programme, household, subject)."""

    resident_pk: int | None
    household_id: bytes | None
    amount: int | None
    valid_until: date | None
    event: str | None


_VALUE_COLUMNS = _Values._fields


@dataclass(frozen=True)
class _Rule:
    code: str
    scope: str
    desil_min: int
    desil_max: int
    eligibility: Eligibility


def _load_rules(session: Session, codes: list[str] | None) -> list[_Rule]:
    query = select(Programme, ProgrammeRule).join(ProgrammeRule, ProgrammeRule.program == Programme.code)
    if codes is not None:
        query = query.where(Programme.code.in_(codes))
    return [
        _Rule(programme.code, programme.quota_scope, programme.desil_min, programme.desil_max,
              Eligibility.model_validate(rule.eligibility))
        for programme, rule in session.execute(query.order_by(Programme.code))
    ]


def _load_register(
    session: Session, today: date
) -> tuple[dict[int, list[_Member]], dict[int, int], dict[int, bytes | None]]:
    """Return members by household, each household's desil (its members' lowest) and household ids.

    Residents who left the register (server.register_leavers) are not members.
    """
    members: dict[int, list[_Member]] = defaultdict(list)
    desil: dict[int, int] = {}
    rows = session.execute(
        select(Resident.id, Resident.household_pk, Resident.birth_date, Resident.kelurahan, Resident.relationship,
               Resident.occupation, Resident.school, Resident.desil)
        .where(Resident.left_at.is_(None))
    )
    for row in rows:
        member = _Member(row.id, row.household_pk, age_on(row.birth_date, today), *row[3:7])
        members[member.household_pk].append(member)
        desil[member.household_pk] = min(row.desil, desil.get(member.household_pk, 10))
    household_ids = dict(session.execute(select(Household.id, Household.household_id)).all())
    return members, desil, household_ids


def _person_passes(eligibility: Eligibility, member: _Member) -> bool:
    age = member.age
    if eligibility.min_age is not None and age < eligibility.min_age:
        return False
    if eligibility.max_age is not None and age > eligibility.max_age:
        return False
    if eligibility.relationships is not None and member.relationship not in eligibility.relationships:
        return False
    if eligibility.occupations is not None and member.occupation not in eligibility.occupations:
        return False
    if eligibility.school_amounts is not None and member.school not in eligibility.school_amounts:
        return False
    return True


def _person_amount(eligibility: Eligibility, member: _Member) -> int | None:
    if eligibility.school_amounts is not None:
        return eligibility.school_amounts[member.school]
    return eligibility.amount


def _household_targets(rule: _Rule, members: list[_Member]) -> list[tuple[str, int | None, int | None, str | None]]:
    """Return (subject, resident_pk, amount, event) of each entitlement of one household under one rule."""
    eligibility = rule.eligibility
    passing = [member for member in members if _person_passes(eligibility, member)]
    if not passing:
        return []
    if eligibility.events is not None:
        places = {member.kelurahan for member in members}
        return [
            (f"event:{event.code}", None, event.amount, event.code)
            for event in eligibility.events
            if places.intersection(event.kelurahan)
        ]
    if rule.scope == "person":
        return [(f"resident:{member.id}", member.id, _person_amount(eligibility, member), None) for member in passing]
    return [("household", None, eligibility.amount, None)]


def _targets(rules: list[_Rule], session: Session, today: date) -> dict[tuple[str, int, str], _Values]:
    members, desil, household_ids = _load_register(session, today)
    targets = {}
    for rule in rules:
        valid_until = rule.eligibility.valid_until
        for household_pk, household_members in members.items():
            if not rule.desil_min <= desil[household_pk] <= rule.desil_max:
                continue
            for subject, resident_pk, amount, event in _household_targets(rule, household_members):
                targets[(rule.code, household_pk, subject)] = _Values(
                    resident_pk, household_ids[household_pk], amount, valid_until, event
                )
    return targets


def _stored(session: Session, codes: list[str]) -> dict[tuple[str, int, str], tuple[int, _Values]]:
    rows = session.execute(
        select(Entitlement.id, Entitlement.program, Entitlement.household_pk, Entitlement.subject,
               *(getattr(Entitlement, column) for column in _VALUE_COLUMNS))
        .where(Entitlement.program.in_(codes))
    )
    return {(row[1], row[2], row[3]): (row[0], _Values(*row[4:])) for row in rows}


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def recompute_entitlements(
    session: Session, now: datetime, programmes: list[str] | None = None
) -> RecomputeResult:
    """Bring the stored entitlements of the programmes (default: all) in line with the register; no commit."""
    today = wib_date(now.timestamp())
    rules = _load_rules(session, programmes)
    codes = [rule.code for rule in rules]
    targets = _targets(rules, session, today)
    stored = _stored(session, codes)

    new_rows = [
        {"program": program, "household_pk": household_pk, "subject": subject, "computed_at": now,
         **values._asdict()}
        for (program, household_pk, subject), values in targets.items()
        if (program, household_pk, subject) not in stored
    ]
    changed_rows = [
        {"id": stored[key][0], "computed_at": now, **values._asdict()}
        for key, values in targets.items()
        if key in stored and stored[key][1] != values
    ]
    removed_ids = [entry_id for key, (entry_id, _) in stored.items() if key not in targets]

    for chunk in _chunks(removed_ids):
        session.execute(delete(Entitlement).where(Entitlement.id.in_(chunk)))
    for chunk in _chunks(changed_rows):
        session.execute(update(Entitlement), chunk)
    for chunk in _chunks(new_rows):
        session.execute(insert(Entitlement), chunk)
    result = RecomputeResult(len(new_rows), len(changed_rows), len(removed_ids), len(targets))
    logger.info("recomputed entitlements of %s: %d added, %d changed, %d removed, %d in total",
                ",".join(codes), result.added, result.changed, result.removed, result.total)
    return result


def _active_card_households(today: date):
    return select(Card.household_id).where(Card.status == CARD_ACTIVE, Card.expires >= today)


def _register_entitled(session: Session, programme: Programme) -> dict[bytes, HouseholdEntitlement]:
    rows = session.execute(
        select(Entitlement.household_id, func.count(Entitlement.resident_pk), func.sum(Entitlement.amount),
               func.max(Entitlement.valid_until))
        .where(Entitlement.program == programme.code, Entitlement.household_id.is_not(None))
        .group_by(Entitlement.household_id)
    )
    return {
        household_id: HouseholdEntitlement(household_id, 0, persons or None, amount, valid_until)
        for household_id, persons, amount, valid_until in rows
    }


def _card_desil_entitled(session: Session, programme: Programme, today: date) -> list[bytes]:
    """Return households missing from the register that hold an active card with a desil in range."""
    known = select(Household.household_id).where(Household.household_id.is_not(None))
    return list(session.scalars(
        _active_card_households(today)
        .where(Card.desil.between(programme.desil_min, programme.desil_max), Card.household_id.not_in(known))
        .distinct()
    ))


def _use(session: Session, programme: Programme, months: list[str] | None) -> dict[bytes, int]:
    query = select(Redemption.household_id, func.sum(Redemption.quantity)).where(Redemption.program == programme.code)
    if months is not None:
        query = query.where(Redemption.period.in_(months))
    return {household_id: int(total) for household_id, total in session.execute(query.group_by(Redemption.household_id))}


def household_entitlements(session: Session, programme: Programme, now: float) -> list[HouseholdEntitlement]:
    """Return the entitled households of a programme with their use in its quota period, by household id."""
    today = wib_date(now)
    entitled = _register_entitled(session, programme)
    rule = session.get(ProgrammeRule, programme.code)
    eligibility = Eligibility.model_validate(rule.eligibility) if rule else Eligibility()
    if not eligibility.judges_persons() and eligibility.events is None:
        for household_id in _card_desil_entitled(session, programme, today):
            entitled.setdefault(household_id, HouseholdEntitlement(household_id, 0, None, eligibility.amount,
                                                                   eligibility.valid_until))
    used = _use(session, programme, quota_months(programme.quota_period, now))
    return [
        HouseholdEntitlement(household_id, used.get(household_id, 0), entry.persons, entry.amount, entry.valid_until)
        for household_id, entry in sorted(entitled.items())
    ]
