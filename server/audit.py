"""The personal-data audit log: who read which resident, card holder, redemption or finding, and when.

A route that returns personal data calls record_reads() before it returns.
The entries are committed with the request's session, so a read that cannot
be logged fails instead of returning data unlogged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import Request
from sqlalchemy.orm import Session

from server.models_people import AuditEntry
from server.periods import utc_datetime
from server.sessions import Caller

__all__ = ["record_reads", "SUBJECT_RESIDENT", "SUBJECT_CARD", "SUBJECT_REDEMPTION", "SUBJECT_FINDING", "ACTION_READ"]

logger = logging.getLogger(__name__)

ACTION_READ = "read"
SUBJECT_RESIDENT = "resident"
SUBJECT_CARD = "card"
SUBJECT_REDEMPTION = "redemption"
SUBJECT_FINDING = "finding"
_MAX_REQUEST_CHARS = 300


def _request_line(request: Request) -> str:
    line = f"{request.method} {request.url.path}"
    if request.url.query:
        line += "?" + request.url.query
    return line[:_MAX_REQUEST_CHARS]


def record_reads(
    session: Session, request: Request, caller: Caller, subject_kind: str, subject_ids: Iterable[str]
) -> int:
    """Write and commit one audit entry per subject id read by caller; return how many were written."""
    now = utc_datetime(request.app.state.settings.clock())
    line = _request_line(request)
    entries = [
        AuditEntry(
            at=now,
            actor=caller.actor,
            user_id=caller.user_id,
            action=ACTION_READ,
            subject_kind=subject_kind,
            subject_id=str(subject_id),
            request=line,
        )
        for subject_id in subject_ids
    ]
    session.add_all(entries)
    session.commit()
    logger.info("%s read %d %s records (%s)", caller.actor, len(entries), subject_kind, line)
    return len(entries)
