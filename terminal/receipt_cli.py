"""`kartu terminal receipt`: the printer setting, waiting receipts and reprints; receipts after a tap.

The printer spec (see terminal.printer) is stored in the terminal store's
meta table under "printer", so taps print without repeating it; --printer
on a command overrides it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from card.i18n import N_, Counted, Nn_, argument_language, translate
from card.verify import WIB
from terminal.enrol import EnrolmentError, open_terminal
from terminal.printer import DEFAULT_STATUS_TIMEOUT, PrinterSpec, parse_printer_spec
from terminal.programmes import ProgrammeName
from terminal.receipt_queue import ReceiptNotFound, ReceiptQueue, print_queued
from terminal.store import StoreError, TerminalStore
from terminal.tap import TapOutcome, TapService

__all__ = ["add_commands", "add_printer_option", "printer_for", "attach_receipts", "issue_receipt", "ReceiptPrinter"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
PRINTER_META = "printer"

RECEIPT_QUEUED = N_("Receipt {number} was not printed and waits in the queue: {error}")
RECEIPT_PRINTED = N_("Receipt {number} printed.")
NO_PRINTER = N_("No receipt printer is set. Set one with 'kartu terminal receipt printer SPEC' or pass --printer.")
NOTHING_PENDING = N_("No receipts are waiting to be printed.")
PENDING_ROW = N_("Receipt {number}: {program} x{quantity}, {time}, {attempts}, last error: {error}")
PRINT_ATTEMPTS = Nn_("{count} attempt", "{count} attempts")
PRINTER_SET = N_("Receipt printer set to {printer}.")


@dataclass(frozen=True)
class ReceiptPrinter:
    """A receipt printer and its paper check: paper_timeout is the status query's timeout, None for no query."""

    spec: PrinterSpec
    paper_timeout: float | None = None


def add_printer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--printer", type=_printer_spec, metavar="SPEC",
        help="receipt printer: file:PATH, serial:DEVICE[:BAUD], usb:VID:PID or tcp:HOST[:PORT] "
             "(default: the one set with 'kartu terminal receipt printer')",
    )
    parser.add_argument(
        "--check-paper", action="store_true",
        help="query the paper sensor of a serial or network printer before each receipt; a printer that does not "
             "respond is printed to without the query until the command is restarted",
    )
    parser.add_argument(
        "--paper-timeout", type=_seconds, default=DEFAULT_STATUS_TIMEOUT, metavar="SECONDS",
        help=f"seconds to wait for the paper sensor's reply with --check-paper (default {DEFAULT_STATUS_TIMEOUT})",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(translate(N_("timeout {text!r} is invalid; give seconds between 0 and 60, "
                                                      "e.g. 0.5"), argument_language(), text=text))
    return value


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


def printer_for(store: TerminalStore, args: argparse.Namespace) -> ReceiptPrinter | None:
    """Return the printer given with --printer, else the one stored in the terminal, else None."""
    paper_timeout = args.paper_timeout if getattr(args, "check_paper", False) else None
    if getattr(args, "printer", None) is not None:
        return ReceiptPrinter(args.printer, paper_timeout)
    stored = store.get_meta(PRINTER_META)
    return ReceiptPrinter(parse_printer_spec(stored), paper_timeout) if stored else None


def attach_receipts(service: TapService, printer: ReceiptPrinter | None) -> None:
    """With a printer, make every hand-over of service add its receipt in the transaction that records it."""
    if printer is not None:
        service.on_record = ReceiptQueue(service.store).add_in_transaction


def issue_receipt(store: TerminalStore, outcome: TapOutcome, printer: ReceiptPrinter | None, language: str) -> None:
    """Print the receipt of an accepted hand-over, adding it first if needed; a printer failure leaves it queued."""
    if not outcome.decision.accepted or outcome.record_id is None or printer is None:
        return
    queue = ReceiptQueue(store)
    receipt = queue.find(outcome.record_id) or queue.add(outcome.record_id, outcome.remaining, outcome.unit or "")
    error = print_queued(queue, receipt.number, printer.spec, language, **_paper_options(printer))
    if error is not None:
        print(translate(RECEIPT_QUEUED, language, number=receipt.number, error=error.message(language)),
              file=sys.stderr, flush=True)


def _paper_options(printer: ReceiptPrinter) -> dict[str, object]:
    if printer.paper_timeout is None:
        return {}
    return {"check_paper": True, "status_timeout": printer.paper_timeout}


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
            PENDING_ROW, args.lang, number=receipt.number, program=ProgrammeName(receipt.program),
            quantity=receipt.quantity, time=_wib(receipt.tapped_at), attempts=Counted(PRINT_ATTEMPTS, queued.attempts),
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
        error = print_queued(queue, args.number, printer.spec, args.lang, reprint=True, **_paper_options(printer))
    except ReceiptNotFound as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return EXIT_ERROR
    if error is not None:
        print(error.message(args.lang), file=sys.stderr)
        return EXIT_FAILED
    print(translate(RECEIPT_PRINTED, args.lang, number=args.number))
    return EXIT_OK
