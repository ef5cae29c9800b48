"""The refusal of a card whose household the pulled entitlement set does not list.

A household missing from the set is not entitled, unless the card is newer
than the set. A card issued on or after the day the set was issued may
belong to a household that the server added after the terminal's last pull.
Such a card gets CARD_NEWER_THAN_LIST, which tells the clerk to sync,
instead of NOT_ENTITLED.

NOTE: The credential carries only the day it was issued, so a card issued
on the set's own day counts as newer, also when it was issued before the
set was made. For such a card the refusal stays CARD_NEWER_THAN_LIST after a
sync on that day, and its message then sends the holder to Dinas Sosial.
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from card.credential import Credential
from card.decision import Decision, Reason
from card.verify import WIB
from terminal.programmes import ProgrammeName

__all__ = ["entitlement_list_day", "unlisted_refusal"]

DATE_FORMAT = "%d-%m-%Y"


def entitlement_list_day(db: sqlite3.Connection, program: str) -> date | None:
    """Return the WIB day the programme's stored set was issued, or the day it was pulled, or None without a set.

    The issue time is meta entitlement_issued_at_ms:<programme>, written with
    every verified set (terminal.entitlement_check.rollback_guard). A set
    applied before the terminal stored that key has only its pull time.
    """
    row = db.execute("SELECT value FROM meta WHERE key = ?", (f"entitlement_issued_at_ms:{program}",)).fetchone()
    if row is not None:
        return datetime.fromtimestamp(int(row[0]) / 1000, WIB).date()
    row = db.execute("SELECT pulled_at FROM entitlement_sets WHERE program = ?", (program,)).fetchone()
    if row is None:
        return None
    return datetime.fromtimestamp(row[0], WIB).date()


def unlisted_refusal(db: sqlite3.Connection, program: str, credential: Credential) -> Decision:
    """Return CARD_NEWER_THAN_LIST for a card issued on or after the set's day, else NOT_ENTITLED."""
    listed = entitlement_list_day(db, program)
    if listed is not None and credential.issued >= listed:
        return Decision.refuse(
            Reason.CARD_NEWER_THAN_LIST, program=ProgrammeName(program),
            issued=credential.issued.strftime(DATE_FORMAT), listed=listed.strftime(DATE_FORMAT),
        )
    return Decision.refuse(Reason.NOT_ENTITLED, program=ProgrammeName(program))
