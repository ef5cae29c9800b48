"""Issue one resident's card: personalise the chip (or make a QR-only card), journal, register, print the face."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from card.piv import Connection, PivSession
from issuance.face import CardFace, render_card_face
from issuance.personalise import DEMO_PIN, IssuedCard, issue_qr_only, personalise_chip_card
from issuance.photo import placeholder_photo
from issuance.register import Resident
from issuance.server_client import register_card
from issuance.station import Station

__all__ = ["IssueResult", "issue_resident"]

log = logging.getLogger(__name__)


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
    pin: str = DEMO_PIN,
    photo: bytes | None = None,
) -> IssueResult:
    """Issue and journal the card, render its face, then register it with the server when one is given.

    pin becomes the chip card's cardholder PIN. photo is the resident's portrait
    from issuance.photo.prepare_photo; without it a chip card gets a placeholder
    portrait. A RegistrationError leaves the card issued and journalled as unregistered.
    """
    if connection is not None:
        if photo is None:
            photo = placeholder_photo(resident.name, seed=int(resident.nik[-4:]))
        card = personalise_chip_card(PivSession(connection), resident, station, photo, issued, pin=pin)
    else:
        card = issue_qr_only(resident, station, issued)
    station.record_card(card.card_number, resident.nik, card.household_id, card.assurance,
                        card.issued.isoformat(), card.expires.isoformat(), card.qr_text)
    front, back = render_card_face(
        CardFace(
            name=resident.name, card_number=card.card_number, kelurahan=resident.kelurahan,
            kecamatan=resident.kecamatan, issued=card.issued, expires=card.expires, photo=photo,
            qr_text=card.qr_text,
        ),
        face_dir,
    )
    if server_url is not None and admin_token is not None:
        register_card(server_url, admin_token, card, resident, station.issuer.kid)
        station.mark_registered(card.card_number)
        log.info("card %s registered with the server", card.card_number)
    return IssueResult(card, front, back)
