"""Residents who left the register, found by a complete register import.

An import marked complete states that the file lists every resident of the
city. Residents on the register who are missing from such a file are marked
as left: their row, history and redemptions stay, left_at and left_import_id
are set, a resident_history row records the change, and the entitlement
recomputation no longer counts them. A resident who left and appears in a
later file, complete or not, is on the register again.

Two checks keep a damaged file from removing people:
- a complete import with any rejected row is rejected, because the resident
  on that row would be marked as left;
- a complete import that would mark more than MAX_LEFT_SHARE of the
  residents as left is rejected unless the caller confirms the exact count,
  because a truncated file looks like a city that emptied.
A rejected import writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from server.models_register import Resident, ResidentHistory

__all__ = ["MAX_LEFT_SHARE", "CompleteImportRejection", "Leavers", "find_leavers", "check_leavers", "mark_left"]

logger = logging.getLogger(__name__)

# Estimate: deaths and moves out of a city remove a few percent of its residents a year, so a
# larger share in one import more likely comes from a truncated or filtered file.
MAX_LEFT_SHARE = 0.05
_CHUNK = 5000


@dataclass(frozen=True)
class CompleteImportRejection:
    """The reason a complete import was rejected before writing anything."""

    reason: str
    """"rejected_rows", "too_many_left" or "confirm_mismatch"."""
    left: int
    """Residents the file would mark as left."""
    active: int
    """Residents on the register before the import."""
    confirmed: int | None = None


@dataclass(frozen=True)
class Leavers:
    resident_ids: list[int]
    active: int


def find_leavers(session: Session, present_niks: set[str]) -> Leavers:
    """Return the residents on the register whose NIK is not in present_niks."""
    rows = session.execute(select(Resident.id, Resident.nik).where(Resident.left_at.is_(None))).all()
    leaving = sorted(resident_id for resident_id, nik in rows if nik not in present_niks)
    return Leavers(resident_ids=leaving, active=len(rows))


def check_leavers(leavers: Leavers, rejected_lines: int, confirm_left: int | None) -> CompleteImportRejection | None:
    """Return why a complete import with these leavers must not run, or None when it may."""
    left, active = len(leavers.resident_ids), leavers.active
    if rejected_lines:
        return CompleteImportRejection("rejected_rows", left, active)
    if confirm_left is not None and confirm_left != left:
        return CompleteImportRejection("confirm_mismatch", left, active, confirm_left)
    if confirm_left is None and left > MAX_LEFT_SHARE * active:
        return CompleteImportRejection("too_many_left", left, active)
    return None


def mark_left(session: Session, resident_ids: list[int], import_id: int, now: datetime) -> None:
    """Mark residents as left by import_id at now and record each change in resident_history."""
    for start in range(0, len(resident_ids), _CHUNK):
        chunk = resident_ids[start : start + _CHUNK]
        session.execute(update(Resident), [
            {"id": resident_id, "left_at": now, "left_import_id": import_id} for resident_id in chunk
        ])
        session.execute(insert(ResidentHistory), [
            {"resident_pk": resident_id, "import_id": import_id, "changed_at": now, "changed_columns": "left_at",
             "previous": {"left_at": None}}
            for resident_id in chunk
        ])
    if resident_ids:
        logger.info("register import %d marked %d residents as left", import_id, len(resident_ids))
