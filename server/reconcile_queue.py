"""Reconciliation off the push path: a durable queue of pushed batches and the worker that drains it.

A push inserts one reconcile_queue row (the accepted record ids) in the same
transaction as the records, then acknowledges. A worker thread claims up to
CLAIM_BATCHES queued rows (one on SQLite) by deleting them, reconciles their
records together and commits the findings and terminal totals in that same
transaction. So a batch is reconciled exactly once: a crash before that
commit brings the rows back for the next drain, and a crash after it leaves
nothing to redo. Batches are claimed in push order.

Reconciling several queued batches together costs less than one at a time,
because each check runs one query per up to 1000 records. The findings of
such a group carry the push time of its latest batch.

Several server processes (kartu server --workers) can drain one queue. On
PostgreSQL the claim skips rows that another transaction has locked (FOR
UPDATE SKIP LOCKED), so two workers claim different batches. On SQLite the
claiming DELETE takes the database's write lock, which another worker's claim
waits for, and the claimed rows are gone by the time it gets the lock.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import JSON, Integer, Row, String, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from server.models import Base, UTCDateTime
from server.reconcile import reconcile_records

__all__ = ["QueuedBatch", "Reconciler", "enqueue_batch", "claim_batches", "CLAIM_BATCHES"]

logger = logging.getLogger(__name__)

# Batches claimed at once on PostgreSQL. A push contains at most 1000 records by default
# (Settings.max_batch_records), so a claim loads at most about 4000 records. On SQLite a claim
# takes one batch, because it holds the database's write lock until its commit, and a push in
# another worker process fails once it has waited server.db.SQLITE_BUSY_TIMEOUT_MS for that lock.
CLAIM_BATCHES = 4


class QueuedBatch(Base):
    """Record ids of one push whose reconciliation has not been committed yet."""

    __tablename__ = "reconcile_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(String(64))
    record_ids: Mapped[list[str]] = mapped_column(JSON)
    pushed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def enqueue_batch(session: Session, terminal_id: str, record_ids: list[str], pushed_at: datetime) -> None:
    """Add a batch to the queue in the caller's transaction; the caller commits."""
    if record_ids:
        session.add(QueuedBatch(terminal_id=terminal_id, record_ids=record_ids, pushed_at=pushed_at))


def claim_batches(session: Session, *, skip_locked: bool, limit: int = CLAIM_BATCHES) -> list[Row]:
    """Delete up to limit of the oldest queued batches in the session's transaction; return them oldest first.

    Each row has id, terminal_id, record_ids and pushed_at. The caller commits
    after reconciling them, or rolls back to put them back. skip_locked (for
    PostgreSQL) passes over rows that another transaction has claimed.
    """
    oldest = select(QueuedBatch.id).order_by(QueuedBatch.id).limit(limit)
    if skip_locked:
        oldest = oldest.with_for_update(skip_locked=True)
    claimed = session.execute(
        delete(QueuedBatch).where(QueuedBatch.id.in_(oldest.scalar_subquery())).returning(
            QueuedBatch.id, QueuedBatch.terminal_id, QueuedBatch.record_ids, QueuedBatch.pushed_at
        )
    )
    return sorted(claimed, key=lambda row: row.id)


class Reconciler:
    """Drains the queue in a daemon thread, woken by notify() after each push."""

    def __init__(self, engine: Engine, make_session: sessionmaker) -> None:
        self._make_session = make_session
        self._skip_locked = engine.dialect.name == "postgresql"
        self._claim_limit = CLAIM_BATCHES if self._skip_locked else 1
        self._wake = threading.Event()
        self._stopping = False
        # Serialises drains within one process, so drain() returns only after
        # a batch the worker thread was reconciling has been committed.
        self._drain_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="reconciler", daemon=True)
        thread.start()
        # Set only once started, because stop() may run in another thread and joins it. A thread
        # started after stop() finds _stopping set when it wakes, and returns.
        self._thread = thread
        self._wake.set()  # batches left by an earlier process

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def notify(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.drain()
            # NOTE: a batch whose reconciliation always fails stays first in the queue, so it blocks
            # later batches. Each push logs the failure again until the cause is fixed.
            except Exception:  # noqa: BLE001 because the thread must keep serving later pushes
                logger.exception("reconciliation worker failed; the queued batches stay for the next drain")

    def drain(self) -> int:
        """Reconcile every queued batch and return how many were reconciled."""
        done = 0
        with self._drain_lock:
            while claimed := self._reconcile_claimed():
                done += claimed
        return done

    def _reconcile_claimed(self) -> int:
        """Claim and reconcile one group of queued batches; return how many batches it held."""
        with self._make_session() as session:
            batches = claim_batches(session, skip_locked=self._skip_locked, limit=self._claim_limit)
            if not batches:
                return 0
            record_ids = [record_id for batch in batches for record_id in batch.record_ids]
            changed = reconcile_records(session, record_ids, batches[-1].pushed_at)
            session.commit()
        if changed:
            logger.info("reconciled batches %d to %d (%d records): %d findings added or changed",
                        batches[0].id, batches[-1].id, len(record_ids), changed)
        return len(batches)
