"""When the terminal syncs: on a schedule (nightly by default), on demand, and when the server is reachable again.

A failed sync is retried with exponential backoff and full jitter: the n-th
consecutive failure waits a uniformly random time in [0, min(cap, base * 2**n)],
so terminals that lost the network together do not return together. A
successful sync resets the backoff and schedules the next regular sync.
While syncs fail, an optional reachability probe (a TCP connect to the
server) runs every probe_interval_seconds. Its first success calls
network_up(), which makes a sync due at once, so a sync starts within one
probe interval of the server's return instead of at the end of a long
backoff. A link-state watcher can call network_up() too.

The clock, the random source and the wait are injected, so tests run the
schedule without sleeping. Push and pull are idempotent (terminal.sync), so
a sync cut at any point is simply run again.
"""

from __future__ import annotations

import logging
import random
import signal
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, time as day_time, timedelta, timezone
from typing import Callable
from urllib.parse import urlsplit

from card.verify import WIB
from terminal.sync import SyncError, SyncReport

__all__ = ["SchedulePolicy", "SyncScheduler", "next_nightly", "tcp_probe", "serve_scheduled"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulePolicy:
    """nightly_at is a WIB time of day; interval_seconds, when set, replaces the nightly sync."""

    nightly_at: day_time = day_time(1, 0)
    interval_seconds: float | None = None
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    probe_interval_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.interval_seconds is not None and self.interval_seconds <= 0:
            raise ValueError(f"sync interval must be positive, got {self.interval_seconds} s")
        if not 0 < self.backoff_base_seconds <= self.backoff_cap_seconds:
            raise ValueError(
                f"sync backoff needs 0 < base <= cap, got base {self.backoff_base_seconds} s, cap {self.backoff_cap_seconds} s"
            )
        if self.probe_interval_seconds <= 0:
            raise ValueError(f"reachability probe interval must be positive, got {self.probe_interval_seconds} s")


def next_nightly(now: float, at: day_time) -> float:
    """Return the first Unix time after now at which the WIB clock reads at."""
    local = datetime.fromtimestamp(now, timezone.utc).astimezone(WIB)
    candidate = datetime.combine(local.date(), at, tzinfo=WIB)
    if candidate.timestamp() <= now:
        candidate += timedelta(days=1)
    return candidate.timestamp()


class SyncScheduler:
    """Decides when sync() runs; run() loops until stop is set, calling tick() whenever a sync is due."""

    def __init__(self, sync: Callable[[], SyncReport], policy: SchedulePolicy = SchedulePolicy(), *,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 probe: Callable[[], bool] | None = None):
        self._sync = sync
        self._probe = probe
        self.policy = policy
        self._clock = clock
        self._random = rng or random.Random()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self.failures = 0
        # Set by request_now() and network_up(), so a request made while a sync runs is not lost.
        self._requested = False
        self.last_success: float | None = None
        self.last_error: str | None = None
        self.due_at = self._regular_after(clock())

    def _regular_after(self, now: float) -> float:
        if self.policy.interval_seconds is not None:
            return now + self.policy.interval_seconds
        return next_nightly(now, self.policy.nightly_at)

    def backoff_delay(self, failures: int) -> float:
        """Full jitter: a uniform draw in [0, min(cap, base * 2**(failures - 1))] seconds."""
        ceiling = min(self.policy.backoff_cap_seconds, self.policy.backoff_base_seconds * 2 ** (failures - 1))
        return self._random.uniform(0, ceiling)

    def request_now(self) -> None:
        """Make a sync due at once (the clerk pressed Sync)."""
        with self._lock:
            self._requested = True
            self.due_at = self._clock()
        self._wake.set()

    def network_up(self) -> None:
        """Make a sync due at once and forget the backoff, because the server is reachable again."""
        with self._lock:
            self.failures = 0
            self._requested = True
            self.due_at = self._clock()
        self._wake.set()

    def tick(self) -> SyncReport | None:
        """Run the sync if it is due; return its report, or None when it was not due or failed."""
        now = self._clock()
        if now < self.due_at:
            return None
        with self._lock:
            self._requested = False
        try:
            report = self._sync()
        except SyncError as exc:
            self._failed(str(exc))
            return None
        except (KeyError, TypeError, ValueError) as exc:
            # A server answer without the expected fields. Pull applies entitlements in one transaction at
            # its end, so they stay as they were, and a later sync retries.
            self._failed(f"server answer is malformed ({exc!r})")
            return None
        except sqlite3.OperationalError as exc:
            self._failed(f"terminal store is busy or unusable ({exc})")
            return None
        with self._lock:
            self.failures = 0
            self.last_success = self._clock()
            self.last_error = None
            self.due_at = self._clock() if self._requested else self._regular_after(self.last_success)
        return report

    def _failed(self, error: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error
            delay = 0.0 if self._requested else self.backoff_delay(self.failures)
            self.due_at = self._clock() + delay
        log.warning("sync failed (%d in a row), retrying in %.0f s: %s", self.failures, delay, error)

    def wake(self) -> None:
        """End the default wait of run() early, for example after setting its stop event."""
        self._wake.set()

    def run(self, stop: threading.Event, wait: Callable[[float], object] | None = None) -> None:
        """Loop until stop is set; wait(seconds) pauses, by default until due or until request_now(), network_up() or wake()."""
        wait = wait or self._wait
        log.info("sync scheduler started; next sync at %s", _wib(self.due_at))
        while not stop.is_set():
            self.tick()
            pause = max(0.0, self.due_at - self._clock())
            probing = self._probe is not None and self.failures > 0
            if probing:
                pause = min(pause, self.policy.probe_interval_seconds)
            wait(pause)
            if probing and self._clock() < self.due_at and self._probe():
                log.info("server reachable again after %d failed syncs; syncing now", self.failures)
                self.network_up()
        log.info("sync scheduler stopped")

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()


def serve_scheduled(sync: Callable[[], SyncReport], server_url: str, policy: SchedulePolicy) -> None:
    """Run the scheduler in the foreground until SIGINT or SIGTERM; SIGUSR1 requests a sync at once.

    The first sync runs at start, so a terminal restarted after a power cut catches up at once.
    """
    runner = SyncScheduler(sync, policy, probe=tcp_probe(server_url))
    runner.request_now()
    stop = threading.Event()

    def request_stop(*_: object) -> None:
        stop.set()
        runner.wake()

    handlers = {signal.SIGINT: request_stop, signal.SIGTERM: request_stop, signal.SIGUSR1: lambda *_: runner.request_now()}
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        runner.run(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def tcp_probe(url: str, timeout: float = 3.0) -> Callable[[], bool]:
    """Return a probe that reports whether a TCP connection to the host and port of url succeeds."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)

    def probe() -> bool:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                return True
        except OSError:
            return False

    return probe


def _wib(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S WIB")
