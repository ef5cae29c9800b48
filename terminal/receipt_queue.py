"""Receipts kept in the terminal store until they are printed, and printing them from there.

A receipt row is added inside the transaction that records the hand-over
(TapService.on_record set to ReceiptQueue.add_in_transaction), so a crash
keeps both or neither, and is printed after the commit. A crash before the
print leaves the receipt pending. A printer that is off, unplugged or out of
paper also only leaves the receipt pending: the redemption stays recorded and the decision stays
on screen. Pending receipts are listed with `kartu terminal receipt pending`
and any receipt can be printed again with `kartu terminal receipt reprint N`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass

from card.i18n import N_, translate
from card.records import Redemption
from terminal.printer import DEFAULT_STATUS_TIMEOUT, PrinterError, PrinterSpec, send
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
        content = self._content(record_id, card_number, program, quantity, tapped_at, remaining, unit)
        with self.store.transaction() as db:
            number = _insert(db, record_id, content, now)
        return self.get(number).receipt

    def add_in_transaction(self, db: sqlite3.Connection, record: Redemption, remaining: int | None, unit: str) -> int:
        """Add the receipt of record in the open transaction db that inserts the record; return its number."""
        content = self._content(record.record_id, record.card_number, record.program, record.quantity,
                                record.tapped_at, remaining, unit)
        return _insert(db, record.record_id, content, None)

    def find(self, record_id: str) -> Receipt | None:
        """Return the receipt of the redemption record_id, or None when it has none."""
        row = self.store.execute("SELECT number FROM receipts WHERE record_id = ?", (record_id,)).fetchone()
        return self.get(row[0]).receipt if row else None

    def _content(self, record_id: str, card_number: str, program: str, quantity: int, tapped_at: int,
                 remaining: int | None, unit: str) -> dict[str, object]:
        return {
            "record_id": record_id, "terminal_id": self.store.terminal_id, "service_point": self._service_point(),
            "kelurahan": self.store.get_meta("service_point_kelurahan"),
            "card_number": card_number, "program": program, "quantity": quantity, "unit": unit,
            "remaining": remaining, "tapped_at": tapped_at,
        }

    def _service_point(self) -> str:
        name = self.store.get_meta("service_point_name")
        # Terminals enrolled before the server sent the service point's name only know its id.
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


def _insert(db: sqlite3.Connection, record_id: str, content: dict[str, object], now: int | None) -> int:
    """Insert the receipt row unless the record has one; return the record's receipt number."""
    db.execute(
        "INSERT OR IGNORE INTO receipts (record_id, content, created_at) VALUES (?, ?, ?)",
        (record_id, json.dumps(content), int(time.time()) if now is None else now),
    )
    return db.execute("SELECT number FROM receipts WHERE record_id = ?", (record_id,)).fetchone()[0]


def _queued(row: tuple) -> QueuedReceipt:
    number, content, status, attempts, last_error, created_at, printed_at = row
    return QueuedReceipt(Receipt.from_json(number, json.loads(content)), status, attempts, last_error,
                         created_at, printed_at)


def print_queued(queue: ReceiptQueue, number: int, spec: PrinterSpec, language: str, *, reprint: bool = False,
                 timeout: float = 5.0, check_paper: bool = False,
                 status_timeout: float = DEFAULT_STATUS_TIMEOUT) -> PrinterError | None:
    """Print receipt number and record the result; return the printer error instead of raising it.

    reprint marks the paper as a copy; check_paper and status_timeout are
    those of terminal.printer.send. The receipt stays pending after a failure.
    """
    queued = queue.get(number)
    data = render_receipt(queued.receipt, language, reprint=reprint)
    try:
        send(spec, data, timeout=timeout, check_paper=check_paper, status_timeout=status_timeout)
    except PrinterError as exc:
        log.warning("receipt %d for record %s not printed on %s: %s", number, queued.receipt.record_id, spec, exc)
        queue.mark_failed(number, str(exc))
        return exc
    queue.mark_printed(number, int(time.time()))
    log.info("receipt %d for record %s printed on %s", number, queued.receipt.record_id, spec)
    return None
