"""Card personalisation: keys generated on the card, both credentials signed, the chip written and read back."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date

from card.credential import Credential, Holder, Profile, sign_credential
from card.keys import compress_point, decompress_point
from card.piv import DEFAULT_MANAGEMENT_KEY, ObjectId, PivSession, Slot
from card.qrtext import to_qr_text
from issuance.register import Resident, household_id
from issuance.station import Station

__all__ = ["IssuedCard", "PersonalisationError", "personalise_chip_card", "issue_qr_only", "CARD_VALIDITY_YEARS"]

log = logging.getLogger(__name__)
CARD_VALIDITY_YEARS = 5


class PersonalisationError(Exception):
    """The card did not end up holding what was written; it must not be handed out."""


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

    @property
    def assurance(self) -> str:
        return "chip" if self.chip_credential is not None else "qr"


def _expiry(issued: date) -> date:
    try:
        return issued.replace(year=issued.year + CARD_VALIDITY_YEARS)
    except ValueError:  # 29 February
        return issued.replace(year=issued.year + CARD_VALIDITY_YEARS, day=28)


def _credential(resident: Resident, station: Station, card_number: str, profile: Profile, issued: date,
                photo_digest: bytes | None = None, card_key: bytes | None = None) -> Credential:
    return Credential(
        profile=profile,
        card_number=card_number,
        holder=Holder(resident.name, resident.birth_date, resident.sex, resident.kelurahan_code),
        household_id=household_id(resident.kk, station.household_key),
        issued=issued,
        expires=_expiry(issued),
        photo_digest=photo_digest,
        card_key=card_key,
    )


def personalise_chip_card(session: PivSession, resident: Resident, station: Station, photo: bytes,
                          issued: date, management_key: bytes = DEFAULT_MANAGEMENT_KEY) -> IssuedCard:
    """Write a resident's card: a fresh 9E key, the facial image and the chip credential, then verify by reading back."""
    card_number = station.allocate_card_number()
    session.authenticate_management_key(management_key)
    point = session.generate_key(Slot.CARD_AUTHENTICATION)
    card_key = compress_point(decompress_point(point))
    chip = _credential(resident, station, card_number, Profile.CHIP, issued, hashlib.sha256(photo).digest(), card_key)
    qr = _credential(resident, station, card_number, Profile.QR, issued)
    chip_bytes = sign_credential(chip, station.issuer)
    qr_text = to_qr_text(sign_credential(qr, station.issuer))

    session.put_data(ObjectId.FACIAL_IMAGE, photo)
    session.put_data(ObjectId.KARTU_CREDENTIAL, chip_bytes)
    if session.get_data(ObjectId.KARTU_CREDENTIAL) != chip_bytes or session.get_data(ObjectId.FACIAL_IMAGE) != photo:
        raise PersonalisationError(f"card {card_number} read back different data; set it aside as a bad card")
    log.info("card %s personalised (chip)", card_number)
    return IssuedCard(card_number, chip.household_id, issued, chip.expires, qr_text, chip_bytes, card_key, photo)


def issue_qr_only(resident: Resident, station: Station, issued: date) -> IssuedCard:
    """Issue a QR-only card: only the QR credential, printed on the card face."""
    card_number = station.allocate_card_number()
    qr = _credential(resident, station, card_number, Profile.QR, issued)
    qr_text = to_qr_text(sign_credential(qr, station.issuer))
    log.info("card %s issued (QR only)", card_number)
    return IssuedCard(card_number, qr.household_id, issued, qr.expires, qr_text)
