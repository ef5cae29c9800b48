"""Pieces the demo runs on: a server thread, the city's keys and trust list, reference cards in the vpcd reader."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

import httpx
import uvicorn

from card.keys import load_public_key, save_public_key, spki_of
from card.signing import Signer, create_key
from card.trustlist import KeyEntry, Role, TrustList, sign_trust_list
from hardware.pcsc import CardConnection, PcscContext
from hardware.vpcd import VPCD_PORT

__all__ = ["free_port", "ServerThread", "CityKeys", "create_city_keys", "publish_trust_list", "inserted_card",
           "DEMO_READER"]

DEMO_READER = "Virtual PCD 00 00"
CARD_WAIT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """The central server under uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, database_url: str, admin_token: str, port: int | None = None, sync_signer: Signer | None = None):
        from server.app import create_app

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._admin_token = admin_token
        config = uvicorn.Config(
            create_app(database_url, admin_token, sync_signer=sync_signer), host="127.0.0.1", port=self.port,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout: float = 30.0) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def get(self, path: str) -> dict:
        response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {self._admin_token}"}, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict) -> dict:
        return self._send("POST", path, body)

    def put(self, path: str, body: dict) -> dict:
        return self._send("PUT", path, body)

    def _send(self, method: str, path: str, body: dict) -> dict:
        response = httpx.request(
            method, self.url + path, json=body, headers={"Authorization": f"Bearer {self._admin_token}"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class CityKeys:
    """The demo city's root and sync keys, as 0600 key files in one directory."""

    def __init__(self, directory: Path, root: Signer, sync: Signer):
        self.root = root
        self.sync = sync
        self.root_public_file = directory / "root.pub.pem"


def create_city_keys(directory: Path) -> CityKeys:
    """Create root.key and sync.key (0600) and root.pub.pem in directory."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = CityKeys(directory, create_key(directory / "root.key"), create_key(directory / "sync.key"))
    save_public_key(keys.root.public_key, keys.root_public_file)
    return keys


def publish_trust_list(server: ServerThread, keys: CityKeys, issuer_public_file: Path, today: date) -> None:
    """Sign trust list 1 (the station's issuer key and the sync key) with the root key and upload it to the server.

    Both keys may sign from a year before today to a year after, so the
    issued day of today's cards falls inside the window in WIB as well as in
    the local time zone that date.today() reads.
    """
    start, end = today - timedelta(days=365), today + timedelta(days=365)
    entries = (
        KeyEntry(Role.ISSUER, load_public_key(issuer_public_file), start, end, label="demo station"),
        KeyEntry(Role.SYNC, keys.sync.public_key, start, end, label="demo server"),
    )
    signed = sign_trust_list(TrustList(1, int(time.time()), entries), keys.root)
    server.put("/api/v1/trust/root", {"public_key": base64.b64encode(spki_of(keys.root.public_key)).decode("ascii")})
    server.put("/api/v1/trust/list", {"trust_list": base64.b64encode(signed).decode("ascii")})


def kartu_command() -> list[str]:
    """Return the kartu command of this interpreter, so a child process runs the same installation."""
    return [sys.executable, "-m", "kartu"]


@contextmanager
def inserted_card(state_file: Path, context: PcscContext, reader: str = DEMO_READER) -> Iterator[CardConnection]:
    """Run `kartu card emulate` for state_file, yield a connection to it, and take the card out afterwards."""
    port = VPCD_PORT + int(reader.rsplit(" ", 1)[-1])
    process = subprocess.Popen(
        kartu_command() + ["card", "emulate", "--state", str(state_file), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        context.wait_for_card(reader, CARD_WAIT_SECONDS)
        with context.connect(reader) as connection:
            yield connection
    finally:
        process.terminate()
        process.wait(timeout=10)
        context.wait_for_removal(reader, CARD_WAIT_SECONDS)
