"""PC/SC reader access through pyscard's SCard API.

PcscContext survives a restart of pcscd: when a call fails because the
service went away (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED,
SCARD_F_COMM_ERROR or SCARD_E_INVALID_HANDLE), it releases the context,
establishes a new one and repeats the call once. Card connections opened on
the old context are dead after that and fail with ServiceUnavailable; the
next tap opens a new one.

CardConnection sends command APDUs and handles the transport status words of
ISO 7816-4: 61xx (more data: GET RESPONSE, xx = 00 meaning 256 bytes) and
6Cxx (wrong Le: resend with Le = xx, 00 meaning 256). pyscard 2.3 hands
SCardTransmit a receive buffer of MAX_BUFFER_SIZE_EXTENDED (65,548 bytes), so
one exchange can return the longest extended response, 65,536 data bytes
and the status word.

Every PC/SC failure becomes a ReaderError (hardware.reader_errors) whose
message tells the person at the counter what to do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Callable, NamedTuple

from smartcard import scard

from card.apdu import build_apdu, parse_command
from hardware.reader_errors import (
    SERVICE_LOST_CODES, CardRemoved, MalformedResponse, NoCard, NoReader, ReaderAmbiguous, ReaderError,
    ReaderNotFound, ServiceUnavailable, TransmitFailed, error_for,
)

__all__ = [
    "ReaderError", "ServiceUnavailable", "NoReader", "ReaderNotFound", "ReaderAmbiguous", "NoCard", "CardRemoved",
    "TransmitFailed", "MalformedResponse", "PcscContext", "CardConnection", "Exchange", "MAX_RESPONSE_DATA",
]

log = logging.getLogger(__name__)
APDU_LOG_LEVEL = 5  # below DEBUG: raw APDU traffic
logging.addLevelName(APDU_LOG_LEVEL, "APDU")

MAX_GET_RESPONSE_ROUNDS = 256
# The longest response data of one command: an extended Le of 0000 asks for 65,536 bytes.
MAX_RESPONSE_DATA = 65536


def _check(hresult: int, operation: str, reader: str | None = None) -> None:
    if hresult != scard.SCARD_S_SUCCESS:
        raise error_for(hresult, operation, reader)


class PcscContext:
    """A PC/SC context that lists readers, waits for cards and connects to them, and re-establishes itself."""

    def __init__(self, lazy: bool = False) -> None:
        """Establish the context now, or with lazy at the first call, so creating it works while pcscd is down."""
        self._context: int | None = None
        # Counts established contexts, so a caller can tell that reader states from an older context are stale.
        self.generation = 0
        if not lazy:
            self._establish()

    def _establish(self) -> None:
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "SCardEstablishContext")
        self._context = context
        self.generation += 1

    def _release(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def reestablish(self) -> None:
        """Drop the current context and establish a new one; raise ServiceUnavailable while pcscd is down."""
        self._release()
        self._establish()
        log.info("PC/SC context re-established")

    def close(self) -> None:
        self._release()

    def __enter__(self) -> "PcscContext":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, function: Callable, *args: object) -> tuple:
        """Call an SCard function on this context; after a service loss, re-establish and call once more."""
        if self._context is None:
            self._establish()
        result = function(self._context, *args)
        hresult = result[0] if isinstance(result, (tuple, list)) else result
        if hresult not in SERVICE_LOST_CODES:
            return result
        log.warning("PC/SC service lost (0x%08X); re-establishing the context", hresult & 0xFFFFFFFF)
        self.reestablish()
        return function(self._context, *args)

    def cancel(self) -> None:
        """Make a blocking get_status_change on this context return at once (safe from another thread)."""
        context = self._context
        if context is not None:
            scard.SCardCancel(context)

    def list_readers(self) -> list[str]:
        hresult, readers = self._call(scard.SCardListReaders, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(hresult, "SCardListReaders")
        return list(readers)

    def choose_reader(self, name: str | None = None) -> str:
        """Return the reader called name, else the one reader whose name starts with it; None picks the first reader."""
        readers = self.list_readers()
        if not readers:
            raise NoReader("no readers")
        if name is None:
            return readers[0]
        if name in readers:
            return name
        matches = [reader for reader in readers if reader.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ReaderAmbiguous(f"{len(matches)} readers match", reader=name, available=", ".join(matches))
        raise ReaderNotFound(f"reader {name!r} not found", reader=name, available=", ".join(readers))

    def get_status_change(self, states: list[tuple], timeout_ms: int) -> list[tuple] | None:
        """Run SCardGetStatusChange; return the new (reader, event state, ATR) list, or None on timeout or cancel."""
        hresult, new_states = self._call(scard.SCardGetStatusChange, timeout_ms, states)
        if hresult in (scard.SCARD_E_TIMEOUT, scard.SCARD_E_CANCELLED):
            return None
        _check(hresult, "SCardGetStatusChange", states[0][0] if states else None)
        return new_states

    def wait_for_card(self, reader: str, timeout: float) -> None:
        """Block until a card is present in reader; raise NoCard after timeout seconds."""
        for event_state in self._reader_states(reader, timeout):
            if event_state is None:
                raise NoCard("timeout", seconds=round(timeout))
            if event_state & scard.SCARD_STATE_PRESENT and not event_state & scard.SCARD_STATE_MUTE:
                return
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE):
                raise ReaderNotFound("reader vanished", reader=reader, available=", ".join(self.list_readers()) or "-")

    def wait_for_removal(self, reader: str, timeout: float) -> None:
        """Block until reader is empty; raise TransmitFailed after timeout seconds."""
        for event_state in self._reader_states(reader, timeout):
            if event_state is None:
                raise TransmitFailed(f"card still in {reader} after {timeout:.0f} s")
            if event_state & scard.SCARD_STATE_EMPTY:
                return

    def _reader_states(self, reader: str, timeout: float) -> Iterator[int | None]:
        """Yield each new event state of reader until timeout seconds have passed, then yield None once."""
        deadline = time.monotonic() + timeout
        states = [(reader, scard.SCARD_STATE_UNAWARE)]
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            new_states = self.get_status_change(states, remaining_ms)
            if new_states is None:
                yield None
                return
            _, event_state, _atr = new_states[0]
            yield event_state
            states = [(reader, event_state & ~scard.SCARD_STATE_CHANGED)]

    def connect(self, reader: str) -> "CardConnection":
        hresult, handle, protocol = self._call(
            scard.SCardConnect, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        _check(hresult, "SCardConnect", reader)
        return CardConnection(handle, protocol, reader)


class Exchange(NamedTuple):
    """One command and its response on the wire: instruction byte and lengths in bytes (status word included)."""

    ins: int
    command_length: int
    response_length: int


class CardConnection:
    """One connection to a card; send_and_receive returns the complete data and final status word.

    exchange_log, when set to a list, receives an Exchange for every command
    sent to the card, GET RESPONSE rounds included.
    """

    def __init__(self, handle: int, protocol: int, reader: str):
        self._handle = handle
        self._protocol = protocol
        self.reader = reader
        self.exchange_log: list[Exchange] | None = None

    def close(self, disposition: int = scard.SCARD_LEAVE_CARD) -> None:
        if self._handle is not None:
            scard.SCardDisconnect(self._handle, disposition)
            self._handle = None

    def __enter__(self) -> "CardConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def atr(self) -> bytes:
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._handle)
        _check(hresult, "SCardStatus", self.reader)
        return bytes(atr)

    def _transmit(self, apdu: bytes) -> tuple[bytes, int]:
        if self._handle is None:
            raise TransmitFailed("connection is closed")
        log.log(APDU_LOG_LEVEL, "> %s", apdu.hex())
        hresult, response = scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        _check(hresult, "SCardTransmit", self.reader)
        if self.exchange_log is not None:
            self.exchange_log.append(Exchange(apdu[1], len(apdu), len(response)))
        if not response:
            # An ISO 7816-4 response carries at least SW1 SW2. vpcd returns success with no bytes when the
            # card hangs up in the middle of a command, so an empty response counts as a card taken away.
            raise CardRemoved(f"{apdu[:4].hex().upper()}: empty response")
        if len(response) < 2:
            raise MalformedResponse(f"response of {len(response)} bytes has no status word")
        log.log(APDU_LOG_LEVEL, "< %s", bytes(response).hex())
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self._transmit(apdu)
        if sw >> 8 == 0x6C:
            # Wrong Le: the card names the right one, so the same command goes again with it.
            data, sw = self._transmit(_with_le(apdu, sw & 0xFF))
            if sw >> 8 == 0x6C:
                raise MalformedResponse(f"card returned 6Cxx twice to {apdu[:4].hex().upper()}")
        chunks = [data]
        received = len(data)
        rounds = 0
        while sw >> 8 == 0x61:
            rounds += 1
            if rounds > MAX_GET_RESPONSE_ROUNDS:
                raise MalformedResponse(f"card asked for more than {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE rounds")
            data, sw = self._transmit(build_apdu(apdu[0] & 0x03, 0xC0, 0x00, 0x00, le=sw & 0xFF))
            chunks.append(data)
            received += len(data)
            if received > MAX_RESPONSE_DATA:
                raise MalformedResponse(f"card sent more than {MAX_RESPONSE_DATA} bytes of response data")
        return b"".join(chunks), sw


def _with_le(apdu: bytes, le: int) -> bytes:
    """Return a short APDU with its Le set to le (0 meaning 256), adding Le to a case 1 or 3 APDU."""
    try:
        command = parse_command(apdu)
    except ValueError as exc:
        raise MalformedResponse(f"card returned 6Cxx to a malformed command: {exc}") from None
    if command.extended:
        raise MalformedResponse("card returned 6Cxx, which is for short Le only, to an extended APDU")
    return build_apdu(command.cla, command.ins, command.p1, command.p2, command.data, le=le)
