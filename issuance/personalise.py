"""Card personalisation: the full PIV profile written, read back and checked before a card counts as issued.

A blank card has the factory management key, PIN and PUK. Personalisation
first generates P-256 keys on the card in 9E (Card Authentication) and 9A (PIV
Authentication). It then writes the CHUID, the issuer-signed certificates of
both keys, the facial image and the chip credential, sets the cardholder PIN
and a derived PUK, and last replaces the factory management key with a
derived one. card/PROFILE.md lists the objects and the APDUs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import date

from cryptography.hazmat.primitives.asymmetric import ec

from card.apdu import SW, ApduError
from card.certificates import (
    CertificateError, build_card_certificate, build_content_signing_certificate, verify_card_certificate,
)
from card.credential import Credential, Holder, Profile, sign_credential
from card.i18n import N_, translate
from card.keys import compress_point, decompress_point, verify_der_prehashed
from card.piv import (
    DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, DEFAULT_PUK, ManagementKeyError, ObjectId, PivSession, Slot,
    pad_reference,
)
from card.piv_objects import (
    PivObjectError, build_capability_container, build_certificate_object, build_chuid, guid_for_serial,
    parse_certificate_object,
)
from card.piv_signature import chuid_signed_content, sign_chuid_content, verify_chuid_signature
from card.qrtext import to_qr_text
from issuance.card_secrets import card_serial, derive_management_key, derive_puk, load_master_key
from issuance.photo import MAX_PHOTO_BYTES
from issuance.register import Resident, household_id
from issuance.station import Station

__all__ = [
    "IssuedCard", "PersonalisationError", "CardNotBlankError", "check_blank_card", "personalise_chip_card", "issue_qr_only", "CARD_VALIDITY_YEARS",
    "DEMO_PIN",
]

log = logging.getLogger(__name__)
CARD_VALIDITY_YEARS = 5
# PIN the demo and tests give every card; a clerk passes the resident's own PIN instead.
DEMO_PIN = "246810"
JPEG_START, JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


class PersonalisationError(Exception):
    """The card did not end up holding what was written; it must not be handed out."""


class CardNotBlankError(ManagementKeyError):
    """The card in the reader already contains Kartu Bahagia data or no longer accepts the factory management key.

    Nothing was written to the card. message(language) is for the clerk;
    str() is the English text.
    """

    def __init__(self, template: str, **params: object):
        self.template = template
        self.params = params
        super().__init__(self.message("en"))

    def message(self, language: str = "id") -> str:
        params = {key: translate(value, language) if key == "name" else value for key, value in self.params.items()}
        return translate(self.template, language, **params)


CARD_HOLDS_OBJECT = N_(
    "The card in the reader is not blank: it already holds the {name} (PIV object {object_id}). Nothing was "
    "written to it. Put a new blank card on the reader; to replace a holder's lost or damaged card, use "
    "'kartu issuance reissue' with a blank card."
)
CARD_KEY_CHANGED = N_(
    "The card in the reader is not blank: it rejects the factory management key, so it was personalised "
    "before. Nothing was written to it. Put a new blank card on the reader; to replace a holder's lost or "
    "damaged card, use 'kartu issuance reissue' with a blank card."
)
# Objects that personalisation writes; a card holding any of them has been personalised before.
_PERSONALISED_OBJECTS = {
    ObjectId.KARTU_CREDENTIAL: N_("chip credential"),
    ObjectId.CHUID: N_("card holder unique identifier (CHUID)"),
    ObjectId.CARD_AUTHENTICATION_CERTIFICATE: N_("card authentication certificate"),
}


@dataclass(frozen=True)
class IssuedCard:
    card_number: str
    household_id: bytes
    issued: date
    expires: date
    qr_text: str
    chip_credential: bytes | None = None
    card_key: bytes | None = None
    photo: bytes | None = None
    # Compressed point of the PIV Authentication key (9A), which signs PIN hand-overs.
    authentication_key: bytes | None = None

    @property
    def assurance(self) -> str:
        return "chip" if self.chip_credential is not None else "qr"


@dataclass(frozen=True)
class _CardKeys:
    card_authentication: ec.EllipticCurvePublicKey
    authentication: ec.EllipticCurvePublicKey


def _expiry(issued: date) -> date:
    try:
        return issued.replace(year=issued.year + CARD_VALIDITY_YEARS)
    except ValueError:  # 29 February
        return issued.replace(year=issued.year + CARD_VALIDITY_YEARS, day=28)


def _credential(resident: Resident, station: Station, card_number: str, profile: Profile, issued: date,
                photo_digest: bytes | None = None, card_key: bytes | None = None,
                on_chip_card: bool = False) -> Credential:
    return Credential(
        profile=profile,
        card_number=card_number,
        holder=Holder(resident.name, resident.birth_date, resident.sex, resident.kelurahan_code),
        household_id=household_id(resident.kk, station.household_key),
        issued=issued,
        expires=_expiry(issued),
        photo_digest=photo_digest,
        card_key=card_key,
        on_chip_card=on_chip_card,
    )


def _check_inputs(photo: bytes, pin: str) -> None:
    """Reject a bad photo or PIN before anything is written to the card."""
    if not (photo.startswith(JPEG_START) and photo.rstrip(b"\x00").endswith(JPEG_END)):
        raise PersonalisationError("facial image is not a JPEG file; export the photo as JPEG and issue again")
    if len(photo) > MAX_PHOTO_BYTES:
        raise PersonalisationError(
            f"facial image is {len(photo)} bytes but the chip takes at most {MAX_PHOTO_BYTES}; "
            "save it again at a lower JPEG quality"
        )
    try:
        pad_reference(pin)
    except ValueError as exc:
        raise PersonalisationError(f"cardholder PIN is unusable: {exc}; ask the resident for another PIN") from None


def personalise_chip_card(session: PivSession, resident: Resident, station: Station, photo: bytes,
                          issued: date, management_key: bytes = DEFAULT_MANAGEMENT_KEY,
                          pin: str = DEMO_PIN) -> IssuedCard:
    """Personalise a blank card for resident and verify it by reading everything back.

    management_key opens the blank card (the factory key unless the card
    vendor ships another transport key); pin becomes the cardholder PIN.
    Raises PersonalisationError when the card does not hold what was written,
    CardNotBlankError (a ManagementKeyError) when the card is not blank, and
    MasterKeyError when the station has no usable personalisation master key.
    """
    _check_inputs(photo, pin)
    master_key = load_master_key(station.directory)
    check_blank_card(session, management_key)
    card_number = station.allocate_card_number()
    serial = card_serial(card_number)
    expires = _expiry(issued)

    keys = _CardKeys(
        card_authentication=decompress_point(session.generate_key(Slot.CARD_AUTHENTICATION)),
        authentication=decompress_point(session.generate_key(Slot.AUTHENTICATION)),
    )
    card_key = compress_point(keys.card_authentication)
    chip = _credential(resident, station, card_number, Profile.CHIP, issued, hashlib.sha256(photo).digest(), card_key)
    # The QR credential of a chip card carries the on-chip-card flag, so a terminal with a working reader requests the chip.
    qr = _credential(resident, station, card_number, Profile.QR, issued, on_chip_card=True)
    chip_bytes = sign_credential(chip, station.issuer)
    qr_text = to_qr_text(sign_credential(qr, station.issuer))

    objects = _objects(keys, card_number, serial, issued, expires, station, photo, chip_bytes)
    for object_id, value in objects.items():
        session.put_data(object_id, value)
    session.change_pin(DEFAULT_PIN, pin)
    session.change_puk(DEFAULT_PUK, derive_puk(master_key, serial))
    derived_key = derive_management_key(master_key, serial)
    session.set_management_key(derived_key)

    _check_personalised_card(session, objects, keys, pin, derived_key, station, card_number)
    log.info("card %s personalised (chip)", card_number)
    return IssuedCard(card_number, chip.household_id, issued, chip.expires, qr_text, chip_bytes, card_key, photo,
                      compress_point(keys.authentication))


def check_blank_card(session: PivSession, management_key: bytes = DEFAULT_MANAGEMENT_KEY) -> None:
    """Raise CardNotBlankError unless the card is blank; leave the management key authenticated.

    A blank card contains none of the objects personalisation writes (GET
    DATA returns 6A82) and accepts management_key. Any other status word from GET
    DATA propagates as ApduError.
    """
    for object_id, name in _PERSONALISED_OBJECTS.items():
        try:
            session.get_data(object_id)
        except ApduError as exc:
            if exc.sw == SW.FILE_NOT_FOUND:
                continue
            raise
        raise CardNotBlankError(CARD_HOLDS_OBJECT, name=name, object_id=f"{object_id:06X}")
    try:
        session.authenticate_management_key(management_key)
    except ManagementKeyError:
        raise CardNotBlankError(CARD_KEY_CHANGED) from None


def _objects(keys: _CardKeys, card_number: str, serial: str, issued: date, expires: date, station: Station,
             photo: bytes, chip_bytes: bytes) -> dict[int, bytes]:
    """Return the data objects to write, in writing order."""
    certificates = {
        slot: build_card_certificate(key, slot, card_number, issued, expires, station.issuer)
        for slot, key in ((Slot.CARD_AUTHENTICATION, keys.card_authentication), (Slot.AUTHENTICATION, keys.authentication))
    }
    return {
        ObjectId.CAPABILITY_CONTAINER: build_capability_container(guid_for_serial(serial)),
        ObjectId.CHUID: _signed_chuid(guid_for_serial(serial), issued, expires, station),
        ObjectId.CARD_AUTHENTICATION_CERTIFICATE: build_certificate_object(certificates[Slot.CARD_AUTHENTICATION]),
        ObjectId.AUTHENTICATION_CERTIFICATE: build_certificate_object(certificates[Slot.AUTHENTICATION]),
        ObjectId.FACIAL_IMAGE: photo,
        ObjectId.KARTU_CREDENTIAL: chip_bytes,
    }


def _signed_chuid(guid: bytes, issued: date, expires: date, station: Station) -> bytes:
    """Build the CHUID with the issuer's CMS signature over its FASC-N, GUID and expiration date."""
    content, _ = chuid_signed_content(build_chuid(guid, expires))
    certificate = build_content_signing_certificate(station.issuer, station.issuer.public_key, issued, expires)
    return build_chuid(guid, expires, sign_chuid_content(content, station.issuer, certificate))


def _check_personalised_card(session: PivSession, objects: dict[int, bytes], keys: _CardKeys, pin: str,
                             management_key: bytes, station: Station, card_number: str) -> None:
    """Read the card back in a fresh PIV session and raise PersonalisationError on any difference."""
    bad_card = f"card {card_number}"
    session.select()
    for object_id, value in objects.items():
        if session.get_data(object_id) != value:
            raise PersonalisationError(f"{bad_card} read back different data in object {object_id:06X}; set it aside as a bad card")
    certified = (
        (ObjectId.CARD_AUTHENTICATION_CERTIFICATE, keys.card_authentication),
        (ObjectId.AUTHENTICATION_CERTIFICATE, keys.authentication),
    )
    try:
        for object_id, key in certified:
            verify_card_certificate(parse_certificate_object(objects[object_id]), station.issuer.public_key, key)
        verify_chuid_signature(objects[ObjectId.CHUID], station.issuer.public_key)
    except (CertificateError, PivObjectError) as exc:
        raise PersonalisationError(f"{bad_card}: {exc}; set it aside as a bad card") from None
    _check_signature(session, Slot.CARD_AUTHENTICATION, keys.card_authentication, bad_card)
    session.verify_pin(pin)
    _check_signature(session, Slot.AUTHENTICATION, keys.authentication, bad_card)
    _check_management_key(session, management_key, bad_card)


def _check_signature(session: PivSession, slot: int, public_key: ec.EllipticCurvePublicKey, bad_card: str) -> None:
    digest = os.urandom(32)
    if not verify_der_prehashed(public_key, session.sign_digest(slot, digest), digest):
        raise PersonalisationError(f"{bad_card} signs with another key than slot {slot:02X} returned; set it aside as a bad card")


def _check_management_key(session: PivSession, management_key: bytes, bad_card: str) -> None:
    """The derived key must open the card and the factory key must not."""
    session.authenticate_management_key(management_key)
    try:
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
    except ManagementKeyError:
        return
    raise PersonalisationError(f"{bad_card} still accepts the factory management key; set it aside as a bad card")


def issue_qr_only(resident: Resident, station: Station, issued: date) -> IssuedCard:
    """Issue a QR-only card: only the QR credential, printed on the card face."""
    card_number = station.allocate_card_number()
    qr = _credential(resident, station, card_number, Profile.QR, issued)
    qr_text = to_qr_text(sign_credential(qr, station.issuer))
    log.info("card %s issued (QR only)", card_number)
    return IssuedCard(card_number, qr.household_id, issued, qr.expires, qr_text)
