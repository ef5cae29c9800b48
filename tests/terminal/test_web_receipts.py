"""Receipts of hand-overs made at the counter: printed after the commit, queued with a reprint when printing fails.

Receipts print on the counter's print worker, so a test waits for it with
Counter.wait_for_receipts() before it looks at the paper or the screen.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

import httpx
import pytest

from issuance.personalise import issue_qr_only
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from terminal.enrol import STORE_NAME
from terminal.printer import parse_printer_spec
from terminal.receipt_queue import ReceiptQueue
from terminal.store import TerminalStore
from terminal.web.serve import build_counter
from tests.terminal.web_support import TOKEN, make_mode_terminal, serve_ui


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


@pytest.fixture
def qr(station):
    return issue_qr_only(generate_register(1, seed=5)[0], station, date(2026, 12, 1))


def lpg_terminal(tmp_path, station, qr, printer: str | None):
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {qr.household_id: 0})})
    if printer is not None:
        store = TerminalStore(directory / STORE_NAME)
        store.set_meta({"printer": printer})
        store.close()
    return directory


def stored_receipts(directory) -> list:
    """Return every receipt row of the terminal, in number order."""
    queue = ReceiptQueue(TerminalStore(directory / STORE_NAME))
    numbers = queue.store.execute("SELECT number FROM receipts ORDER BY number").fetchall()
    return [queue.get(number) for (number,) in numbers]


def next_failed_receipt(client: httpx.Client) -> dict:
    """Read the page's event stream until a tap screen names a receipt that was not printed; return that screen."""
    with client.stream("GET", "/events") as events:
        for line in events.iter_lines():
            if line.startswith("data: ") and '"kind": "tap"' in line:
                screen = json.loads(line.removeprefix("data: "))
                if screen["receipt_number"] is not None:
                    return screen
    raise AssertionError("the event stream ended without a failed receipt")


def test_qr_hand_over_prints_receipt(station, qr, tmp_path) -> None:
    paper = tmp_path / "paper.bin"
    directory = lpg_terminal(tmp_path, station, qr, f"file:{paper}")
    counter = build_counter(directory, "lpg")
    screen = counter.scan_qr(qr.qr_text)
    counter.wait_for_receipts()
    counter.stop()
    assert screen.decision.accepted
    assert counter.broker.current is screen
    assert screen.render("id")["receipt"] == ""
    assert screen.render("id")["receipt_number"] is None
    assert b"KARTU BAHAGIA" in paper.read_bytes()
    assert qr.card_number[-4:].encode() in paper.read_bytes()
    receipts = stored_receipts(directory)
    assert [queued.status for queued in receipts] == ["printed"]


def test_failed_print_keeps_hand_over(station, qr, tmp_path) -> None:
    directory = lpg_terminal(tmp_path, station, qr, f"file:{tmp_path / 'missing' / 'paper.bin'}")
    counter = build_counter(directory, "lpg")
    decided = counter.scan_qr(qr.qr_text)
    counter.wait_for_receipts()
    counter.stop()
    screen = counter.broker.current
    rendered = screen.render("en")
    assert decided.decision.accepted
    assert decided.receipt is None
    assert screen.decision is decided.decision
    assert rendered["word"] != ""
    assert rendered["receipt_number"] == 1
    assert rendered["receipt"].startswith("Receipt 1 is queued, not printed.")
    assert "missing" in rendered["receipt"]
    assert "Struk 1" in screen.render("id")["receipt"]
    assert TerminalStore(directory / STORE_NAME).count_by_status() == {"pending": 1}
    receipts = stored_receipts(directory)
    assert [(queued.status, queued.attempts) for queued in receipts] == [("pending", 1)]


def test_failed_print_reaches_event_stream(station, qr, tmp_path) -> None:
    directory = lpg_terminal(tmp_path, station, qr, f"file:{tmp_path / 'missing' / 'paper.bin'}")
    with serve_ui(directory, "lpg", start_counter=False) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get(f"/?token={TOKEN}").status_code == 303
        decided = client.post("/qr", data={"text": qr.qr_text}).json()
        screen = next_failed_receipt(client)
    assert decided["accepted"] is True
    assert decided["receipt_number"] is None
    assert screen["accepted"] is True
    assert screen["receipt_number"] == 1
    assert screen["receipt"].startswith("Struk 1 masuk antrean, belum dicetak.")


def test_no_printer_no_receipt(station, qr, tmp_path) -> None:
    directory = lpg_terminal(tmp_path, station, qr, None)
    counter = build_counter(directory, "lpg")
    screen = counter.scan_qr(qr.qr_text)
    assert screen.decision.accepted
    assert counter.receipts is None
    receipts = stored_receipts(directory)
    assert receipts == []


def test_printer_option_overrides_stored(station, qr, tmp_path) -> None:
    paper = tmp_path / "option.bin"
    directory = lpg_terminal(tmp_path, station, qr, f"file:{tmp_path / 'missing' / 'paper.bin'}")
    options = argparse.Namespace(printer=parse_printer_spec(f"file:{paper}"), check_paper=False)
    counter = build_counter(directory, "lpg", printer_options=options)
    counter.scan_qr(qr.qr_text)
    counter.wait_for_receipts()
    counter.stop()
    assert counter.broker.current.render("id")["receipt_number"] is None
    assert paper.exists()


def test_reprint_after_printer_fixed(station, qr, tmp_path) -> None:
    paper_dir = tmp_path / "later"
    directory = lpg_terminal(tmp_path, station, qr, f"file:{paper_dir / 'paper.bin'}")
    with serve_ui(directory, "lpg", start_counter=False) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.get(f"/?token={TOKEN}").status_code == 303
        assert client.post("/qr", data={"text": qr.qr_text}).json()["accepted"] is True
        assert next_failed_receipt(client)["receipt_number"] == 1
        failed = client.post("/receipt/reprint", data={"number": "1"})
        assert failed.status_code == 503
        paper_dir.mkdir()
        reprinted = client.post("/receipt/reprint", data={"number": "1"})
        unknown = client.post("/receipt/reprint", data={"number": "7"})
    assert reprinted.status_code == 200
    assert reprinted.json()["message"] != ""
    # Counter receipts print in Bahasa Indonesia, the page's default language.
    assert b"CETAK ULANG" in (paper_dir / "paper.bin").read_bytes()
    assert unknown.status_code == 404
    receipts = stored_receipts(directory)
    assert [queued.status for queued in receipts] == ["printed"]


def test_kiosk_prints_nothing(station, qr, tmp_path) -> None:
    directory = lpg_terminal(tmp_path, station, qr, f"file:{tmp_path / 'paper.bin'}")
    assert build_counter(directory, "kiosk").receipts is None
