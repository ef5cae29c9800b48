"""Status programmes: entitlements without a quota, such as BPJS PBI cover.

A pulled entitlement set whose rules carry benefit_kind "status" grants its
households a status until a last day (valid_until, or no end) instead of a
quota. The server sends quota 0 for such a programme, so the quota check
does not apply to it. A hand-over for it is accepted while the household is
listed and its cover has not ended, and it is still recorded as a redemption
of the requested quantity (1 per visit), so the visit reaches the server.

The store keeps one status_cover row per listed household of a status
programme, written in the transaction that applies the pulled sets
(record_status_cover), so a household is listed in status_cover exactly when
it is listed in entitlements. A quota programme has no rows here.
NOTE: a set pulled by a terminal version without this table has no rows
until the next sync, and until then its programme is checked as a quota
programme with quota 0 and rejected.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from card.decision import Decision, Reason
from card.entitlement_set import ProgrammeEntitlements
from card.verify import WIB
from terminal.programmes import ProgrammeName

__all__ = ["STATUS_KIND", "StatusCover", "ensure_schema", "record_status_cover", "status_cover", "cover_decision"]

STATUS_KIND = "status"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS status_cover (
    program TEXT NOT NULL,
    household_id BLOB NOT NULL,
    valid_until TEXT,
    PRIMARY KEY (program, household_id)
) WITHOUT ROWID
"""


@dataclass(frozen=True)
class StatusCover:
    """A household's cover by a status programme; valid_until None means no end day."""

    program: str
    valid_until: date | None

    def ended_on(self, day: date) -> bool:
        """Return True when day is after the cover's last day."""
        return self.valid_until is not None and day > self.valid_until


def ensure_schema(db: sqlite3.Connection) -> None:
    db.execute(_SCHEMA)


def record_status_cover(db: sqlite3.Connection, sets: Iterable[ProgrammeEntitlements]) -> None:
    """Replace the status_cover rows of each pulled programme inside the caller's transaction."""
    ensure_schema(db)
    for entitlements in sets:
        db.execute("DELETE FROM status_cover WHERE program = ?", (entitlements.program,))
        if entitlements.rules.benefit_kind != STATUS_KIND:
            continue
        db.executemany(
            "INSERT INTO status_cover (program, household_id, valid_until) VALUES (?, ?, ?)",
            [(entitlements.program, household.household_id,
              household.valid_until.isoformat() if household.valid_until else None)
             for household in entitlements.households],
        )


def status_cover(db: sqlite3.Connection, program: str, household_id: bytes) -> StatusCover | None:
    """Return the household's cover by program, or None unless program is a status programme listing the household."""
    try:
        row = db.execute(
            "SELECT valid_until FROM status_cover WHERE program = ? AND household_id = ?", (program, household_id)
        ).fetchone()
    except sqlite3.OperationalError as exc:
        # A store that never applied a pull with this version has no table yet.
        if "no such table" in str(exc):
            return None
        raise
    if row is None:
        return None
    return StatusCover(program, date.fromisoformat(row[0]) if row[0] else None)


def cover_decision(cover: StatusCover, tapped_at: int) -> Decision:
    """Accept a hand-over of a status programme unless the cover ended before the tap's day in WIB."""
    day = datetime.fromtimestamp(tapped_at, WIB).date()
    if cover.ended_on(day):
        return Decision.refuse(Reason.STATUS_ENDED, program=ProgrammeName(cover.program),
                               valid_until=cover.valid_until.strftime("%d-%m-%Y"))
    return Decision.accept()
