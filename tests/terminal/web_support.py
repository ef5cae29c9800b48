"""Helpers for the web UI tests: a terminal directory per mode and the UI served on 127.0.0.1 in a thread."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import uvicorn

from card.keys import FileSigner, generate_private_key, kid_of, save_private_key, spki_of
from card.trustlist import KeyEntry, Role, TrustList, sign_trust_list
from issuance.station import Station
from terminal.enrol import KEY_NAME, STORE_NAME
from terminal.store import EntitlementSet, TerminalStore
from terminal.tap import period_of
from terminal.trust import apply_trust_list
from terminal.web.app import create_app
from terminal.web.serve import build_counter

TOKEN = "test-token-0123456789"


def _apply_fresh_lists(store: TerminalStore, station: Station, issued_at: int) -> None:
    """Pin a root key, apply a trust list naming the station's issuer, and mark a revocation list as held."""
    root = FileSigner(generate_private_key())
    day = datetime.fromtimestamp(issued_at, timezone.utc).date()
    entry = KeyEntry(Role.ISSUER, station.issuer.public_key, day.replace(year=day.year - 1), day.replace(year=day.year + 5))
    store.pin_root_key(root.public_key)
    apply_trust_list(store, sign_trust_list(TrustList(1, issued_at, (entry,)), root))
    # The status bar reads only the issue time of the newest revocation list, so the test sets it directly.
    store.set_meta({"revocation_issued_at": str(issued_at)})


def make_mode_terminal(directory: Path, station: Station, programmes: dict[str, tuple[int, str, dict[bytes, int]]],
                       pulled_at: int | None = None) -> Path:
    """Create an offline terminal directory caching programmes: code -> (quota, unit, used by household).

    Without pulled_at the terminal synced and received its lists just now; with
    it, the last sync was then and the terminal holds no trust or revocation list.
    """
    directory.mkdir(parents=True, exist_ok=True)
    save_private_key(generate_private_key(), directory / KEY_NAME)
    store = TerminalStore(directory / STORE_NAME)
    issuer_key = station.issuer.public_key
    store.add_issuer(kid_of(issuer_key), spki_of(issuer_key))
    with store.transaction() as db:
        store.set_meta({"terminal_id": "TRM-WEB00001", "server_url": "http://127.0.0.1:9", "service_point_id": "1",
                        "programmes": json.dumps(sorted(programmes))}, db)
    period = period_of(datetime.now(timezone.utc))
    moment = int(datetime.now(timezone.utc).timestamp()) if pulled_at is None else pulled_at
    store.replace_entitlements(
        [(EntitlementSet(code, period, quota, unit, 0), used) for code, (quota, unit, used) in programmes.items()],
        pulled_at=moment,
    )
    if pulled_at is None:
        _apply_fresh_lists(store, station, moment)
    store.close()
    return directory


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_ui(directory: Path, mode: str, reader: str | None = None, start_counter: bool = True) -> Iterator[str]:
    """Serve the terminal UI for mode on 127.0.0.1 and yield its base address."""
    counter = build_counter(directory, mode, reader=reader)
    port = _free_port()
    config = uvicorn.Config(create_app(counter, TOKEN, start_counter=start_counter), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(500):
        if server.started:
            started.set()
            break
        thread.join(0.02)
    if not started.is_set():
        server.should_exit = True
        raise RuntimeError(f"terminal UI did not start on 127.0.0.1:{port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        counter.broker.close()
        server.should_exit = True
        thread.join(30)
