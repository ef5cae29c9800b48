"""Server calls the station keeps until the server has them: card registrations and revocations.

A station with no network (mobile issuance at a kelurahan) issues cards with
its own issuer key and journals the exact POST body of each registration in
station.db, in the same transaction as the card itself. `kartu issuance
register-pending` sends them later. The server returns 200 for a repeated
identical registration and reports a repeated revocation as already done, so
a call whose response was lost is sent again and nothing is registered twice.
Revocations are sent before registrations, so a lost card stops working
before its replacement is known to the server.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx

from issuance import audit
from issuance.server_client import RegistrationError, ServerUnreachableError, post_registration, revoke_card

__all__ = [
    "PendingCall", "SendReport", "cards_without_body", "ensure_schema", "journal_registration", "journal_revocation", "pending_calls",
    "send_pending", "REGISTRATION", "REVOCATION",
]

log = logging.getLogger(__name__)

REGISTRATION = "registration"
REVOCATION = "revocation"

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_calls (
    kind TEXT NOT NULL CHECK (kind IN ('registration', 'revocation')),
    card_number TEXT NOT NULL,
    body TEXT NOT NULL,
    created TEXT NOT NULL,
    sent TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (kind, card_number)
);
"""


@dataclass(frozen=True)
class PendingCall:
    kind: str
    card_number: str
    body: dict
    attempts: int
    last_error: str | None


@dataclass
class SendReport:
    sent: list[PendingCall] = field(default_factory=list)
    # As a translate() parameter each error shows in the clerk's language, and str() of it is the English text.
    rejected: list[tuple[PendingCall, RegistrationError]] = field(default_factory=list)
    unreachable: ServerUnreachableError | None = None
    left: int = 0
    # Unregistered cards in the journal with no stored body, which this module cannot send.
    without_body: list[str] = field(default_factory=list)


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def journal_registration(db: sqlite3.Connection, body: dict) -> None:
    """Keep a registration body until it is sent; call it inside the transaction that journals the card."""
    db.execute(
        "INSERT INTO pending_calls (kind, card_number, body, created) VALUES (?, ?, ?, ?)",
        (REGISTRATION, body["card_number"], json.dumps(body, sort_keys=True), _now()),
    )


def journal_revocation(db: sqlite3.Connection, card_number: str, reason: str, effective: str) -> None:
    """Keep a revocation until it is sent; a second request for the same card keeps the first one."""
    body = {"card_number": card_number, "reason": reason, "effective": effective}
    db.execute(
        "INSERT OR IGNORE INTO pending_calls (kind, card_number, body, created) VALUES (?, ?, ?, ?)",
        (REVOCATION, card_number, json.dumps(body, sort_keys=True), _now()),
    )


def pending_calls(db: sqlite3.Connection) -> list[PendingCall]:
    """Return the calls not yet sent: revocations first, then registrations, each in the order they were made."""
    rows = db.execute(
        "SELECT kind, card_number, body, attempts, last_error FROM pending_calls WHERE sent IS NULL "
        "ORDER BY kind = 'registration', rowid"
    )
    return [PendingCall(kind, number, json.loads(body), attempts, error) for kind, number, body, attempts, error in rows]


def mark_sent(db: sqlite3.Connection, call: PendingCall, clerk: str) -> None:
    """Mark a call sent and, for a registration, the card registered, with an audit entry, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "UPDATE pending_calls SET sent = ?, attempts = attempts + 1, last_error = NULL "
            "WHERE kind = ? AND card_number = ?",
            (_now(), call.kind, call.card_number),
        )
        if call.kind == REGISTRATION:
            db.execute("UPDATE cards SET registered = 1 WHERE card_number = ?", (call.card_number,))
            audit.append(db, clerk, "register", call.card_number)
        else:
            audit.append(db, clerk, "revoke", call.card_number, detail=f"sent to server: {call.body['reason']}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _note_failure(db: sqlite3.Connection, call: PendingCall, error: str) -> None:
    db.execute(
        "UPDATE pending_calls SET attempts = attempts + 1, last_error = ? WHERE kind = ? AND card_number = ?",
        (error[:500], call.kind, call.card_number),
    )


def send_one(db: sqlite3.Connection, call: PendingCall, server_url: str, admin_token: str, clerk: str,
             client: httpx.Client | None = None) -> None:
    """Send one call and mark it sent; raise ServerUnreachableError or RegistrationError and leave it pending."""
    try:
        if call.kind == REGISTRATION:
            post_registration(server_url, admin_token, call.body, client)
        else:
            revoke_card(server_url, admin_token, call.body, client)
    except RegistrationError as exc:
        _note_failure(db, call, str(exc))
        raise
    mark_sent(db, call, clerk)
    log.info("%s of card %s sent to the server", call.kind, call.card_number)


def cards_without_body(db: sqlite3.Connection) -> list[str]:
    """Return unregistered journal cards that have no stored registration body.

    Every way of issuing a card now stores the body, so only cards journalled
    by an older station version can be listed here, and they cannot be sent.
    """
    rows = db.execute(
        "SELECT card_number FROM cards WHERE registered = 0 AND card_number NOT IN "
        "(SELECT card_number FROM pending_calls WHERE kind = 'registration') ORDER BY card_number"
    )
    return [number for (number,) in rows]


def send_pending(db: sqlite3.Connection, server_url: str, admin_token: str, clerk: str,
                 client: httpx.Client | None = None) -> SendReport:
    """Send every pending call in order, stopping when the server is unreachable and going on past a rejected call.

    A rejected call (the server returned an error status) stays pending with
    its error for the clerk to look at, and the next run retries it.
    """
    report = SendReport(without_body=cards_without_body(db))
    calls = pending_calls(db)
    for index, call in enumerate(calls):
        try:
            send_one(db, call, server_url, admin_token, clerk, client)
        except ServerUnreachableError as exc:
            log.warning("server unreachable while sending %s of card %s: %s", call.kind, call.card_number, exc)
            report.unreachable = exc
            report.left = len(calls) - index
            return report
        except RegistrationError as exc:
            log.warning("server rejected %s of card %s: %s", call.kind, call.card_number, exc)
            report.rejected.append((call, exc))
            continue
        report.sent.append(call)
    report.left = len(report.rejected)
    return report
