"""The reference card's APDU transport through pyscard, pcscd and vpcd: lengths, chaining, classes, SELECT."""

from __future__ import annotations

import os

import pytest

from card.apdu import SW, build_apdu, tlv
from card.atr import supports_extended_length
from card.piv import CLA_CHAINING, INS, PIV_AID, ObjectId, PivSession, object_id_bytes
from card.reference import APPLICATION_PROPERTY_TEMPLATE, ATR
from tests.hardware.piv_support import authenticated, pcsc, piv_card  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("pcsc_available")

SELECT = build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID, le=0)


def get_data_apdu(object_id: int, le: int = 0, extended: bool = False) -> bytes:
    request = tlv(0x5C, object_id_bytes(object_id))
    return build_apdu(0x00, INS.GET_DATA, 0x3F, 0xFF, request, le=le, extended=extended)


def store(piv_card, object_id: int, value: bytes) -> None:
    with piv_card.session() as session:
        authenticated(session).put_data(object_id, value)


def test_atr_announces_extended_length(piv_card) -> None:
    with piv_card.connection() as connection:
        atr = connection.atr()
    assert atr == ATR
    assert supports_extended_length(atr)


def test_select_full_and_truncated_aid(piv_card) -> None:
    with piv_card.raw() as raw:
        for aid in (PIV_AID, PIV_AID[:9], PIV_AID[:5]):
            data, sw = raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x00, aid, le=0))
            assert sw == SW.SUCCESS
            assert data == APPLICATION_PROPERTY_TEMPLATE


def test_application_property_template_fields(piv_card) -> None:
    with piv_card.raw() as raw:
        data, _ = raw.transmit(SELECT)
    assert data[0] == 0x61
    assert bytes.fromhex("4F06000010000100") in data
    assert bytes.fromhex("79074F05A000000308") in data
    assert bytes.fromhex("800111") in data


def test_select_errors(piv_card) -> None:
    with piv_card.raw() as raw:
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x00, bytes.fromhex("D27600012401"), le=0))[1] == SW.FILE_NOT_FOUND
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID[:4], le=0))[1] == SW.FILE_NOT_FOUND
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x00, 0x00, PIV_AID, le=0))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x04, PIV_AID, le=0))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x0C, bytes.fromhex("D233000000457374454944")))[1] == SW.FILE_NOT_FOUND
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x00))[1] == SW.WRONG_LENGTH


def test_select_without_response_data(piv_card) -> None:
    with piv_card.raw() as raw:
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x0C, PIV_AID)) == (b"", SW.SUCCESS)
        assert raw.transmit(get_data_apdu(ObjectId.DISCOVERY))[1] == SW.SUCCESS


def test_failed_select_keeps_piv_selected(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.SELECT, 0x04, 0x00, bytes.fromhex("A000000151000000")))[1] == SW.FILE_NOT_FOUND
        data, sw = raw.transmit(get_data_apdu(ObjectId.DISCOVERY))
    assert sw == SW.SUCCESS
    assert data.startswith(b"\x7E")


def test_commands_need_selection_after_reset(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        raw.reset_card()
        assert raw.transmit(get_data_apdu(ObjectId.DISCOVERY))[1] == SW.CONDITIONS_NOT_SATISFIED
        raw.transmit(SELECT)
        assert raw.transmit(get_data_apdu(ObjectId.DISCOVERY))[1] == SW.SUCCESS


def test_unknown_instruction(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit("00FD000000")[1] == SW.INS_NOT_SUPPORTED
        assert raw.transmit("00B0000000")[1] == SW.INS_NOT_SUPPORTED


@pytest.mark.parametrize("cla, sw", [
    (0x80, SW.CLA_NOT_SUPPORTED),
    (0x40, SW.CLA_NOT_SUPPORTED),
    (0x0C, SW.SECURE_MESSAGING_NOT_SUPPORTED),
    (0x01, SW.LOGICAL_CHANNEL_NOT_SUPPORTED),
])
def test_class_byte_errors(piv_card, cla: int, sw: int) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(bytes([cla]) + get_data_apdu(ObjectId.DISCOVERY)[1:])[1] == sw


@pytest.mark.parametrize("apdu", [
    "00CB3FFF055C03",              # Lc 5 but 2 data bytes
    "00CB3FFF015C0300",            # Lc 1 leaves 2 bytes that are neither data nor Le
    "00CB3FFF00000A5C037E",        # extended Lc 10 but 3 data bytes
    "00CB3FFF0000",                # extended length field cut short
    "00CB3FFF0000005C",            # extended Lc 0
])
def test_wrong_length(piv_card, apdu: str) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(apdu)[1] == SW.WRONG_LENGTH


def test_response_chaining_with_short_le(piv_card) -> None:
    value = os.urandom(600)
    store(piv_card, ObjectId.KARTU_CREDENTIAL, value)
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        first, sw = raw.transmit(get_data_apdu(ObjectId.KARTU_CREDENTIAL))
        assert len(first) == 256
        assert sw == 0x6100
        second, sw = raw.transmit("00C0000000")
        assert sw == 0x6100 | (len(tlv(0x53, value)) - 512)
        third, sw = raw.transmit(build_apdu(0x00, INS.GET_RESPONSE, 0x00, 0x00, le=sw & 0xFF))
        assert sw == SW.SUCCESS
    assert first + second + third == tlv(0x53, value)


def test_short_le_below_response_size(piv_card) -> None:
    store(piv_card, ObjectId.KARTU_CREDENTIAL, b"0123456789")
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        head, sw = raw.transmit(get_data_apdu(ObjectId.KARTU_CREDENTIAL, le=4))
        tail, final = raw.transmit("00C0000000")
    assert sw == 0x6100 | 8
    assert final == SW.SUCCESS
    assert head + tail == tlv(0x53, b"0123456789")


def test_get_response_errors(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit("00C0000000")[1] == SW.CONDITIONS_NOT_SATISFIED
        store(piv_card, ObjectId.KARTU_CREDENTIAL, os.urandom(300))
        raw.transmit(SELECT)
        raw.transmit(get_data_apdu(ObjectId.KARTU_CREDENTIAL))
        assert raw.transmit("00C0010000")[1] == SW.INCORRECT_P1P2


def test_another_command_drops_pending_response(piv_card) -> None:
    store(piv_card, ObjectId.KARTU_CREDENTIAL, os.urandom(300))
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(get_data_apdu(ObjectId.KARTU_CREDENTIAL))[1] >> 8 == 0x61
        raw.transmit(get_data_apdu(ObjectId.DISCOVERY))
        assert raw.transmit("00C0000000")[1] == SW.CONDITIONS_NOT_SATISFIED


def test_extended_get_data_returns_object_in_one_exchange(piv_card) -> None:
    value = os.urandom(12 * 1024)
    store(piv_card, ObjectId.FACIAL_IMAGE, value)
    piv_card.card.received.clear()
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        data, sw = raw.transmit(get_data_apdu(ObjectId.FACIAL_IMAGE, extended=True))
    assert sw == SW.SUCCESS
    assert data == tlv(0x53, value)
    assert len(piv_card.card.received) == 2


def test_extended_put_data_in_one_command(piv_card) -> None:
    value = os.urandom(5000)
    body = tlv(0x5C, object_id_bytes(ObjectId.FACIAL_IMAGE)) + tlv(0x53, value)
    with piv_card.session() as session:
        authenticated(session)
        piv_card.card.received.clear()
        session.put_data(ObjectId.FACIAL_IMAGE, value)
        assert piv_card.card.received == [build_apdu(0x00, INS.PUT_DATA, 0x3F, 0xFF, body, le=0, extended=True)]
        assert session.get_data(ObjectId.FACIAL_IMAGE) == value


def test_command_chaining_of_put_data(piv_card) -> None:
    value = os.urandom(1500)
    with piv_card.session(extended_length=False) as session:
        authenticated(session)
        piv_card.card.received.clear()
        session.put_data(ObjectId.FACIAL_IMAGE, value)
        chained = [apdu for apdu in piv_card.card.received if apdu[0] == CLA_CHAINING]
        assert len(chained) == 5
        assert all(len(apdu) == 5 + 255 for apdu in chained)
        assert session.get_data(ObjectId.FACIAL_IMAGE) == value


def test_chaining_not_supported_for_get_data(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        apdu = get_data_apdu(ObjectId.DISCOVERY)
        assert raw.transmit(bytes([CLA_CHAINING]) + apdu[1:])[1] == SW.CHAINING_NOT_SUPPORTED


def test_other_command_drops_unfinished_chain(piv_card) -> None:
    body = tlv(0x5C, object_id_bytes(ObjectId.KARTU_CREDENTIAL)) + tlv(0x53, b"abcdef")
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(CLA_CHAINING, INS.PUT_DATA, 0x3F, 0xFF, body[:4]))[1] == SW.SUCCESS
        assert raw.transmit(get_data_apdu(ObjectId.DISCOVERY))[1] == SW.SUCCESS
        # The rest of the dropped chain now stands alone, and alone it is not a valid tag list.
        assert raw.transmit(build_apdu(0x00, INS.PUT_DATA, 0x3F, 0xFF, body[4:]))[1] == SW.INCORRECT_DATA


def test_tap_takes_four_apdus(piv_card) -> None:
    credential = os.urandom(270)
    with piv_card.session() as session:
        authenticated(session)
        session.put_data(ObjectId.KARTU_CREDENTIAL, credential)
        session.put_data(ObjectId.FACIAL_IMAGE, os.urandom(9000))
        session.generate_key(0x9E)
    piv_card.card.received.clear()
    with piv_card.session() as session:
        assert session.get_data(ObjectId.KARTU_CREDENTIAL) == credential
        session.sign_digest(0x9E, os.urandom(32))
        session.get_data(ObjectId.FACIAL_IMAGE)
    instructions = [apdu[1] for apdu in piv_card.card.received]
    assert instructions == [INS.SELECT, INS.GET_DATA, INS.GENERAL_AUTHENTICATE, INS.GET_DATA]


def test_short_session_needs_get_response_for_credential(piv_card) -> None:
    store(piv_card, ObjectId.KARTU_CREDENTIAL, os.urandom(270))
    piv_card.card.received.clear()
    with piv_card.connection() as connection:
        PivSession(connection, extended_length=False).get_data(ObjectId.KARTU_CREDENTIAL)
    assert [apdu[1] for apdu in piv_card.card.received] == [INS.SELECT, INS.GET_DATA, INS.GET_RESPONSE]
