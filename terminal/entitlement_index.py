"""An in-memory copy of the pulled entitlement sets, checked against the store on every look-up.

For each programme the index contains the pulled set (period, quota, unit,
generation) and a dict from household id to its use at the pull and its
entitled persons. A programme is loaded from the store when first looked up.

The copy is kept valid without a query per table. A pull (a full set or a
delta) changes a programme's rows and gives its set a new, higher generation
in the same transaction (TerminalStore.update_entitlements), so the index
reloads the whole programme after either. Each look-up reads PRAGMA
data_version, which changes when another connection, in this or another
process, has committed to the database file. Only then are the
generations re-read from entitlement_sets, and a programme whose generation
changed or whose set is gone is dropped and loaded again when next looked
up. data_version does not change for the connection's own commits, so the
store calls invalidate() after each of its own pulls.

NOTE: The first look-up after a pull loads the whole programme, 570 to 730 ms
for 250,000 households in the bench/verify.py runs of docs/BENCHMARKS.md. In terminal.tap that look-up runs
inside the hand-over's IMMEDIATE transaction, so that scan and any writer
waiting for the lock are delayed by the load.

The use here since the pull (the redemptions table) is not cached. The tap
path counts it inside the IMMEDIATE transaction that inserts the
redemption, which keeps the quota check race-free between processes.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from terminal.store import EntitlementSet, HouseholdUse

__all__ = ["EntitlementIndex", "Entitlement"]


class Entitlement(NamedTuple):
    """A programme's pulled set and one household's row of it. use is None when the household is not entitled."""

    entitlement_set: EntitlementSet
    use: HouseholdUse | None


class _Programme(NamedTuple):
    entitlement_set: EntitlementSet
    households: dict[bytes, HouseholdUse]


class EntitlementIndex:
    """The entitlement sets of one store connection, kept in memory and reloaded after a pull."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db
        self._data_version: int | None = None
        self._programmes: dict[str, _Programme] = {}
        self._generations: dict[str, int] = {}

    def invalidate(self) -> None:
        """Make the next look-up re-read the generations. Call it after this connection's own pull."""
        self._data_version = None

    def lookup(self, program: str, household_id: bytes) -> Entitlement | None:
        """Return the programme's set and the household's row, or None when the programme has no set.

        Inside an open transaction of the connection, the result is that of
        the transaction's snapshot.
        """
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        programme = self._programmes.get(program)
        if version != self._data_version or programme is None:
            programme = self._read_consistently(program)
            if programme is None:
                return None
        return Entitlement(programme.entitlement_set, programme.households.get(household_id))

    def _read_consistently(self, program: str) -> _Programme | None:
        """Refresh the generations and load the programme if needed, all from one snapshot of the database."""
        if self._db.in_transaction:
            return self._refresh(program)
        self._db.execute("BEGIN")
        try:
            return self._refresh(program)
        finally:
            self._db.execute("COMMIT")

    def _refresh(self, program: str) -> _Programme | None:
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._generations = dict(self._db.execute("SELECT program, generation FROM entitlement_sets"))
            self._programmes = {
                name: programme for name, programme in self._programmes.items()
                if self._generations.get(name) == programme.entitlement_set.generation
            }
            self._data_version = version
        programme = self._programmes.get(program)
        if programme is None and program in self._generations:
            programme = self._load(program)
            self._programmes[program] = programme
        return programme

    def _load(self, program: str) -> _Programme:
        row = self._db.execute(
            "SELECT program, period, quota, unit, generation, revision FROM entitlement_sets WHERE program = ?",
            (program,),
        ).fetchone()
        # Most households share one of a few (used, persons) pairs, so each distinct pair is stored once.
        shared: dict[tuple[int, int | None], HouseholdUse] = {}
        households = {}
        for household_id, used, persons in self._db.execute(
            "SELECT household_id, used, persons FROM entitlements WHERE program = ?", (program,)
        ):
            key = (used, persons)
            use = shared.get(key)
            if use is None:
                use = shared[key] = HouseholdUse(used, persons)
            households[household_id] = use
        return _Programme(EntitlementSet(*row), households)
