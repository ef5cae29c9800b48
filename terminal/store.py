"""The terminal's local store: SQLite in WAL mode with synchronous=FULL.

A redemption is committed here before the terminal reports success, so a
hand-over that was shown as accepted survives a crash or power cut. The store
also caches the trust store (issuer keys) and the entitlements pulled from the
server.

Quota accounting: each pull of entitlements bumps the store's generation.
The server's `used` count in a pull includes every record acknowledged before
that pull; records still pending, rejected, or acknowledged at or after the
pull's generation are counted locally on top of it.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

from card.keys import public_key_from_spki
from card.verify import IssuerKey, TrustStore

__all__ = ["TerminalStore", "StoreError", "EntitlementSet", "PendingRecord"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS issuers (
    kid BLOB PRIMARY KEY, spki BLOB NOT NULL, not_before TEXT, not_after TEXT
);
CREATE TABLE IF NOT EXISTS entitlement_sets (
    program TEXT PRIMARY KEY, period TEXT NOT NULL, quota INTEGER NOT NULL,
    unit TEXT NOT NULL, generation INTEGER NOT NULL, pulled_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entitlements (
    program TEXT NOT NULL, household_id BLOB NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (program, household_id)
);
CREATE TABLE IF NOT EXISTS redemptions (
    record_id TEXT PRIMARY KEY,
    program TEXT NOT NULL,
    household_id BLOB NOT NULL,
    card_number TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    period TEXT NOT NULL,
    tapped_at INTEGER NOT NULL,
    assurance TEXT NOT NULL,
    signed_record BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'acked', 'rejected')),
    acked_generation INTEGER,
    reject_reason TEXT
);
CREATE INDEX IF NOT EXISTS redemptions_quota ON redemptions (program, household_id, period);
CREATE INDEX IF NOT EXISTS redemptions_status ON redemptions (status);
"""


class StoreError(Exception):
    """The terminal store is missing, not enrolled or unusable."""


@dataclass(frozen=True)
class EntitlementSet:
    program: str
    period: str
    quota: int
    unit: str
    generation: int


@dataclass(frozen=True)
class PendingRecord:
    record_id: str
    signed_record: bytes


class TerminalStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: the write lock is taken at BEGIN, so quota checks do not race."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- configuration ---------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, values: dict[str, str], db: sqlite3.Connection | None = None) -> None:
        target = db or self._db
        target.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(values.items()))

    def require_meta(self, key: str) -> str:
        value = self.get_meta(key)
        if value is None:
            raise StoreError(
                f"terminal store {self.path} is not enrolled (no {key}); run 'kartu terminal enrol' first"
            )
        return value

    @property
    def terminal_id(self) -> str:
        return self.require_meta("terminal_id")

    @property
    def programmes(self) -> list[str]:
        return json.loads(self.require_meta("programmes"))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0"))

    # --- trust -------------------------------------------------------------------

    def add_issuer(self, kid: bytes, spki: bytes, not_before: date | None = None, not_after: date | None = None) -> None:
        public_key_from_spki(spki)
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO issuers (kid, spki, not_before, not_after) VALUES (?, ?, ?, ?)",
                (kid, spki, not_before and not_before.isoformat(), not_after and not_after.isoformat()),
            )

    def trust_store(self) -> TrustStore:
        keys = []
        for _kid, spki, not_before, not_after in self._db.execute("SELECT kid, spki, not_before, not_after FROM issuers"):
            keys.append(
                IssuerKey(
                    public_key_from_spki(spki),
                    date.fromisoformat(not_before) if not_before else None,
                    date.fromisoformat(not_after) if not_after else None,
                )
            )
        return TrustStore.of(*keys)

    # --- entitlements -------------------------------------------------------------

    def replace_entitlements(self, sets: list[tuple[EntitlementSet, dict[bytes, int]]], pulled_at: int) -> int:
        """Replace the cached entitlements of the given programmes atomically; return the new generation."""
        with self.transaction() as db:
            generation = int((db.execute("SELECT value FROM meta WHERE key='generation'").fetchone() or ["0"])[0]) + 1
            for entitlement_set, used_by_household in sets:
                db.execute("DELETE FROM entitlements WHERE program = ?", (entitlement_set.program,))
                db.executemany(
                    "INSERT INTO entitlements (program, household_id, used) VALUES (?, ?, ?)",
                    [(entitlement_set.program, household, used) for household, used in used_by_household.items()],
                )
                db.execute(
                    "INSERT OR REPLACE INTO entitlement_sets VALUES (?, ?, ?, ?, ?, ?)",
                    (entitlement_set.program, entitlement_set.period, entitlement_set.quota,
                     entitlement_set.unit, generation, pulled_at),
                )
            self.set_meta({"generation": str(generation)}, db)
        return generation

    def entitlement_set(self, program: str, db: sqlite3.Connection | None = None) -> EntitlementSet | None:
        row = (db or self._db).execute(
            "SELECT program, period, quota, unit, generation FROM entitlement_sets WHERE program = ?", (program,)
        ).fetchone()
        return EntitlementSet(*row) if row else None

    def used_at_sync(self, program: str, household_id: bytes, db: sqlite3.Connection | None = None) -> int | None:
        """The household's use as of the last pull, or None when it is not entitled."""
        row = (db or self._db).execute(
            "SELECT used FROM entitlements WHERE program = ? AND household_id = ?", (program, household_id)
        ).fetchone()
        return row[0] if row else None

    def used_here_since_sync(
        self, program: str, household_id: bytes, period: str, since_generation: int, db: sqlite3.Connection | None = None
    ) -> int:
        row = (db or self._db).execute(
            """SELECT COALESCE(SUM(quantity), 0) FROM redemptions
               WHERE program = ? AND household_id = ? AND period = ?
                 AND (status != 'acked' OR acked_generation >= ?)""",
            (program, household_id, period, since_generation),
        ).fetchone()
        return row[0]

    # --- redemptions ------------------------------------------------------------------

    def insert_redemption(self, db: sqlite3.Connection, values: dict[str, object]) -> None:
        db.execute(
            """INSERT INTO redemptions (record_id, program, household_id, card_number, quantity, period,
                                        tapped_at, assurance, signed_record)
               VALUES (:record_id, :program, :household_id, :card_number, :quantity, :period,
                       :tapped_at, :assurance, :signed_record)""",
            values,
        )

    def pending_records(self, limit: int) -> list[PendingRecord]:
        rows = self._db.execute(
            "SELECT record_id, signed_record FROM redemptions WHERE status = 'pending' ORDER BY tapped_at, record_id LIMIT ?",
            (limit,),
        ).fetchall()
        return [PendingRecord(*row) for row in rows]

    def mark_acked(self, record_ids: list[str]) -> None:
        with self.transaction() as db:
            generation = self.generation
            db.executemany(
                "UPDATE redemptions SET status = 'acked', acked_generation = ? WHERE record_id = ? AND status = 'pending'",
                [(generation, record_id) for record_id in record_ids],
            )

    def mark_rejected(self, rejections: dict[str, str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "UPDATE redemptions SET status = 'rejected', reject_reason = ? WHERE record_id = ? AND status = 'pending'",
                [(reason, record_id) for record_id, reason in rejections.items()],
            )

    def count_by_status(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT status, COUNT(*) FROM redemptions GROUP BY status").fetchall())
