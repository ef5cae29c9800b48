"""QR codes from a serial scanner for `kartu terminal tap --scanner PORT`: one code, or code after code with --loop.

SIGINT (Ctrl+C) and SIGTERM end the loop between codes, so a hand-over is
never cut between its commit and the decision on screen.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Callable

from card.i18n import N_, translate
from hardware.serial_scanner import ScanNotText, ScanTimeout, ScanTooLong, ScannerUnavailable, SerialScanner
from terminal.tap import TapOutcome, TapService
from terminal.tap_cli import reader_available

__all__ = ["serve_scanner"]

EXIT_ACCEPTED, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2
# Seconds each read waits in --loop before it checks for a stop signal.
LOOP_READ_SECONDS = 1.0
SCANNER_STARTED = N_("Reading QR codes from {port} until Ctrl+C.")


def serve_scanner(service: TapService, args: argparse.Namespace, report: Callable[[TapOutcome], None]) -> int:
    """Decide the code(s) read from args.scanner and return the exit status of the last decision."""
    language = args.lang
    try:
        scanner = SerialScanner(args.scanner, terminator=args.scanner_terminator)
    except ScannerUnavailable as exc:
        print(exc.message(language), file=sys.stderr)
        return EXIT_ERROR
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with scanner:
            if args.loop:
                print(translate(SCANNER_STARTED, language, port=args.scanner), file=sys.stderr, flush=True)
                return _serve_codes(service, scanner, args, report, stop)
            return _serve_one(service, scanner, args, report)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve_one(service: TapService, scanner: SerialScanner, args: argparse.Namespace,
               report: Callable[[TapOutcome], None]) -> int:
    try:
        text = scanner.read_code(args.timeout)
    except (ScanTimeout, ScanTooLong, ScanNotText, ScannerUnavailable) as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return EXIT_ERROR
    outcome = _decide(service, text, args)
    report(outcome)
    return EXIT_ACCEPTED if outcome.decision.accepted else EXIT_REFUSED


def _serve_codes(service: TapService, scanner: SerialScanner, args: argparse.Namespace,
                 report: Callable[[TapOutcome], None], stop: threading.Event) -> int:
    while not stop.is_set():
        try:
            text = scanner.read_code(LOOP_READ_SECONDS)
        except ScanTimeout:
            continue
        except (ScanTooLong, ScanNotText) as exc:
            print(exc.message(args.lang), file=sys.stderr, flush=True)
            continue
        except ScannerUnavailable as exc:
            print(exc.message(args.lang), file=sys.stderr)
            return EXIT_ERROR
        report(_decide(service, text, args))
    return EXIT_ACCEPTED


def _decide(service: TapService, text: str, args: argparse.Namespace) -> TapOutcome:
    # The reader is checked at every code: a chip card's QR code is accepted only while no reader works.
    return service.scan_qr(text, args.program, datetime.now(timezone.utc), args.quantity,
                           reader_available=reader_available(args.reader))
