"""The station audit log: entries, filters, the clerk's name, and the audit and clerk commands."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from issuance import audit
from issuance.batch import issue_card
from issuance.queue import mask_number
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, open_station, register_file, residents, run_cli, station, station_dir,
)

ISSUED = date(2026, 12, 1)


def test_entries_in_order_with_filters(station):
    db = station.journal
    audit.append(db, CLERK, "issue", "1571010000000019", "1571015203850001")
    audit.append(db, "Budi", "failed", None, "1571015203850002", "card pulled out")
    audit.append(db, CLERK, "revoke", "1571010000000019", "1571015203850001", "requested: lost")
    all_entries = audit.entries(db)
    assert [entry.action for entry in all_entries] == ["issue", "failed", "revoke"]
    assert [entry.action for entry in audit.entries(db, card_number="1571010000000019")] == ["issue", "revoke"]
    assert [entry.clerk for entry in audit.entries(db, action="failed")] == ["Budi"]
    assert [entry.action for entry in audit.entries(db, limit=2)] == ["failed", "revoke"]


def test_entry_time_is_utc(station):
    moment = datetime(2026, 12, 4, 9, 30, tzinfo=timezone.utc)
    audit.append(station.journal, CLERK, "issue", "1571010000000019", at=moment)
    assert audit.entries(station.journal)[0].at == "2026-12-04T09:30:00+00:00"


def test_unknown_action_rejected(station):
    with pytest.raises(ValueError, match="'print'"):
        audit.append(station.journal, CLERK, "print")


def test_database_rejects_unknown_action(station):
    import sqlite3

    with pytest.raises(sqlite3.IntegrityError):
        station.journal.execute("INSERT INTO audit (at, clerk, action) VALUES ('2026-12-04', 'x', 'delete')")


def test_resolve_clerk_given_then_setting(station):
    db = station.journal
    with pytest.raises(audit.ClerkMissingError, match="--clerk"):
        audit.resolve_clerk(db, None)
    assert audit.set_station_clerk(db, "  Siti   Rahma ") == "Siti Rahma"
    assert audit.resolve_clerk(db, None) == "Siti Rahma"
    assert audit.resolve_clerk(db, CLERK) == CLERK


@pytest.mark.parametrize("name", ["", "   ", "x" * 81, "Rina\x00"])
def test_invalid_clerk_names(station, name):
    with pytest.raises(audit.ClerkMissingError, match="invalid"):
        audit.resolve_clerk(station.journal, name)


def test_issue_is_audited_with_clerk(station, residents):
    issued = issue_card(station, residents[0], None, ISSUED, CLERK, detail="counter 2")
    [entry] = audit.entries(station.journal)
    assert (entry.action, entry.card_number, entry.nik, entry.clerk, entry.detail) == (
        "issue", issued.card.card_number, residents[0].nik, CLERK, "counter 2",
    )


def test_audit_command_masks_nik(station_dir, residents, capsys):
    station = open_station(station_dir)
    try:
        issued = issue_card(station, residents[0], None, ISSUED, CLERK)
    finally:
        station.close()
    assert run_cli(["issuance", "audit", "--station", str(station_dir)]) == 0
    output = capsys.readouterr().out
    assert issued.card.card_number in output
    assert CLERK in output
    assert mask_number(residents[0].nik) in output
    assert residents[0].nik not in output


def test_clerk_command_sets_setting(station_dir, capsys):
    assert run_cli(["issuance", "clerk", "Dewi Sartika", "--station", str(station_dir)]) == 0
    assert "Dewi Sartika" in capsys.readouterr().out
    station = open_station(station_dir)
    try:
        assert audit.station_clerk(station.journal) == "Dewi Sartika"
    finally:
        station.close()


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
def test_audit_command_rejects_bad_limit(station_dir, capsys, limit):
    with pytest.raises(SystemExit):
        run_cli(["issuance", "audit", "--station", str(station_dir), "--limit", limit])
    assert "--limit" in capsys.readouterr().err


def test_old_audit_table_allows_new_actions(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    old_schema = audit.SCHEMA.replace(", 'wipe', 'pin_slips'", "")
    assert "'wipe'" not in old_schema
    db.executescript(old_schema)
    audit.append(db, "Rina", "issue", "1571010000000019")
    with pytest.raises(sqlite3.IntegrityError):
        audit.append(db, "Rina", "wipe", "1571010000000019")
    audit.ensure_schema(db)
    audit.append(db, "Rina", "wipe", "1571010000000019")
    assert [entry.action for entry in audit.entries(db)] == ["issue", "wipe"]
