"""The serial QR scanner, with a pseudo-terminal pair standing in for the CDC-ACM device."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
import serial

from hardware.serial_scanner import (
    ScanNotText, ScanTimeout, ScanTooLong, ScannerUnavailable, SerialScanner,
)

CODE = b"KB1:6BFOXN*TS0BI$ZDFRH"
SHORT_WAIT = 0.05
LONG_WAIT = 10.0


class PseudoScanner:
    """The device end of a pseudo-terminal: bytes written here reach the port as a scanner's output."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        if self.master >= 0:
            os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def device() -> Iterator[PseudoScanner]:
    pseudo = PseudoScanner()
    try:
        yield pseudo
    finally:
        pseudo.close()


@pytest.fixture
def scanner(device: PseudoScanner) -> Iterator[SerialScanner]:
    with SerialScanner(device.port) as opened:
        yield opened


def test_code_with_cr(device, scanner) -> None:
    device.send(CODE + b"\r")
    assert scanner.read_code(LONG_WAIT) == CODE.decode()


def test_code_split_across_deadline(device, scanner) -> None:
    device.send(CODE[:7])
    with pytest.raises(ScanTimeout):
        scanner.read_code(SHORT_WAIT)
    device.send(CODE[7:] + b"\r")
    assert scanner.read_code(LONG_WAIT) == CODE.decode()


class SignallingSerial(serial.Serial):
    """A port that signals after every read returning data, so a writer can send the next piece only then."""

    def __init__(self, *args, **kwargs) -> None:
        self.read_done = threading.Event()
        self.reads_with_data = 0
        super().__init__(*args, **kwargs)

    def read(self, size: int = 1) -> bytes:
        data = super().read(size)
        if data:
            self.reads_with_data += 1
            self.read_done.set()
        return data


def test_code_arriving_in_pieces(device) -> None:
    port = SignallingSerial(device.port, timeout=0)
    pieces = [CODE[:3], CODE[3:10], CODE[10:], b"\r"]

    def write_pieces() -> None:
        for piece in pieces:
            port.read_done.clear()
            device.send(piece)
            port.read_done.wait(LONG_WAIT)

    writer = threading.Thread(target=write_pieces)
    writer.start()
    try:
        text = SerialScanner(port).read_code(LONG_WAIT)
    finally:
        writer.join(LONG_WAIT)
        port.close()
    assert text == CODE.decode()
    assert port.reads_with_data >= len(pieces)


def test_two_codes_in_one_read(device, scanner) -> None:
    device.send(b"KB1:FIRST\rKB1:SECOND\r")
    assert scanner.read_code(LONG_WAIT) == "KB1:FIRST"
    assert scanner.read_code(SHORT_WAIT) == "KB1:SECOND"


def test_crlf_scanner_on_cr_setting(device, scanner) -> None:
    device.send(b"KB1:FIRST\r\nKB1:SECOND\r\n")
    assert scanner.read_code(LONG_WAIT) == "KB1:FIRST"
    assert scanner.read_code(LONG_WAIT) == "KB1:SECOND"
    with pytest.raises(ScanTimeout):
        scanner.read_code(SHORT_WAIT)


@pytest.mark.parametrize("terminator, ending", [("lf", b"\n"), ("crlf", b"\r\n")])
def test_configured_terminator(device, terminator, ending) -> None:
    with SerialScanner(device.port, terminator=terminator) as scanner:
        device.send(CODE + ending)
        assert scanner.read_code(LONG_WAIT) == CODE.decode()


def test_lf_terminator_keeps_cr_inside(device) -> None:
    with SerialScanner(device.port, terminator="lf") as scanner:
        device.send(b"KB1:A\rB\n")
        assert scanner.read_code(LONG_WAIT) == "KB1:A\rB"


def test_empty_lines_skipped(device, scanner) -> None:
    device.send(b"\r\r\n\r" + CODE + b"\r")
    assert scanner.read_code(LONG_WAIT) == CODE.decode()


def test_timeout_with_nothing_sent(scanner) -> None:
    with pytest.raises(ScanTimeout) as raised:
        scanner.read_code(SHORT_WAIT)
    assert "0.05 seconds" in raised.value.message("en")
    assert "0.05 detik" in raised.value.message("id")


def test_over_long_line_then_next_code(device) -> None:
    with SerialScanner(device.port, max_length=20) as scanner:
        device.send(b"X" * 30 + b"\r" + CODE[:20] + b"\r")
        with pytest.raises(ScanTooLong) as raised:
            scanner.read_code(LONG_WAIT)
        assert "20 characters" in raised.value.message("en")
        assert scanner.read_code(LONG_WAIT) == CODE[:20].decode()


def test_over_long_line_without_terminator_yet(device) -> None:
    with SerialScanner(device.port, max_length=20) as scanner:
        device.send(b"Y" * 25)
        with pytest.raises(ScanTooLong):
            scanner.read_code(LONG_WAIT)
        device.send(b"Y" * 40 + b"\rKB1:NEXT\r")
        assert scanner.read_code(LONG_WAIT) == "KB1:NEXT"


def test_line_at_limit_accepted(device) -> None:
    with SerialScanner(device.port, max_length=len(CODE)) as scanner:
        device.send(CODE + b"\r")
        assert scanner.read_code(LONG_WAIT) == CODE.decode()


def test_non_ascii_bytes_rejected(device, scanner) -> None:
    device.send(b"KB1:\xc3\xa9\rKB1:OK\r")
    with pytest.raises(ScanNotText) as raised:
        scanner.read_code(LONG_WAIT)
    assert "0xC3 at position 4" in raised.value.message("en")
    assert scanner.read_code(LONG_WAIT) == "KB1:OK"


def test_missing_port(tmp_path) -> None:
    port = str(tmp_path / "ttyACM9")
    with pytest.raises(ScannerUnavailable) as raised:
        SerialScanner(port)
    assert port in raised.value.message("en")
    assert port in raised.value.message("id")


def test_unplugged_scanner(device, scanner) -> None:
    device.send(CODE[:5])
    device.unplug()
    with pytest.raises(ScannerUnavailable):
        scanner.read_code(LONG_WAIT)


@pytest.mark.parametrize("options", [{"terminator": "tab"}, {"max_length": 0}])
def test_invalid_settings(device, options) -> None:
    with pytest.raises(ValueError):
        SerialScanner(device.port, **options)
