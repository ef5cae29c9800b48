"""PC/SC reader access through pyscard's SCard API.

A CardConnection sends command APDUs and handles the two transport status
words of ISO 7816-4: 61xx (more data: GET RESPONSE) and 6Cxx (wrong Le:
resend with Le = xx). Every PC/SC failure becomes a ReaderError whose message
tells the person at the counter what to do, in Bahasa Indonesia or English.
"""

from __future__ import annotations

import logging
import time

from smartcard import scard

from card.apdu import build_apdu
from card.i18n import N_, translate

__all__ = [
    "ReaderError", "ServiceUnavailable", "NoReader", "ReaderNotFound", "NoCard", "CardRemoved",
    "TransmitFailed", "PcscContext", "CardConnection",
]

log = logging.getLogger(__name__)
APDU_LOG_LEVEL = 5  # below DEBUG: raw APDU traffic
logging.addLevelName(APDU_LOG_LEVEL, "APDU")

_NO_SERVICE_CODES = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
_REMOVED_CODES = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD}
_READER_GONE_CODES = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}
MAX_GET_RESPONSE_ROUNDS = 256


def _code(hresult: int) -> int:
    return hresult & 0xFFFFFFFF


class ReaderError(Exception):
    """A PC/SC failure with a message for the person at the counter."""

    template = N_("The card reader failed ({detail}). Tap the card again.")

    def __init__(self, detail: str = "", **params: object):
        self.detail = detail
        self.params = {"detail": detail, **params}
        super().__init__(self.message("en"))

    def message(self, language: str = "id") -> str:
        return translate(self.template, language, **self.params)


class ServiceUnavailable(ReaderError):
    template = N_(
        "The smart-card service (pcscd) is not running ({detail}). Start it with 'pcscd' or restart the terminal computer."
    )


class NoReader(ReaderError):
    template = N_("No card reader is connected. Plug in the reader and wait a few seconds.")


class ReaderNotFound(ReaderError):
    template = N_(
        "The card reader '{reader}' is not connected; connected readers: {available}. Plug it in or change the configured reader name."
    )


class NoCard(ReaderError):
    template = N_("No card was tapped within {seconds} seconds. Place the card on the reader.")


class CardRemoved(ReaderError):
    template = N_("The card was removed before the reader finished ({detail}). Place the card on the reader again and keep it still.")


class TransmitFailed(ReaderError):
    template = N_("The card did not answer ({detail}). Place the card on the reader again.")


def _check(hresult: int, operation: str, reader: str | None = None) -> None:
    if hresult == scard.SCARD_S_SUCCESS:
        return
    code = _code(hresult)
    detail = f"{operation}: {scard.SCardGetErrorMessage(hresult).strip()} (0x{code:08X})"
    if hresult in _NO_SERVICE_CODES:
        raise ServiceUnavailable(detail)
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        raise NoReader(detail)
    if hresult in _READER_GONE_CODES:
        raise ReaderNotFound(detail, reader=reader or "?", available="-")
    if hresult in _REMOVED_CODES:
        raise CardRemoved(detail)
    raise TransmitFailed(detail)


class PcscContext:
    """A PC/SC context: lists readers, waits for cards and connects to them."""

    def __init__(self) -> None:
        hresult, self._context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        _check(hresult, "SCardEstablishContext")

    def close(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def __enter__(self) -> "PcscContext":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def list_readers(self) -> list[str]:
        hresult, readers = scard.SCardListReaders(self._context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        _check(hresult, "SCardListReaders")
        return list(readers)

    def choose_reader(self, name: str | None = None) -> str:
        """Return the reader called name (or whose name starts with it), or the first reader."""
        readers = self.list_readers()
        if not readers:
            raise NoReader("no readers")
        if name is None:
            return readers[0]
        for reader in readers:
            if reader == name or reader.startswith(name):
                return reader
        raise ReaderNotFound(f"reader {name!r} not found", reader=name, available=", ".join(readers))

    def wait_for_card(self, reader: str, timeout: float) -> None:
        """Block until a card is present in reader; raise NoCard after timeout seconds."""
        deadline = time.monotonic() + timeout
        states = [(reader, scard.SCARD_STATE_UNAWARE)]
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hresult, new_states = scard.SCardGetStatusChange(self._context, remaining_ms, states)
            if hresult == scard.SCARD_E_TIMEOUT:
                raise NoCard("timeout", seconds=round(timeout))
            _check(hresult, "SCardGetStatusChange", reader)
            _, event_state, _atr = new_states[0]
            if event_state & scard.SCARD_STATE_PRESENT and not event_state & scard.SCARD_STATE_MUTE:
                return
            if event_state & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_IGNORE):
                raise ReaderNotFound("reader vanished", reader=reader, available=", ".join(self.list_readers()))
            states = [(reader, event_state & ~scard.SCARD_STATE_CHANGED)]

    def wait_for_removal(self, reader: str, timeout: float) -> None:
        """Block until reader is empty; raise TransmitFailed after timeout seconds."""
        deadline = time.monotonic() + timeout
        states = [(reader, scard.SCARD_STATE_UNAWARE)]
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            hresult, new_states = scard.SCardGetStatusChange(self._context, remaining_ms, states)
            if hresult == scard.SCARD_E_TIMEOUT:
                raise TransmitFailed(f"card still in {reader} after {timeout:.0f} s")
            _check(hresult, "SCardGetStatusChange", reader)
            _, event_state, _atr = new_states[0]
            if event_state & scard.SCARD_STATE_EMPTY:
                return
            states = [(reader, event_state & ~scard.SCARD_STATE_CHANGED)]

    def connect(self, reader: str) -> "CardConnection":
        hresult, handle, protocol = scard.SCardConnect(
            self._context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        _check(hresult, "SCardConnect", reader)
        return CardConnection(handle, protocol, reader)


class CardConnection:
    """One connection to a card; send_and_receive returns the complete data and final status word."""

    def __init__(self, handle: int, protocol: int, reader: str):
        self._handle = handle
        self._protocol = protocol
        self.reader = reader

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
        if len(response) < 2:
            raise TransmitFailed(f"response of {len(response)} bytes has no status word")
        log.log(APDU_LOG_LEVEL, "< %s", bytes(response).hex())
        return bytes(response[:-2]), (response[-2] << 8) | response[-1]

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        data, sw = self._transmit(apdu)
        if sw >> 8 == 0x6C:
            # Wrong Le: the card names the right one; send the same command again with it.
            data, sw = self._transmit(_with_le(apdu, sw & 0xFF))
        chunks = [data]
        rounds = 0
        while sw >> 8 == 0x61:
            rounds += 1
            if rounds > MAX_GET_RESPONSE_ROUNDS:
                raise TransmitFailed(f"card asked for more than {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE rounds")
            data, sw = self._transmit(build_apdu(apdu[0] & 0x03, 0xC0, 0x00, 0x00, le=sw & 0xFF))
            chunks.append(data)
        return b"".join(chunks), sw


def _with_le(apdu: bytes, le: int) -> bytes:
    """Replace the Le byte of a short APDU (case 2 or 4), adding one to a case 1 or 3 APDU."""
    header, body = apdu[:4], apdu[4:]
    if not body:
        return header + bytes([le])
    if len(body) == 1:
        return header + bytes([le])
    lc = body[0]
    return header + body[: 1 + lc] + bytes([le])
