"""QR codes from a serial barcode scanner (USB CDC-ACM, such as /dev/ttyACM0), through pyserial.

A scanner in serial mode sends the decoded text followed by a terminator:
CR by default on most models, LF or CR LF when configured so. The text can
arrive split over several reads, and a read can also carry the start of
the next code. SerialScanner buffers both, so bytes are never lost between
calls, including calls that end at their deadline.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import serial

from card.i18n import N_, TranslatedError

__all__ = [
    "TERMINATORS", "ScannerError", "ScannerUnavailable", "ScanTimeout", "ScanTooLong", "ScanNotText",
    "SerialScanner",
]

log = logging.getLogger(__name__)

TERMINATORS = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n"}
# A KB1: QR credential is about 300 characters, and a version 40 QR code encodes at most 4,296 alphanumeric characters.
DEFAULT_MAX_LENGTH = 4296
DEFAULT_BAUD_RATE = 9600


class ScannerError(TranslatedError):
    """A serial scanner failure with a message for the person at the counter."""

    template = N_("The QR scanner failed ({detail}). Scan the code again.")

    def __init__(self, detail: str = "", **params: object):
        self.detail = detail
        super().__init__(type(self).template, detail=detail, **params)


class ScannerUnavailable(ScannerError):
    template = N_(
        "The QR scanner on {port} cannot be opened ({detail}). Check that it is plugged in and that the port name is right."
    )


class ScanTimeout(ScannerError):
    template = N_("No QR code was scanned within {seconds} seconds. Hold the back of the card under the scanner.")


class ScanTooLong(ScannerError):
    template = N_(
        "The scanner sent a code longer than {limit} characters, so it is not a Kartu Bahagia QR code. Nothing was recorded; scan the QR code on the back of the card."
    )


class ScanNotText(ScannerError):
    template = N_(
        "The scanner sent bytes that are not plain text ({detail}). Set the scanner to send ASCII text, then scan again."
    )


class SerialScanner:
    """One scanner on a serial port; read_code() returns the text of the next scanned code.

    port is a device path (opened here at baud_rate, 8N1) or an open
    serial.Serial, which the scanner then does not own. monotonic is the
    clock used for deadlines; tests can pass their own.
    """

    def __init__(self, port: str | serial.Serial, *, terminator: str = "cr", baud_rate: int = DEFAULT_BAUD_RATE,
                 max_length: int = DEFAULT_MAX_LENGTH, monotonic: Callable[[], float] = time.monotonic):
        if terminator not in TERMINATORS:
            raise ValueError(f"scanner terminator {terminator!r} is not supported; use one of {', '.join(TERMINATORS)}")
        if max_length < 1:
            raise ValueError(f"scanner max_length must be at least 1, got {max_length}")
        self.terminator = TERMINATORS[terminator]
        self.max_length = max_length
        self._monotonic = monotonic
        self._buffer = bytearray()
        self._discarding = False
        if isinstance(port, serial.Serial):
            self._serial, self._owned = port, False
        else:
            self._serial, self._owned = self._open(port, baud_rate), True
        self.port = self._serial.port

    @staticmethod
    def _open(port: str, baud_rate: int) -> serial.Serial:
        try:
            return serial.Serial(port, baudrate=baud_rate, timeout=0)
        except (serial.SerialException, OSError) as exc:
            raise ScannerUnavailable(str(exc), port=port) from None

    def close(self) -> None:
        if self._owned:
            self._serial.close()

    def __enter__(self) -> "SerialScanner":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def read_code(self, timeout: float) -> str:
        """Return the next complete code, waiting at most timeout seconds.

        Raises ScanTimeout when no terminator arrives in time, and the bytes
        read so far stay buffered for the next call. Raises ScanTooLong for a
        line over max_length and drops its remaining bytes up to its
        terminator. Raises ScanNotText for non-ASCII bytes and
        ScannerUnavailable when the port fails.
        """
        deadline = self._monotonic() + timeout
        while True:
            line = self._next_line()
            if line is not None:
                return self._decode(line)
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise ScanTimeout(seconds=_seconds(timeout))
            self._fill(remaining)

    def _next_line(self) -> bytes | None:
        """Take one line out of the buffer; raise ScanTooLong for an over-long one."""
        while True:
            end = self._buffer.find(self.terminator)
            if self._discarding:
                if end < 0:
                    self._buffer.clear()
                    return None
                del self._buffer[:end + len(self.terminator)]
                self._discarding = False
                continue
            if end < 0:
                if len(self._buffer) > self.max_length:
                    # Drop the rest of this line as it arrives, so the next code starts clean.
                    self._buffer.clear()
                    self._discarding = True
                    self._reject_long()
                return None
            line = bytes(self._buffer[:end])
            del self._buffer[:end + len(self.terminator)]
            line = line.strip(b"\r\n")
            if len(line) > self.max_length:
                self._reject_long()
            if line:
                return line

    def _reject_long(self) -> None:
        log.warning("scanner on %s sent a line over %d bytes; dropped it", self.port, self.max_length)
        raise ScanTooLong(limit=self.max_length)

    def _fill(self, wait: float) -> None:
        """Append whatever arrives within wait seconds: at least one byte unless the wait ends first."""
        try:
            self._serial.timeout = wait
            chunk = self._serial.read(1)
            if chunk:
                waiting = self._serial.in_waiting
                chunk += self._serial.read(waiting) if waiting else b""
        except (serial.SerialException, OSError) as exc:
            raise ScannerUnavailable(str(exc), port=self.port) from None
        self._buffer += chunk

    @staticmethod
    def _decode(line: bytes) -> str:
        try:
            return line.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ScanNotText(f"byte 0x{line[exc.start]:02X} at position {exc.start}") from None


def _seconds(timeout: float) -> str:
    return f"{timeout:g}"
