"""A hand-over reported as accepted survives SIGKILL of the terminal process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from card.records import verify_signed_record
from terminal.store import TerminalStore
from terminal.enrol import STORE_NAME
from tests.conftest import READER
from tests.terminal.conftest import eject, insert, make_terminal, personalise


def test_record_survives_kill_after_success(pcsc, station, residents, tmp_path) -> None:
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    terminal_dir = tmp_path / "terminal"
    store, signer = make_terminal(terminal_dir, station, {issued.household_id: 0})
    store.close()
    card = insert(pcsc, tmp_path / "card.json")
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(terminal_dir),
             "--program", "lpg", "--reader", READER, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        first_line = process.stdout.readline()
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        eject(pcsc, card)

    reported = json.loads(first_line)
    assert reported["accepted"] is True
    reopened = TerminalStore(terminal_dir / STORE_NAME)
    rows = reopened._db.execute("SELECT record_id, signed_record FROM redemptions").fetchall()
    assert [row[0] for row in rows] == [reported["record_id"]]
    assert verify_signed_record(rows[0][1], signer.public_key).card_number == issued.card_number


def test_tap_cli_refuses_unknown_programme(station, tmp_path) -> None:
    make_terminal(tmp_path / "terminal", station, {})
    result = subprocess.run(
        [sys.executable, "-m", "kartu", "terminal", "tap", "--dir", str(tmp_path / "terminal"), "--program", "bpjs"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "program 'bpjs' tidak dilayani di sini" in result.stderr
    assert "lpg" in result.stderr


def test_tap_cli_on_directory_never_enrolled(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kartu", "terminal", "tap", "--dir", str(tmp_path / "nothing"), "--program", "lpg"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "kartu terminal enrol" in result.stderr
