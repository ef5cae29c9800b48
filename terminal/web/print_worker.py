"""The counter's print worker: one daemon thread that prints receipts after their hand-overs.

Printing waits for the printer, up to terminal.printer.DEFAULT_TIMEOUT (5 s)
for one that is off or unplugged. Done on the card thread, that wait would
delay the next tap, so the card thread only queues the hand-over here and
returns to the reader. The receipt row is committed with its hand-over
(terminal.receipt_cli.attach_receipts), so a crash before the print loses
nothing: the receipt stays pending and can be reprinted.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, NamedTuple

from terminal.store import TerminalStore
from terminal.tap import TapOutcome
from terminal.web.receipts import CounterReceipts, ReceiptState

__all__ = ["PrintWorker", "PrintJob"]

log = logging.getLogger(__name__)

# Seconds stop() waits for the receipt being printed and those still queued; each may take a printer timeout.
STOP_TIMEOUT_SECONDS = 30.0


class PrintJob(NamedTuple):
    """An accepted hand-over whose receipt is to be printed, and the screen that showed its decision."""

    outcome: TapOutcome
    screen: object


class PrintWorker:
    """One daemon thread, started by the first submit(), that prints the queued receipts in order.

    open_store opens the worker thread's own TerminalStore, because an sqlite3
    connection belongs to the thread that opened it. on_failure is called on
    the worker thread with the job and the print result when a receipt is not
    printed.
    """

    def __init__(self, receipts: CounterReceipts, open_store: Callable[[], TerminalStore],
                 on_failure: Callable[[PrintJob, ReceiptState], None]):
        self._receipts = receipts
        self._open_store = open_store
        self._on_failure = on_failure
        self._jobs: queue.Queue[PrintJob | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def submit(self, job: PrintJob) -> None:
        """Queue the receipt of job and return at once; after stop() the receipt is left pending."""
        with self._lock:
            if self._stopped:
                log.warning("print worker stopped; receipt of record %s stays pending", job.outcome.record_id)
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="receipt-printer", daemon=True)
                self._thread.start()
            self._jobs.put(job)

    def wait_idle(self) -> None:
        """Block until every receipt submitted so far has been printed or has failed."""
        self._jobs.join()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Print the receipts already queued, then end the thread; wait at most timeout seconds."""
        with self._lock:
            self._stopped = True
            thread = self._thread
            if thread is not None:
                self._jobs.put(None)
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            log.warning("print worker still busy after %.0f s; its queued receipts stay pending", timeout)

    def _run(self) -> None:
        log.info("print worker started")
        store = self._open_store()
        try:
            while True:
                job = self._jobs.get()
                try:
                    if job is None:
                        break
                    self._print(store, job)
                finally:
                    self._jobs.task_done()
        finally:
            store.close()
        log.info("print worker stopped")

    def _print(self, store: TerminalStore, job: PrintJob) -> None:
        try:
            state = self._receipts.issue(store, job.outcome)
            if state is not None and state.failed:
                self._on_failure(job, state)
        except Exception:
            # A worker that died here would leave every later receipt unprinted; this one stays pending instead.
            log.exception("printing the receipt of record %s failed; it stays pending", job.outcome.record_id)
