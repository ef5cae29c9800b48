"""Redraw a card face from the station journal and the register, for `kartu issuance print`.

The journal keeps the card's NIK, dates and QR text but not the printed name
or area names, so those come from the register file. The portrait comes from
STATION/photos, where the accepted photo stays after issuance.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from PIL import Image

from card.i18n import N_, TranslatedError
from issuance.face import CardFace, render_card_face
from issuance.photo_store import PHOTOS_DIR, load_photo
from issuance.register import ResidentNotFoundError, find_resident, read_register
from issuance.station import JOURNAL, open_journal

__all__ = ["FaceRedrawError", "face_readable", "redraw_face"]

CARD_NOT_JOURNALLED = N_("Card {card} is not in the journal of station {station}, so its face cannot be redrawn. "
                         "Check the card number and the station directory.")
RESIDENT_NOT_IN_REGISTER = N_("The holder of card {card} is not a valid row of the register {register}, so the "
                              "face cannot be redrawn. Give the register the card was issued from.")
REGISTER_UNREADABLE = N_("Cannot read the register {register} ({error}). Check the path.")


class FaceRedrawError(TranslatedError):
    """The face cannot be redrawn, because the card is not journalled or its holder is not in the register."""


def face_readable(path: Path) -> bool:
    """Return True when path exists and Pillow can read it as a complete image."""
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


def redraw_face(station_dir: Path, card_number: str, register: Path, faces: Path) -> tuple[Path, Path]:
    """Render the face of a journalled card again and return the front and back PNG paths."""
    journal_path = station_dir / JOURNAL
    if not journal_path.exists():
        raise FaceRedrawError(CARD_NOT_JOURNALLED, card=card_number, station=station_dir)
    db = open_journal(journal_path)
    try:
        row = db.execute("SELECT nik, issued, expires, qr_text FROM cards WHERE card_number = ?",
                         (card_number,)).fetchone()
    finally:
        db.close()
    if row is None:
        raise FaceRedrawError(CARD_NOT_JOURNALLED, card=card_number, station=station_dir)
    nik, issued, expires, qr_text = row
    try:
        resident = find_resident(read_register(register).residents, nik)
    except OSError as exc:
        raise FaceRedrawError(REGISTER_UNREADABLE, register=register, error=exc.strerror) from None
    except ResidentNotFoundError:
        raise FaceRedrawError(RESIDENT_NOT_IN_REGISTER, card=card_number, register=register) from None
    face = CardFace(
        name=resident.name, card_number=card_number, kelurahan=resident.kelurahan, kecamatan=resident.kecamatan,
        issued=date.fromisoformat(issued), expires=date.fromisoformat(expires),
        photo=load_photo(station_dir / PHOTOS_DIR, nik), qr_text=qr_text,
    )
    return render_card_face(face, faces)
