"""Reissue of a lost, stolen or damaged card: revoke the old card at once, issue a new one to the same household.

The new card gets a new card number. Its household id is the keyed hash of
the same KK number, so the server and the terminals count its use against the
same household quota, and the quota used this period carries over. The
revocation is journalled first and sent to the server before the new card is
written. A station without network keeps it pending, and `kartu issuance
register-pending` sends it before any registration.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import date

from card.cardnumber import is_valid_card_number
from card.i18n import N_, TranslatedError
from card.piv import Connection
from issuance import audit, batch, pending, pin_slips
from issuance.batch import IssuedWithPhoto, Registration, issue_card
from issuance.photo_store import PHOTOS_DIR, require_photo
from issuance.register import Resident
from issuance.server_client import RegistrationError, ServerUnreachableError
from issuance.station import Station

__all__ = ["REASONS", "ReissueError", "ReissueResult", "ensure_schema", "prepare_journal", "reissue", "revoke"]

log = logging.getLogger(__name__)

REASONS = ("lost", "stolen", "damaged")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reissues (
    old_card TEXT PRIMARY KEY,
    new_card TEXT NOT NULL UNIQUE,
    nik TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


class ReissueError(TranslatedError, ValueError):
    """The reissue request is invalid; nothing was revoked or written."""


@dataclass(frozen=True)
class ReissueResult:
    issued: IssuedWithPhoto
    revoked_on_server: bool
    revocation_error: str | None
    registered: bool
    registration_error: str | None


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def prepare_journal(db: sqlite3.Connection) -> None:
    """Create the audit, pending-call, batch and reissue tables of station.db if they are missing."""
    for module_schema in (audit.ensure_schema, pending.ensure_schema, batch.ensure_schema, ensure_schema):
        module_schema(db)


def _check_request(db: sqlite3.Connection, old_card: str, resident: Resident, reason: str) -> None:
    if reason not in REASONS:
        raise ReissueError(N_("reason {reason!r} is invalid; use one of {choices}"), reason=reason,
                           choices=", ".join(REASONS))
    if not is_valid_card_number(old_card):
        raise ReissueError(
            N_("card number {card_number!r} is invalid: expected 16 digits starting 1571 with a Luhn check digit"),
            card_number=old_card,
        )
    row = db.execute("SELECT nik FROM cards WHERE card_number = ?", (old_card,)).fetchone()
    if row is not None and row[0] != resident.nik:
        raise ReissueError(
            N_("card {card_number} was issued to another resident at this station; check the card number"),
            card_number=old_card,
        )
    replaced = db.execute("SELECT new_card FROM reissues WHERE old_card = ?", (old_card,)).fetchone()
    if replaced is not None:
        raise ReissueError(
            N_("card {card_number} was already replaced by card {new_card}; reissue that card instead"),
            card_number=old_card, new_card=replaced[0],
        )


def revoke(station: Station, old_card: str, reason: str, effective: date, clerk: str, nik: str,
           registration: Registration | None) -> str | None:
    """Journal the revocation with its audit entry, then send it when a server is given.

    Returns None when the server has revoked the card, else the reason it is still pending.
    """
    db = station.journal
    db.execute("BEGIN IMMEDIATE")
    try:
        pending.journal_revocation(db, old_card, reason, effective.isoformat())
        audit.append(db, clerk, "revoke", old_card, nik, f"requested: {reason}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    if registration is None:
        return "no server given"
    call = next(call for call in pending.pending_calls(db)
                if call.kind == pending.REVOCATION and call.card_number == old_card)
    try:
        pending.send_one(db, call, registration.server_url, registration.admin_token, clerk, registration.client)
    except RegistrationError as exc:
        log.warning("revocation of card %s is pending: %s", old_card, exc)
        return str(exc)
    return None


def reissue(station: Station, old_card: str, resident: Resident, reason: str, clerk: str,
            connection: Connection | None, issued_on: date, registration: Registration | None) -> ReissueResult:
    """Revoke old_card and issue a new card to the same resident and household.

    Raises ReissueError before anything happens when the request is invalid,
    or PhotoMissingError when a chip card is to be written for a resident
    with no accepted portrait. Raises batch.CardFailure when the new card
    fails. The revocation is kept in that case, because the old card is lost
    either way.
    """
    db = station.journal
    _check_request(db, old_card, resident, reason)
    photo = require_photo(station.directory / PHOTOS_DIR, resident.nik) if connection is not None else None
    revocation_error = revoke(station, old_card, reason, issued_on, clerk, resident.nik, registration)

    def link(db: sqlite3.Connection, new_card: str) -> None:
        db.execute(
            "INSERT INTO reissues (old_card, new_card, nik, reason, at) VALUES (?, ?, ?, ?, datetime('now'))",
            (old_card, new_card, resident.nik, reason),
        )

    issued = issue_card(station, resident, connection, issued_on, clerk, action="reissue",
                        detail=f"replaces card {old_card} ({reason})", in_transaction=link, photo=photo,
                        slip_group=pin_slips.REISSUE_GROUP)
    registration_error = _register(station, issued.card.card_number, clerk, registration)
    return ReissueResult(issued, revocation_error is None, revocation_error, registration_error is None,
                         registration_error)


def _register(station: Station, card_number: str, clerk: str, registration: Registration | None) -> str | None:
    if registration is None:
        return "no server given"
    db = station.journal
    call = next(call for call in pending.pending_calls(db)
                if call.kind == pending.REGISTRATION and call.card_number == card_number)
    try:
        pending.send_one(db, call, registration.server_url, registration.admin_token, clerk, registration.client)
    except (ServerUnreachableError, RegistrationError) as exc:
        return str(exc)
    return None
