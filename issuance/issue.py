"""Issue one resident's card: personalise the chip (or make a QR-only card), journal, register, print the face."""

from __future__ import annotations

import logging
import sqlite3
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from card.i18n import N_, TranslatedError
from card.piv import Connection, pad_reference
from issuance import audit, pending
from issuance.batch import CardFailure, issue_card
from issuance.face import CardFace, render_card_face
from issuance.personalise import IssuedCard
from issuance.photo_store import PHOTOS_DIR, load_photo, require_photo
from issuance.register import Resident
from issuance.reissue import prepare_journal
from issuance.station import Station

__all__ = [
    "CardAlreadyIssuedError", "IssueResult", "PinFileError", "active_card", "check_can_issue", "issue_resident",
    "read_pin_file",
]

log = logging.getLogger(__name__)

# Clerk name in the audit log when neither --clerk nor the station's clerk setting gives one.
UNNAMED_CLERK = "(no clerk named)"

PIN_FILE_EXPOSED = N_(
    "The PIN file {path} can be read by other users (mode {mode}). Run 'chmod 600 {path}' so only you can read it, "
    "then issue again."
)
PIN_FILE_UNREADABLE = N_("Cannot read the PIN file {path} ({error}). Check the path.")
PIN_FILE_INVALID = N_(
    "The PIN file {path} does not hold a usable PIN: the first line must be 6 to 8 digits. Write the resident's "
    "PIN on the first line and issue again."
)

CARD_ALREADY_ISSUED = N_(
    "The resident with NIK {nik} already has card {card_number}, which is not revoked. No card was written. "
    "For a lost, stolen or damaged card use 'kartu issuance reissue --card {card_number} --nik {nik} --reason "
    "lost|stolen|damaged'."
)


class CardAlreadyIssuedError(TranslatedError):
    """The resident already has a journalled card that is not revoked. Raised before any card is touched."""


class PinFileError(TranslatedError):
    """The cardholder PIN file is unreadable, readable by others, or contains no valid PIN; the PIN is never shown."""


def read_pin_file(path: Path) -> str:
    """Read the cardholder PIN from the first line of a file that only its owner may read (mode 0600 or 0400)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PinFileError(PIN_FILE_EXPOSED, path=path, mode=f"{stat.S_IMODE(mode):04o}")
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError as exc:
        raise PinFileError(PIN_FILE_UNREADABLE, path=path, error=exc.strerror) from None
    except UnicodeDecodeError:
        raise PinFileError(PIN_FILE_INVALID, path=path) from None
    pin = lines[0].strip() if lines else ""
    try:
        pad_reference(pin)
    except ValueError:
        raise PinFileError(PIN_FILE_INVALID, path=path) from None
    return pin


def active_card(db: sqlite3.Connection, nik: str) -> str | None:
    """Return the lowest-numbered journalled card of nik that is neither revoked nor replaced, or None.

    A card counts as revoked once its revocation is journalled, whether or not the server has it yet.
    The journal must have the reissue and pending-call tables (reissue.prepare_journal).
    """
    row = db.execute(
        "SELECT card_number FROM cards WHERE nik = ? "
        "AND card_number NOT IN (SELECT old_card FROM reissues) "
        "AND card_number NOT IN (SELECT card_number FROM pending_calls WHERE kind = ?) "
        "ORDER BY card_number LIMIT 1",
        (nik, pending.REVOCATION),
    ).fetchone()
    return row[0] if row else None


def check_can_issue(station: Station, resident: Resident, chip: bool) -> bytes | None:
    """Check that resident may get a new card and return the chip portrait (None for a QR-only card).

    Raises CardAlreadyIssuedError when the resident has an active card, and
    PhotoMissingError when a chip card is asked for without an accepted
    portrait, because clinic terminals compare the holder with the chip's photo.
    """
    # NOTE: the check and the journal insert are separate transactions, so two issue processes
    # started at the same moment for one NIK on one station can both pass it.
    prepare_journal(station.journal)
    existing = active_card(station.journal, resident.nik)
    if existing is not None:
        raise CardAlreadyIssuedError(CARD_ALREADY_ISSUED, nik=resident.nik, card_number=existing)
    return require_photo(station.directory / PHOTOS_DIR, resident.nik) if chip else None


@dataclass(frozen=True)
class IssueResult:
    card: IssuedCard
    front: Path
    back: Path


def issue_resident(
    station: Station,
    resident: Resident,
    connection: Connection | None,
    issued: date,
    face_dir: Path,
    server_url: str | None = None,
    admin_token: str | None = None,
    pin: str | None = None,
    photo: bytes | None = None,
    clerk: str | None = None,
) -> IssueResult:
    """Issue and journal the card, render its face, then register it with the server when one is given.

    pin becomes the chip card's cardholder PIN; without it the card gets a new random
    PIN, written only to its PIN slip under STATION/pin-slips/single. photo is the resident's portrait
    from issuance.photo.prepare_photo; without it a chip card gets the accepted
    portrait in STATION/photos, and a QR-only card prints that portrait on its
    face when there is one. check_can_issue runs first, so a resident with an
    active card raises CardAlreadyIssuedError, and a chip card without a
    portrait raises PhotoMissingError, before any card is touched. The card is
    journalled with its registration body and an audit entry for clerk (default:
    the station's clerk setting), as batch.issue_card does, so a card that the
    server does not take now is sent later by `kartu issuance register-pending`.
    A RegistrationError leaves the card issued and journalled as unregistered.
    A failed card raises the personalisation error itself.
    """
    accepted = check_can_issue(station, resident, chip=connection is not None and photo is None)
    clerk = audit.resolve_clerk(station.journal, clerk) if clerk else audit.station_clerk(station.journal)
    clerk = clerk or UNNAMED_CLERK
    if connection is not None:
        photo = photo or accepted
    else:
        photo = photo or load_photo(station.directory / PHOTOS_DIR, resident.nik)
    try:
        card = issue_card(station, resident, connection, issued, clerk, detail="kartu issuance issue", photo=photo,
                          pin=pin if connection is not None else None).card
    except CardFailure as exc:
        raise exc.__cause__ or exc from None
    front, back = render_card_face(
        CardFace(
            name=resident.name, card_number=card.card_number, kelurahan=resident.kelurahan,
            kecamatan=resident.kecamatan, issued=card.issued, expires=card.expires, photo=photo,
            qr_text=card.qr_text,
        ),
        face_dir,
    )
    if server_url is not None and admin_token is not None:
        [call] = [call for call in pending.pending_calls(station.journal)
                  if call.kind == pending.REGISTRATION and call.card_number == card.card_number]
        pending.send_one(station.journal, call, server_url, admin_token, clerk)
        log.info("card %s registered with the server", card.card_number)
    return IssueResult(card, front, back)
