"""Receipts of hand-overs made at the counter: added in the hand-over's transaction, printed after it.

The receipt row is written in the transaction that records the hand-over
(terminal.receipt_cli.attach_receipts). Printing happens after the commit and
after the decision is on screen, on the counter's print worker
(terminal.web.print_worker), so a printer that is off, unplugged or out of
paper never delays, blocks or undoes a hand-over or the next tap: the receipt
stays queued and the screen offers a reprint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from card.i18n import DEFAULT_LANGUAGE
from terminal.printer import PrinterError
from terminal.receipt_cli import ReceiptPrinter, attach_receipts
from terminal.receipt_queue import ReceiptQueue, print_queued
from terminal.store import TerminalStore
from terminal.tap import TapOutcome, TapService

__all__ = ["ReceiptState", "CounterReceipts"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiptState:
    """The print result of one receipt; error is set when the receipt stays queued."""

    number: int
    error: PrinterError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class CounterReceipts:
    """The counter's receipt printer; receipts print in language, which is the page's default."""

    def __init__(self, printer: ReceiptPrinter, language: str = DEFAULT_LANGUAGE):
        self.printer = printer
        self.language = language

    def attach(self, service: TapService) -> None:
        attach_receipts(service, self.printer)

    def issue(self, store: TerminalStore, outcome: TapOutcome) -> ReceiptState | None:
        """Print the receipt of an accepted hand-over; return None when the hand-over has no receipt row."""
        receipt = ReceiptQueue(store).find(outcome.record_id) if outcome.record_id else None
        if receipt is None:
            log.warning("record %s has no receipt row; nothing printed", outcome.record_id)
            return None
        return self._print(store, receipt.number, reprint=False)

    def reprint(self, store: TerminalStore, number: int) -> ReceiptState:
        """Print receipt number again, marked as a copy; raise ReceiptNotFound for an unknown number."""
        return self._print(store, number, reprint=True)

    def _print(self, store: TerminalStore, number: int, reprint: bool) -> ReceiptState:
        options: dict[str, object] = {}
        if self.printer.paper_timeout is not None:
            options = {"check_paper": True, "status_timeout": self.printer.paper_timeout}
        error = print_queued(ReceiptQueue(store), number, self.printer.spec, self.language, reprint=reprint, **options)
        return ReceiptState(number, error)
