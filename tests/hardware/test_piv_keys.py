"""Keys of the reference card through pcscd: generation, signing, the AES-128 management key."""

from __future__ import annotations

import os

import pytest

from card.apdu import SW, ApduError, build_apdu, find_tlv, tlv
from card.keys import decompress_point, verify_der_prehashed
from card.piv import (
    DEFAULT_MANAGEMENT_KEY, INS, PIV_AID, Algorithm, ManagementKeyError, ObjectId, Slot, _aes,
)
from tests.hardware.piv_support import authenticated, pcsc, piv_card  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("pcsc_available")

SELECT = build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID, le=0)
GENERATE_P256 = tlv(0xAC, tlv(0x80, bytes([Algorithm.ECC_P256])))


def general_authenticate(p1: int, p2: int, *fields: bytes) -> bytes:
    return build_apdu(0x00, INS.GENERAL_AUTHENTICATE, p1, p2, tlv(0x7C, b"".join(fields)), le=0)


def management(*fields: bytes) -> bytes:
    return general_authenticate(Algorithm.AES_128, Slot.CARD_MANAGEMENT, *fields)


def test_generate_keys_in_both_slots(piv_card) -> None:
    digest = os.urandom(32)
    with piv_card.session() as session:
        authenticated(session)
        card_key = decompress_point(session.generate_key(Slot.CARD_AUTHENTICATION))
        auth_key = decompress_point(session.generate_key(Slot.AUTHENTICATION))
        signature = session.sign_digest(Slot.CARD_AUTHENTICATION, digest)
    assert verify_der_prehashed(card_key, signature, digest)
    assert not verify_der_prehashed(auth_key, signature, digest)


def test_card_authentication_key_needs_no_pin(piv_card) -> None:
    with piv_card.session() as session:
        point = authenticated(session).generate_key(Slot.CARD_AUTHENTICATION)
    digest = os.urandom(32)
    with piv_card.session() as session:
        signature = session.sign_digest(Slot.CARD_AUTHENTICATION, digest)
    assert verify_der_prehashed(decompress_point(point), signature, digest)


def test_generate_errors(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        generate = lambda p1, p2, data: build_apdu(0x00, INS.GENERATE_ASYMMETRIC_KEY_PAIR, p1, p2, data, le=0)  # noqa: E731
        assert raw.transmit(generate(0x00, 0x9E, GENERATE_P256))[1] == SW.SECURITY_CONDITION_NOT_SATISFIED
        assert raw.transmit(generate(0x00, 0x9C, GENERATE_P256))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(generate(0x01, 0x9E, GENERATE_P256))[1] == SW.INCORRECT_P1P2
    with piv_card.session() as session:
        authenticated(session)
        for template in (tlv(0xAC, tlv(0x80, b"\x07")), tlv(0xAB, b""), b"\xAC\x05\x80"):
            with pytest.raises(ApduError) as raised:
                session._send("GENERATE", generate(0x00, 0x9E, template))
            assert raised.value.sw == SW.INCORRECT_DATA


def test_sign_errors(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        response, challenge = tlv(0x82, b""), tlv(0x81, os.urandom(32))
        assert raw.transmit(general_authenticate(0x11, 0x9E, response, challenge))[1] == SW.REFERENCE_NOT_FOUND
        assert raw.transmit(general_authenticate(0x07, 0x9E, response, challenge))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(general_authenticate(0x11, 0x9D, response, challenge))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(general_authenticate(0x11, 0x9E, response, tlv(0x81, os.urandom(20))))[1] == SW.INCORRECT_DATA
        assert raw.transmit(general_authenticate(0x11, 0x9E, challenge))[1] == SW.INCORRECT_DATA
        assert raw.transmit(build_apdu(0x00, INS.GENERAL_AUTHENTICATE, 0x11, 0x9E, b"\x7C\x05\x82", le=0))[1] == SW.INCORRECT_DATA


def test_mutual_authentication_raw(piv_card) -> None:
    key = DEFAULT_MANAGEMENT_KEY
    challenge = os.urandom(16)
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        data, sw = raw.transmit(management(tlv(0x80, b"")))
        assert sw == SW.SUCCESS
        witness = _aes(key, find_tlv(find_tlv(data, 0x7C), 0x80), encrypt=False)
        data, sw = raw.transmit(management(tlv(0x80, witness), tlv(0x81, challenge)))
        assert sw == SW.SUCCESS
        assert find_tlv(find_tlv(data, 0x7C), 0x82) == _aes(key, challenge, encrypt=True)


def test_mutual_authentication_with_wrong_witness(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        raw.transmit(management(tlv(0x80, b"")))
        assert raw.transmit(management(tlv(0x80, os.urandom(16)), tlv(0x81, os.urandom(16))))[1] == SW.SECURITY_CONDITION_NOT_SATISFIED
        # The witness is used up: a second answer finds no pending witness.
        assert raw.transmit(management(tlv(0x80, os.urandom(16)), tlv(0x81, os.urandom(16))))[1] == SW.INCORRECT_DATA


def test_external_authentication(piv_card) -> None:
    body = tlv(0x5C, ObjectId.KARTU_CREDENTIAL.to_bytes(3, "big")) + tlv(0x53, b"external")
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        data, sw = raw.transmit(management(tlv(0x81, b"")))
        assert sw == SW.SUCCESS
        challenge = find_tlv(find_tlv(data, 0x7C), 0x81)
        assert len(challenge) == 16
        data, sw = raw.transmit(management(tlv(0x82, _aes(DEFAULT_MANAGEMENT_KEY, challenge, encrypt=True))))
        assert (data, sw) == (b"", SW.SUCCESS)
        assert raw.transmit(build_apdu(0x00, INS.PUT_DATA, 0x3F, 0xFF, body))[1] == SW.SUCCESS


def test_external_authentication_with_wrong_response(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        raw.transmit(management(tlv(0x81, b"")))
        assert raw.transmit(management(tlv(0x82, os.urandom(16))))[1] == SW.SECURITY_CONDITION_NOT_SATISFIED


def test_management_key_algorithm_must_match(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(general_authenticate(Algorithm.TDES, 0x9B, tlv(0x80, b"")))[1] == SW.INCORRECT_P1P2


def test_set_management_key(piv_card) -> None:
    new_key = os.urandom(16)
    with piv_card.session() as session:
        authenticated(session).set_management_key(new_key)
    with piv_card.session() as session:
        with pytest.raises(ManagementKeyError, match="6982"):
            session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.authenticate_management_key(new_key)
        session.put_data(ObjectId.KARTU_CREDENTIAL, b"written with the new key")
    assert piv_card.state.management_key == new_key


def test_set_management_key_errors(piv_card) -> None:
    good = bytes([0x08, 0x9B, 0x10]) + os.urandom(16)
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.SET_MANAGEMENT_KEY, 0xFF, 0xFF, good))[1] == SW.SECURITY_CONDITION_NOT_SATISFIED
    with piv_card.session() as session:
        authenticated(session)
        for p1, p2, data, sw in [
            (0xFF, 0xFF, bytes([0x03, 0x9B, 0x18]) + os.urandom(24), SW.INCORRECT_DATA),
            (0xFF, 0xFF, good[:-1], SW.INCORRECT_DATA),
            (0x00, 0xFF, good, SW.INCORRECT_P1P2),
        ]:
            with pytest.raises(ApduError) as raised:
                session._send("SET MANAGEMENT KEY", build_apdu(0x00, INS.SET_MANAGEMENT_KEY, p1, p2, data))
            assert raised.value.sw == sw
    assert piv_card.state.management_key == DEFAULT_MANAGEMENT_KEY


def test_host_checks_management_key_size(piv_card) -> None:
    with piv_card.session() as session:
        with pytest.raises(ValueError, match="16 bytes"):
            authenticated(session).set_management_key(os.urandom(24))
