"""`kartu issuance print`: write an issued card's face PDF and send it to a CUPS queue."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from card.cardnumber import is_valid_card_number
from card.i18n import N_, translate
from issuance.cups import PrintError, print_pdf
from issuance.face_redraw import FaceRedrawError, face_readable, redraw_face
from issuance.print_face import write_pdf_from_files

__all__ = ["add_commands"]

FACE_MISSING = N_("The card face of card {card} in {faces} is missing or unreadable. Give --register FILE (the "
                  "register the card was issued from) to redraw it from the station journal, or --faces with the "
                  "directory its PNG files were written to.")
FACE_REDRAWN = N_("The card face of card {card} was missing or unreadable and was redrawn from the station journal.")
INVALID_CARD = N_("Invalid card number {card}: give the 16 digits printed on the card, without spaces.")
PDF_WRITTEN = N_("Card face PDF: {pdf}")
PRINTED = N_("Card {card} sent to printer queue {queue} as job {job}.")


def add_commands(commands: argparse._SubParsersAction) -> None:
    printing = commands.add_parser("print", help="write an issued card's face PDF and print it on a CUPS queue")
    printing.add_argument("--station", type=Path, required=True, help="station directory (from 'kartu keys create')")
    printing.add_argument("--card", required=True, help="card number, 16 digits")
    printing.add_argument("--faces", type=Path, help="directory of the card-face PNGs (default: STATION/faces)")
    printing.add_argument("--register", type=Path,
                          help="register CSV the card was issued from, to redraw a missing or unreadable face")
    printing.add_argument("--queue", help="CUPS queue to print on (default: only write the PDF)")
    printing.add_argument("--copies", type=int, default=1, help="number of copies, 1 to 10 (default 1)")
    printing.set_defaults(handler=_print)


def _print(args: argparse.Namespace) -> int:
    card = args.card.strip()
    if not is_valid_card_number(card):
        print(translate(INVALID_CARD, args.lang, card=args.card), file=sys.stderr)
        return 2
    faces = args.faces or args.station / "faces"
    front, back = faces / f"{card}-front.png", faces / f"{card}-back.png"
    if not (face_readable(front) and face_readable(back)):
        if args.register is None:
            print(translate(FACE_MISSING, args.lang, card=card, faces=faces), file=sys.stderr)
            return 2
        try:
            front, back = redraw_face(args.station, card, args.register, faces)
        except FaceRedrawError as exc:
            print(exc.message(args.lang), file=sys.stderr)
            return 2
        print(translate(FACE_REDRAWN, args.lang, card=card))
    pdf = write_pdf_from_files(front, back, faces / f"{card}.pdf")
    print(translate(PDF_WRITTEN, args.lang, pdf=pdf))
    if args.queue is None:
        return 0
    try:
        job = print_pdf(pdf, args.queue, title=card, copies=args.copies)
    except PrintError as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 1
    print(translate(PRINTED, args.lang, card=card, queue=args.queue, job=job))
    return 0
