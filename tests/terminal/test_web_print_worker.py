"""Receipts print on the counter's print worker, so a blocked printer never delays the next decision."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from issuance.personalise import issue_qr_only
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from terminal.modes import mode_named
from terminal.printer import PrinterError, parse_printer_spec
from terminal.receipt_cli import ReceiptPrinter
from terminal.receipt_queue import ReceiptQueue
from terminal.web.counter import Counter
from terminal.web.events import EventBroker
from terminal.web.receipts import CounterReceipts, ReceiptState
from terminal.web.views import NoticeScreen, TapScreen
from tests.conftest import READER
from tests.terminal.conftest import eject, insert, personalise
from tests.terminal.web_support import make_mode_terminal

# Upper bound for a wait on another thread; the waits end as soon as the awaited screen or print arrives.
WAIT_SECONDS = 30
# The stand-in printer gives up later than any wait of the test, so a print that blocked the caller fails the test.
PRINTER_BLOCK_SECONDS = 4 * WAIT_SECONDS


class RecordingBroker(EventBroker):
    """An EventBroker that also keeps every screen it shows, for the test thread to wait on."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[object] = []
        self._changed = threading.Condition()

    def publish(self, screen) -> None:
        super().publish(screen)
        self._record(screen)

    def _record(self, screen) -> None:
        with self._changed:
            self.shown.append(screen)
            self._changed.notify_all()

    def wait_until(self, condition) -> list[object]:
        """Return the shown screens once condition(shown screens) is true."""
        with self._changed:
            assert self._changed.wait_for(lambda: condition(self.shown), WAIT_SECONDS), self.shown
            return list(self.shown)


def tap_screens(shown: list[object]) -> list[TapScreen]:
    return [screen for screen in shown if isinstance(screen, TapScreen)]


class BlockedPrinter(CounterReceipts):
    """A printer stand-in: each print waits until release is set, then fails as a timed-out printer does."""

    def __init__(self) -> None:
        super().__init__(ReceiptPrinter(parse_printer_spec("file:/nonexistent/stand-in")))
        self.started = threading.Event()
        self.release = threading.Event()

    def _print(self, store, number: int, reprint: bool) -> ReceiptState:
        self.started.set()
        self.release.wait(PRINTER_BLOCK_SECONDS)
        error = PrinterError("stand-in", "timed out")
        ReceiptQueue(store).mark_failed(number, str(error))
        return ReceiptState(number, error)


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


def qr_cards(station: Station, count: int):
    return [issue_qr_only(resident, station, date(2026, 12, 1)) for resident in generate_register(count, seed=5)]


def blocked_counter(directory, reader: str | None = None):
    printer = BlockedPrinter()
    broker = RecordingBroker()
    counter = Counter(directory, mode_named("lpg"), "lpg", broker, reader=reader, receipts=printer)
    return counter, broker, printer


def printer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "receipt-printer"]


def test_scan_decided_while_printer_blocked(station, tmp_path) -> None:
    first_card, second_card = qr_cards(station, 2)
    households = {card.household_id: 0 for card in (first_card, second_card)}
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", households)})
    counter, broker, printer = blocked_counter(directory)
    earlier_workers = set(printer_threads())

    first = counter.scan_qr(first_card.qr_text)
    assert printer.started.wait(WAIT_SECONDS)
    second = counter.scan_qr(second_card.qr_text)

    assert first.decision.accepted, first.decision.message_en
    assert second.decision.accepted, second.decision.message_en
    assert broker.current is second
    assert counter.service().store.count_by_status() == {"pending": 2}

    printer.release.set()
    counter.wait_for_receipts()
    shown = broker.wait_until(lambda screens: len(screens) >= 4)
    counter.stop()

    assert shown[:2] == [first, second]
    # Receipt 1 failed while the second decision was on display, so it arrives as a notice beside it.
    assert isinstance(shown[2], NoticeScreen)
    assert shown[2].render("id")["text"].startswith("Struk 1 ")
    assert isinstance(shown[3], TapScreen)
    assert shown[3].render("en")["receipt_number"] == 2
    assert broker.current is shown[3]
    assert set(printer_threads()) - earlier_workers == set()


def test_stopped_worker_leaves_receipt_pending(station, tmp_path) -> None:
    [card] = qr_cards(station, 1)
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {card.household_id: 0})})
    counter, broker, printer = blocked_counter(directory)
    counter.stop()

    screen = counter.scan_qr(card.qr_text)

    assert screen.decision.accepted
    assert not printer.started.is_set()
    assert [queued.status for queued in ReceiptQueue(counter.service().store).pending()] == ["pending"]


def test_card_tap_decided_while_printer_blocked(pcsc, station, residents, tmp_path) -> None:
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    directory = make_mode_terminal(tmp_path / "t", station, {"lpg": (3, "tabung", {issued.household_id: 0})})
    counter, broker, printer = blocked_counter(directory, reader=READER)
    counter.start()
    try:
        # The first receipt blocks the printer, and the second tap must still be decided and shown.
        for count in (1, 2):
            card = insert(pcsc, tmp_path / "card.json")
            taps = tap_screens(broker.wait_until(lambda screens: len(tap_screens(screens)) >= count))
            eject(pcsc, card)
            assert printer.started.wait(WAIT_SECONDS)
        printer.release.set()
        counter.wait_for_receipts()
        shown = broker.wait_until(lambda screens: any(screen.receipt for screen in tap_screens(screens)))
    finally:
        printer.release.set()
        counter.stop()

    assert [screen.decision.accepted for screen in taps] == [True, True]
    assert tap_screens(shown)[-1].render("en")["receipt_number"] == 2
    assert counter.service().store.count_by_status() == {"pending": 2}
