"""Personalisation of reference cards through pyscard, pcscd and vpcd, and the checks that follow it."""

from __future__ import annotations

import hashlib
import os
from datetime import date, datetime, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from card.apdu import SW, ApduError, parse_command
from card.certificates import ID_PIV_CARD_AUTH, CertificateError, verify_card_certificate
from card.keys import decompress_point, generate_private_key, verify_der_prehashed
from card.piv import (
    DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, INS, InvalidPinError, ManagementKeyError, ObjectId, PivSession, Slot,
)
from card.piv_objects import guid_for_serial
from card.verify import IssuerKey, TrustStore, verify_chip
from issuance.card_secrets import MASTER_KEY_FILE, MasterKeyError, card_serial, derive_management_key, derive_puk, load_master_key
from issuance.personalise import PersonalisationError, personalise_chip_card
from issuance.photo import MAX_PHOTO_BYTES, placeholder_photo
from issuance.station import Station, create_station_keys
from issuance.synth import generate_register
from tests.hardware.piv_support import InsertedCard, pcsc  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("pcsc_available")

ISSUED = date(2026, 12, 1)
CLERK_PIN = "80808080"


@pytest.fixture
def station(tmp_path) -> Station:
    create_station_keys(tmp_path / "station")
    return Station(tmp_path / "station")


@pytest.fixture
def resident():
    return generate_register(5, seed=11)[0]


@pytest.fixture
def blank_card(pcsc, tmp_path):
    inserted = InsertedCard(pcsc, tmp_path / "card.json").insert()
    yield inserted
    inserted.remove()


@pytest.fixture
def issued(blank_card, station, resident):
    with blank_card.session() as session:
        card = personalise_chip_card(session, resident, station, placeholder_photo(resident.name, seed=2), ISSUED,
                                     pin=CLERK_PIN)
    return card


def derived_key(station: Station, card_number: str) -> bytes:
    return derive_management_key(load_master_key(station.directory), card_serial(card_number))


def test_default_management_key_refused_after_personalisation(blank_card, station, issued) -> None:
    with blank_card.session() as session:
        with pytest.raises(ManagementKeyError):
            session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.authenticate_management_key(derived_key(station, issued.card_number))
        session.put_data(ObjectId.PRINTED_INFORMATION, b"writable with the derived key")


def test_other_cards_key_refused(blank_card, station, issued) -> None:
    other_serial = card_serial(issued.card_number)[:-1] + "9"
    other_key = derive_management_key(load_master_key(station.directory), other_serial)
    with blank_card.session() as session:
        with pytest.raises(ManagementKeyError):
            session.authenticate_management_key(other_key)


def test_cak_certificate_verifies_with_issuer_key(blank_card, station, issued) -> None:
    with blank_card.session() as session:
        certificate = session.card_authentication_certificate()
    der = certificate.public_bytes(serialization.Encoding.DER)
    card_key = decompress_point(issued.card_key)
    verify_card_certificate(der, station.issuer.public_key, card_key)
    assert certificate.public_key().public_numbers() == card_key.public_numbers()
    assert ID_PIV_CARD_AUTH in certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert issued.card_number in certificate.subject.rfc4514_string()
    with pytest.raises(CertificateError, match="issuer key"):
        verify_card_certificate(der, generate_private_key().public_key(), card_key)
    with pytest.raises(CertificateError, match="different public key"):
        verify_card_certificate(der, station.issuer.public_key, generate_private_key().public_key())


def test_card_key_signs_for_its_certificate(blank_card, issued) -> None:
    digest = os.urandom(32)
    with blank_card.session() as session:
        certificate = session.card_authentication_certificate()
        signature = session.sign_digest(Slot.CARD_AUTHENTICATION, digest)
    assert verify_der_prehashed(certificate.public_key(), signature, digest)


def test_authentication_key_needs_clerk_pin(blank_card, station, issued) -> None:
    digest = os.urandom(32)
    with blank_card.session() as session:
        certificate = session.read_certificate(Slot.AUTHENTICATION)
        verify_card_certificate(certificate.public_bytes(serialization.Encoding.DER), station.issuer.public_key,
                                decompress_point(issued.authentication_key))
        with pytest.raises(InvalidPinError) as raised:
            session.verify_pin(DEFAULT_PIN)
        assert raised.value.attempts_remaining == 2
        session.verify_pin(CLERK_PIN)
        signature = session.sign_digest(Slot.AUTHENTICATION, digest)
    assert verify_der_prehashed(decompress_point(issued.authentication_key), signature, digest)


def test_derived_puk_unblocks_pin(blank_card, station, issued) -> None:
    puk = derive_puk(load_master_key(station.directory), card_serial(issued.card_number))
    with blank_card.session() as session:
        for _ in range(3):
            with pytest.raises(InvalidPinError):
                session.verify_pin("11111111")
        session.unblock_pin(puk, "24682468")
        session.verify_pin("24682468")


def test_chuid_guid_from_card_serial(blank_card, issued) -> None:
    with blank_card.session() as session:
        chuid = session.read_chuid()
    assert chuid.guid == guid_for_serial(card_serial(issued.card_number))
    assert chuid.expires == issued.expires
    assert chuid.fasc_n.hex().startswith("d4e739da739ced39ce739d")


def test_credential_and_photo_on_card(blank_card, station, issued) -> None:
    with blank_card.session() as session:
        credential_bytes = session.get_data(ObjectId.KARTU_CREDENTIAL)
        photo = session.get_data(ObjectId.FACIAL_IMAGE)
    trust = TrustStore.of(IssuerKey(station.issuer.public_key))
    verification = verify_chip(credential_bytes, trust, datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert verification.accepted
    assert verification.credential.photo_digest == hashlib.sha256(photo).digest()
    assert verification.credential.card_key == issued.card_key
    assert photo.startswith(b"\xff\xd8")
    assert len(photo) <= MAX_PHOTO_BYTES


def test_personalised_card_cannot_be_personalised_again(blank_card, station, resident, issued) -> None:
    with blank_card.session() as session:
        with pytest.raises(ManagementKeyError):
            personalise_chip_card(session, resident, station, placeholder_photo(resident.name, seed=2), ISSUED)


class CorruptingConnection:
    """Passes APDUs to the card but flips one byte of the data of the PUT DATA for object_id."""

    def __init__(self, connection, object_id: int):
        self._connection = connection
        self._object_tag = object_id.to_bytes(3, "big")
        self.corrupted = False

    def atr(self) -> bytes:
        return self._connection.atr()

    def send_and_receive(self, apdu: bytes) -> tuple[bytes, int]:
        command = parse_command(apdu)
        if command.ins == INS.PUT_DATA and self._object_tag in command.data[:6] and not self.corrupted:
            self.corrupted = True
            apdu = apdu[:-10] + bytes([apdu[-10] ^ 0x01]) + apdu[-9:]
        return self._connection.send_and_receive(apdu)


@pytest.mark.parametrize("object_id", [ObjectId.FACIAL_IMAGE, ObjectId.CARD_AUTHENTICATION_CERTIFICATE])
def test_readback_detects_corrupted_write(blank_card, station, resident, object_id) -> None:
    with blank_card.connection() as connection:
        corrupting = CorruptingConnection(connection, object_id)
        with pytest.raises(PersonalisationError, match=f"object {object_id:06X}"):
            personalise_chip_card(PivSession(corrupting), resident, station, placeholder_photo(resident.name, seed=2), ISSUED)
    assert corrupting.corrupted


def test_oversized_photo_refused_before_writing(blank_card, station, resident) -> None:
    big = b"\xff\xd8\xff" + os.urandom(MAX_PHOTO_BYTES) + b"\xff\xd9"
    with blank_card.session() as session:
        blank_card.card.received.clear()
        with pytest.raises(PersonalisationError, match=f"at most {MAX_PHOTO_BYTES}"):
            personalise_chip_card(session, resident, station, big, ISSUED)
        with pytest.raises(PersonalisationError, match="not a JPEG"):
            personalise_chip_card(session, resident, station, b"\x89PNG\r\n\x1a\n" + bytes(100), ISSUED)
        with pytest.raises(PersonalisationError, match="PIN"):
            personalise_chip_card(session, resident, station, placeholder_photo("A B", seed=1), ISSUED, pin="12ab")
    assert blank_card.card.received == []


def test_station_without_master_key_writes_nothing(blank_card, station, resident) -> None:
    (station.directory / MASTER_KEY_FILE).unlink()
    with blank_card.session() as session:
        blank_card.card.received.clear()
        with pytest.raises(MasterKeyError):
            personalise_chip_card(session, resident, station, placeholder_photo(resident.name, seed=2), ISSUED)
    assert blank_card.card.received == []
    assert blank_card.state.objects == {}
