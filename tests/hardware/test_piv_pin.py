"""PIN and PUK of the reference card through pcscd: VERIFY, CHANGE REFERENCE DATA, RESET RETRY COUNTER."""

from __future__ import annotations

import os

import pytest

from card.apdu import SW, ApduError, build_apdu
from card.keys import decompress_point, verify_der_prehashed
from card.piv import DEFAULT_PIN, DEFAULT_PUK, INS, PIV_AID, InvalidPinError, Slot, pad_reference
from tests.hardware.piv_support import InsertedCard, authenticated, pcsc, piv_card  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("pcsc_available")

SELECT = build_apdu(0x00, INS.SELECT, 0x04, 0x00, PIV_AID, le=0)


def verify_apdu(pin: str | bytes) -> bytes:
    data = pad_reference(pin) if isinstance(pin, str) else pin
    return build_apdu(0x00, INS.VERIFY, 0x00, 0x80, data)


def with_key(piv_card: InsertedCard, slot: int) -> object:
    with piv_card.session() as session:
        return decompress_point(authenticated(session).generate_key(slot))


def test_wrong_pin_counts_down_then_blocks(piv_card) -> None:
    with piv_card.session() as session:
        for remaining in (2, 1, 0):
            with pytest.raises(InvalidPinError) as raised:
                session.verify_pin("999999")
            assert raised.value.attempts_remaining == remaining
        with pytest.raises(InvalidPinError) as raised:
            session.verify_pin(DEFAULT_PIN)
    assert raised.value.blocked
    assert "blocked" in raised.value.message("en")


def test_status_words_of_wrong_and_blocked_pin(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(verify_apdu("000000"))[1] == 0x63C2
        assert raw.transmit(verify_apdu("000000"))[1] == 0x63C1
        assert raw.transmit(verify_apdu("000000"))[1] == 0x63C0
        assert raw.transmit(verify_apdu(DEFAULT_PIN))[1] == SW.AUTH_METHOD_BLOCKED
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0x00, 0x80))[1] == SW.AUTH_METHOD_BLOCKED


def test_retry_counter_survives_removal(piv_card, pcsc, tmp_path) -> None:
    with piv_card.session() as session:
        with pytest.raises(InvalidPinError):
            session.verify_pin("999999")
    piv_card.remove()
    reloaded = InsertedCard(pcsc, tmp_path / "card.json").insert()
    try:
        with reloaded.session() as session:
            assert session.pin_attempts_remaining() == 2
    finally:
        reloaded.remove()


def test_correct_pin_restores_counter(piv_card) -> None:
    with piv_card.session() as session:
        with pytest.raises(InvalidPinError):
            session.verify_pin("999999")
        session.verify_pin(DEFAULT_PIN)
        assert session.pin_attempts_remaining() is None
        session.clear_pin_verification()
        assert session.pin_attempts_remaining() == 3


def test_verify_without_data_reports_status(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit("0020008000")[1] == 0x63C3
        raw.transmit(verify_apdu(DEFAULT_PIN))
        assert raw.transmit("0020008000")[1] == SW.SUCCESS
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0xFF, 0x80))[1] == SW.SUCCESS
        assert raw.transmit("0020008000")[1] == 0x63C3


def test_verify_parameter_and_format_errors(piv_card) -> None:
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0x00, 0x81, pad_reference(DEFAULT_PUK)))[1] == SW.REFERENCE_NOT_FOUND
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0x00, 0x00, pad_reference(DEFAULT_PIN)))[1] == SW.REFERENCE_NOT_FOUND
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0x00, 0x42, pad_reference(DEFAULT_PIN)))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0x01, 0x80, pad_reference(DEFAULT_PIN)))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(build_apdu(0x00, INS.VERIFY, 0x00, 0x80, b"123456"))[1] == SW.WRONG_LENGTH
        assert raw.transmit(verify_apdu(b"12A456\xff\xff"))[1] == SW.INCORRECT_DATA
        assert raw.transmit(verify_apdu(b"12345\xff\xff\xff"))[1] == SW.INCORRECT_DATA
        # Malformed PINs cost no try.
        assert raw.transmit("0020008000")[1] == 0x63C3


def test_authentication_key_needs_pin(piv_card) -> None:
    public_key = with_key(piv_card, Slot.AUTHENTICATION)
    digest = os.urandom(32)
    with piv_card.session() as session:
        with pytest.raises(ApduError) as raised:
            session.sign_digest(Slot.AUTHENTICATION, digest)
        assert raised.value.sw == SW.SECURITY_CONDITION_NOT_SATISFIED
        session.verify_pin(DEFAULT_PIN)
        signature = session.sign_digest(Slot.AUTHENTICATION, digest)
        assert verify_der_prehashed(public_key, signature, digest)
        # The PIV Authentication key needs the PIN once per session, not once per signature.
        assert verify_der_prehashed(public_key, session.sign_digest(Slot.AUTHENTICATION, digest), digest)


def test_select_clears_pin_verification(piv_card) -> None:
    with_key(piv_card, Slot.AUTHENTICATION)
    with piv_card.session() as session:
        session.verify_pin(DEFAULT_PIN)
        session.select()
        with pytest.raises(ApduError) as raised:
            session.sign_digest(Slot.AUTHENTICATION, os.urandom(32))
    assert raised.value.sw == SW.SECURITY_CONDITION_NOT_SATISFIED


def test_card_reset_clears_pin_verification(piv_card) -> None:
    with_key(piv_card, Slot.AUTHENTICATION)
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        raw.transmit(verify_apdu(DEFAULT_PIN))
        assert raw.transmit("0020008000")[1] == SW.SUCCESS
        raw.reset_card()
        raw.transmit(SELECT)
        assert raw.transmit("0020008000")[1] == 0x63C3


def test_wrong_pin_clears_verification(piv_card) -> None:
    with piv_card.session() as session:
        session.verify_pin(DEFAULT_PIN)
        with pytest.raises(InvalidPinError):
            session.verify_pin("999999")
        assert session.pin_attempts_remaining() == 2


def test_change_pin(piv_card) -> None:
    with piv_card.session() as session:
        session.change_pin(DEFAULT_PIN, "24681357")
        with pytest.raises(InvalidPinError) as raised:
            session.verify_pin(DEFAULT_PIN)
        assert raised.value.attempts_remaining == 2
        session.verify_pin("24681357")


def test_change_pin_with_wrong_old_pin_counts(piv_card) -> None:
    with piv_card.session() as session:
        with pytest.raises(InvalidPinError) as raised:
            session.change_pin("111111", "222222")
        assert raised.value.attempts_remaining == 2
        session.verify_pin(DEFAULT_PIN)


def test_change_reference_data_errors(piv_card) -> None:
    old = pad_reference(DEFAULT_PIN)
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.CHANGE_REFERENCE_DATA, 0x00, 0x80, old))[1] == SW.WRONG_LENGTH
        assert raw.transmit(build_apdu(0x00, INS.CHANGE_REFERENCE_DATA, 0x00, 0x80, old + b"abc\xff\xff\xff\xff\xff"))[1] == SW.INCORRECT_DATA
        assert raw.transmit(build_apdu(0x00, INS.CHANGE_REFERENCE_DATA, 0x01, 0x80, old + old))[1] == SW.INCORRECT_P1P2
        assert raw.transmit(build_apdu(0x00, INS.CHANGE_REFERENCE_DATA, 0x00, 0x9B, old + old))[1] == SW.INCORRECT_P1P2
        assert raw.transmit("0020008000")[1] == 0x63C3


def test_change_puk_then_unblock_pin(piv_card) -> None:
    with piv_card.session() as session:
        session.change_puk(DEFAULT_PUK, "87654321")
        for _ in range(3):
            with pytest.raises(InvalidPinError):
                session.verify_pin("999999")
        with pytest.raises(InvalidPinError) as raised:
            session.unblock_pin(DEFAULT_PUK, "135790")
        assert (raised.value.reference, raised.value.attempts_remaining) == ("PUK", 2)
        session.unblock_pin("87654321", "135790")
        assert session.pin_attempts_remaining() == 3
        session.verify_pin("135790")


def test_blocked_puk_is_final(piv_card) -> None:
    with piv_card.session() as session:
        for remaining in (2, 1, 0):
            with pytest.raises(InvalidPinError) as raised:
                session.unblock_pin("00000000", "135790")
            assert raised.value.attempts_remaining == remaining
        with pytest.raises(InvalidPinError) as raised:
            session.unblock_pin(DEFAULT_PUK, "135790")
        assert raised.value.blocked
        with pytest.raises(InvalidPinError) as raised:
            session.change_puk(DEFAULT_PUK, "11223344")
        assert raised.value.blocked
        session.verify_pin(DEFAULT_PIN)


def test_reset_retry_counter_errors(piv_card) -> None:
    puk = pad_reference(DEFAULT_PUK, digits_only=False)
    with piv_card.raw() as raw:
        raw.transmit(SELECT)
        assert raw.transmit(build_apdu(0x00, INS.RESET_RETRY_COUNTER, 0x00, 0x80, puk))[1] == SW.WRONG_LENGTH
        assert raw.transmit(build_apdu(0x00, INS.RESET_RETRY_COUNTER, 0x00, 0x80, puk + b"1234\xff\xff\xff\xff"))[1] == SW.INCORRECT_DATA
        assert raw.transmit(build_apdu(0x00, INS.RESET_RETRY_COUNTER, 0x00, 0x81, puk + puk))[1] == SW.REFERENCE_NOT_FOUND
        assert raw.transmit(build_apdu(0x00, INS.RESET_RETRY_COUNTER, 0x02, 0x80, puk + puk))[1] == SW.INCORRECT_P1P2


def test_host_rejects_malformed_pin_before_sending(piv_card) -> None:
    with piv_card.session() as session:
        piv_card.card.received.clear()
        for pin in ("12345", "123456789", "12a456"):
            with pytest.raises(ValueError, match="PIN"):
                session.verify_pin(pin)
    assert piv_card.card.received == []


def test_pin_error_message_translated() -> None:
    error = InvalidPinError("PIN", 2)
    assert "2" in error.message("en")
    assert error.message("id") != error.message("en")
    assert "2" in error.message("id")
