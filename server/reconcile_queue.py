"""Reconciliation off the push path: a durable queue of pushed batches and the worker that drains it.

A push inserts one reconcile_queue row (the accepted record ids) in the same
transaction as the records, then acknowledges. A worker thread reconciles
each queued batch and deletes its row in the same transaction as the
findings and terminal totals it writes. So a batch is reconciled exactly
once: a crash before that commit leaves the row for the next drain, and a
crash after it leaves nothing to redo. Batches are reconciled in push order.

On PostgreSQL each row is claimed with FOR UPDATE SKIP LOCKED, so several
server processes (uvicorn --workers) can drain one queue without reconciling
a batch twice. SQLite allows one writer at a time, which serialises drains.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from server.models import Base, UTCDateTime
from server.reconcile import reconcile_records

__all__ = ["QueuedBatch", "Reconciler", "enqueue_batch"]

logger = logging.getLogger(__name__)


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


class Reconciler:
    """Drains the queue in a daemon thread, woken by notify() after each push."""

    def __init__(self, engine: Engine, make_session: sessionmaker) -> None:
        self._make_session = make_session
        self._skip_locked = engine.dialect.name == "postgresql"
        self._wake = threading.Event()
        self._stopping = False
        # Serialises drains within one process, so drain() returns only after
        # a batch the worker thread was reconciling has been committed.
        self._drain_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)
        self._thread.start()
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
            while self._reconcile_next():
                done += 1
        return done

    def _reconcile_next(self) -> bool:
        with self._make_session() as session:
            query = select(QueuedBatch).order_by(QueuedBatch.id).limit(1)
            if self._skip_locked:
                query = query.with_for_update(skip_locked=True)
            batch = session.scalars(query).first()
            if batch is None:
                return False
            changed = reconcile_records(session, list(batch.record_ids), batch.pushed_at)
            session.delete(batch)
            session.commit()
            if changed:
                logger.info("reconciled batch %d from terminal %s: %d findings added or changed",
                            batch.id, batch.terminal_id, changed)
            return True
