"""Data objects of the reference card through pcscd: access rules, identifiers, sizes, discovery."""

from __future__ import annotations

import os

import pytest

from card.apdu import SW, ApduError, build_apdu, tlv
from card.piv import DEFAULT_PIN, INS, PIV_AID, ObjectId, object_id_bytes
from card.piv_objects import DISCOVERY_OBJECT
from card.reference_objects import MAX_OBJECT_SIZE
from tests.hardware.piv_support import authenticated, pcsc, piv_card  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("pcsc_available")

SELECT = build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID, le=0)


def put(session, object_id: int, value: bytes) -> None:
    authenticated(session).put_data(object_id, value)


def test_discovery_object(piv_card) -> None:
    with piv_card.session() as session:
        value = session.get_data(ObjectId.DISCOVERY)
    assert tlv(0x7E, value) == DISCOVERY_OBJECT
    assert tlv(0x4F, PIV_AID) in value
    assert bytes.fromhex("5F2F024000") in value


def test_discovery_object_is_fixed(piv_card) -> None:
    with piv_card.session() as session:
        with pytest.raises(ApduError) as raised:
            put(session, ObjectId.DISCOVERY, b"\x4F\x00")
    assert raised.value.sw == SW.INCORRECT_DATA


@pytest.mark.parametrize("object_id", [
    ObjectId.FINGERPRINTS, ObjectId.CARDHOLDER_FACIAL_IMAGE, ObjectId.PRINTED_INFORMATION, ObjectId.IRIS_IMAGES,
])
def test_biometric_objects_need_pin(piv_card, object_id: int) -> None:
    with piv_card.session() as session:
        put(session, object_id, b"protected")
        session.select()
        with pytest.raises(ApduError) as raised:
            session.get_data(object_id)
        assert raised.value.sw == SW.SECURITY_CONDITION_NOT_SATISFIED
        session.verify_pin(DEFAULT_PIN)
        assert session.get_data(object_id) == b"protected"


@pytest.mark.parametrize("object_id", [
    ObjectId.CHUID, ObjectId.CARD_AUTHENTICATION_CERTIFICATE, ObjectId.AUTHENTICATION_CERTIFICATE,
    ObjectId.KARTU_CREDENTIAL, ObjectId.FACIAL_IMAGE,
])
def test_free_read_objects(piv_card, object_id: int) -> None:
    with piv_card.session() as session:
        put(session, object_id, b"public")
    with piv_card.session() as session:
        assert session.get_data(object_id) == b"public"


def test_empty_put_data_deletes(piv_card) -> None:
    with piv_card.session() as session:
        put(session, ObjectId.KARTU_CREDENTIAL, b"x")
        session.put_data(ObjectId.KARTU_CREDENTIAL, b"")
        with pytest.raises(ApduError) as raised:
            session.get_data(ObjectId.KARTU_CREDENTIAL)
    assert raised.value.sw == SW.FILE_NOT_FOUND


@pytest.mark.parametrize("object_id", [0x5FC104, 0x5FC124, 0x5FC000, 0x5F0000, 0x7F61])
def test_unsupported_object_ids(piv_card, object_id: int) -> None:
    with piv_card.session() as session:
        with pytest.raises(ApduError) as read:
            session.get_data(object_id)
        with pytest.raises(ApduError) as write:
            put(session, object_id, b"x")
    assert read.value.sw == SW.FILE_NOT_FOUND
    assert write.value.sw == SW.INCORRECT_DATA


def test_object_size_limit(piv_card) -> None:
    with piv_card.session() as session:
        put(session, ObjectId.FACIAL_IMAGE, os.urandom(MAX_OBJECT_SIZE))
        with pytest.raises(ApduError) as raised:
            session.put_data(ObjectId.FACIAL_IMAGE, os.urandom(MAX_OBJECT_SIZE + 1))
    assert raised.value.sw == SW.NOT_ENOUGH_MEMORY


@pytest.mark.parametrize("p1, p2", [(0x3F, 0x00), (0x00, 0xFF)])
def test_get_data_wrong_p1p2(piv_card, p1: int, p2: int) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        apdu = build_apdu(0x00, INS.GET_DATA, p1, p2, tlv(0x5C, object_id_bytes(ObjectId.CHUID)), le=0)
        assert raw.transmit(apdu)[1] == SW.INCORRECT_P1P2


@pytest.mark.parametrize("data", [
    tlv(0x5D, b"\x5F\xC1\x02"),          # not tag 5C
    tlv(0x5C, b"\x5F\xC1\x02\x00"),      # identifier of 4 bytes
    tlv(0x5C, b""),                       # empty identifier
    b"\x5C\x03\x5F",                      # truncated TLV
    tlv(0x5C, b"\x7E") + tlv(0x5C, b"\x7E"),
])
def test_get_data_malformed_tag_list(piv_card, data: bytes) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.GET_DATA, 0x3F, 0xFF, data, le=0))[1] == SW.INCORRECT_DATA


def test_get_data_without_tag_list(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.GET_DATA, 0x3F, 0xFF, le=0))[1] == SW.WRONG_LENGTH


def test_put_data_malformed_body(piv_card) -> None:
    with piv_card.session() as session:
        authenticated(session)
        for body in (tlv(0x5C, b"\x5F\xFF\x20"), tlv(0x53, b"x") + tlv(0x5C, b"\x5F\xFF\x20"), b"\x5C\x03"):
            with pytest.raises(ApduError) as raised:
                session._send("PUT DATA", build_apdu(0x00, INS.PUT_DATA, 0x3F, 0xFF, body))
            assert raised.value.sw == SW.INCORRECT_DATA


def test_put_data_wrong_p1p2(piv_card) -> None:
    body = tlv(0x5C, b"\x5F\xFF\x20") + tlv(0x53, b"x")
    with piv_card.session() as session:
        authenticated(session)
        with pytest.raises(ApduError) as raised:
            session._send("PUT DATA", build_apdu(0x00, INS.PUT_DATA, 0x3F, 0x00, body))
    assert raised.value.sw == SW.INCORRECT_P1P2
