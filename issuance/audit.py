"""The station's audit log: every issuance, reissue, revocation and failed card, with the clerk's name.

Entries sit in the audit table of station.db, are only ever appended, and
carry UTC times. The clerk is the --clerk option of a command or, when it is
missing, the station setting that `kartu issuance clerk NAME` stores.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone

from card.i18n import N_, TranslatedError

__all__ = [
    "ACTIONS", "AuditEntry", "ClerkMissingError", "append", "entries", "ensure_schema", "resolve_clerk",
    "set_station_clerk", "station_clerk", "MAX_CLERK_LENGTH",
]

ACTIONS = ("issue", "reissue", "revoke", "failed", "register", "nik_shown", "wipe", "pin_slips")
MAX_CLERK_LENGTH = 80

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    clerk TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ({", ".join(repr(action) for action in ACTIONS)})),
    card_number TEXT,
    nik TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ClerkMissingError(TranslatedError, ValueError):
    """No clerk name was given and the station has none set, or the name is invalid."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    clerk: str
    action: str
    card_number: str | None
    nik: str | None
    detail: str


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)
    (table_sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone()
    if any(repr(action) not in table_sql for action in ACTIONS):
        _allow_new_actions(db)


def _allow_new_actions(db: sqlite3.Connection) -> None:
    """Rebuild the audit table of an older station.db, whose CHECK lists fewer actions, keeping every entry."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("ALTER TABLE audit RENAME TO audit_before_upgrade")
        db.execute(SCHEMA.split(";")[0])
        db.execute("INSERT INTO audit SELECT * FROM audit_before_upgrade")
        db.execute("DROP TABLE audit_before_upgrade")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _check_clerk(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_CLERK_LENGTH or not cleaned.isprintable():
        raise ClerkMissingError(
            N_("clerk name {name!r} is invalid: give 1 to {maximum} printable characters"),
            name=name, maximum=MAX_CLERK_LENGTH,
        )
    return cleaned


def set_station_clerk(db: sqlite3.Connection, name: str) -> str:
    """Store the station's default clerk and return the cleaned name."""
    ensure_schema(db)
    cleaned = _check_clerk(name)
    db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('clerk', ?)", (cleaned,))
    return cleaned


def station_clerk(db: sqlite3.Connection) -> str | None:
    ensure_schema(db)
    row = db.execute("SELECT value FROM settings WHERE key = 'clerk'").fetchone()
    return row[0] if row else None


def resolve_clerk(db: sqlite3.Connection, given: str | None) -> str:
    """Return the clerk for an action: the given name, else the station setting; raise ClerkMissingError if neither."""
    if given is not None:
        return _check_clerk(given)
    stored = station_clerk(db)
    if stored is None:
        raise ClerkMissingError(N_("no clerk name: give --clerk NAME or set one with 'kartu issuance clerk NAME'"))
    return stored


def append(db: sqlite3.Connection, clerk: str, action: str, card_number: str | None = None,
           nik: str | None = None, detail: str = "", at: datetime | None = None) -> None:
    """Append one entry; inside an open transaction it commits or rolls back with the rest."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is unknown; use one of {', '.join(ACTIONS)}")
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")
    db.execute(
        "INSERT INTO audit (at, clerk, action, card_number, nik, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (moment, clerk, action, card_number, nik, detail),
    )


def entries(db: sqlite3.Connection, action: str | None = None, card_number: str | None = None,
            limit: int | None = None) -> list[AuditEntry]:
    """Return entries oldest first, filtered by action and card number; limit keeps the newest ones."""
    ensure_schema(db)
    clauses, params = [], []
    if action is not None:
        clauses.append("action = ?")
        params.append(action)
    if card_number is not None:
        clauses.append("card_number = ?")
        params.append(card_number)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    query = f"SELECT id, at, clerk, action, card_number, nik, detail FROM audit {where} ORDER BY id DESC"
    if limit is not None:
        query += " LIMIT ?"
        params.append(limit)
    rows = db.execute(query, params).fetchall()
    return [AuditEntry(*row) for row in reversed(rows)]
