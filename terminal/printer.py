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
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb

from card.i18n import N_, translate

__all__ = ["PrinterSpec", "PrinterError", "send", "parse_printer_spec"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 5.0
DEFAULT_BAUD_RATE = 9600
DEFAULT_NETWORK_PORT = 9100
# Paper sensor value of python-escpos paper_status(): 0 means no paper.
NO_PAPER = 0


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


def _check_paper(spec: PrinterSpec, printer: Escpos) -> None:
    """Query the paper sensor of a serial or network printer; other kinds cannot report it, so they pass."""
    if spec.kind not in ("serial", "tcp"):
        return
    if printer.paper_status() == NO_PAPER:
        raise PaperOut(str(spec), "no paper")


def send(spec: PrinterSpec, data: bytes, timeout: float = DEFAULT_TIMEOUT, check_paper: bool = False) -> None:
    """Write data to the printer; raise PrinterError (PaperOut for an empty roll) on any failure."""
    printer = None
    try:
        printer = _open(spec, timeout)
        if check_paper:
            _check_paper(spec, printer)
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

