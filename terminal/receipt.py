"""Receipt content and its ESC/POS rendering (python-escpos), in Bahasa Indonesia or English.

A receipt shows the service point, the terminal, the receipt number, the
time in WIB, the card number with all but its last four digits masked, the
programme with the quantity handed over and the quota left. It carries no
name and no NIK, because a receipt is often thrown away. Text is kept to
ASCII so every printer code page prints it the same.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from escpos.printer import Dummy

from card.i18n import N_, translate
from card.verify import WIB
from terminal.programmes import amount_text, programme_name

__all__ = ["Receipt", "render_receipt", "mask_card_number", "LINE_WIDTH"]

# Characters per line of 58 mm paper with font A; 80 mm printers print the same lines with a wider margin.
LINE_WIDTH = 32

TITLE = N_("KARTU BAHAGIA - KOTA JAMBI")
REPRINT = N_("*** REPRINT ***")
LABELS = {
    "number": N_("Receipt no."),
    "time": N_("Time"),
    "service_point": N_("Service point"),
    "kelurahan": N_("Kelurahan"),
    "terminal": N_("Terminal"),
    "card": N_("Card"),
    "program": N_("Programme"),
    "quantity": N_("Quantity"),
    "remaining": N_("Quota left"),
}
FOOTER = N_("Keep this receipt as proof of the hand-over.")


@dataclass(frozen=True)
class Receipt:
    """The content of one receipt; number is the terminal's receipt sequence number."""

    number: int
    record_id: str
    terminal_id: str
    service_point: str
    card_number: str
    program: str
    quantity: int
    unit: str
    remaining: int | None
    tapped_at: int
    # Name of the service point's kelurahan; None when the server has none or the terminal enrolled without it.
    kelurahan: str | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, number: int, values: dict[str, object]) -> "Receipt":
        return cls(**{**values, "number": number})


def mask_card_number(card_number: str) -> str:
    """Keep the last four digits: '**** **** **** 1234'."""
    masked = "*" * (len(card_number) - 4) + card_number[-4:]
    return " ".join(masked[start:start + 4] for start in range(0, len(masked), 4))


def _ascii(text: str) -> str:
    """Fold a name from the server to ASCII: accents are dropped, other non-ASCII characters become '?'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).encode("ascii", "replace").decode()


def _row(label: str, value: str) -> str:
    """Format one 'label   value' line with the value right-aligned; a value too long moves to its own line."""
    gap = LINE_WIDTH - len(label) - len(value)
    if gap >= 1:
        return f"{label}{' ' * gap}{value}\n"
    return f"{label}\n{value.rjust(LINE_WIDTH)}\n"


def receipt_lines(receipt: Receipt, language: str) -> list[str]:
    """Return the body rows of receipt in language, each ending in a newline."""
    when = datetime.fromtimestamp(receipt.tapped_at, timezone.utc).astimezone(WIB)
    values = {
        "number": f"{receipt.number:06d}",
        "time": when.strftime("%d-%m-%Y %H:%M WIB"),
        "service_point": _ascii(receipt.service_point),
    }
    if receipt.kelurahan:
        values["kelurahan"] = _ascii(receipt.kelurahan)
    values |= {
        "terminal": receipt.terminal_id,
        "card": mask_card_number(receipt.card_number),
        "program": _ascii(programme_name(receipt.program, language)),
        "quantity": _ascii(amount_text(receipt.quantity, receipt.unit, language)),
    }
    if receipt.remaining is not None:
        values["remaining"] = _ascii(amount_text(receipt.remaining, receipt.unit, language))
    return [_row(translate(LABELS[key], language), value) for key, value in values.items()]


def render_receipt(receipt: Receipt, language: str = "id", reprint: bool = False) -> bytes:
    """Return the ESC/POS bytes of receipt: centred bold title, body rows, footer, feed and cut."""
    printer = Dummy()
    printer.set(align="center", bold=True)
    printer.text(translate(TITLE, language) + "\n")
    if reprint:
        printer.text(translate(REPRINT, language) + "\n")
    printer.set(align="left", bold=False)
    printer.text("-" * LINE_WIDTH + "\n")
    for line in receipt_lines(receipt, language):
        printer.text(line)
    printer.text("-" * LINE_WIDTH + "\n")
    printer.set(align="center")
    printer.text(translate(FOOTER, language) + "\n")
    printer.cut()
    return printer.output
