"""Bridge between a Python card and pcscd's virtual reader driver (vsmartcard vpcd).

vpcd listens on TCP (127.0.0.1:35963 for 'Virtual PCD 00 00', 35964 for
'Virtual PCD 00 01') and the card side connects to it. Every message is a
2-byte big-endian length followed by the payload. A 1-byte payload is a
control code (0 power off, 1 power on, 2 reset, 4 get ATR); anything longer is
a command APDU, answered with the response APDU. Only GET ATR gets an answer
among the control codes.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from typing import Protocol

__all__ = ["VPCD_PORT", "VirtualCard", "serve_card", "VpcdBridge"]

log = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


class VirtualCard(Protocol):
    def reset(self) -> None: ...

    def process(self, apdu: bytes) -> bytes: ...


class _PeerClosed(Exception):
    pass


def _quickack(sock: socket.socket) -> None:
    # Linux clears TCP_QUICKACK after it acknowledges, so it is set again around
    # every read; without it each APDU waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            raise _PeerClosed()
        buffer += chunk
    return bytes(buffer)


def _connect(host: str, port: int, stop: threading.Event, retry_seconds: float) -> socket.socket | None:
    deadline = time.monotonic() + retry_seconds
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=2)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"cannot reach the vpcd reader at {host}:{port} ({exc}); "
                    "check that pcscd runs with the vsmartcard-vpcd driver"
                ) from None
            time.sleep(0.1)
            continue
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    return None


def serve_card(
    card: VirtualCard,
    atr: bytes,
    stop: threading.Event,
    host: str = VPCD_HOST,
    port: int = VPCD_PORT,
    retry_seconds: float = 10.0,
) -> None:
    """Insert card into the vpcd reader and answer it until stop is set or vpcd hangs up."""
    sock = _connect(host, port, stop, retry_seconds)
    if sock is None:
        return
    log.info("card inserted into vpcd reader at %s:%d", host, port)
    stopper = threading.Thread(target=_close_on_stop, args=(sock, stop), daemon=True)
    stopper.start()
    try:
        _serve(sock, card, atr)
    except (_PeerClosed, OSError):
        pass
    finally:
        stop.set()
        sock.close()
        log.info("card removed from vpcd reader at %s:%d", host, port)


def _close_on_stop(sock: socket.socket, stop: threading.Event) -> None:
    stop.wait()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _serve(sock: socket.socket, card: VirtualCard, atr: bytes) -> None:
    while True:
        _quickack(sock)
        (length,) = struct.unpack(">H", _recv_exact(sock, 2))
        message = _recv_exact(sock, length)
        _quickack(sock)
        if length == 1:
            code = message[0]
            if code == GET_ATR:
                sock.sendall(struct.pack(">H", len(atr)) + atr)
            elif code in (POWER_ON, RESET):
                card.reset()
            continue
        response = card.process(message)
        sock.sendall(struct.pack(">H", len(response)) + response)


class VpcdBridge:
    """Runs serve_card in a background thread; stop() removes the card from the reader."""

    def __init__(self, card: VirtualCard, atr: bytes, port: int = VPCD_PORT):
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=serve_card, args=(card, atr, self._stop), kwargs={"port": port}, daemon=True
        )

    def start(self) -> "VpcdBridge":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> "VpcdBridge":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
