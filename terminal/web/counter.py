"""The counter: the card thread that serves taps for the web UI, and QR scans typed by a scanner.

The card thread runs terminal.tap_loop.TapLoop on a CardMonitor, so reader
trouble is reported and waited out exactly as in `kartu terminal tap --loop`.
Each thread opens its own TerminalStore, because an sqlite3 connection
belongs to the thread that opened it. Every screen goes to the EventBroker.
Receipts print on their own thread (terminal.web.print_worker), so a printer
that is slow or times out never delays the next tap.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from card.decision import Decision, Reason
from card.verify import verify_qr
from hardware.monitor import CardMonitor, EventKind, ReaderEvent
from hardware.pcsc import CardConnection, PcscContext
from terminal.enrol import open_terminal
from terminal.kiosk_history import KioskHistoryError, fetch_server_history
from terminal.modes import Mode, household_history, household_standing
from terminal.status import DEFAULT_MAX_LIST_AGE, TerminalStatus, read_status
from terminal.offline_rules import RuledTapService
from terminal.store import TerminalStore
from terminal.tap import TapOutcome
from terminal.tap_cli import reader_available
from terminal.tap_loop import TapLoop
from terminal.web.events import EventBroker
from terminal.web.print_worker import PrintJob, PrintWorker
from terminal.web.receipts import CounterReceipts, ReceiptState
from terminal.web.views import (
    ClearScreen, HistorySource, KioskHistory, NoticeScreen, ReceiptNotice, TapScreen, tap_screen,
)

__all__ = ["Counter", "PIN_TIMEOUT_SECONDS"]

log = logging.getLogger(__name__)

# A PIN entered on screen is used by the next tap only, and forgotten after this many seconds.
PIN_TIMEOUT_SECONDS = 60.0
# A kiosk clears a QR result after this many seconds, since no card removal ends it.
KIOSK_QR_SECONDS = 30.0
_PIN_PATTERN = re.compile(r"^[0-9]{6,8}$")


class _WatchedMonitor:
    """A CardMonitor that also tells the counter when the card leaves the reader."""

    def __init__(self, monitor: CardMonitor, on_removed: Callable[[], None]):
        self._monitor = monitor
        self._on_removed = on_removed

    def next_event(self, timeout: float | None = None) -> ReaderEvent | None:
        event = self._monitor.next_event(timeout)
        if event is not None and event.kind is EventKind.CARD_REMOVED:
            self._on_removed()
        return event


class _CounterService:
    """The TapService seen by TapLoop: adds the quantity, PIN and read-only setting of the counter."""

    def __init__(self, counter: "Counter"):
        self._counter = counter

    def tap_card(self, connection: CardConnection, program: str, now: datetime, quantity: int = 1,
                 check_photo: bool = False) -> TapOutcome:
        counter = self._counter
        pin = counter.take_pin() if counter.mode.requires_pin else None
        return counter.service().tap_card(
            connection, program, now, counter.take_quantity(), check_photo,
            pin="" if counter.mode.requires_pin and pin is None else pin,
            read_only=not counter.mode.records,
        )


class Counter:
    def __init__(self, directory: Path, mode: Mode, program: str, broker: EventBroker, reader: str | None = None,
                 max_list_age=DEFAULT_MAX_LIST_AGE, receipts: CounterReceipts | None = None):
        self.directory = directory
        self.mode = mode
        self.program = program
        self.broker = broker
        self.reader = reader
        self.max_list_age = max_list_age
        # Prints the receipt of each hand-over; None when the terminal has no receipt printer.
        self.receipts = receipts
        self._print_worker = PrintWorker(receipts, self._open_store, self._show_print_failure) if receipts else None
        # The last decision published, which the page keeps showing under reader notices. _display_lock guards it
        # and also keeps the screens of the card thread, QR scans and the print worker in publishing order.
        self._display_lock = threading.Lock()
        self._decision_on_display: TapScreen | None = None
        # Whether a card reader works now: while one does, the QR code printed on a chip card is refused.
        self.reader_check: Callable[[str | None], bool] = reader_available
        self._local = threading.local()
        self._lock = threading.Lock()
        self._quantity = 1
        self._pin: tuple[str, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clear_timer: threading.Timer | None = None

    def service(self) -> RuledTapService:
        """Return this thread's tap service (offline rules applied), opening the store for the thread on first use."""
        service = getattr(self._local, "service", None)
        if service is None:
            store, signer = open_terminal(self.directory)
            service = self._local.service = RuledTapService(store, signer)
            if self.receipts is not None:
                self.receipts.attach(service)
        return service

    # --- settings for the next tap ---------------------------------------------

    def set_quantity(self, quantity: int) -> None:
        if not 1 <= quantity <= self.mode.max_quantity:
            raise ValueError(f"quantity {quantity} is not allowed; choose 1 to {self.mode.max_quantity}")
        with self._lock:
            self._quantity = quantity

    def take_quantity(self) -> int:
        """Return the quantity for this hand-over and reset it to 1 for the next holder."""
        with self._lock:
            quantity, self._quantity = self._quantity, 1
        return quantity

    def set_pin(self, pin: str) -> None:
        if not _PIN_PATTERN.match(pin):
            raise ValueError("PIN must be 6 to 8 digits")
        with self._lock:
            self._pin = (pin, time.monotonic() + PIN_TIMEOUT_SECONDS)

    def take_pin(self) -> str | None:
        """Return the PIN entered for this tap, if it has not timed out, and forget it."""
        with self._lock:
            entry, self._pin = self._pin, None
        if entry is None or time.monotonic() > entry[1]:
            return None
        return entry[0]

    @property
    def pin_waiting(self) -> bool:
        with self._lock:
            return self._pin is not None and time.monotonic() <= self._pin[1]

    # --- screens -------------------------------------------------------------------

    def _screen(self, outcome: TapOutcome, from_qr: bool) -> TapScreen:
        if self.mode.records or not outcome.decision.accepted or outcome.credential is None:
            offline = self.service().warnings.pop(outcome.record_id, None) if outcome.record_id else None
            return tap_screen(self.mode, outcome, from_qr, offline_warning=offline, program=self.program)
        store = self.service().store
        household = outcome.credential.household_id
        now = datetime.now(timezone.utc)
        standings = tuple(household_standing(store, household, now))
        history = self._kiosk_history(outcome)
        return tap_screen(self.mode, outcome, from_qr, standings, history.entries, program=self.program, now=now,
                          history_source=history.source)

    def _kiosk_history(self, outcome: TapOutcome) -> KioskHistory:
        """List the household's hand-overs from the server after a chip read, else those recorded here.

        Only a chip read proves to the server that the card is on the reader,
        so a QR scan shows the local list. Any failure of the server call
        falls back to the local list too.
        """
        service = self.service()
        card_number = outcome.credential.card_number
        local = tuple(household_history(service.store, outcome.credential.household_id))
        if outcome.presence is None:
            return KioskHistory(local, HistorySource.LOCAL_QR)
        try:
            entries = fetch_server_history(service.store, service.signer, card_number, outcome.presence)
        except KioskHistoryError as exc:
            log.warning("card %s: showing local history, server history failed: %s", card_number, exc)
            return KioskHistory(local, HistorySource.LOCAL_OFFLINE)
        return KioskHistory(tuple(entries), HistorySource.SERVER)

    def _open_store(self) -> TerminalStore:
        store, _signer = open_terminal(self.directory)
        return store

    def _show_outcome(self, outcome: TapOutcome, from_qr: bool = False) -> TapScreen:
        """Publish the decision and queue its receipt for the print worker, so the caller never waits for a printer."""
        screen = self._screen(outcome, from_qr)
        with self._display_lock:
            self._decision_on_display = screen
            self.broker.publish(screen)
        if self._print_worker is not None and outcome.decision.accepted and outcome.record_id is not None:
            self._print_worker.submit(PrintJob(outcome, screen))
        return screen

    def _show_print_failure(self, job: PrintJob, state: ReceiptState) -> None:
        """Add the failed receipt to its decision's screen while that is on display, else show it as a notice."""
        with self._display_lock:
            if self._decision_on_display is job.screen:
                screen = self._decision_on_display = replace(job.screen, receipt=state)
            else:
                screen = NoticeScreen(ReceiptNotice(state))
            self.broker.publish(screen)

    def wait_for_receipts(self) -> None:
        """Block until every receipt queued so far is printed or has failed."""
        if self._print_worker is not None:
            self._print_worker.wait_idle()

    def _card_removed(self) -> None:
        if not self.mode.records:
            self.broker.publish(ClearScreen())

    def _schedule_kiosk_clear(self) -> None:
        if self._clear_timer is not None:
            self._clear_timer.cancel()
        self._clear_timer = threading.Timer(KIOSK_QR_SECONDS, lambda: self.broker.publish(ClearScreen()))
        self._clear_timer.daemon = True
        self._clear_timer.start()

    # --- QR scans --------------------------------------------------------------------

    def scan_qr(self, text: str, now: datetime | None = None) -> TapScreen:
        """Decide a QR code typed by a keyboard-wedge scanner and show the result."""
        moment = now or datetime.now(timezone.utc)
        service = self.service()
        if self.mode.requires_pin:
            # A QR code cannot check a PIN, so a PIN hand-over always needs the chip.
            outcome = TapOutcome(Decision.refuse(Reason.PIN_NEEDED))
        elif not self.mode.records:
            outcome = self._kiosk_qr(text, moment)
            self._schedule_kiosk_clear()
        else:
            outcome = service.scan_qr(text, self.program, moment, self.take_quantity(),
                                      reader_available=self.reader_check(self.reader))
        return self._show_outcome(outcome, from_qr=True)

    def _kiosk_qr(self, text: str, moment: datetime) -> TapOutcome:
        """Verify a QR code for the kiosk; the code printed on a chip card shows nothing while a reader works."""
        verification = verify_qr(text, self.service().store.trust_store(), moment)
        credential = verification.credential
        if verification.accepted and credential.on_chip_card and self.reader_check(self.reader):
            log.info("card %s: kiosk QR scan of a chip card rejected while the reader works", credential.card_number)
            return TapOutcome(Decision.refuse(Reason.CHIP_REQUIRED), credential)
        return TapOutcome(verification.decision, credential)

    def reprint(self, number: int):
        """Print receipt number again; the caller checks that the counter has a printer."""
        return self.receipts.reprint(self.service().store, number)

    def status(self) -> TerminalStatus:
        return read_status(self.service().store, max_list_age=self.max_list_age, program=self.program)

    # --- the card thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve_cards, name="card-reader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the tap in progress, so a tap is never cut between the card's answer and the commit.

        The print worker stops last, after printing the receipts still queued.
        """
        self._stop.set()
        if self._clear_timer is not None:
            self._clear_timer.cancel()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._print_worker is not None:
            self._print_worker.stop()

    def _serve_cards(self) -> None:
        log.info("card thread started: mode %s, programme %s, reader %s", self.mode.name.value, self.program,
                 self.reader or "first")
        with PcscContext(lazy=True) as context, CardMonitor(self.reader) as monitor:
            loop = TapLoop(
                _CounterService(self), _WatchedMonitor(monitor, self._card_removed), context, self.program,
                self._show_outcome, lambda notice: self.broker.publish(NoticeScreen(notice)),
                check_photo=self.mode.check_photo,
            )
            report = loop.run(self._stop)
        log.info("card thread stopped after %d taps", report.taps)
