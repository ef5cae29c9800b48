"""The paper check: a printer that leaves the status query unanswered costs one wait, then is printed to unqueried."""

from __future__ import annotations

import logging
import os
import socket
import threading
import tty

import pytest

from terminal.printer import PaperOut, parse_printer_spec, send

PAPER_QUERY = b"\x10\x04\x04"
# Short, so a test that waits for an unanswered query stays fast; nothing is timed against it.
STATUS_TIMEOUT = 0.2


class SilentPrinter:
    """A network printer on loopback that never replies to a status query and keeps what each connection sends."""

    def __init__(self, connections: int):
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(connections,), daemon=True)
        self.thread.start()

    def _serve(self, connections: int) -> None:
        for _ in range(connections):
            connection, _ = self.listener.accept()
            data = bytearray()
            with connection:
                while chunk := connection.recv(4096):
                    data += chunk
            self.received.append(bytes(data))

    def close(self) -> None:
        self.thread.join(5)
        self.listener.close()


def test_unanswered_query_skipped_afterwards(caplog) -> None:
    printer = SilentPrinter(connections=2)
    spec = parse_printer_spec(f"tcp:127.0.0.1:{printer.port}")
    try:
        with caplog.at_level(logging.WARNING, logger="terminal.printer"):
            send(spec, b"first", timeout=5, check_paper=True, status_timeout=STATUS_TIMEOUT)
            send(spec, b"second", timeout=5, check_paper=True, status_timeout=STATUS_TIMEOUT)
    finally:
        printer.close()
    assert printer.received[0] == PAPER_QUERY + b"first"
    assert printer.received[1] == b"second"
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"127.0.0.1:{printer.port} did not respond to the paper status query" in warnings[0]
    assert "until the terminal restarts" in warnings[0]


def test_silent_printer_does_not_affect_others() -> None:
    silent, other = SilentPrinter(connections=1), SilentPrinter(connections=1)
    try:
        send(parse_printer_spec(f"tcp:127.0.0.1:{silent.port}"), b"a", timeout=5, check_paper=True,
             status_timeout=STATUS_TIMEOUT)
        send(parse_printer_spec(f"tcp:127.0.0.1:{other.port}"), b"b", timeout=5, check_paper=True,
             status_timeout=STATUS_TIMEOUT)
    finally:
        silent.close()
        other.close()
    assert other.received == [PAPER_QUERY + b"b"]


def test_serial_printer_unanswered_query() -> None:
    """A pseudo-terminal stands in for a serial printer that ignores DLE EOT 4."""
    master, slave = os.openpty()
    tty.setraw(slave)
    spec = parse_printer_spec(f"serial:{os.ttyname(slave)}")
    try:
        send(spec, b"first", timeout=5, check_paper=True, status_timeout=STATUS_TIMEOUT)
        send(spec, b"second", timeout=5, check_paper=True, status_timeout=STATUS_TIMEOUT)
        expected = PAPER_QUERY + b"first" + b"second"
        received = b""
        while len(received) < len(expected):
            received += os.read(master, 4096)
    finally:
        os.close(master)
        os.close(slave)
    assert received == expected


class AnsweringPrinter:
    """A network printer on loopback that replies to DLE EOT 4 with status and keeps the rest."""

    def __init__(self, status: int):
        self.status = status
        self.received = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while chunk := connection.recv(4096):
                if chunk.startswith(PAPER_QUERY):
                    connection.sendall(bytes([self.status]))
                    chunk = chunk[len(PAPER_QUERY):]
                self.received += chunk

    def close(self) -> None:
        self.thread.join(5)
        self.listener.close()


@pytest.mark.parametrize("status", [0x72, 0x32, 0x52])
def test_paper_end_bits_raise(status) -> None:
    printer = AnsweringPrinter(status)
    try:
        with pytest.raises(PaperOut):
            send(parse_printer_spec(f"tcp:127.0.0.1:{printer.port}"), b"receipt", timeout=5, check_paper=True,
                 status_timeout=2)
    finally:
        printer.close()
    assert printer.received == b""


@pytest.mark.parametrize("status", [0x12, 0x1E])
def test_paper_present_prints(status) -> None:
    printer = AnsweringPrinter(status)
    try:
        send(parse_printer_spec(f"tcp:127.0.0.1:{printer.port}"), b"receipt", timeout=5, check_paper=True,
             status_timeout=2)
    finally:
        printer.close()
    assert printer.received == b"receipt"
