"""A chip card's QR code read by the serial scanner follows the same rule as a typed one: refused while a reader works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tty
from datetime import date

import pytest

from card.credential import Profile, sign_credential
from card.qrtext import to_qr_text
from issuance.personalise import _credential
from tests.conftest import READER
from tests.terminal.conftest import make_terminal


@pytest.fixture
def chip_card_terminal(station, residents, tmp_path):
    """A terminal directory whose household is entitled, and the QR text printed on that household's chip card."""
    credential = _credential(residents[0], station, station.allocate_card_number(), Profile.QR,
                             date(2026, 12, 1), on_chip_card=True)
    store, _signer = make_terminal(tmp_path / "terminal", station, {credential.household_id: 0})
    store.close()
    return tmp_path / "terminal", to_qr_text(sign_credential(credential, station.issuer))


def scan_once(directory, text: str, reader: str) -> dict:
    """Run `kartu terminal tap --scanner --loop` on a pseudo-terminal, send text as one scan, return the JSON decision."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = os.ttyname(slave)
    process = subprocess.Popen(
        [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(directory),
         "--program", "lpg", "--scanner", port, "--reader", reader, "--loop", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The port is opened, and its input flushed, before this line is printed.
        started = process.stderr.readline()
        assert started.startswith(f"Reading QR codes from {port}"), started
        os.write(master, text.encode() + b"\r")
        line = process.stdout.readline()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        os.close(master)
        os.close(slave)
    assert line, process.stderr.read()
    return json.loads(line)


def test_scanner_chip_qr_refused_with_reader(chip_card_terminal) -> None:
    directory, text = chip_card_terminal
    decision = scan_once(directory, text, READER)
    assert decision["accepted"] is False
    assert decision["reason"] == "chip_required"
    assert decision["record_id"] is None


def test_scanner_chip_qr_accepted_without_reader(chip_card_terminal) -> None:
    directory, text = chip_card_terminal
    decision = scan_once(directory, text, "No Such Reader 99")
    assert decision["accepted"] is True
    assert decision["record_id"] is not None
