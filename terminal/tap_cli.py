"""Chip taps for `kartu terminal tap`: one card, or card after card with --loop.

Both modes run on the card monitor, so a pcscd restart or a reader that is
unplugged and plugged in again is reported and waited out. Decisions go to
standard output, reader notices to standard error, both in the --lang
language. SIGINT (Ctrl+C) and SIGTERM end the loop after the tap in
progress, so a tap is never cut between the card's answer and the commit.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from card.i18n import N_, Counted, Nn_, translate
from hardware.monitor import CardMonitor
from hardware.pcsc import PcscContext
from hardware.reader_errors import NoCard, ReaderError
from terminal.tap import TapOutcome, TapService
from terminal.tap_loop import LoopReport, TapLoop

__all__ = ["serve_chip_cards", "reader_available", "EXIT_ACCEPTED", "EXIT_REFUSED", "EXIT_ERROR"]

log = logging.getLogger(__name__)

EXIT_ACCEPTED, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2
LOOP_STARTED = N_("Serving cards on {reader} until Ctrl+C.")
LOOP_STARTED_FIRST_READER = N_(
    "Serving cards on the first card reader found until Ctrl+C. Its name is shown when it is ready."
)
LOOP_STOPPED = N_("Stopped after {taps}: {accepted} accepted, {refused} refused.")
TAPS = Nn_("{count} tap", "{count} taps")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def reader_available(name: str | None) -> bool:
    """Return whether pcscd runs and lists the reader name (or any reader when name is None)."""
    try:
        with PcscContext() as context:
            context.choose_reader(name)
    except ReaderError as exc:
        log.info("no usable card reader for QR scans of chip cards: %s", exc)
        return False
    return True


def serve_chip_cards(service: TapService, args: argparse.Namespace,
                     print_outcome: Callable[[TapOutcome], None]) -> int:
    """Serve one chip card (or, with args.loop, cards until interrupted) and return the exit status."""
    language = args.lang

    def notify(notice: object) -> None:
        print(notice.message(language), file=sys.stderr, flush=True)

    outcomes: list[TapOutcome] = []

    def report(outcome: TapOutcome) -> None:
        outcomes.append(outcome)
        print_outcome(outcome)
        # Flushed only after the record is committed: a reader of this line can rely on it.
        sys.stdout.flush()

    stop = threading.Event()
    with PcscContext(lazy=True) as context, CardMonitor(args.reader) as monitor, _stop_on_signals(stop):
        loop = TapLoop(service, monitor, context, args.program, report, notify,
                       quantity=args.quantity, check_photo=args.check_photo)
        if args.loop:
            print(_loop_started(args.reader, language), file=sys.stderr, flush=True)
            result = loop.run(stop)
        else:
            result = loop.run(stop, max_taps=1, idle_timeout=args.timeout)
    return _exit_status(result, outcomes, args, interrupted=stop.is_set())


def _loop_started(reader: str | None, language: str) -> str:
    if reader is None:
        return translate(LOOP_STARTED_FIRST_READER, language)
    return translate(LOOP_STARTED, language, reader=reader)


def loop_summary(result: LoopReport, language: str) -> str:
    """Return the line printed when a tap loop stops: taps served, accepted and refused."""
    return translate(LOOP_STOPPED, language, taps=Counted(TAPS, result.taps), accepted=result.accepted,
                     refused=result.refused)


def _exit_status(result: LoopReport, outcomes: list[TapOutcome], args: argparse.Namespace, interrupted: bool) -> int:
    if args.loop:
        print(loop_summary(result, args.lang), file=sys.stderr, flush=True)
        return EXIT_ACCEPTED
    if not outcomes:
        if interrupted:
            return EXIT_ERROR
        print(NoCard("timeout", seconds=round(args.timeout)).message(args.lang), file=sys.stderr)
        return EXIT_ERROR
    return EXIT_ACCEPTED if outcomes[-1].decision.accepted else EXIT_REFUSED
