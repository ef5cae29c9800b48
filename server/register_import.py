"""Import of a register file into the residents and households tables.

import_register() reads and checks a CSV or XLSX file (server.register_files,
server.register_rows), then in the caller's transaction:

- inserts residents whose NIK is new;
- updates a resident whose values changed and writes their previous values
  to resident_history;
- leaves identical residents alone, so importing the same file again changes
  no resident, history row or entitlement;
- puts a resident who had left back on the register;
- with complete=True, marks residents missing from the file as left
  (server.register_leavers says when such an import is rejected);
- recomputes the entitlements when anything changed.

Without complete=True a resident missing from the file is kept unchanged,
because a file may cover only part of the city. Rejected rows are reported
with their line and reason and the other rows are imported. The caller
commits, so the whole import is one transaction. Every import that is not
rejected as a whole, even one that changes nothing, is recorded in
register_imports.

Imports run one at a time. On PostgreSQL an import takes a transaction-level
advisory lock before it reads the register. So a second import waits for the
first to commit and then finds its rows unchanged instead of inserting the
same NIKs again. On SQLite the first write takes the database's write lock.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from issuance.register import RowError, household_id
from server.entitlements import RecomputeResult, recompute_entitlements
from server.models_register import Household, RegisterImport, Resident, ResidentHistory
from server.register_files import FileError, read_table
from server.register_leavers import CompleteImportRejection, check_leavers, find_leavers, mark_left
from server.register_rows import ParsedRow, check_table

__all__ = ["ImportReport", "import_register", "RESIDENT_COLUMNS"]

logger = logging.getLogger(__name__)

_CHUNK = 5000
# Key of the PostgreSQL advisory lock that serializes imports: "KBREG" in ASCII.
_IMPORT_LOCK_KEY = 0x4B42524547
# Resident columns that an import compares and keeps history of, besides the household (kk).
RESIDENT_COLUMNS = (
    "name", "birth_date", "sex", "address", "kelurahan", "desil", "relationship", "occupation", "school",
)


@dataclass
class ImportReport:
    filename: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    households_updated: int = 0
    """Existing households whose household id this import set or changed."""
    errors: list[RowError] = field(default_factory=list)
    import_id: int | None = None
    entitlements: RecomputeResult | None = None
    complete: bool = False
    left: int = 0
    """Residents this complete import marked as left."""
    returned: int = 0
    """Residents who had left and are in this file again (also counted in updated)."""
    rejection: CompleteImportRejection | None = None
    """The reason a complete import was rejected and wrote nothing, or None."""

    @property
    def rejected_lines(self) -> int:
        return len({error.line for error in self.errors})


def _values_of(row: ParsedRow) -> dict:
    resident = row.resident
    return {
        "name": resident.name,
        "birth_date": resident.birth_date,
        "sex": resident.sex,
        "address": resident.address,
        "kelurahan": resident.kelurahan_code,
        "desil": resident.desil,
        "relationship": resident.relationship,
        "occupation": row.occupation,
        "school": row.school,
        "kk": resident.kk,
    }


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lock_imports(session: Session) -> None:
    """On PostgreSQL, wait until no other import's transaction is open and keep the lock until this one ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_IMPORT_LOCK_KEY)))


def _households(session: Session, kks: set[str], key: bytes | None, report: ImportReport) -> dict[str, int]:
    """Return the household primary key of every KK, creating missing households."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for chunk in _chunks(sorted(kks)):
        rows = session.execute(select(Household.kk, Household.id, Household.household_id).where(Household.kk.in_(chunk)))
        found.update({kk: (pk, stored_id) for kk, pk, stored_id in rows})

    new = [{"kk": kk, "household_id": household_id(kk, key) if key else None} for kk in sorted(kks - found.keys())]
    for chunk in _chunks(new):
        session.execute(insert(Household), chunk)
    if key is not None:
        changed = [{"id": pk, "household_id": household_id(kk, key)} for kk, (pk, stored_id) in found.items()
                   if stored_id != household_id(kk, key)]
        for chunk in _chunks(changed):
            session.execute(update(Household), chunk)
        report.households_updated = len(changed)

    result = {kk: pk for kk, (pk, _) in found.items()}
    for chunk in _chunks(sorted(kks - result.keys())):
        result.update(session.execute(select(Household.kk, Household.id).where(Household.kk.in_(chunk))).all())
    return result


def _existing_residents(session: Session, niks: list[str]) -> dict[str, dict]:
    columns = [getattr(Resident, name) for name in RESIDENT_COLUMNS]
    existing = {}
    for chunk in _chunks(niks):
        rows = session.execute(
            select(Resident.nik, Resident.id, Resident.left_at, Household.kk, *columns)
            .join(Household, Household.id == Resident.household_pk)
            .where(Resident.nik.in_(chunk))
        )
        for row in rows:
            existing[row.nik] = {"id": row.id, "kk": row.kk, "left_at": row.left_at,
                                 **{name: getattr(row, name) for name in RESIDENT_COLUMNS}}
    return existing


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _store_rows(session: Session, rows: list[ParsedRow], report: ImportReport, import_id: int,
                now: datetime, key: bytes | None) -> None:
    household_pks = _households(session, {row.resident.kk for row in rows}, key, report)
    existing = _existing_residents(session, [row.resident.nik for row in rows])
    new_rows, changed_rows, history_rows = [], [], []
    for row in rows:
        values = _values_of(row)
        stored = existing.get(row.resident.nik)
        # Every resident in the file is on the register, so one who had left is back.
        record = {**{name: values[name] for name in RESIDENT_COLUMNS},
                  "household_pk": household_pks[values["kk"]], "import_id": import_id,
                  "left_at": None, "left_import_id": None}
        if stored is None:
            new_rows.append({"nik": row.resident.nik, **record})
            continue
        changed = [name for name in (*RESIDENT_COLUMNS, "kk") if stored[name] != values[name]]
        if stored["left_at"] is not None:
            changed.append("left_at")
            report.returned += 1
        if not changed:
            report.unchanged += 1
            continue
        changed_rows.append({"id": stored["id"], **record})
        history_rows.append({
            "resident_pk": stored["id"], "import_id": import_id, "changed_at": now,
            "changed_columns": ",".join(changed),
            "previous": {name: _json_value(stored[name]) for name in changed},
        })
    for chunk in _chunks(new_rows):
        session.execute(insert(Resident), chunk)
    for chunk in _chunks(changed_rows):
        session.execute(update(Resident), chunk)
    for chunk in _chunks(history_rows):
        session.execute(insert(ResidentHistory), chunk)
    report.inserted, report.updated = len(new_rows), len(changed_rows)


def import_register(session: Session, data: bytes, filename: str, now: datetime,
                    household_key: bytes | None = None, *, complete: bool = False,
                    confirm_left: int | None = None) -> ImportReport:
    """Check and import a register file in the session's transaction, without committing.

    household_key is the city's household key (at least 16 bytes); without it
    new households get no household id and cannot be matched to cards.
    complete=True marks residents missing from the file as left. confirm_left
    is the number of such residents the operator expects. It allows more than
    server.register_leavers.MAX_LEFT_SHARE of them to leave, and must then match.
    A file that cannot be read at all, or whose header is invalid, returns a
    report with import_id None and its errors, and writes nothing. So does a
    rejected complete import, with report.rejection set.
    """
    report = ImportReport(filename=filename, complete=complete)
    try:
        table = read_table(data)
    except FileError as exc:
        report.errors.append(exc.error)
        return report
    checked = check_table(table)
    report.rows = checked.lines
    report.errors = sorted(checked.errors, key=lambda error: error.line)
    if not checked.header_valid:
        return report

    _lock_imports(session)
    leaving: list[int] = []
    if complete:
        leavers = find_leavers(session, {row.resident.nik for row in checked.rows})
        report.rejection = check_leavers(leavers, report.rejected_lines, confirm_left)
        if report.rejection is not None:
            logger.warning("complete register import of %s rejected (%s): %d of %d residents would leave",
                           filename, report.rejection.reason, report.rejection.left, report.rejection.active)
            return report
        leaving = leavers.resident_ids

    record = RegisterImport(filename=filename[:255], sha256=hashlib.sha256(data).hexdigest(), imported_at=now,
                            rows=checked.lines, rejected=report.rejected_lines, inserted=0, updated=0, unchanged=0,
                            complete=complete, left=len(leaving))
    session.add(record)
    session.flush()
    report.import_id = record.id
    _store_rows(session, checked.rows, report, record.id, now, household_key)
    mark_left(session, leaving, record.id, now)
    report.left = len(leaving)
    record.inserted, record.updated, record.unchanged = report.inserted, report.updated, report.unchanged
    if report.inserted or report.updated or report.households_updated or report.left:
        report.entitlements = recompute_entitlements(session, now)
    session.flush()
    logger.info("register import %d (%s): %d rows, %d rejected, %d inserted, %d updated, %d unchanged, %d left",
                record.id, filename, report.rows, report.rejected_lines, report.inserted, report.updated,
                report.unchanged, report.left)
    return report
