"""Card monitor: a thread that watches one reader with SCardGetStatusChange and queues its events.

The monitor keeps its own PcscContext (a PC/SC context belongs to one thread)
and never gives up: when pcscd stops, the reader disappears or no reader is
connected, it queues one READER_UNAVAILABLE event with the ReaderError that
explains why, retries every retry_seconds, and queues READER_READY once the
reader is back. Events:

- CARD_INSERTED: a card is present and not mute. already_present is true
  when the monitor cannot tell whether the card ever left: it was in the
  reader when watching started, or it is the first card seen after pcscd or
  the reader came back (a card that stayed on the reader may show up a
  moment after the service). A caller that has just served a card can then
  wait for a removal instead of serving the same card twice.
- CARD_REMOVED: the reader is empty again.
- READER_UNAVAILABLE and READER_READY as above.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from enum import Enum

from smartcard import scard

from hardware.pcsc import PcscContext
from hardware.reader_errors import ReaderError, ReaderNotFound

__all__ = ["EventKind", "ReaderEvent", "CardMonitor"]

log = logging.getLogger(__name__)

# Longest block in SCardGetStatusChange; stop() cancels it at once, this only bounds a missed cancel.
STATUS_TIMEOUT_MS = 1000


class EventKind(str, Enum):
    CARD_INSERTED = "card_inserted"
    CARD_REMOVED = "card_removed"
    READER_UNAVAILABLE = "reader_unavailable"
    READER_READY = "reader_ready"


@dataclass(frozen=True)
class ReaderEvent:
    kind: EventKind
    reader: str | None = None
    atr: bytes = b""
    already_present: bool = False
    error: ReaderError | None = None


class CardMonitor:
    """Watches the reader named reader_name (exact name or unique prefix; None: the first reader)."""

    def __init__(self, reader_name: str | None = None, retry_seconds: float = 0.5):
        self.reader_name = reader_name
        self.retry_seconds = retry_seconds
        self._events: queue.Queue[ReaderEvent] = queue.Queue()
        self._stop = threading.Event()
        self._context: PcscContext | None = None
        self._thread = threading.Thread(target=self._run, name="card-monitor", daemon=True)
        # The (error type, detail) last reported as unavailable; False once READER_READY was queued.
        self._unavailable: tuple[type, str] | bool | None = None

    def start(self) -> "CardMonitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        context = self._context
        if context is not None:
            context.cancel()
        self._thread.join(timeout=10)

    def __enter__(self) -> "CardMonitor":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def next_event(self, timeout: float | None = None) -> ReaderEvent | None:
        """Return the next event, or None when none arrives within timeout seconds."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    # --- monitor thread ----------------------------------------------------------

    def _run(self) -> None:
        log.info("card monitor started for reader %s", self.reader_name or "(first reader)")
        restarted = False
        try:
            while not self._stop.is_set():
                try:
                    if self._context is None:
                        self._context = PcscContext()
                    reader = self._context.choose_reader(self.reader_name)
                    self._watch(reader, restarted)
                except ReaderError as exc:
                    restarted = True
                    self._report_unavailable(exc)
                    self._stop.wait(self.retry_seconds)
        finally:
            if self._context is not None:
                self._context.close()
            log.info("card monitor stopped")

    def _watch(self, reader: str, restarted: bool) -> None:
        """Queue insert and remove events for reader until it vanishes (ReaderError) or stop is set."""
        states = [(reader, scard.SCARD_STATE_UNAWARE)]
        generation = self._context.generation
        present: bool | None = None
        # True until a removal is seen: the next insertion may be a card that never left.
        uncertain = restarted
        while not self._stop.is_set():
            new_states = self._context.get_status_change(states, STATUS_TIMEOUT_MS)
            if self._context.generation != generation:
                # pcscd restarted between two calls and the context was re-established:
                # what the old context knew about the card no longer counts.
                log.info("reader %s: PC/SC context renewed; card presence unknown until the next event", reader)
                generation, present, uncertain = self._context.generation, None, True
                states = [(reader, scard.SCARD_STATE_UNAWARE)]
                continue
            if new_states is None:
                continue
            _, event_state, atr = new_states[0]
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE):
                raise ReaderNotFound("reader vanished", reader=reader, available=self._available())
            if present is None and self._unavailable is not False:
                self._report_ready(reader)
            now_present = bool(event_state & scard.SCARD_STATE_PRESENT) and not event_state & scard.SCARD_STATE_MUTE
            if now_present and not present:
                already_present = present is None or uncertain
                self._events.put(ReaderEvent(EventKind.CARD_INSERTED, reader, bytes(atr), already_present))
                uncertain = False
            elif present and not now_present:
                self._events.put(ReaderEvent(EventKind.CARD_REMOVED, reader))
                uncertain = False
            present = now_present
            states = [(reader, event_state & ~scard.SCARD_STATE_CHANGED)]

    def _available(self) -> str:
        try:
            return ", ".join(self._context.list_readers()) or "-"
        except ReaderError:
            return "-"

    def _report_unavailable(self, error: ReaderError) -> None:
        condition = (type(error), error.detail)
        if condition == self._unavailable:
            return
        self._unavailable = condition
        log.warning("reader %s unavailable: %s", self.reader_name or "(first reader)", error)
        self._events.put(ReaderEvent(EventKind.READER_UNAVAILABLE, self.reader_name, error=error))

    def _report_ready(self, reader: str) -> None:
        self._unavailable = False
        log.info("reader %s ready", reader)
        self._events.put(ReaderEvent(EventKind.READER_READY, reader))
