"""Wipe a half-written or bad chip card back to blank, so that it can be personalised again.

Personalisation writes the data objects first, then sets the PIN and the
PUK, and replaces the factory management key last. A wipe undoes that in
reverse. It authenticates with the card's derived management key (HKDF of
the personalisation master key and the card serial) or, when personalisation
never got that far, with the factory key. It then deletes every object
personalisation writes, unblocks the PIN to the factory PIN with the PUK,
sets the factory PUK and restores the factory management key, so the
blank-card check accepts the card again. The key pairs in slots 9A and 9E stay
until the next personalisation generates new ones, because PIV has no command
that deletes a key.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from card.apdu import SW, ApduError
from card.cardnumber import make_card_number
from card.i18n import N_, TranslatedError
from card.piv import DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, DEFAULT_PUK, ManagementKeyError, ObjectId, PivSession
from card.piv_objects import PivObjectError, guid_for_serial, parse_certificate_object, parse_chuid
from card.piv_pin import InvalidPinError
from issuance import audit, pending
from issuance.card_secrets import card_serial, derive_management_key, derive_puk, load_master_key
from issuance.personalise import check_blank_card
from issuance.station import COUNTER_LIMIT, Station

__all__ = ["PERSONALISED_OBJECTS", "WipeError", "WipeResult", "wipe_card"]

log = logging.getLogger(__name__)

# Every object personalisation writes, in the order it writes them.
PERSONALISED_OBJECTS = (
    ObjectId.CAPABILITY_CONTAINER, ObjectId.CHUID, ObjectId.CARD_AUTHENTICATION_CERTIFICATE,
    ObjectId.AUTHENTICATION_CERTIFICATE, ObjectId.FACIAL_IMAGE, ObjectId.KARTU_CREDENTIAL,
)


class WipeError(TranslatedError):
    """The card could not be wiped; message(language) returns the reason and the next step."""


CARD_STILL_VALID = N_(
    "card {card_number} is journalled as issued to a resident and has not been revoked; revoke it with "
    "'kartu issuance reissue' before wiping it"
)
CARD_NUMBER_UNKNOWN = N_(
    "the card rejects the factory management key and its card number could not be read from it; give the number "
    "printed on the card with --card"
)
KEY_REJECTED = N_(
    "the card rejects both the factory management key and the key derived for card {card_number}; it was "
    "personalised by a station with another master key, or the number is wrong. Set the card aside"
)
PUK_REJECTED = N_(
    "the card rejects the PUK, so its PIN cannot be reset; set the card aside as a bad card"
)


@dataclass(frozen=True)
class WipeResult:
    card_number: str | None
    used_derived_key: bool
    deleted_objects: int


def _read_card_number(session: PivSession, station: Station) -> str | None:
    """Find the card number in the card's certificates, else by matching its CHUID GUID to this station's numbers."""
    for object_id in (ObjectId.CARD_AUTHENTICATION_CERTIFICATE, ObjectId.AUTHENTICATION_CERTIFICATE):
        try:
            certificate = x509.load_der_x509_certificate(parse_certificate_object(session.get_data(object_id)))
        except (ApduError, PivObjectError, ValueError):
            continue
        numbers = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        if numbers:
            return str(numbers[0].value)
    try:
        guid = parse_chuid(session.get_data(ObjectId.CHUID)).guid
    except (ApduError, PivObjectError, ValueError):
        return None
    row = station.journal.execute("SELECT value FROM meta WHERE key = 'counter'").fetchone()
    first = station.station_number * COUNTER_LIMIT
    for counter in range(1, (int(row[0]) if row else 0) + 1):
        number = make_card_number(first + counter)
        if guid_for_serial(card_serial(number)) == guid:
            return number
    return None


def _check_not_in_use(db: sqlite3.Connection, card_number: str) -> None:
    issued = db.execute("SELECT 1 FROM cards WHERE card_number = ?", (card_number,)).fetchone()
    revoked = db.execute(
        "SELECT 1 FROM pending_calls WHERE kind = ? AND card_number = ?", (pending.REVOCATION, card_number)
    ).fetchone()
    if issued and not revoked:
        raise WipeError(CARD_STILL_VALID, card_number=card_number)


def _authenticate(session: PivSession, station: Station, card_number: str | None) -> tuple[str | None, bool]:
    """Open the card with the factory key, else the derived key; return the card number and whether it was derived."""
    try:
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        return card_number or _read_card_number(session, station), False
    except ManagementKeyError:
        pass
    card_number = card_number or _read_card_number(session, station)
    if card_number is None:
        raise WipeError(CARD_NUMBER_UNKNOWN)
    master_key = load_master_key(station.directory)
    try:
        session.authenticate_management_key(derive_management_key(master_key, card_serial(card_number)))
    except ManagementKeyError:
        raise WipeError(KEY_REJECTED, card_number=card_number) from None
    return card_number, True


def _delete_objects(session: PivSession) -> int:
    deleted = 0
    for object_id in PERSONALISED_OBJECTS:
        try:
            session.get_data(object_id)
        except ApduError as exc:
            if exc.sw == SW.FILE_NOT_FOUND:
                continue
            raise
        session.put_data(object_id, b"")
        deleted += 1
    return deleted


def _reset_pin_and_puk(session: PivSession, station: Station, card_number: str | None, derived: bool) -> None:
    """Unblock the PIN to the factory PIN with the PUK, then set the factory PUK.

    A card with the derived management key has the derived PUK. A card that
    still has the factory key may have either one, because personalisation
    sets the PUK just before the key, so the factory PUK is tried first. A
    wrong PUK costs one of the card's PUK attempts.
    """
    candidates = [] if derived else [DEFAULT_PUK]
    if card_number is not None:
        candidates.append(derive_puk(load_master_key(station.directory), card_serial(card_number)))
    for puk in candidates:
        try:
            session.unblock_pin(puk, DEFAULT_PIN)
        except InvalidPinError:
            continue
        if puk != DEFAULT_PUK:
            session.change_puk(puk, DEFAULT_PUK)
        return
    raise WipeError(PUK_REJECTED)


def wipe_card(session: PivSession, station: Station, clerk: str, card_number: str | None = None) -> WipeResult:
    """Reset the card in session to blank, check it with the blank-card check, and log it in the audit log.

    card_number is the number printed on the card, needed only when the card
    rejects the factory key and its certificates are gone. Raises WipeError,
    MasterKeyError, ApduError or ManagementKeyError; a card that fails half-way
    can be wiped again.
    """
    session.select()
    card_number, derived = _authenticate(session, station, card_number)
    if card_number is not None:
        _check_not_in_use(station.journal, card_number)
    deleted = _delete_objects(session)
    _reset_pin_and_puk(session, station, card_number, derived)
    if derived:
        session.set_management_key(DEFAULT_MANAGEMENT_KEY)
    session.select()
    check_blank_card(session)
    detail = f"reset to blank with the {'derived' if derived else 'factory'} management key, {deleted} objects deleted"
    audit.append(station.journal, clerk, "wipe", card_number, None, detail)
    log.info("card %s wiped (%s)", card_number or "without number", detail)
    return WipeResult(card_number, derived, deleted)
