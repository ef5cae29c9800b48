"""The terminal's local store: SQLite in WAL mode with synchronous=FULL.

A redemption is committed here before the terminal reports success, so a
hand-over that was shown as accepted survives a crash or power cut. The store
also caches the trust store and the entitlements pulled from the server.

Trust: the store keeps the root public key pinned at enrolment (meta
root_spki) and the keys of the latest trust list it verified (trust_keys,
with meta trust_list_sequence). It also keeps issuer keys pinned directly
without a trust list (issuers, for development and the demo) and the revoked
card serials (revoked_serials, with meta revocation_version).
terminal.trust verifies and applies new lists.

Every change to the issuers, trust keys or revoked serials bumps meta
trust_generation in the same transaction. trust_store() keeps the parsed keys
and the revoked serials in memory and rebuilds them only when that counter
has moved, so a scan costs one indexed read instead of parsing keys and
querying revoked_serials. A list applied by another process (a sync running
next to the tap loop) is therefore seen at the next scan.

Quota accounting: each pull of entitlements bumps the store's generation.
The server's `used` count in a pull includes every record acknowledged before
that pull; records still pending, rejected, or acknowledged at or after the
pull's generation are counted locally on top of it. The pulled sets are read
through an in-memory copy (terminal.entitlement_index). The use here is
always counted from the redemptions table.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, NamedTuple

from cryptography.hazmat.primitives.asymmetric import ec

from card.keys import public_key_from_spki, spki_of
from card.revocation import RevokedSerials, serial_of
from card.trustlist import KeyEntry, Role
from card.verify import CLOCK_SKEW_TOLERANCE, IssuerKey, TrustStore

if TYPE_CHECKING:
    from terminal.entitlement_index import Entitlement

__all__ = [
    "TerminalStore", "StoreError", "StoreRevocations", "EntitlementSet", "EntitlementDataError", "HouseholdUse",
    "EntitlementUpdate", "PendingRecord", "QuotaUsage", "household_limit", "MAX_PERSONS",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS issuers (
    kid BLOB PRIMARY KEY, spki BLOB NOT NULL, not_before TEXT, not_after TEXT
);
CREATE TABLE IF NOT EXISTS trust_keys (
    kid BLOB PRIMARY KEY, role INTEGER NOT NULL, spki BLOB NOT NULL, not_before TEXT NOT NULL,
    not_after TEXT NOT NULL, revoked_from TEXT, label TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS revoked_serials (serial INTEGER PRIMARY KEY);
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

# Schema steps applied after SCHEMA to stores created by older versions, in order.
# PRAGMA user_version contains the number of steps a store has applied; append, never edit.
SCHEMA_STEPS: tuple[tuple[str, ...], ...] = (
    # 1: receipts waiting for a printer or printed (terminal.receipt_queue).
    (
        """CREATE TABLE IF NOT EXISTS receipts (
               number INTEGER PRIMARY KEY AUTOINCREMENT,
               record_id TEXT NOT NULL UNIQUE REFERENCES redemptions (record_id),
               content TEXT NOT NULL,
               status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'printed')),
               attempts INTEGER NOT NULL DEFAULT 0,
               last_error TEXT,
               created_at INTEGER NOT NULL,
               printed_at INTEGER
           )""",
        "CREATE INDEX IF NOT EXISTS receipts_status ON receipts (status)",
    ),
    # 2: entitled members of each household for a programme whose quota counts persons, NULL for a household quota.
    ("ALTER TABLE entitlements ADD COLUMN persons INTEGER",),
    # 3: the server's revision of each pulled set, sent as the cursor of the next pull. 0 requests a full set.
    ("ALTER TABLE entitlement_sets ADD COLUMN revision INTEGER NOT NULL DEFAULT 0",),
    # 4: the quota period each pulled set carried ("month", "semester", ...), NULL when it carried none.
    ("ALTER TABLE entitlement_sets ADD COLUMN quota_period TEXT",),
)


# Largest count of entitled persons accepted for one household. It is an estimate, well above the members
# of any real Kartu Keluarga. A larger count is treated as a fault, because the household's cards may draw
# quota x persons in one period.
MAX_PERSONS = 100


class StoreError(Exception):
    """The terminal store is missing, not enrolled or unusable."""


class EntitlementDataError(ValueError):
    """An invalid value in pulled entitlements. None of them were applied."""


@dataclass(frozen=True)
class EntitlementSet:
    """A pulled set's header: period is the month it was issued in, quota_period its programme's quota period.

    quota_period is None when the set carried none (terminal.programmes.quota_period_of then falls back).
    """

    program: str
    period: str
    quota: int
    unit: str
    generation: int
    revision: int = 0
    quota_period: str | None = None


class HouseholdUse(NamedTuple):
    """A household's row of a pulled entitlement set: its use so far and, for a per-person quota, its entitled members."""

    used: int
    persons: int | None = None


class EntitlementUpdate(NamedTuple):
    """A pulled set to apply: the new header and either every household (full) or the changes of a delta.

    In a delta, households are upserted and removed ids deleted. The caller
    checks that the delta's base is the stored revision.
    """

    entitlement_set: EntitlementSet
    households: Mapping[bytes, int | HouseholdUse]
    delta: bool = False
    removed: tuple[bytes, ...] = ()


def household_limit(quota: int, persons: int | None) -> int:
    """Return the units a household may draw per period: quota for each entitled person, or quota when persons is None."""
    return quota if persons is None else quota * persons


@dataclass(frozen=True)
class QuotaUsage:
    """A household's entitlement state for one programme (TerminalStore.quota_usage).

    used_at_sync is None when the household is not entitled; used_here counts
    this terminal's records since the last pull (see used_here_since_sync).
    persons is the household's entitled members for a per-person quota, None
    for a household quota.
    """

    entitlement_set: EntitlementSet
    used_at_sync: int | None
    used_here: int
    persons: int | None = None

    @property
    def limit(self) -> int:
        """The household's limit per period: the programme's quota times persons, or the quota alone."""
        return household_limit(self.entitlement_set.quota, self.persons)


@dataclass(frozen=True)
class PendingRecord:
    record_id: str
    signed_record: bytes


def _household_use(use: int | HouseholdUse, program: str, household: bytes) -> tuple[int, int | None]:
    """Return (used, persons) of one household's row. Raises EntitlementDataError for an invalid persons."""
    if isinstance(use, int):
        return use, None
    persons = use.persons
    if persons is not None and (type(persons) is not int or not 1 <= persons <= MAX_PERSONS):
        raise EntitlementDataError(
            f"persons={persons!r} for household {household.hex()} of programme {program} is invalid; "
            f"expected null or an integer from 1 to {MAX_PERSONS}. No entitlements were applied"
        )
    return use.used, persons


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


class StoreRevocations:
    """A card revocation check that queries revoked_serials on every lookup.

    trust_store() uses an in-memory copy instead; this class serves callers
    that keep no copy, such as a one-off check from another process.
    """

    def __init__(self, store: "TerminalStore"):
        self._store = store

    def is_revoked(self, card_number: str) -> bool:
        try:
            serial = serial_of(card_number)
        except ValueError:
            return False
        return self._store.is_revoked_serial(serial)


def _make_private(path: Path) -> None:
    """Create the store file with mode 0600, or take group and other access off an existing store's files.

    The store contains redemption records. SQLite gives the -wal and -shm files
    the database file's mode when it creates them, so they are 0600 too.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return
    except FileExistsError:
        pass
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            os.chmod(file, 0o600)


class TerminalStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        _make_private(self.path)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._trust_cache: tuple[str, TrustStore] | None = None
        # Quota period of each programme's set by generation (_with_quota_period).
        self._quota_periods: dict[str, tuple[int, str | None]] = {}
        self._apply_schema_steps()
        # Imported here because terminal.entitlement_index imports this module's entitlement types.
        from terminal.entitlement_index import EntitlementIndex

        self._entitlement_index = EntitlementIndex(self._db)

    def _apply_schema_steps(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= len(SCHEMA_STEPS):
            return
        with self.transaction() as db:
            applied = db.execute("PRAGMA user_version").fetchone()[0]
            for number, statements in enumerate(SCHEMA_STEPS[applied:], start=applied + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def execute(self, sql: str, parameters: tuple | dict = ()) -> sqlite3.Cursor:
        """Run one statement in autocommit mode, outside any transaction of this connection."""
        return self._db.execute(sql, parameters)

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
            self._bump_trust_generation(db)

    def _bump_trust_generation(self, db: sqlite3.Connection) -> None:
        """Mark the trust data as changed inside the caller's transaction, so every reader rebuilds its cache."""
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('trust_generation', '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def trust_store(self) -> TrustStore:
        """Return the verifier's trust store: issuer keys, revoked serials in memory, clock skew tolerance.

        The store is rebuilt from the tables when meta trust_generation has
        changed since the last call, and otherwise returned from memory. It is
        not cached inside an open transaction, because that transaction may
        still roll back what it changed.
        """
        generation = self.get_meta("trust_generation", "0")
        cached = self._trust_cache
        if cached is not None and cached[0] == generation:
            return cached[1]
        trust = self._load_trust_store()
        if not self._db.in_transaction:
            self._trust_cache = (generation, trust)
        return trust

    def _load_trust_store(self) -> TrustStore:
        """Build the trust store from the tables; a trust list key replaces a directly pinned key with the same kid."""
        issuers = {}
        for _kid, spki, not_before, not_after in self._db.execute("SELECT kid, spki, not_before, not_after FROM issuers"):
            key = IssuerKey(public_key_from_spki(spki), _day(not_before), _day(not_after))
            issuers[key.kid] = key
        for entry in self.trust_keys(Role.ISSUER):
            issuers[entry.kid] = IssuerKey(entry.public_key, entry.not_before, entry.not_after, entry.revoked_from)
        serials = (serial for (serial,) in self._db.execute("SELECT serial FROM revoked_serials ORDER BY serial"))
        return TrustStore(issuers, revoked_cards=RevokedSerials(serials), clock_skew=CLOCK_SKEW_TOLERANCE)

    def pin_root_key(self, public_key: ec.EllipticCurvePublicKey) -> None:
        """Pin the city root key once; pinning another key later raises StoreError."""
        spki = spki_of(public_key).hex()
        with self.transaction() as db:
            pinned = self.get_meta("root_spki")
            if pinned is not None and pinned != spki:
                raise StoreError(f"terminal store {self.path} already pins another root key; enrol a new terminal instead")
            self.set_meta({"root_spki": spki}, db)

    def root_key(self) -> ec.EllipticCurvePublicKey | None:
        spki = self.get_meta("root_spki")
        return public_key_from_spki(bytes.fromhex(spki)) if spki else None

    @property
    def trust_list_sequence(self) -> int:
        return int(self.get_meta("trust_list_sequence", "0"))

    @property
    def revocation_version(self) -> int:
        return int(self.get_meta("revocation_version", "0"))

    def trust_keys(self, role: Role | None = None) -> list[KeyEntry]:
        rows = self._db.execute(
            "SELECT role, spki, not_before, not_after, revoked_from, label FROM trust_keys ORDER BY role, not_before, kid"
        )
        entries = [
            KeyEntry(Role(row_role), public_key_from_spki(spki), _day(not_before), _day(not_after), _day(revoked_from), label)
            for row_role, spki, not_before, not_after, revoked_from, label in rows
        ]
        return [entry for entry in entries if role is None or entry.role is role]

    def replace_trust_keys(self, db: sqlite3.Connection, sequence: int, entries: list[KeyEntry], signed: bytes) -> None:
        """Replace the trust list's keys inside the caller's transaction; the caller checks the sequence."""
        db.execute("DELETE FROM trust_keys")
        db.executemany(
            "INSERT INTO trust_keys (kid, role, spki, not_before, not_after, revoked_from, label) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (entry.kid, int(entry.role), spki_of(entry.public_key), entry.not_before.isoformat(),
                 entry.not_after.isoformat(), entry.revoked_from and entry.revoked_from.isoformat(), entry.label)
                for entry in entries
            ],
        )
        self.set_meta({"trust_list_sequence": str(sequence), "trust_list": signed.hex()}, db)
        self._bump_trust_generation(db)

    def replace_revoked_serials(self, db: sqlite3.Connection, version: int, serials: Iterable[int]) -> None:
        """Replace every revoked serial inside the caller's transaction; the caller checks the version."""
        db.execute("DELETE FROM revoked_serials")
        db.executemany("INSERT INTO revoked_serials (serial) VALUES (?)", ((serial,) for serial in serials))
        self.set_meta({"revocation_version": str(version)}, db)
        self._bump_trust_generation(db)

    def change_revoked_serials(
        self, db: sqlite3.Connection, version: int, added: Iterable[int], removed: Iterable[int]
    ) -> None:
        """Apply a delta inside the caller's transaction; the caller checks the base version and the count."""
        db.executemany("INSERT OR IGNORE INTO revoked_serials (serial) VALUES (?)", ((serial,) for serial in added))
        db.executemany("DELETE FROM revoked_serials WHERE serial = ?", ((serial,) for serial in removed))
        self.set_meta({"revocation_version": str(version)}, db)
        self._bump_trust_generation(db)

    def revoked_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM revoked_serials").fetchone()[0]

    def is_revoked_serial(self, serial: int) -> bool:
        """Look the serial up in the primary-key B-tree: O(log n)."""
        return self._db.execute("SELECT 1 FROM revoked_serials WHERE serial = ?", (serial,)).fetchone() is not None

    # --- entitlements -------------------------------------------------------------

    def replace_entitlements(
        self, sets: list[tuple[EntitlementSet, Mapping[bytes, int | HouseholdUse]]], pulled_at: int,
        before_write: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """Replace the cached entitlements of the given programmes atomically; return the new generation.

        Each household maps to its use, or to an object with used and persons
        (HouseholdUse). See update_entitlements for the errors and before_write.
        """
        updates = [EntitlementUpdate(entitlement_set, households) for entitlement_set, households in sets]
        return self.update_entitlements(updates, pulled_at, before_write)

    def update_entitlements(
        self, updates: list[EntitlementUpdate], pulled_at: int,
        before_write: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """Apply full sets and deltas of the given programmes in one transaction, and return the new generation.

        Every applied programme's set gets the new generation, a delta too,
        because its households' use is as of this pull. Raises
        EntitlementDataError, before anything is written, when persons is not
        None or an integer from 1 to MAX_PERSONS. before_write runs first
        inside the transaction, and any exception it raises rolls the
        transaction back (terminal.entitlement_check.rollback_guard).
        """
        rows = [
            [(update.entitlement_set.program, household, *_household_use(use, update.entitlement_set.program, household))
             for household, use in update.households.items()]
            for update in updates
        ]
        try:
            with self.transaction() as db:
                if before_write is not None:
                    before_write(db)
                generation = int((db.execute("SELECT value FROM meta WHERE key='generation'").fetchone() or ["0"])[0]) + 1
                for update, set_rows in zip(updates, rows):
                    self._write_entitlements(db, update, set_rows, generation, pulled_at)
                self.set_meta({"generation": str(generation)}, db)
        finally:
            # PRAGMA data_version does not change for this connection's own commits.
            self._entitlement_index.invalidate()
        return generation

    def _write_entitlements(self, db: sqlite3.Connection, update: EntitlementUpdate, rows: list[tuple],
                            generation: int, pulled_at: int) -> None:
        entitlement_set = update.entitlement_set
        program = entitlement_set.program
        if update.delta:
            db.executemany("DELETE FROM entitlements WHERE program = ? AND household_id = ?",
                           [(program, household) for household in update.removed])
        else:
            db.execute("DELETE FROM entitlements WHERE program = ?", (program,))
        # An upsert changes an existing row in place, where INSERT OR REPLACE would delete and insert it again.
        db.executemany(
            """INSERT INTO entitlements (program, household_id, used, persons) VALUES (?, ?, ?, ?)
               ON CONFLICT (program, household_id) DO UPDATE SET used = excluded.used, persons = excluded.persons""",
            rows,
        )
        db.execute(
            """INSERT OR REPLACE INTO entitlement_sets (program, period, quota, unit, generation, pulled_at, revision,
                                                        quota_period)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (program, entitlement_set.period, entitlement_set.quota, entitlement_set.unit, generation, pulled_at,
             entitlement_set.revision, entitlement_set.quota_period),
        )

    def entitlement_set(self, program: str, db: sqlite3.Connection | None = None) -> EntitlementSet | None:
        row = (db or self._db).execute(
            """SELECT program, period, quota, unit, generation, revision, quota_period FROM entitlement_sets
               WHERE program = ?""",
            (program,),
        ).fetchone()
        return EntitlementSet(*row) if row else None

    def _with_quota_period(self, entitlement_set: EntitlementSet, db: sqlite3.Connection | None) -> EntitlementSet:
        """Return the set with the quota period stored by its pull, read once per programme and generation.

        NOTE: terminal.entitlement_index does not read the quota_period
        column, so the sets it returns carry None, and this fills it in.
        """
        program = entitlement_set.program
        cached = self._quota_periods.get(program)
        if cached is None or cached[0] != entitlement_set.generation:
            row = (db or self._db).execute(
                "SELECT generation, quota_period FROM entitlement_sets WHERE program = ?", (program,)
            ).fetchone()
            if row is None:
                return entitlement_set
            # NOTE: A pull committed by another connection between the index read and this one gives this
            # call the newer set's quota period. The cached entry then belongs to the newer generation.
            cached = self._quota_periods[program] = (row[0], row[1])
        return replace(entitlement_set, quota_period=cached[1])

    def used_at_sync(self, program: str, household_id: bytes, db: sqlite3.Connection | None = None) -> int | None:
        """The household's use as of the last pull, or None when it is not entitled."""
        row = (db or self._db).execute(
            "SELECT used FROM entitlements WHERE program = ? AND household_id = ?", (program, household_id)
        ).fetchone()
        return row[0] if row else None

    def entitlement(self, program: str, household_id: bytes) -> Entitlement | None:
        """Return the programme's pulled set and the household's row from memory, or None without a set.

        The row is None when the household is not entitled. See
        terminal.entitlement_index for how the copy follows new pulls.
        """
        return self._entitlement_index.lookup(program, household_id)

    def quota_usage(
        self, program: str, household_id: bytes, period: str, db: sqlite3.Connection | None = None
    ) -> QuotaUsage | None:
        """Return the entitlement set, the household's use at the last pull and its use here since.

        Returns None when the programme has no entitlements cached. The set
        and the use at the pull come from the in-memory copy (entitlement()).
        The use here is counted with one query (used_here_since_sync() with
        the set's generation), and is 0 without a query when the household is
        not entitled.
        """
        found = self._entitlement_index.lookup(program, household_id)
        if found is None:
            return None
        entitlement_set, use = found
        if entitlement_set.quota_period is None:
            entitlement_set = self._with_quota_period(entitlement_set, db)
        if use is None:
            return QuotaUsage(entitlement_set, None, 0)
        used_here = self.used_here_since_sync(program, household_id, period, entitlement_set.generation, db)
        return QuotaUsage(entitlement_set, use.used, used_here, use.persons)

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
