"""The sync scheduler with an injected clock and random source, and syncs cut by a dropped connection."""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
from datetime import datetime, time as day_time, timezone
from typing import Callable

import pytest

from card.verify import WIB
from terminal.enrol import KEY_NAME
from card.keys import FileSigner
from terminal.scheduler import SchedulePolicy, SyncScheduler, next_nightly, serve_scheduled, tcp_probe
from terminal.sync import SyncClient, SyncError, SyncReport
from terminal.tap import TapService
from tests.terminal.live_server import enrol, live_server, register_qr_cards, server_record_ids

# 2026-12-04 10:00 WIB
MORNING = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc).timestamp()
SEED = 20261204


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedSync:
    """A sync that fails while the server is down and counts its calls."""

    def __init__(self) -> None:
        self.server_up = True
        self.calls = 0

    def __call__(self) -> SyncReport:
        self.calls += 1
        if not self.server_up:
            raise SyncError("server http://127.0.0.1:9 unreachable")
        return SyncReport()


def scheduler(sync: Callable[[], SyncReport], clock: FakeClock, **policy) -> SyncScheduler:
    return SyncScheduler(sync, SchedulePolicy(**policy), clock=clock, rng=random.Random(SEED))


def test_next_nightly_same_day_and_next() -> None:
    one_am = day_time(1, 0)
    expected = datetime(2026, 12, 5, 1, 0, tzinfo=WIB).timestamp()
    assert next_nightly(MORNING, one_am) == expected
    assert next_nightly(expected - 1, one_am) == expected
    assert next_nightly(expected, one_am) == expected + 24 * 3600


def test_nightly_by_default() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    runner = scheduler(sync, clock)
    assert runner.tick() is None
    clock.now = datetime(2026, 12, 5, 1, 0, tzinfo=WIB).timestamp() - 1
    assert runner.tick() is None
    assert sync.calls == 0
    clock.now += 1
    assert runner.tick() is not None
    assert sync.calls == 1
    assert runner.due_at == datetime(2026, 12, 6, 1, 0, tzinfo=WIB).timestamp()


def test_interval_replaces_nightly() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    runner = scheduler(sync, clock, interval_seconds=900)
    assert runner.due_at == MORNING + 900


def test_on_demand() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    runner = scheduler(sync, clock)
    runner.request_now()
    assert runner.tick() is not None
    assert sync.calls == 1


def test_backoff_full_jitter() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    sync.server_up = False
    runner = scheduler(sync, clock, backoff_base_seconds=30, backoff_cap_seconds=600)
    expected_random = random.Random(SEED)
    runner.request_now()
    for failure in range(1, 8):
        before = clock.now
        assert runner.tick() is None
        ceiling = min(600, 30 * 2 ** (failure - 1))
        delay = runner.due_at - before
        assert delay == pytest.approx(expected_random.uniform(0, ceiling), abs=1e-6)
        assert 0 <= delay <= ceiling
        assert runner.failures == failure
        clock.now = runner.due_at
    assert "unreachable" in runner.last_error


def test_success_resets_backoff() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    sync.server_up = False
    runner = scheduler(sync, clock)
    runner.request_now()
    runner.tick()
    clock.now = runner.due_at
    sync.server_up = True
    assert runner.tick() is not None
    assert runner.failures == 0
    assert runner.last_error is None
    assert runner.last_success == clock.now
    assert runner.due_at == next_nightly(clock.now, day_time(1, 0))


def test_network_up_syncs_at_once() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    sync.server_up = False
    runner = scheduler(sync, clock, backoff_base_seconds=600, backoff_cap_seconds=3600)
    runner.request_now()
    for _ in range(4):
        runner.tick()
        clock.now = runner.due_at
    waiting_until = runner.due_at + 1
    runner.due_at = waiting_until
    sync.server_up = True
    runner.network_up()
    assert runner.failures == 0
    assert runner.tick() is not None
    assert clock.now < waiting_until


def test_run_loop_without_sleeping() -> None:
    """The server is down for the first three attempts; the loop retries until it syncs, then waits for the night."""
    clock, sync = FakeClock(MORNING), ScriptedSync()
    sync.server_up = False
    runner = scheduler(sync, clock)
    stop = threading.Event()
    waits = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        clock.now += seconds
        if sync.calls == 3:
            sync.server_up = True
        if runner.last_success is not None:
            stop.set()

    runner.request_now()
    runner.run(stop, wait)
    assert sync.calls == 4
    assert runner.failures == 0
    assert runner.due_at == next_nightly(runner.last_success, day_time(1, 0))


@pytest.mark.parametrize("options", [
    {"interval_seconds": 0}, {"backoff_base_seconds": 0}, {"backoff_base_seconds": 60, "backoff_cap_seconds": 30},
])
def test_invalid_policy(options) -> None:
    with pytest.raises(ValueError):
        SchedulePolicy(**options)


# --- syncs cut by a dropped connection ---------------------------------------------


class DroppingProxy:
    """A loopback TCP proxy to the server that can cut the connection in use after a number of bytes.

    Setting cut_request_after drops the connection once that many more request
    bytes were forwarded. Setting cut_response_after drops it once that many
    more response bytes were returned, so 0 means that the server handled the
    request but the terminal receives nothing. Each cut disarms itself.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.cut_request_after: int | None = None
        self.cut_response_after: int | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._forwarded = {"request": 0, "response": 0}
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(upstream, client, "response"), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, "request"), daemon=True).start()

    def _allowed(self, side: str, size: int) -> int | None:
        """Return how many of size bytes may pass before a cut, or None when no cut is armed on side."""
        with self._lock:
            limit = getattr(self, f"cut_{side}_after")
            if limit is None:
                return None
            allowed = limit - self._forwarded[side]
            if size < allowed:
                self._forwarded[side] += size
                return None
            setattr(self, f"cut_{side}_after", None)
            self._forwarded[side] = 0
            self.cuts += 1
            return max(0, allowed)

    def _pump(self, source: socket.socket, target: socket.socket, side: str) -> None:
        try:
            while chunk := source.recv(65536):
                allowed = self._allowed(side, len(chunk))
                if allowed is not None:
                    target.sendall(chunk[:allowed])
                    break
                target.sendall(chunk)
        except OSError:
            pass
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self.listener.close()


CUTS = [
    ("request", 40),         # inside the request headers, so the server never receives the batch
    ("response", 0),         # after the server stored the batch, before any acknowledgement byte
    ("response", 20),        # inside the response status line and headers
]


@pytest.mark.parametrize("side, cut_at", CUTS)
def test_sync_resumes_after_dropped_connection(station, residents, tmp_path, side, cut_at) -> None:
    with live_server(tmp_path) as kit:
        cards = register_qr_cards(kit, station, residents[:4])
        proxy = DroppingProxy(int(kit.live.base_url.rsplit(":", 1)[1]))
        try:
            store = enrol(kit, station, tmp_path / "terminal", f"http://127.0.0.1:{proxy.port}")
            signer = FileSigner.from_file(tmp_path / "terminal" / KEY_NAME)
            client = SyncClient(store, signer, f"http://127.0.0.1:{proxy.port}", timeout=10)
            client.sync()
            service = TapService(store, signer)
            now = datetime.now(timezone.utc)
            record_ids = [service.scan_qr(card.qr_text, "lpg", now).record_id for card in cards]
            assert None not in record_ids

            setattr(proxy, f"cut_{side}_after", cut_at)
            with pytest.raises(SyncError):
                client.sync()
            assert proxy.cuts == 1
            report = client.sync()
            client.close()
        finally:
            proxy.close()
        stored = server_record_ids(kit)

    assert sorted(stored) == sorted(record_ids)
    assert len(stored) == len(set(stored))
    assert store.count_by_status() == {"acked": len(cards)}
    assert report.pushed + report.duplicates == len(cards)
    if side == "response":
        assert report.duplicates == len(cards)


def test_probe_ends_long_backoff() -> None:
    """With a one-hour backoff, the probe finds the server back and the sync runs within one probe interval."""
    clock, sync = FakeClock(MORNING), ScriptedSync()
    sync.server_up = False
    probes = []

    def probe() -> bool:
        probes.append(clock.now)
        return sync.server_up

    runner = SyncScheduler(sync, SchedulePolicy(backoff_base_seconds=3600, backoff_cap_seconds=3600,
                                                probe_interval_seconds=60),
                           clock=clock, rng=random.Random(SEED), probe=probe)
    stop = threading.Event()
    back_at = MORNING + 150

    def wait(seconds: float) -> None:
        if runner.last_success is not None:
            stop.set()
            return
        assert seconds <= 60
        clock.now += seconds
        if clock.now >= back_at:
            sync.server_up = True

    runner.request_now()
    runner.run(stop, wait)
    assert sync.calls == 2
    assert runner.last_success - back_at <= 60
    assert len(probes) == 3


def test_no_probe_while_syncs_succeed() -> None:
    clock, sync = FakeClock(MORNING), ScriptedSync()
    probes = []
    runner = SyncScheduler(sync, SchedulePolicy(), clock=clock, probe=lambda: probes.append(1) or True)
    stop = threading.Event()
    waits = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        stop.set()

    runner.run(stop, wait)
    assert probes == []
    assert waits == [runner.due_at - MORNING]


def test_tcp_probe() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert tcp_probe(f"http://127.0.0.1:{port}")() is True
    assert tcp_probe(f"http://127.0.0.1:{port}", timeout=2)() is False


def test_malformed_answer_counts_as_failure() -> None:
    clock = FakeClock(MORNING)

    def sync() -> SyncReport:
        raise KeyError("households")

    runner = scheduler(sync, clock)
    runner.request_now()
    assert runner.tick() is None
    assert runner.failures == 1
    assert "malformed" in runner.last_error
    assert runner.due_at > clock.now


def test_serve_scheduled_signals() -> None:
    """The first sync runs at start, SIGUSR1 requests another at once, SIGTERM ends the loop."""
    calls = []

    def sync() -> SyncReport:
        calls.append(len(calls))
        os.kill(os.getpid(), signal.SIGUSR1 if len(calls) == 1 else signal.SIGTERM)
        return SyncReport()

    before = signal.getsignal(signal.SIGTERM)
    serve_scheduled(sync, "http://127.0.0.1:9", SchedulePolicy(interval_seconds=3600))
    assert calls == [0, 1]
    assert signal.getsignal(signal.SIGTERM) is before


def test_request_during_sync_kept() -> None:
    clock = FakeClock(MORNING)
    runner = None

    def sync() -> SyncReport:
        runner.request_now()
        return SyncReport()

    runner = scheduler(sync, clock)
    runner.request_now()
    assert runner.tick() is not None
    assert runner.due_at == clock.now
