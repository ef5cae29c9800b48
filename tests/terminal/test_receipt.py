"""Receipts: ESC/POS bytes, the queue in the store, and printers that fail."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import tty
from datetime import datetime, timezone

import pytest

from terminal.printer import PaperOut, PrinterError, parse_printer_spec, send
from terminal.receipt import LINE_WIDTH, Receipt, mask_card_number, render_receipt
from terminal.receipt_queue import ReceiptNotFound, ReceiptQueue, print_queued
from terminal.store import SCHEMA, SCHEMA_STEPS, TerminalStore
from terminal.tap import TapService
from tests.terminal.conftest import make_terminal, qr_card

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
# ESC @ is never sent; a receipt starts with ESC E 1 (bold on) and ESC a 1 (centre).
BOLD_CENTRE = b"\x1bE\x01\x1ba\x01"
FULL_CUT = b"\x1dV\x00"

RECEIPT = Receipt(
    number=42, record_id="0f0e0d0c-0000-4000-8000-000000000001", terminal_id="TRM-TEST0001",
    service_point="Agen LPG Talang Banjar", card_number="1571000000012344", program="lpg", quantity=1,
    unit="tabung", remaining=2, tapped_at=int(NOW.timestamp()),
)


def test_receipt_bytes_indonesian() -> None:
    data = render_receipt(RECEIPT, "id")
    assert data.startswith(BOLD_CENTRE + b"\x1bt\x00KARTU BAHAGIA - KOTA JAMBI\n")
    assert data.endswith(FULL_CUT)
    text = data.decode("ascii")
    assert "No. struk" in text
    assert "000042" in text
    assert "04-12-2026 10:00 WIB" in text
    assert "Agen LPG Talang Banjar" in text
    assert "**** **** **** 2344" in text
    assert "1571000000012344" not in text
    assert "Sisa kuota" in text
    assert "2 tabung" in text


def test_receipt_bytes_english() -> None:
    text = render_receipt(RECEIPT, "en").decode("ascii")
    assert "Receipt no." in text
    assert "Quota left" in text
    assert "Sisa kuota" not in text


def test_receipt_rows_fit_paper() -> None:
    text = render_receipt(RECEIPT, "id").decode("ascii")
    body = text.split("-" * LINE_WIDTH)[1]
    for line in body.strip("\n").split("\n"):
        assert len(line) <= LINE_WIDTH, line


def test_reprint_marked() -> None:
    assert b"CETAK ULANG" in render_receipt(RECEIPT, "id", reprint=True)
    assert b"CETAK ULANG" not in render_receipt(RECEIPT, "id")


def test_mask_card_number() -> None:
    assert mask_card_number("1571000000012344") == "**** **** **** 2344"


@pytest.mark.parametrize("text, kind, target, port", [
    ("file:/tmp/r.bin", "file", "/tmp/r.bin", None),
    ("serial:/dev/ttyUSB0", "serial", "/dev/ttyUSB0", 9600),
    ("serial:/dev/ttyUSB0:19200", "serial", "/dev/ttyUSB0", 19200),
    ("tcp:127.0.0.1", "tcp", "127.0.0.1", 9100),
    ("tcp:127.0.0.1:9101", "tcp", "127.0.0.1", 9101),
])
def test_printer_spec_parsed(text, kind, target, port) -> None:
    spec = parse_printer_spec(text)
    assert (spec.kind, spec.target, spec.port) == (kind, target, port)


def test_usb_printer_spec() -> None:
    spec = parse_printer_spec("usb:04b8:0e15")
    assert (spec.port, spec.product) == (0x04B8, 0x0E15)
    assert str(spec) == "usb:04b8:0e15"


@pytest.mark.parametrize("text", ["", "file:", "lpt1", "serial:/dev/ttyS0:fast", "usb:04b8", "tcp:"])
def test_printer_spec_rejected(text) -> None:
    with pytest.raises(ValueError, match="not a valid printer spec"):
        parse_printer_spec(text)


def test_file_printer_writes_bytes(tmp_path) -> None:
    target = tmp_path / "receipt.bin"
    send(parse_printer_spec(f"file:{target}"), b"\x1bE\x01hello\n")
    assert target.read_bytes() == b"\x1bE\x01hello\n"


def test_missing_printer_raises(tmp_path) -> None:
    spec = parse_printer_spec(f"file:{tmp_path / 'no-such-dir' / 'lp0'}")
    with pytest.raises(PrinterError) as raised:
        send(spec, b"x")
    assert "no-such-dir" in raised.value.message("en")
    assert "reprint" in raised.value.message("en")


def test_network_printer_off(unused_port) -> None:
    with pytest.raises(PrinterError):
        send(parse_printer_spec(f"tcp:127.0.0.1:{unused_port}"), b"x", timeout=2)


class StatusPrinter:
    """A network printer on loopback that replies to DLE EOT 4 with a fixed paper status and keeps what it prints."""

    def __init__(self, paper_status: int):
        self.paper_status = paper_status
        self.received = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            while chunk := connection.recv(4096):
                if chunk.startswith(b"\x10\x04"):
                    connection.sendall(bytes([self.paper_status]))
                    chunk = chunk[3:]
                self.received += chunk

    def close(self) -> None:
        self.thread.join(5)
        self.listener.close()


def test_network_printer_out_of_paper() -> None:
    printer = StatusPrinter(paper_status=0x6C)
    try:
        with pytest.raises(PaperOut) as raised:
            send(parse_printer_spec(f"tcp:127.0.0.1:{printer.port}"), b"receipt", timeout=5, check_paper=True)
    finally:
        printer.close()
    assert "kertas" in raised.value.message("id")
    assert printer.received == b""


def test_network_printer_with_paper() -> None:
    printer = StatusPrinter(paper_status=0x12)
    try:
        send(parse_printer_spec(f"tcp:127.0.0.1:{printer.port}"), b"receipt", timeout=5, check_paper=True)
    finally:
        printer.close()
    assert printer.received == b"receipt"


@pytest.fixture
def unused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


@pytest.fixture
def accepted(station, residents, tmp_path):
    """A terminal store with one accepted QR hand-over; returns (store, outcome)."""
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    outcome = TapService(store, signer).scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    return store, outcome


def test_queue_receipt_from_redemption(accepted) -> None:
    store, outcome = accepted
    queue = ReceiptQueue(store)
    receipt = queue.add(outcome.record_id, outcome.remaining, outcome.unit, now=100)
    assert receipt.number == 1
    assert receipt.record_id == outcome.record_id
    assert receipt.card_number == outcome.credential.card_number
    assert (receipt.program, receipt.quantity, receipt.unit, receipt.remaining) == ("lpg", 1, "tabung", 2)
    assert receipt.service_point == "#1"
    assert [queued.receipt for queued in queue.pending()] == [receipt]


def test_queue_add_idempotent(accepted) -> None:
    store, outcome = accepted
    queue = ReceiptQueue(store)
    first = queue.add(outcome.record_id, outcome.remaining, outcome.unit)
    second = queue.add(outcome.record_id, outcome.remaining, outcome.unit)
    assert first == second
    assert len(queue.pending()) == 1


def test_queue_unknown_record(accepted) -> None:
    store, _outcome = accepted
    with pytest.raises(ReceiptNotFound):
        ReceiptQueue(store).add("no-such-record", None, "tabung")
    with pytest.raises(ReceiptNotFound) as raised:
        ReceiptQueue(store).get(99)
    assert "99" in raised.value.message("id")


def test_printed_receipt_leaves_queue(accepted, tmp_path) -> None:
    store, outcome = accepted
    queue = ReceiptQueue(store)
    receipt = queue.add(outcome.record_id, outcome.remaining, outcome.unit)
    target = tmp_path / "printer.bin"
    assert print_queued(queue, receipt.number, parse_printer_spec(f"file:{target}"), "id") is None
    assert target.read_bytes() == render_receipt(receipt, "id")
    assert queue.pending() == []
    printed = queue.get(receipt.number)
    assert (printed.status, printed.attempts, printed.last_error) == ("printed", 1, None)


def test_printer_off_keeps_redemption_and_receipt(accepted, tmp_path) -> None:
    store, outcome = accepted
    queue = ReceiptQueue(store)
    receipt = queue.add(outcome.record_id, outcome.remaining, outcome.unit)
    broken = parse_printer_spec(f"file:{tmp_path / 'unplugged' / 'lp0'}")
    error = print_queued(queue, receipt.number, broken, "id")
    assert isinstance(error, PrinterError)
    assert store.count_by_status() == {"pending": 1}
    waiting = queue.pending()
    assert [queued.receipt.number for queued in waiting] == [receipt.number]
    assert waiting[0].attempts == 1
    assert "unplugged" in waiting[0].last_error

    target = tmp_path / "printer.bin"
    assert print_queued(queue, receipt.number, parse_printer_spec(f"file:{target}"), "id", reprint=True) is None
    assert b"CETAK ULANG" in target.read_bytes()
    assert queue.pending() == []


def test_receipt_numbers_increase(station, residents, tmp_path) -> None:
    cards = [qr_card(station, resident) for resident in residents[:3]]
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0 for card in cards})
    service, queue = TapService(store, signer), ReceiptQueue(store)
    numbers = []
    for card in cards:
        outcome = service.scan_qr(card.qr_text, "lpg", NOW)
        numbers.append(queue.add(outcome.record_id, outcome.remaining, outcome.unit).number)
    assert numbers == [1, 2, 3]


def test_schema_step_on_older_store(tmp_path) -> None:
    """A store written before the receipts table gains it, and keeps its rows, when opened."""
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA)
    old.execute("INSERT INTO meta (key, value) VALUES ('terminal_id', 'TRM-OLD')")
    old.commit()
    old.close()

    reopened = TerminalStore(path)
    assert reopened.terminal_id == "TRM-OLD"
    assert reopened.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA_STEPS)
    assert reopened.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == 0


def test_receipt_needs_existing_redemption(tmp_path) -> None:
    store = TerminalStore(tmp_path / "store.db")
    with pytest.raises(sqlite3.IntegrityError):
        store.execute("INSERT INTO receipts (record_id, content, created_at) VALUES ('x', '{}', 0)")


def test_serial_printer_writes_bytes() -> None:
    """A pseudo-terminal stands in for a serial receipt printer."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        data = render_receipt(RECEIPT, "id")
        send(parse_printer_spec(f"serial:{os.ttyname(slave)}:19200"), data, timeout=5)
        received = b""
        while len(received) < len(data):
            received += os.read(master, 4096)
    finally:
        os.close(master)
        os.close(slave)
    assert received == data


def test_serial_printer_missing(tmp_path) -> None:
    with pytest.raises(PrinterError) as raised:
        send(parse_printer_spec(f"serial:{tmp_path / 'ttyUSB7'}"), b"x", timeout=1)
    assert "ttyUSB7" in raised.value.message("en")
