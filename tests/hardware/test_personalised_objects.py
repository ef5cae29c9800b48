"""The standard PIV objects of a personalised card: signed CHUID, capability container, no Security Object."""

from __future__ import annotations

from datetime import date

import pytest

from card.apdu import SW, ApduError, parse_tlv
from card.keys import FileSigner, generate_private_key
from card.piv import ObjectId
from card.piv_objects import guid_for_serial, parse_chuid
from card.piv_signature import verify_chuid_signature
from issuance.card_secrets import card_serial
from issuance.personalise import personalise_chip_card
from issuance.photo import placeholder_photo
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from tests.hardware.piv_support import pcsc, piv_card  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("pcsc_available")


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


@pytest.fixture
def issued(piv_card, station):
    resident = generate_register(3, seed=5)[0]
    with piv_card.session() as session:
        return personalise_chip_card(session, resident, station, placeholder_photo(resident.name, seed=3),
                                     date(2026, 12, 1))


def test_chuid_signature_verifies_on_card(piv_card, station, issued) -> None:
    with piv_card.session() as session:
        chuid = session.get_data(ObjectId.CHUID)
    verify_chuid_signature(chuid, station.issuer.public_key)
    assert parse_chuid(chuid).guid == guid_for_serial(card_serial(issued.card_number))
    assert parse_chuid(chuid).expires == issued.expires


def test_chuid_signature_fails_with_other_issuer(piv_card, issued) -> None:
    with piv_card.session() as session:
        chuid = session.get_data(ObjectId.CHUID)
    with pytest.raises(ValueError):
        verify_chuid_signature(chuid, FileSigner(generate_private_key()).public_key)


def test_capability_container_written(piv_card, issued) -> None:
    with piv_card.session() as session:
        container = dict(parse_tlv(session.get_data(ObjectId.CAPABILITY_CONTAINER)))
    guid = guid_for_serial(card_serial(issued.card_number))
    assert container[0xF0] == bytes.fromhex("A000000116FF01") + guid[:14]


def test_no_security_object(piv_card, issued) -> None:
    with piv_card.session() as session:
        with pytest.raises(ApduError) as caught:
            session.get_data(ObjectId.SECURITY_OBJECT)
    assert caught.value.sw == SW.FILE_NOT_FOUND
