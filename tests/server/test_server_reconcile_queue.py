"""The reconciliation queue with several server processes: each queued batch is claimed and reconciled once."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from server import reconcile_queue
from server.db import create_db_engine, make_sessionmaker
from server.fields import encode_base64
from server.reconcile_queue import QueuedBatch, Reconciler, claim_batches, enqueue_batch

PUSHED_AT = datetime(2026, 3, 15, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def engines(live):
    """Two engines on the live server's database, standing for two worker processes."""
    first, second = create_db_engine(live.app.state.engine.url), create_db_engine(live.app.state.engine.url)
    live.app.state.reconciler.stop()  # only the reconcilers a test makes may drain the queue
    yield first, second
    first.dispose()
    second.dispose()


def queue_batches(engine, count: int, size: int = 3) -> list[list[str]]:
    batches = [[f"batch-{index}-record-{item}" for item in range(size)] for index in range(count)]
    with Session(engine) as session:
        for record_ids in batches:
            enqueue_batch(session, "T-queue", record_ids, PUSHED_AT)
        session.commit()
    return batches


def queued_count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(QueuedBatch))


def is_postgresql(engine) -> bool:
    return engine.dialect.name == "postgresql"


def test_claim_hides_batches_from_other_worker(engines):
    first, second = engines
    queue_batches(first, 3)
    with Session(first) as claiming, Session(second) as other:
        claimed = claim_batches(claiming, skip_locked=is_postgresql(first), limit=2)
        assert [row.record_ids[0] for row in claimed] == ["batch-0-record-0", "batch-1-record-0"]
        if is_postgresql(second):
            rest = claim_batches(other, skip_locked=True)
            assert [row.record_ids[0] for row in rest] == ["batch-2-record-0"]
            other.rollback()
        else:
            # SQLite: the first claim holds the write lock, so a second claim cannot start until it commits.
            other.connection().exec_driver_sql("PRAGMA busy_timeout = 0")
            with pytest.raises(OperationalError, match="database is locked"):
                claim_batches(other, skip_locked=False)
            other.rollback()
        claiming.commit()
        rest = claim_batches(other, skip_locked=is_postgresql(second))
        assert [row.record_ids[0] for row in rest] == ["batch-2-record-0"]
        other.commit()
    assert queued_count(first) == 0


def test_rolled_back_claim_returns_batches(engines):
    first, _ = engines
    queue_batches(first, 2)
    with Session(first) as session:
        assert len(claim_batches(session, skip_locked=is_postgresql(first))) == 2
        session.rollback()
    assert queued_count(first) == 2


def test_two_workers_reconcile_each_batch_once(engines, monkeypatch):
    first, second = engines
    batches = queue_batches(first, 40)
    reconciled: list[str] = []

    def record_reconciliation(_session, record_ids, _now):
        reconciled.extend(record_ids)
        return 0

    monkeypatch.setattr(reconcile_queue, "reconcile_records", record_reconciliation)
    workers = [Reconciler(engine, make_sessionmaker(engine)) for engine in (first, second)]
    start = threading.Barrier(2)
    drained = [0, 0]

    def drain(index: int) -> None:
        start.wait(timeout=30)
        drained[index] = workers[index].drain()

    threads = [threading.Thread(target=drain, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert sum(drained) == 40
    assert sorted(reconciled) == sorted(record_id for batch in batches for record_id in batch)
    assert queued_count(first) == 0


def test_failed_reconciliation_keeps_batches(engines, monkeypatch):
    first, _ = engines
    queue_batches(first, 2)

    def fail(_session, _record_ids, _now):
        raise RuntimeError("reconciliation failed")

    monkeypatch.setattr(reconcile_queue, "reconcile_records", fail)
    worker = Reconciler(first, make_sessionmaker(first))
    with pytest.raises(RuntimeError):
        worker.drain()
    assert queued_count(first) == 2

    monkeypatch.setattr(reconcile_queue, "reconcile_records", lambda _session, _ids, _now: 0)
    assert worker.drain() == 2
    assert queued_count(first) == 0


def test_batches_reconciled_together_find_overuse(kit, engines):
    """Two queued pushes of 2 each exceed the household's LPG quota of 3 only when counted together."""
    first, _ = engines
    terminal = kit.enrol_terminal()
    card = kit.register_card()
    for _ in range(2):
        records = [encode_base64(kit.record(terminal, card, quantity=2))]
        response = terminal.client.post("/api/v1/sync/redemptions", json={"records": records})
        assert len(response.json()["accepted"]) == 1
    assert queued_count(first) == 2

    assert Reconciler(first, make_sessionmaker(first)).drain() == 2
    response = kit.admin.get("/api/v1/findings", params={"kind": "quota_overuse"})
    [finding] = response.json()["findings"]
    assert finding["detail"]["used"] == 4
    assert queued_count(first) == 0
