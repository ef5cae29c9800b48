"""The per-card limit of a programme whose quota counts entitled persons, such as beasiswa.

Under such a quota a household may draw quota x entitled persons per quota
period (terminal.store.household_limit). That household limit alone lets one
card draw the shares of the household's other entitled members, so a card
may also draw at most one person's share in the period, which is the
programme's quota.

NOTE: The pulled set carries each household's use but no figure per card, so
the per-card count is this terminal's own records of the card. Use of the
same card at other terminals is not counted here, and the server's
reconciliation reports it as quota_overuse of that card.
"""

from __future__ import annotations

import sqlite3

from card.decision import Decision, Reason
from card.records import Redemption
from terminal.programmes import ProgrammeName, QuotaPeriod, amount, quota_period_of
from terminal.store import QuotaUsage

__all__ = ["card_use", "card_share_refusal"]


def card_use(db: sqlite3.Connection, program: str, card_number: str, months: list[str] | None) -> int:
    """Return the units this terminal recorded for the card in the given months, or in every month for None.

    Every record counts whatever its sync status, because each one is a
    hand-over that took place at this counter.
    """
    if months is None:
        row = db.execute(
            "SELECT COALESCE(SUM(quantity), 0) FROM redemptions WHERE program = ? AND card_number = ?",
            (program, card_number),
        ).fetchone()
        return row[0]
    placeholders = ",".join("?" * len(months))
    row = db.execute(
        f"SELECT COALESCE(SUM(quantity), 0) FROM redemptions WHERE program = ? AND card_number = ? "
        f"AND period IN ({placeholders})",
        (program, card_number, *months),
    ).fetchone()
    return row[0]


def card_share_refusal(db: sqlite3.Connection, usage: QuotaUsage, record: Redemption) -> Decision | None:
    """Return a CARD_SHARE_USED refusal when the record would take the card past one person's share.

    Returns None for a household quota (usage.persons is None), which has no per-card limit.
    """
    if usage.persons is None:
        return None
    entitlement_set = usage.entitlement_set
    program = record.program
    months = quota_period_of(program, record.period, entitlement_set.quota_period)
    used = card_use(db, program, record.card_number, months)
    share = entitlement_set.quota
    if used + record.quantity <= share:
        return None
    unit = entitlement_set.unit
    return Decision.refuse(
        Reason.CARD_SHARE_USED, program=ProgrammeName(program),
        period=QuotaPeriod(program, record.period, entitlement_set.quota_period),
        used=amount(used, unit), quota=amount(share, unit), quantity=amount(record.quantity, unit),
    )
