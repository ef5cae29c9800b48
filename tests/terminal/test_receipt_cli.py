"""`kartu terminal tap --scanner/--printer` and `kartu terminal receipt`, run as a clerk runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tty
from pathlib import Path

import pytest

from tests.terminal.conftest import make_terminal, qr_card


def kartu(*args: str, language: str = "en") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", language, "terminal", *args],
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def terminal(station, residents, tmp_path) -> tuple[Path, str]:
    """An offline terminal directory and the QR text of an entitled card."""
    issued = qr_card(station, residents[1])
    store, _signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    store.close()
    return tmp_path / "terminal", issued.qr_text


@pytest.fixture
def scanner_port() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_scanner_tap_with_printer_off(terminal, scanner_port, tmp_path) -> None:
    directory, qr_text = terminal
    master, port = scanner_port
    unplugged = tmp_path / "unplugged" / "lp0"
    process = subprocess.Popen(
        [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(directory), "--program", "lpg",
         "--scanner", port, "--loop", "--printer", f"file:{unplugged}", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        # The port is opened, and its input flushed, before this line is printed.
        assert process.stderr.readline().startswith(f"Reading QR codes from {port}")
        os.write(master, qr_text.encode() + b"\r")
        decision = json.loads(process.stdout.readline())
        # Log records share standard error with the clerk's notice; skip them.
        queued = process.stderr.readline()
        while " WARNING " in queued or queued.startswith("WARNING:"):
            queued = process.stderr.readline()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert decision["accepted"] is True
    assert queued.startswith("Receipt 1 was not printed and waits in the queue")

    pending = kartu("receipt", "pending", "--dir", str(directory))
    assert pending.returncode == 0
    assert pending.stdout.startswith("Receipt 1: LPG 3 kg x1,")
    assert ", 1 attempt, last error:" in pending.stdout

    status = json.loads(kartu("status", "--dir", str(directory)).stdout)
    assert status["records"] == {"pending": 1}


def test_reprint_after_printer_fixed(terminal, tmp_path) -> None:
    directory, qr_text = terminal
    kartu("tap", "--dir", str(directory), "--program", "lpg", "--qr-text", qr_text,
          "--printer", f"file:{tmp_path / 'off' / 'lp0'}")
    output = tmp_path / "printer.bin"
    reprint = kartu("receipt", "reprint", "1", "--dir", str(directory), "--printer", f"file:{output}", language="id")
    assert reprint.returncode == 0, reprint.stderr
    assert reprint.stdout.strip() == "Struk 1 tercetak."
    assert b"CETAK ULANG" in output.read_bytes()
    assert b"Sisa kuota" in output.read_bytes()
    assert kartu("receipt", "pending", "--dir", str(directory)).stdout.strip() == "No receipts are waiting to be printed."


def test_stored_printer_used_by_tap(terminal, tmp_path) -> None:
    directory, qr_text = terminal
    output = tmp_path / "printer.bin"
    assert kartu("receipt", "printer", "--dir", str(directory), f"file:{output}").returncode == 0
    result = kartu("tap", "--dir", str(directory), "--program", "lpg", "--qr-text", qr_text)
    assert result.returncode == 0, result.stderr
    data = output.read_bytes()
    assert b"Receipt no." in data
    assert b"CETAK ULANG" not in data


def test_reprint_unknown_number(terminal) -> None:
    directory, _qr_text = terminal
    result = kartu("receipt", "reprint", "7", "--dir", str(directory), "--printer", "file:/dev/null")
    assert result.returncode == 2
    assert "Receipt 7 does not exist" in result.stderr


def test_reprint_without_printer(terminal) -> None:
    directory, _qr_text = terminal
    result = kartu("receipt", "reprint", "1", "--dir", str(directory))
    assert result.returncode == 2
    assert "No receipt printer is set" in result.stderr


def test_invalid_printer_spec(terminal) -> None:
    directory, _qr_text = terminal
    result = kartu("receipt", "printer", "--dir", str(directory), "lpt1")
    assert result.returncode == 2
    assert "'lpt1' is not a valid printer spec" in result.stderr


def test_scanner_timeout(terminal, scanner_port) -> None:
    directory, _qr_text = terminal
    _master, port = scanner_port
    result = kartu("tap", "--dir", str(directory), "--program", "lpg", "--scanner", port, "--timeout", "0.2")
    assert result.returncode == 2
    assert "No QR code was scanned within 0.2 seconds" in result.stderr


def test_scanner_port_missing(terminal, tmp_path) -> None:
    directory, _qr_text = terminal
    result = kartu("tap", "--dir", str(directory), "--program", "lpg", "--scanner", str(tmp_path / "ttyACM9"))
    assert result.returncode == 2
    assert "cannot be opened" in result.stderr


def test_paper_check_skipped_after_silence(terminal, scanner_port) -> None:
    """A network printer that ignores the paper query is queried at the first receipt only, and the log says so."""
    from tests.terminal.test_receipt_paper import PAPER_QUERY, SilentPrinter

    directory, qr_text = terminal
    master, port = scanner_port
    printer = SilentPrinter(connections=2)
    process = subprocess.Popen(
        [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(directory), "--program", "lpg",
         "--scanner", port, "--loop", "--printer", f"tcp:127.0.0.1:{printer.port}", "--check-paper",
         "--paper-timeout", "0.2", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stderr.readline().startswith(f"Reading QR codes from {port}")
        decisions = []
        for _scan in range(2):
            os.write(master, qr_text.encode() + b"\r")
            decisions.append(json.loads(process.stdout.readline()))
    finally:
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=30)
        printer.close()
    assert process.returncode == 0
    assert [decision["accepted"] for decision in decisions] == [True, True]
    assert printer.received[0].startswith(PAPER_QUERY + b"\x1bE\x01")
    assert printer.received[1].startswith(b"\x1bE\x01")
    assert stderr.count("did not respond to the paper status query") == 1
    assert kartu("receipt", "pending", "--dir", str(directory)).stdout.strip() == "No receipts are waiting to be printed."


def test_invalid_paper_timeout(terminal) -> None:
    directory, qr_text = terminal
    result = kartu("tap", "--dir", str(directory), "--program", "lpg", "--qr-text", qr_text, "--check-paper",
                   "--paper-timeout", "soon")
    assert result.returncode == 2
    assert "timeout 'soon' is invalid" in result.stderr
