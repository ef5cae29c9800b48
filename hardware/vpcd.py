"""Bridge between a Python card and pcscd's virtual reader driver (vsmartcard vpcd).

vpcd listens on TCP (127.0.0.1:35963 for 'Virtual PCD 00 00', 35964 for
'Virtual PCD 00 01') and the card side connects to it. Every message is a
2-byte big-endian length followed by the payload. A 1-byte payload is a
control code (0 power off, 1 power on, 2 reset, 4 get ATR); anything longer is
a command APDU, answered with the response APDU. Only GET ATR gets an answer
among the control codes. The 2-byte length caps a response at 65,535 bytes,
so the longest extended answer (65,536 data bytes and the status word) does
not fit through vpcd; a real reader carries it.

vpcd hangs up when pcscd stops. serve_card(reconnect=True) then connects
again as soon as pcscd is back, as a card left on a reader stays there while
the service restarts.
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
MAX_MESSAGE = 0xFFFF
# Sent in place of a response that vpcd cannot carry: 6F00, no precise diagnosis.
TOO_LONG_ANSWER = b"\x6F\x00"


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


def _connect(host: str, port: int, stop: threading.Event, retry_seconds: float | None) -> socket.socket | None:
    """Connect to vpcd, retrying every 0.1 s for retry_seconds (None: until stop is set)."""
    deadline = None if retry_seconds is None else time.monotonic() + retry_seconds
    while not stop.is_set():
        try:
            sock = socket.create_connection((host, port), timeout=2)
        except OSError as exc:
            if deadline is not None and time.monotonic() > deadline:
                raise ConnectionError(
                    f"cannot reach the vpcd reader at {host}:{port} ({exc}); "
                    "check that pcscd runs with the vsmartcard-vpcd driver"
                ) from None
            stop.wait(0.1)
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
    reconnect: bool = False,
) -> None:
    """Insert card into the vpcd reader and answer it until stop is set or vpcd hangs up.

    With reconnect, a hang-up by vpcd (pcscd stopped) is not the end: the card
    waits for vpcd to listen again and goes back into the reader.
    """
    sock = _connect(host, port, stop, retry_seconds)
    try:
        while sock is not None:
            log.info("card inserted into vpcd reader at %s:%d", host, port)
            _serve_until_hang_up(sock, card, atr, stop)
            log.info("card removed from vpcd reader at %s:%d", host, port)
            if stop.is_set() or not reconnect:
                break
            log.info("vpcd at %s:%d hung up; waiting for it to listen again", host, port)
            card.reset()
            sock = _connect(host, port, stop, None)
    finally:
        stop.set()


def _serve_until_hang_up(sock: socket.socket, card: VirtualCard, atr: bytes, stop: threading.Event) -> None:
    closed = threading.Event()
    stopper = threading.Thread(target=_close_on_stop, args=(sock, stop, closed), daemon=True)
    stopper.start()
    try:
        _serve(sock, card, atr)
    except (_PeerClosed, OSError):
        pass
    finally:
        closed.set()
        sock.close()


def _close_on_stop(sock: socket.socket, stop: threading.Event, closed: threading.Event) -> None:
    while not stop.wait(0.5):
        if closed.is_set():
            return
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
        if len(response) > MAX_MESSAGE:
            log.error("response of %d bytes does not fit a vpcd message (at most %d); sending 6F00 instead",
                      len(response), MAX_MESSAGE)
            response = TOO_LONG_ANSWER
        sock.sendall(struct.pack(">H", len(response)) + response)


class VpcdBridge:
    """Runs serve_card in a background thread; stop() removes the card from the reader, start() puts it back."""

    def __init__(self, card: VirtualCard, atr: bytes, port: int = VPCD_PORT, reconnect: bool = False):
        self._card = card
        self._atr = atr
        self._options = {"port": port, "reconnect": reconnect}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "VpcdBridge":
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"the card is already in the vpcd reader on port {self._options['port']}")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=serve_card, args=(self._card, self._atr, self._stop), kwargs=self._options, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "VpcdBridge":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
