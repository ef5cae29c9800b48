"""Check that the server's sync key is a sync key of the stored trust list on the current day.

Terminals accept an entitlement set only when a sync key of their trust list
that may sign on the set's day of issue (WIB) signed it. A server whose sync
key is missing from the newest uploaded trust list, has another role, is
outside its window or is revoked would sign sets that every terminal rejects.
The app checks this at startup and after each trust list upload and logs an
ERROR. The entitlement route then returns 503 with code sync_key_not_trusted
and a message that names the cause and the fix. A terminal that rejects a
set cannot report that cause itself.

The result is cached per trust list sequence, sync key and day, so a request
costs one query for the newest sequence. Each worker process reads that
sequence from the shared database, so an upload through another worker
takes effect on the next request.

NOTE: a server with no trust list stored at all is not blocked here, because
a terminal then fails earlier on GET /api/v1/trust/list (404) with its own
message. Startup logs a warning for that case.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from fastapi import FastAPI, Request, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from card.cose import Signer
from card.trustlist import Role, TrustListError, decode_trust_list
from server.errors import CodedError
from server.models_revocation import TrustListUpload
from server.periods import wib_date
from server.revocations import latest_trust_list, pinned_root

__all__ = ["SyncKeyMonitor", "require_sync_signer", "require_trusted_sync_key", "check_sync_key_now", "sync_key_problem", "PUBLISH_HINT"]

logger = logging.getLogger(__name__)

PUBLISH_HINT = (
    "sign a trust list that lists this key with role sync and a window that includes today with "
    "'kartu keys sign-trust-list --root-key ROOT --spec SPEC --out trustlist.cose' and upload it with "
    "PUT /api/v1/trust/list"
)


def require_sync_signer(request: Request, product: str) -> Signer:
    """Return the app's sync key signer; raise 503 no_sync_key naming product when the server runs without one."""
    signer = getattr(request.app.state, "sync_signer", None)
    if signer is None:
        raise CodedError(
            status.HTTP_503_SERVICE_UNAVAILABLE, "no_sync_key",
            detail=f"this server has no sync key, so it cannot sign {product}; restart it with a sync key",
        )
    return signer


def sync_key_problem(session: Session, signer: Signer, day: date) -> str | None:
    """Return why terminals would reject a set signed by signer on day, or None when they would accept it.

    Also returns None when no trust list is stored (see the module NOTE).
    """
    latest = latest_trust_list(session)
    root = pinned_root(session)
    if latest is None or root is None:
        return None
    kid = signer.kid.hex()
    try:
        trust_list = decode_trust_list(latest.signed, root)
    except TrustListError as exc:
        return f"stored trust list sequence {latest.sequence} does not verify with the pinned root key ({exc}); {PUBLISH_HINT}"

    entry = next((key for key in trust_list.keys if key.kid == signer.kid), None)
    list_name = f"trust list sequence {trust_list.sequence}"
    if entry is None:
        return f"the server's sync key {kid} is not in {list_name}; {PUBLISH_HINT}"
    if entry.role is not Role.SYNC:
        return f"the server's sync key {kid} has role {entry.role.name.lower()} in {list_name}, not sync; {PUBLISH_HINT}"
    if entry.revoked_from is not None and day >= entry.revoked_from:
        return (f"the server's sync key {kid} is revoked from {entry.revoked_from} in {list_name}; "
                f"restart the server with a new sync key (--sync-key) and {PUBLISH_HINT}")
    if not entry.may_sign_on(day):
        return (f"the server's sync key {kid} may sign from {entry.not_before} to {entry.not_after} in {list_name}, "
                f"not on {day} (WIB); {PUBLISH_HINT}")
    return None


class SyncKeyMonitor:
    """The cached result of sync_key_problem for one app, logged once each time it changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked: tuple[int | None, bytes, date] | None = None
        self._problem: str | None = None

    def problem(self, session: Session, signer: Signer, now: float) -> str | None:
        """Return the current problem of signer, checking again when the trust list, key or day changed."""
        sequence = session.scalar(select(func.max(TrustListUpload.sequence)))
        state = (sequence, signer.kid, wib_date(now))
        with self._lock:
            if state == self._checked:
                return self._problem
        problem = sync_key_problem(session, signer, state[2])
        with self._lock:
            if problem is not None and problem != self._problem:
                logger.error("terminals will reject entitlement sets: %s", problem)
            elif problem is None and self._problem is not None:
                logger.info("sync key %s is a valid sync key of trust list sequence %s again", signer.kid.hex(), sequence)
            self._checked, self._problem = state, problem
        return problem


def check_sync_key_now(app: FastAPI, session: Session, now: float) -> None:
    """Check the app's sync key against the stored trust list and log any problem without raising."""
    signer = getattr(app.state, "sync_signer", None)
    if signer is None:
        return
    if latest_trust_list(session) is None:
        logger.warning("no trust list is stored, so terminals cannot pull entitlements yet; %s", PUBLISH_HINT)
        return
    app.state.sync_key_monitor.problem(session, signer, now)


def require_trusted_sync_key(request: Request, session: Session, signer: Signer, now: float) -> None:
    """Raise a 503 CodedError (sync_key_not_trusted) when terminals would reject sets signed by signer now."""
    problem = request.app.state.sync_key_monitor.problem(session, signer, now)
    if problem is not None:
        raise CodedError(status.HTTP_503_SERVICE_UNAVAILABLE, "sync_key_not_trusted", detail=problem)
