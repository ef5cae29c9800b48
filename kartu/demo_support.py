"""Pieces the demo runs on: a server thread, reference cards in the vpcd reader, a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import uvicorn

from hardware.pcsc import CardConnection, PcscContext
from hardware.vpcd import VPCD_PORT

__all__ = ["free_port", "ServerThread", "inserted_card", "DEMO_READER"]

DEMO_READER = "Virtual PCD 00 00"
CARD_WAIT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """The central server under uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, database_url: str, admin_token: str, port: int | None = None):
        from server.app import create_app

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._admin_token = admin_token
        config = uvicorn.Config(
            create_app(database_url, admin_token), host="127.0.0.1", port=self.port, log_level="warning"
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
        response = httpx.post(
            self.url + path, json=body, headers={"Authorization": f"Bearer {self._admin_token}"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


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
