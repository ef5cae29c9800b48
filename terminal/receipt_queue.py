"""Receipts kept in the terminal store until they are printed, and printing them from there.

A receipt is created from a committed redemption, after the commit, and is
then printed. A crash between the two leaves a redemption without a receipt:
the hand-over stays recorded and is synced, but it cannot be reprinted. A printer that is off, unplugged or out of paper only leaves
the receipt pending: the redemption stays recorded and the decision stays
on screen. Pending receipts are listed with `kartu terminal receipt pending`
and any receipt can be printed again with `kartu terminal receipt reprint N`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from card.i18n import N_, translate
from terminal.printer import PrinterError, PrinterSpec, send
from terminal.receipt import Receipt, render_receipt
from terminal.store import TerminalStore

__all__ = ["QueuedReceipt", "ReceiptQueue", "ReceiptNotFound", "print_queued"]

log = logging.getLogger(__name__)


class ReceiptNotFound(Exception):
    """No receipt or redemption with the requested number or id."""

    template = N_("Receipt {number} does not exist on this terminal. List the waiting receipts with 'kartu terminal receipt pending'.")

    def __init__(self, number: object):
        self.number = number
        super().__init__(self.message("en"))

    def message(self, language: str = "id") -> str:
        return translate(self.template, language, number=self.number)


@dataclass(frozen=True)
class QueuedReceipt:
    receipt: Receipt
    status: str
    attempts: int
    last_error: str | None
    created_at: int
    printed_at: int | None


class ReceiptQueue:
    """The receipts table of one terminal store."""

    def __init__(self, store: TerminalStore):
        self.store = store

    def add(self, record_id: str, remaining: int | None, unit: str, now: int | None = None) -> Receipt:
        """Create the receipt of a committed redemption, or return the one it already has."""
        row = self.store.execute(
            "SELECT card_number, program, quantity, tapped_at FROM redemptions WHERE record_id = ?", (record_id,)
        ).fetchone()
        if row is None:
            raise ReceiptNotFound(record_id)
        card_number, program, quantity, tapped_at = row
        content = {
            "record_id": record_id, "terminal_id": self.store.terminal_id, "service_point": self._service_point(),
            "card_number": card_number, "program": program, "quantity": quantity, "unit": unit,
            "remaining": remaining, "tapped_at": tapped_at,
        }
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO receipts (record_id, content, created_at) VALUES (?, ?, ?)",
                (record_id, json.dumps(content), int(time.time()) if now is None else now),
            )
            number = db.execute("SELECT number FROM receipts WHERE record_id = ?", (record_id,)).fetchone()[0]
        return self.get(number).receipt

    def _service_point(self) -> str:
        name = self.store.get_meta("service_point_name")
        return name or f"#{self.store.get_meta('service_point_id', '-')}"

    def get(self, number: int) -> QueuedReceipt:
        row = self.store.execute(
            "SELECT number, content, status, attempts, last_error, created_at, printed_at FROM receipts WHERE number = ?",
            (number,),
        ).fetchone()
        if row is None:
            raise ReceiptNotFound(number)
        return _queued(row)

    def pending(self) -> list[QueuedReceipt]:
        rows = self.store.execute(
            """SELECT number, content, status, attempts, last_error, created_at, printed_at
               FROM receipts WHERE status = 'pending' ORDER BY number"""
        ).fetchall()
        return [_queued(row) for row in rows]

    def mark_printed(self, number: int, now: int) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE receipts SET status = 'printed', attempts = attempts + 1, last_error = NULL, printed_at = ? "
                "WHERE number = ?",
                (now, number),
            )

    def mark_failed(self, number: int, error: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE receipts SET attempts = attempts + 1, last_error = ? WHERE number = ?", (error, number)
            )


def _queued(row: tuple) -> QueuedReceipt:
    number, content, status, attempts, last_error, created_at, printed_at = row
    return QueuedReceipt(Receipt.from_json(number, json.loads(content)), status, attempts, last_error,
                         created_at, printed_at)


def print_queued(queue: ReceiptQueue, number: int, spec: PrinterSpec, language: str, *, reprint: bool = False,
                 timeout: float = 5.0, check_paper: bool = False) -> PrinterError | None:
    """Print receipt number and record the result; return the printer error instead of raising it.

    reprint marks the paper as a copy. The receipt stays pending after a failure.
    """
    queued = queue.get(number)
    data = render_receipt(queued.receipt, language, reprint=reprint)
    try:
        send(spec, data, timeout=timeout, check_paper=check_paper)
    except PrinterError as exc:
        log.warning("receipt %d for record %s not printed on %s: %s", number, queued.receipt.record_id, spec, exc)
        queue.mark_failed(number, str(exc))
        return exc
    queue.mark_printed(number, int(time.time()))
    log.info("receipt %d for record %s printed on %s", number, queued.receipt.record_id, spec)
    return None
