"""The status bar and the tap loop on a fresh terminal: missing lists and an unnamed reader are reported as such."""

from __future__ import annotations

from datetime import datetime, timezone

from terminal.status import TerminalStatus
from terminal.tap_cli import _loop_started

NOW = int(datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc).timestamp())


def test_never_synced_says_sync() -> None:
    fresh = TerminalStatus(None, 0, None, None, NOW)
    english = fresh.render("en")
    indonesian = fresh.render("id")

    assert fresh.stale
    assert english["revocation"] == "Revocation list: missing, never pulled"
    assert english["warning"].startswith("This terminal has never synced")
    assert "Sync the terminal" in english["warning"]
    assert "older than" not in english["warning"]
    assert indonesian["revocation"] == "Daftar pencabutan: belum ada, belum pernah diambil"
    assert "belum pernah disinkronkan" in indonesian["warning"]
    assert "lebih tua" not in indonesian["warning"]


def test_missing_revocation_list_after_sync() -> None:
    synced = TerminalStatus(NOW - 60, 0, NOW - 3600, None, NOW)
    warning = synced.render("en")["warning"]

    assert synced.stale
    assert "revocation list is missing because it was never pulled" in warning
    assert "--root-key" in warning
    assert "older than" not in warning


def test_old_sync_outranks_missing_list() -> None:
    stale = TerminalStatus(NOW - 8 * 86400, 0, None, None, NOW)
    assert stale.render("en")["warning"] == "Lists are older than 7 days. Sync the terminal before serving more cards."


def test_loop_names_reader_or_first() -> None:
    named = _loop_started("Virtual PCD 00 00", "en")
    unnamed = _loop_started(None, "id")

    assert named == "Serving cards on Virtual PCD 00 00 until Ctrl+C."
    assert " - " not in unnamed
    assert "pembaca kartu pertama" in unnamed
