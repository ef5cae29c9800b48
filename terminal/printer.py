"""Receipt printer connections through python-escpos: serial, USB, network or a file.

A printer is named by a spec string:

    file:PATH                    file or device node such as /dev/usb/lp0; each receipt replaces the file
    serial:DEVICE[:BAUD]         serial or USB-serial printer, 9600 baud by default
    usb:VID:PID                  USB printer by hexadecimal vendor and product id (needs pyusb)
    tcp:HOST[:PORT]              network printer on raw port 9100 by default

send() opens the printer, writes the bytes and closes it, within a timeout,
and raises PrinterError for every failure, so a caller can queue the receipt
instead of failing the hand-over.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import serial
from escpos import exceptions as escpos_errors
from escpos.constants import RT_STATUS_PAPER
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb

from card.i18n import N_, translate

__all__ = ["PrinterSpec", "PrinterError", "PaperOut", "send", "parse_printer_spec", "DEFAULT_STATUS_TIMEOUT"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
# Seconds to wait for the reply to a paper status query; short, because the receipt waits for it.
DEFAULT_STATUS_TIMEOUT = 0.5
# Bits 5 and 6 of the DLE EOT 4 status byte report the roll-paper end sensor.
PAPER_END_BITS = 0x60
DEFAULT_BAUD_RATE = 9600
DEFAULT_NETWORK_PORT = 9100
# Printers (spec strings) that left a paper status query unanswered in this process; they are not queried again.
_silent_printers: set[str] = set()


class PrinterError(Exception):
    """Printing a receipt failed; the message names the cause and what to do next."""

    template = N_("The receipt printer {printer} failed ({detail}). The receipt is kept; reprint it when the printer is ready.")

    def __init__(self, printer: str, detail: str):
        self.params = {"printer": printer, "detail": detail}
        super().__init__(self.message("en"))

    def message(self, language: str = "id") -> str:
        return translate(self.template, language, **self.params)


class PaperOut(PrinterError):
    template = N_("The receipt printer {printer} is out of paper. Load a new roll, then reprint the receipt.")


@dataclass(frozen=True)
class PrinterSpec:
    kind: str
    target: str
    port: int | None = None
    product: int | None = None

    def __str__(self) -> str:
        if self.kind == "usb":
            return f"usb:{self.port:04x}:{self.product:04x}"
        suffix = f":{self.port}" if self.port is not None else ""
        return f"{self.kind}:{self.target}{suffix}"


def parse_printer_spec(text: str) -> PrinterSpec:
    """Parse a printer spec; raise ValueError naming the text and the accepted forms."""
    kind, _, rest = text.partition(":")
    forms = "file:PATH, serial:DEVICE[:BAUD], usb:VID:PID or tcp:HOST[:PORT]"
    try:
        if kind == "file" and rest:
            return PrinterSpec("file", rest)
        if kind == "serial" and rest:
            device, _, baud = rest.partition(":")
            return PrinterSpec("serial", device, int(baud) if baud else DEFAULT_BAUD_RATE)
        if kind == "usb":
            vendor, product = rest.split(":")
            return PrinterSpec("usb", "", int(vendor, 16), int(product, 16))
        if kind == "tcp" and rest:
            host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
            return PrinterSpec("tcp", host, int(port) if port else DEFAULT_NETWORK_PORT)
    except ValueError:
        pass
    raise ValueError(f"printer {text!r} is not a valid printer spec; use {forms}")


def _open(spec: PrinterSpec, timeout: float) -> Escpos:
    if spec.kind == "file":
        printer = File(spec.target)
    elif spec.kind == "serial":
        printer = Serial(spec.target, baudrate=spec.port, timeout=timeout)
    elif spec.kind == "usb":
        if not Usb.is_usable():
            raise PrinterError(str(spec), "pyusb is not installed; install it with 'pip install pyusb'")
        printer = Usb(spec.port, spec.product, timeout=int(timeout * 1000))
    else:
        printer = Network(spec.target, port=spec.port, timeout=timeout)
    printer.open()
    if spec.kind == "serial":
        # python-escpos sets no write timeout, and with hardware flow control a printer that is off blocks writes.
        printer.device.write_timeout = timeout
    return printer


def _check_paper(spec: PrinterSpec, printer: Escpos, status_timeout: float) -> None:
    """Query the paper sensor of a serial or network printer; other kinds cannot report it, so they pass.

    A printer that does not respond within status_timeout is printed to
    anyway, and is not queried again until the process restarts, so a printer
    without status support costs that wait once and not at every receipt.
    """
    if spec.kind not in ("serial", "tcp") or str(spec) in _silent_printers:
        return
    status = _query_paper_status(spec, printer, status_timeout)
    if not status:
        _silent_printers.add(str(spec))
        log.warning("receipt printer %s did not respond to the paper status query within %.2f s; "
                    "printing without the paper check until the terminal restarts", spec, status_timeout)
        return
    if status[0] & PAPER_END_BITS:
        raise PaperOut(str(spec), "no paper")


def _query_paper_status(spec: PrinterSpec, printer: Escpos, status_timeout: float) -> bytes:
    """Send DLE EOT 4 and return the printer's status byte, or b"" when none arrives within status_timeout."""
    device = printer.device
    if spec.kind == "tcp":
        previous = device.gettimeout()
        device.settimeout(status_timeout)
    else:
        previous = device.timeout
        device.timeout = status_timeout
    try:
        return printer.query_status(RT_STATUS_PAPER)
    except TimeoutError:
        return b""
    finally:
        if spec.kind == "tcp":
            device.settimeout(previous)
        else:
            device.timeout = previous


def send(spec: PrinterSpec, data: bytes, timeout: float = DEFAULT_TIMEOUT, check_paper: bool = False,
         status_timeout: float = DEFAULT_STATUS_TIMEOUT) -> None:
    """Write data to the printer; raise PrinterError (PaperOut for an empty roll) on any failure.

    check_paper queries the paper sensor first and waits at most
    status_timeout seconds for the reply (see _check_paper).
    """
    printer = None
    try:
        printer = _open(spec, timeout)
        if check_paper:
            _check_paper(spec, printer, status_timeout)
        printer._raw(data)
        if spec.kind == "file":
            printer.flush()
            os.fsync(printer.device.fileno())
    except PrinterError:
        raise
    except (escpos_errors.Error, serial.SerialException, OSError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise PrinterError(str(spec), detail) from None
    finally:
        if printer is not None:
            _close_quietly(printer, spec)


def _close_quietly(printer: Escpos, spec: PrinterSpec) -> None:
    try:
        printer.close()
    except (escpos_errors.Error, serial.SerialException, OSError) as exc:
        log.warning("closing receipt printer %s failed: %s", spec, exc)

