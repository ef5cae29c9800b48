"""Concurrent register imports on PostgreSQL: the second waits for the first and finds its rows unchanged."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from server.db import create_db_engine, upgrade_database
from server.models_register import RegisterImport, Resident
from server.register_import import import_register
from tests.server.register_support import CHILD, HEAD, HOUSEHOLD_KEY, WIFE, csv_bytes

NOW = datetime(2026, 3, 15, 3, 0, tzinfo=timezone.utc)
ROWS = [HEAD, WIFE, CHILD]
# Upper bound for the second import to reach its lock wait; the loop ends as soon as it does.
WAIT_LIMIT_SECONDS = 60


def _waiting(engine, pid: int) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(
            text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted"), {"pid": pid}
        ).scalar())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_second_import_waits_then_unchanged(database_url):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    data = csv_bytes(ROWS)
    outcome: dict[str, object] = {}
    backend = threading.Event()

    def second_import() -> None:
        try:
            with Session(engine) as session:
                outcome["pid"] = session.execute(select(func.pg_backend_pid())).scalar()
                backend.set()
                outcome["report"] = import_register(session, data, "second.csv", NOW, HOUSEHOLD_KEY)
                session.commit()
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc
            backend.set()

    with Session(engine) as first:
        first_report = import_register(first, data, "first.csv", NOW, HOUSEHOLD_KEY)
        worker = threading.Thread(target=second_import)
        worker.start()
        assert backend.wait(WAIT_LIMIT_SECONDS)
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while "error" not in outcome and not _waiting(engine, outcome["pid"]):
            assert time.monotonic() < deadline, "the second import never waited for the first"
            time.sleep(0.05)
        first.commit()
    worker.join(WAIT_LIMIT_SECONDS)

    assert not worker.is_alive()
    assert "error" not in outcome, repr(outcome.get("error"))
    assert first_report.inserted == len(ROWS)
    second_report = outcome["report"]
    assert second_report.inserted == 0
    assert second_report.updated == 0
    assert second_report.unchanged == len(ROWS)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Resident)) == len(ROWS)
        assert session.scalar(select(func.count()).select_from(RegisterImport)) == 2
    engine.dispose()
