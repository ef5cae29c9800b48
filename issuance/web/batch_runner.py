"""Batches started from the station UI: one at a time, on a thread of their own.

A batch runs through issuance.batch.run_batch, the same journalled path as
`kartu issuance batch`, so its cards wait for `kartu issuance register-pending`
like the command line's. The thread opens its own Station, because a sqlite3
connection belongs to the thread that opened it, and station.db in WAL mode
lets the pages read progress while the batch writes. The batches page shows
the runner's latest lines, such as which resident's blank card to put in.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from card.i18n import N_, translate
from card.piv import Connection
from hardware.pcsc import PcscContext, ReaderError
from issuance import batch
from issuance.card_secrets import MasterKeyError
from issuance.queue import QueueEntry
from issuance.reissue import prepare_journal
from issuance.station import Station, StationError
from issuance.web.actions import StationSettings

__all__ = ["BatchRunner"]

log = logging.getLogger(__name__)

STATUS_LINES = 5
TAKE_CARD_OUT = N_("Take the card out of the reader.")
PUT_CARD_IN = N_("Put a blank card in the reader for item {position}: {name}.")


class _StatusLines(io.TextIOBase):
    """A text stream that keeps the last STATUS_LINES complete lines written to it."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=STATUS_LINES)
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *complete, self._partial = (self._partial + text).split("\n")
        self.lines.extend(line for line in complete if line)
        return len(text)


class _WebCardSlot:
    """Blank cards from the station's reader, with the clerk's instructions written to the status lines."""

    def __init__(self, context: PcscContext, reader: str, timeout: float, out: _StatusLines, language: str):
        self.context, self.reader, self.timeout, self.out, self.language = context, reader, timeout, out, language
        self.used = False

    @contextmanager
    def __call__(self, entry: QueueEntry) -> Iterator[Connection]:
        if self.used:
            print(translate(TAKE_CARD_OUT, self.language), file=self.out)
            self.context.wait_for_removal(self.reader, self.timeout)
        print(translate(PUT_CARD_IN, self.language, position=entry.position, name=entry.resident.name), file=self.out)
        self.context.wait_for_card(self.reader, self.timeout)
        self.used = True
        with self.context.connect(self.reader) as connection:
            yield connection


class BatchRunner:
    """Runs at most one batch at a time on a background thread.

    NOTE: the thread is a daemon, so stopping the server mid-batch ends it with
    the process. run_batch then finds the item left in "writing" on the next
    resume, logs it as a failed card and issues it again.
    """

    def __init__(self, settings: StationSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status = _StatusLines()
        self.batch_id: int | None = None

    def busy(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def status_lines(self) -> list[str]:
        return list(self._status.lines)

    def start(self, batch_id: int, language: str) -> bool:
        """Start running batch_id; return False, and start nothing, while another batch runs."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self.batch_id = batch_id
            self._status = _StatusLines()
            self._thread = threading.Thread(target=self._run, args=(batch_id, language, self._status),
                                            name=f"batch-{batch_id}", daemon=True)
            self._thread.start()
            return True

    def wait(self, timeout: float) -> bool:
        """Wait up to timeout seconds for the running batch; return whether none is running now."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.busy()

    def _run(self, batch_id: int, language: str, out: _StatusLines) -> None:
        settings = self._settings
        log.info("batch %d started from the web UI", batch_id)
        try:
            station = Station(settings.station_dir)
        except StationError as exc:
            log.error("batch %d could not open the station: %s", batch_id, exc)
            print(str(exc), file=out)
            return
        try:
            prepare_journal(station.journal)
            report = self._run_batch(station, batch_id, language, out)
            print(translate(N_("{issued} cards issued, {failed} failed."), language,
                            issued=len(report.issued), failed=len(report.failed)), file=out)
            if report.stopped is not None:
                print(translate(N_("The batch stopped: {error} Press Resume to go on."), language,
                                error=report.stopped), file=out)
            log.info("batch %d ended: %d issued, %d failed, stopped=%s", batch_id, len(report.issued),
                     len(report.failed), report.stopped is not None)
        except (ReaderError, MasterKeyError) as exc:
            error = exc.message(language) if isinstance(exc, ReaderError) else str(exc)
            log.error("batch %d stopped: %s", batch_id, error)
            print(translate(N_("The batch stopped: {error} Press Resume to go on."), language, error=error), file=out)
        except Exception:
            # The thread has no caller to raise to, so the error is logged and shown on the batches page.
            log.exception("batch %d failed", batch_id)
            print(translate(N_("The batch stopped on an unexpected error; see the server log."), language), file=out)
        finally:
            station.close()

    def _run_batch(self, station: Station, batch_id: int, language: str, out: _StatusLines) -> batch.BatchReport:
        settings = self._settings
        faces = settings.faces_dir
        if batch.batch_is_qr_only(station.journal, batch_id):
            return batch.run_batch(station, batch_id, settings.clerk, date.today(), faces, None, None, out, language)
        with PcscContext() as context:
            slot = _WebCardSlot(context, context.choose_reader(settings.reader), settings.card_timeout, out, language)
            return batch.run_batch(station, batch_id, settings.clerk, date.today(), faces, slot, None, out, language)
