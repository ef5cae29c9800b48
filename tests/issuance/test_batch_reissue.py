"""Queued reissues in a batch: the new card is linked to the revoked card it replaces, and never issued twice."""

from __future__ import annotations

import io
import sqlite3
from datetime import date

from issuance import audit, batch
from issuance.batch import create_batch, issue_card, run_batch
from issuance.queue import QueueEntry
from tests.issuance.station_support import CLERK, residents, station, station_dir  # noqa: F401 (fixtures)

ISSUED = date(2026, 12, 1)


def _run(station, batch_id, tmp_path):
    return run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", None, None, io.StringIO(), "en")


def _old_card(station, resident) -> str:
    return issue_card(station, resident, None, ISSUED, CLERK).card.card_number


def test_batch_reissue_links_old_card(station, residents, tmp_path):
    old = _old_card(station, residents[0])
    entries = [QueueEntry(1, residents[0], "reissue", old), QueueEntry(2, residents[1])]
    batch_id = create_batch(station.journal, entries, CLERK, "server", qr_only=True)
    report = _run(station, batch_id, tmp_path)

    assert len(report.issued) == 2
    assert report.failed == []
    [(old_card, new_card)] = station.journal.execute("SELECT old_card, new_card FROM reissues").fetchall()
    assert old_card == old
    assert new_card == report.issued[0]
    [reissued] = audit.entries(station.journal, action="reissue")
    assert reissued.card_number == new_card
    assert f"replaces card {old}" in reissued.detail


def test_batch_reissue_not_issued_twice(station, residents, tmp_path):
    old = _old_card(station, residents[0])
    first = create_batch(station.journal, [QueueEntry(1, residents[0], "reissue", old)], CLERK, "server", True)
    [new_card] = _run(station, first, tmp_path).issued

    second = create_batch(station.journal, [QueueEntry(1, residents[0], "reissue", old)], CLERK, "server", True)
    report = _run(station, second, tmp_path)
    assert report.issued == []
    [(position, error)] = report.failed
    assert new_card in error


def test_batch_reissue_without_old_card_fails(station, residents, tmp_path):
    batch_id = create_batch(station.journal, [QueueEntry(1, residents[0], "reissue")], CLERK, "server", True)
    report = _run(station, batch_id, tmp_path)
    assert report.issued == []
    [(position, error)] = report.failed
    assert "kartu issuance reissue" in error


def test_new_item_with_card_still_skipped(station, residents, tmp_path):
    _old_card(station, residents[0])
    batch_id = create_batch(station.journal, [QueueEntry(1, residents[0])], CLERK, "server", True)
    report = _run(station, batch_id, tmp_path)
    assert report.issued == []
    assert "already has card" in report.failed[0][1]


def test_old_batch_table_gains_old_card_column(tmp_path):
    db = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    db.executescript(batch.SCHEMA.replace("    old_card TEXT,\n", ""))
    db.execute("INSERT INTO batches (created, clerk, source, qr_only) VALUES ('2026-11-01', 'Rina', 'x', 1)")
    batch.ensure_schema(db)
    columns = [row[1] for row in db.execute("PRAGMA table_info(batch_items)")]
    assert "old_card" in columns
    assert db.execute("SELECT count(*) FROM batches").fetchone() == (1,)
