"""Serve card after card at the counter: card monitor events drive taps until the loop is stopped.

An LPG agent with a queue leaves the terminal running: each card placed on
the reader is served and its decision reported, and reader trouble (pcscd
restarting, the reader unplugged) is reported and waited out, never fatal.

After a tap that reached a decision, the loop waits for that card to leave
the reader. A card the monitor reports as already present (it may never have
left, for example across a pcscd restart) is not served again until a
removal was seen, so one card on the reader is never recorded twice. A tap cut
short by the reader (card pulled away, service lost) recorded nothing, so the
same card is served as soon as it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from card.decision import Reason
from card.i18n import N_, translate
from hardware.monitor import CardMonitor, EventKind, ReaderEvent
from hardware.pcsc import PcscContext
from hardware.reader_errors import ReaderError
from terminal.tap import TapOutcome, TapService, reader_failure

__all__ = ["Notice", "LoopReport", "TapLoop"]

log = logging.getLogger(__name__)

# Refusals after which the card may come back for the same tap: the tap never reached a decision.
_UNFINISHED = {Reason.CARD_REMOVED, Reason.READER_LOST, Reason.CARD_READ_FAILED}
EVENT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Notice:
    """A status line for the person at the counter, translated when shown."""

    template: str
    params: dict[str, object] = field(default_factory=dict)

    def message(self, language: str = "id") -> str:
        return translate(self.template, language, **self.params)


READER_READY = N_("Card reader {reader} is ready. Place a card on it.")
REMOVE_CARD_FIRST = N_("Take the card off the reader before the next tap.")


@dataclass
class LoopReport:
    taps: int = 0
    accepted: int = 0
    refused: int = 0
    timed_out: bool = False


class TapLoop:
    """Runs taps for the cards that a CardMonitor reports on its reader."""

    def __init__(self, service: TapService, monitor: CardMonitor, context: PcscContext, program: str,
                 on_outcome: Callable[[TapOutcome], None], on_notice: Callable[[object], None],
                 quantity: int = 1, check_photo: bool = False,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.service = service
        self.monitor = monitor
        self.context = context
        self.program = program
        self.quantity = quantity
        self.check_photo = check_photo
        self.on_outcome = on_outcome
        self.on_notice = on_notice
        self.now = now
        self._awaiting_removal = False

    def run(self, stop: threading.Event, max_taps: int | None = None, idle_timeout: float | None = None) -> LoopReport:
        """Serve cards until stop is set, max_taps taps were decided, or idle_timeout seconds pass without a tap."""
        report = LoopReport()
        deadline = None if idle_timeout is None else time.monotonic() + idle_timeout
        while not stop.is_set() and (max_taps is None or report.taps < max_taps):
            if deadline is not None and time.monotonic() > deadline:
                report.timed_out = True
                break
            event = self.monitor.next_event(EVENT_POLL_SECONDS)
            if event is None:
                continue
            outcome = self._handle(event)
            if outcome is None:
                continue
            report.taps += 1
            if outcome.decision.accepted:
                report.accepted += 1
            else:
                report.refused += 1
            if deadline is not None:
                deadline = time.monotonic() + idle_timeout
        log.info("tap loop ended: %d taps, %d accepted, %d refused", report.taps, report.accepted, report.refused)
        return report

    def _handle(self, event: ReaderEvent) -> TapOutcome | None:
        if event.kind is EventKind.READER_UNAVAILABLE:
            self.on_notice(event.error)
        elif event.kind is EventKind.READER_READY:
            self.on_notice(Notice(READER_READY, {"reader": event.reader}))
        elif event.kind is EventKind.CARD_REMOVED:
            self._awaiting_removal = False
        elif event.kind is EventKind.CARD_INSERTED:
            if self._awaiting_removal and event.already_present:
                log.info("card on %s may be the one just served; waiting for its removal", event.reader)
                self.on_notice(Notice(REMOVE_CARD_FIRST))
                return None
            return self._serve(event.reader)
        return None

    def _serve(self, reader: str) -> TapOutcome:
        try:
            with self.context.connect(reader) as connection:
                outcome = self.service.tap_card(
                    connection, self.program, self.now(), self.quantity, check_photo=self.check_photo
                )
        except ReaderError as exc:
            log.warning("tap on %s cut short: %s", reader, exc)
            outcome = TapOutcome(reader_failure(exc))
        self._awaiting_removal = outcome.decision.reason not in _UNFINISHED
        self.on_outcome(outcome)
        return outcome
