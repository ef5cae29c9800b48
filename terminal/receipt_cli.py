"""`kartu terminal receipt`: the printer setting, waiting receipts and reprints; receipts after a tap.

The printer spec (see terminal.printer) is stored in the terminal store's
meta table under "printer", so taps print without repeating it; --printer
on a command overrides it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from card.i18n import N_, translate
from card.verify import WIB
from terminal.enrol import EnrolmentError, open_terminal
from terminal.printer import PrinterSpec, parse_printer_spec
from terminal.receipt_queue import ReceiptNotFound, ReceiptQueue, print_queued
from terminal.store import StoreError, TerminalStore
from terminal.tap import TapOutcome

__all__ = ["add_commands", "add_printer_option", "printer_for", "issue_receipt"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
PRINTER_META = "printer"

RECEIPT_QUEUED = N_("Receipt {number} was not printed and waits in the queue: {error}")
RECEIPT_PRINTED = N_("Receipt {number} printed.")
NO_PRINTER = N_("No receipt printer is set. Set one with 'kartu terminal receipt printer SPEC' or pass --printer.")
NOTHING_PENDING = N_("No receipts are waiting to be printed.")
PENDING_ROW = N_("Receipt {number}: {program} x{quantity}, {time}, {attempts} attempts, last error: {error}")
PRINTER_SET = N_("Receipt printer set to {printer}.")


def add_printer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--printer", type=_printer_spec, metavar="SPEC",
        help="receipt printer: file:PATH, serial:DEVICE[:BAUD], usb:VID:PID or tcp:HOST[:PORT] "
             "(default: the one set with 'kartu terminal receipt printer')",
    )


def _printer_spec(text: str) -> PrinterSpec:
    try:
        return parse_printer_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_commands(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("receipt", help="receipt printer, waiting receipts and reprints")
    receipt_commands = parser.add_subparsers(dest="receipt_command", required=True)

    printer = receipt_commands.add_parser("printer", help="set the receipt printer of this terminal")
    printer.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    printer.add_argument("spec", type=_printer_spec, help="file:PATH, serial:DEVICE[:BAUD], usb:VID:PID or tcp:HOST[:PORT]")
    printer.set_defaults(handler=_set_printer)

    pending = receipt_commands.add_parser("pending", help="list receipts that were not printed")
    pending.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    pending.set_defaults(handler=_pending)

    reprint = receipt_commands.add_parser("reprint", help="print receipt N again, marked as a reprint")
    reprint.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    reprint.add_argument("number", type=int, help="receipt number, as printed or listed by 'pending'")
    add_printer_option(reprint)
    reprint.set_defaults(handler=_reprint)


def printer_for(store: TerminalStore, args: argparse.Namespace) -> PrinterSpec | None:
    """Return the printer given with --printer, else the one stored in the terminal, else None."""
    if getattr(args, "printer", None) is not None:
        return args.printer
    stored = store.get_meta(PRINTER_META)
    return parse_printer_spec(stored) if stored else None


def issue_receipt(store: TerminalStore, outcome: TapOutcome, printer: PrinterSpec | None, language: str) -> None:
    """Queue the receipt of an accepted hand-over and print it; a printer failure only leaves it queued."""
    if not outcome.decision.accepted or outcome.record_id is None or printer is None:
        return
    queue = ReceiptQueue(store)
    receipt = queue.add(outcome.record_id, outcome.remaining, outcome.unit or "")
    error = print_queued(queue, receipt.number, printer, language)
    if error is not None:
        print(translate(RECEIPT_QUEUED, language, number=receipt.number, error=error.message(language)),
              file=sys.stderr, flush=True)


def _open(args: argparse.Namespace) -> TerminalStore | None:
    try:
        store, _signer = open_terminal(args.dir)
    except (EnrolmentError, StoreError) as exc:
        print(str(exc), file=sys.stderr)
        return None
    return store


def _set_printer(args: argparse.Namespace) -> int:
    store = _open(args)
    if store is None:
        return EXIT_ERROR
    store.set_meta({PRINTER_META: str(args.spec)})
    print(translate(PRINTER_SET, args.lang, printer=str(args.spec)))
    return EXIT_OK


def _pending(args: argparse.Namespace) -> int:
    store = _open(args)
    if store is None:
        return EXIT_ERROR
    waiting = ReceiptQueue(store).pending()
    if not waiting:
        print(translate(NOTHING_PENDING, args.lang))
    for queued in waiting:
        receipt = queued.receipt
        print(translate(
            PENDING_ROW, args.lang, number=receipt.number, program=receipt.program, quantity=receipt.quantity,
            time=_wib(receipt.tapped_at), attempts=queued.attempts,
            error=queued.last_error or "-",
        ))
    return EXIT_OK


def _wib(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).astimezone(WIB).strftime("%Y-%m-%d %H:%M WIB")


def _reprint(args: argparse.Namespace) -> int:
    store = _open(args)
    if store is None:
        return EXIT_ERROR
    printer = printer_for(store, args)
    if printer is None:
        print(translate(NO_PRINTER, args.lang), file=sys.stderr)
        return EXIT_ERROR
    queue = ReceiptQueue(store)
    try:
        error = print_queued(queue, args.number, printer, args.lang, reprint=True)
    except ReceiptNotFound as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return EXIT_ERROR
    if error is not None:
        print(error.message(args.lang), file=sys.stderr)
        return EXIT_FAILED
    print(translate(RECEIPT_PRINTED, args.lang, number=args.number))
    return EXIT_OK
