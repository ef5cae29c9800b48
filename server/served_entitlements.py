"""Served state: each programme's household list as last served to terminals, with revisions for delta pulls.

A pull computes the current households (server.entitlements.
household_entitlements), locks the programme's revision row (lock_programme)
and records them (record_served). Rows whose values changed, new households
and households no longer listed are written with the programme's next
revision, and an unchanged row is not touched. The lock is SELECT ... FOR
UPDATE on PostgreSQL. On SQLite the upsert that precedes it takes the
database's write lock. So recordings of one programme run one at a time and
revisions commit in order. The rows changed after revision R are then
exactly what a terminal at revision R lacks. A recording that finds no
change leaves the revision as it is.

The households are computed before the lock, so pulls compute in parallel
and the lock is held only for the comparison and the writes. After a pull's
recording the served state equals that pull's computation, which began
after the pull's request arrived. So the terminal gets every redemption
acknowledged before it asked, which its local quota count relies on. A pull
that computed earlier but recorded later can set a row back to an older
value. The next pull then sets it forward again under a new revision.

A removal stays as a row with removed true for TOMBSTONE_RETENTION. Older
removals are purged at the next recording, which also moves the revision on.
The programme's horizon becomes the highest purged revision, so a cursor
below the horizon gets a full set. A cursor of 0 or one ahead of the
programme's revision gets a full set too.

Each server process caches the rows it last recorded, per database engine
and programme. It uses them instead of reading the table when the locked
revision is still the one they were recorded at. Every change of the table
moves the revision on, so a change by another process is never missed.
NOTE: the copy takes memory in every worker: 38 MB for 250,000 households
(tracemalloc over the rows bench/entitlement_pull.py builds), and about
twice that while a recording copies it.

NOTE: every pull still computes the programme's households and compares
them with the served rows, so a delta saves transfer and terminal work, but
the server does about the work of a full set for each pull.

NOTE: on SQLite a recording keeps the database's write lock until its
commit, so pushes wait for it too. On the loaded test machine
(bench/entitlement_pull.py) that took 7.4 s for the first pull of 250,000
households and 2.2 s for a daily delta of 51,000 rows. The first is beyond
the 5 s busy timeout of server.db. PostgreSQL locks only the programme's revision row.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import Engine, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from server.entitlements import HouseholdEntitlement
from server.models_served import EntitlementRevision, ServedEntitlement
from server.periods import utc_datetime

__all__ = [
    "TOMBSTONE_RETENTION", "ServedState", "ServedChanges", "lock_programme", "record_served", "remember_served",
    "changes_since",
]

# A terminal that has not pulled for longer than this may get a full set
# instead of a delta. Service points sync nightly and may be offline for days.
TOMBSTONE_RETENTION = timedelta(days=31)

_CHUNK = 5000


class _Row(NamedTuple):
    used: int
    persons: int | None
    amount: int | None
    valid_until: object
    removed: bool
    revision: int
    present_since: int
    known_since: int


@dataclass(frozen=True)
class ServedState:
    """A programme's served households after a recording, with the revision and horizon of that moment."""

    program: str
    revision: int
    horizon: int
    households: list[HouseholdEntitlement]
    rows: dict[bytes, _Row]


@dataclass(frozen=True)
class ServedChanges:
    """The households changed or added after a cursor, and the ids removed since it."""

    base_revision: int
    changed: list[HouseholdEntitlement]
    removed: list[bytes]


def _upsert_counter(session: Session, program: str) -> None:
    dialect = session.get_bind().dialect.name
    values = {"program": program, "revision": 0, "horizon": 0}
    if dialect == "postgresql":
        statement = postgresql_insert(EntitlementRevision).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(EntitlementRevision).values(values).on_conflict_do_nothing()
    else:
        raise RuntimeError(f"database {dialect} is not supported; use SQLite or PostgreSQL")
    session.execute(statement)


def lock_programme(session: Session, program: str) -> EntitlementRevision:
    """Create the programme's revision row if needed and lock it until the session commits or rolls back."""
    _upsert_counter(session, program)
    return session.execute(
        select(EntitlementRevision).where(EntitlementRevision.program == program).with_for_update()
    ).scalar_one()


def _purge_removals(session: Session, counter: EntitlementRevision, now: float) -> None:
    cutoff = utc_datetime(now) - TOMBSTONE_RETENTION
    expired = (ServedEntitlement.program == counter.program, ServedEntitlement.removed.is_(True),
               ServedEntitlement.changed_at < cutoff)
    highest = session.execute(select(func.max(ServedEntitlement.revision)).where(*expired)).scalar()
    if highest is None:
        return
    session.execute(delete(ServedEntitlement).where(*expired))
    counter.horizon = max(counter.horizon, highest)
    # A new revision marks every process's copy of the rows as out of date.
    counter.revision += 1


def _load_rows(session: Session, program: str) -> dict[bytes, _Row]:
    columns = [getattr(ServedEntitlement, name) for name in ("household_id", *_Row._fields)]
    result = session.execute(select(*columns).where(ServedEntitlement.program == program))
    return {row[0]: _Row(*row[1:]) for row in result}


# Per engine and programme: the revision and the rows as recorded at it.
_recorded: weakref.WeakKeyDictionary[Engine, dict[str, tuple[int, dict[bytes, _Row]]]] = weakref.WeakKeyDictionary()


def _served_rows(session: Session, counter: EntitlementRevision) -> dict[bytes, _Row]:
    """Return a copy of the rows cached from this process's last recording at the locked revision, else read them."""
    cached = _recorded.get(session.get_bind(), {}).get(counter.program)
    if cached is not None and cached[0] == counter.revision:
        return dict(cached[1])
    return _load_rows(session, counter.program)


def remember_served(session: Session, state: ServedState) -> None:
    """Cache the state's rows for the next recording. Call it only after the session has committed them."""
    _recorded.setdefault(session.get_bind(), {})[state.program] = (state.revision, state.rows)


def _values(entry: HouseholdEntitlement) -> tuple:
    return entry.used, entry.persons, entry.amount, entry.valid_until


class _Diff(NamedTuple):
    inserts: list[dict]
    updates: list[dict]
    removals: list[dict]


# Core statements: in a profile of 51,000 changed rows, the ORM's bulk update by primary key spent
# about 1 s of 7.5 s in its own per-row bookkeeping.
_TABLE = ServedEntitlement.__table__
_INSERT = _TABLE.insert()
# Executed with one parameter set per row: the columns to set, and key_program and key_household for the row.
_UPDATE = _TABLE.update().where(_TABLE.c.program == bindparam("key_program"),
                                _TABLE.c.household_id == bindparam("key_household"))


def _diff(program: str, rows: dict[bytes, _Row], current: list[HouseholdEntitlement], revision: int,
          changed_at) -> _Diff:
    """Update rows in place to current and return the inserts, updates and removals that do the same in the table."""
    inserts, updates, removals = [], [], []
    listed = set()
    for entry in current:
        household_id = entry.household_id
        listed.add(household_id)
        row = rows.get(household_id)
        values = _values(entry)
        if row is not None and not row.removed and row[:4] == values:
            continue
        if row is None:
            new = _Row(*values, False, revision, revision, revision)
        else:
            present_since = revision if row.removed else row.present_since
            new = _Row(*values, False, revision, present_since, row.known_since)
        rows[household_id] = new
        if row is None:
            inserts.append({"program": program, "household_id": household_id, "changed_at": changed_at,
                            **new._asdict()})
        else:
            updates.append({"key_program": program, "key_household": household_id, "changed_at": changed_at,
                            **new._asdict()})
    for household_id, row in rows.items():
        if household_id not in listed and not row.removed:
            rows[household_id] = row._replace(removed=True, revision=revision)
            removals.append({"key_program": program, "key_household": household_id, "removed": True,
                             "revision": revision, "changed_at": changed_at})
    return _Diff(inserts, updates, removals)


def _chunks(items: list):
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def record_served(session: Session, counter: EntitlementRevision, current: list[HouseholdEntitlement],
                  now: float) -> ServedState:
    """Record the current households under the locked counter and return the served state without committing.

    current must be computed after the request of the pull arrived (see the
    module docstring). The returned rows must not be changed.
    """
    _purge_removals(session, counter, now)
    rows = _served_rows(session, counter)
    diff = _diff(counter.program, rows, current, counter.revision + 1, utc_datetime(now))
    if any(diff):
        counter.revision += 1
        for statement, changes in ((_INSERT, diff.inserts), (_UPDATE, diff.updates), (_UPDATE, diff.removals)):
            for chunk in _chunks(changes):
                session.execute(statement, chunk)
    session.flush()
    return ServedState(counter.program, counter.revision, counter.horizon, current, rows)


def changes_since(state: ServedState, since: int) -> ServedChanges | None:
    """Return what a terminal at revision since lacks, or None when it needs a full set.

    A full set is needed for since 0, since below the horizon or above the
    revision, and when a removed household's history does not show whether
    the terminal had it at since.
    """
    if since <= 0 or since < state.horizon or since > state.revision:
        return None
    rows = state.rows
    changed = [entry for entry in state.households if rows[entry.household_id].revision > since]
    removed = []
    for household_id, row in rows.items():
        if not row.removed or row.revision <= since:
            continue
        if row.present_since <= since:
            removed.append(household_id)
        elif since >= row.known_since:
            # Listed, removed and listed again within the retention time. The table does not
            # record whether the terminal had it at since.
            return None
    removed.sort()
    return ServedChanges(since, changed, removed)
