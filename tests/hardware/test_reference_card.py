"""The reference PIV card through pyscard, pcscd and vpcd."""

from __future__ import annotations

import os

import pytest

from card.apdu import SW, ApduError
from card.keys import decompress_point, verify_der_prehashed
from card.piv import DEFAULT_MANAGEMENT_KEY, ManagementKeyError, ObjectId, PivSession, Slot
from card.reference_state import CardState
from hardware.pcsc import PcscContext
from tests.conftest import READER, EmulatedCard

pytestmark = pytest.mark.usefixtures("pcsc_available")


@pytest.fixture
def context():
    with PcscContext() as ctx:
        yield ctx


@pytest.fixture
def card(tmp_path, context):
    emulated = EmulatedCard(tmp_path / "card.json").insert()
    context.wait_for_card(READER, 10)
    yield emulated
    emulated.remove()
    context.wait_for_removal(READER, 10)


def session_of(context: PcscContext) -> tuple[PivSession, object]:
    connection = context.connect(READER)
    return PivSession(connection), connection


def test_select_returns_application_property_template(card, context) -> None:
    with context.connect(READER) as connection:
        template = PivSession(connection).select()
    assert template[0] == 0x61
    assert bytes.fromhex("00001000") in template


def test_put_data_needs_management_key(card, context) -> None:
    session, connection = session_of(context)
    with connection:
        with pytest.raises(ApduError) as raised:
            session.put_data(ObjectId.KARTU_CREDENTIAL, b"x")
    assert raised.value.sw == SW.SECURITY_CONDITION_NOT_SATISFIED


def test_wrong_management_key_refused(card, context) -> None:
    session, connection = session_of(context)
    with connection:
        with pytest.raises(ManagementKeyError, match="6982"):
            session.authenticate_management_key(bytes(16))


def test_large_object_uses_chaining_both_ways(card, context) -> None:
    value = os.urandom(1500)
    with context.connect(READER) as connection:
        session = PivSession(connection, extended_length=False)
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.put_data(ObjectId.FACIAL_IMAGE, value)
        assert session.get_data(ObjectId.FACIAL_IMAGE) == value


def test_large_object_in_extended_apdus(card, context) -> None:
    value = os.urandom(12 * 1024)
    session, connection = session_of(context)
    with connection:
        assert session.extended_length
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.put_data(ObjectId.FACIAL_IMAGE, value)
        assert session.get_data(ObjectId.FACIAL_IMAGE) == value


def test_missing_object_is_file_not_found(card, context) -> None:
    session, connection = session_of(context)
    with connection:
        with pytest.raises(ApduError) as raised:
            session.get_data(ObjectId.KARTU_CREDENTIAL)
    assert raised.value.sw == SW.FILE_NOT_FOUND


def test_select_clears_management_authentication(card, context) -> None:
    session, connection = session_of(context)
    with connection:
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.select()
        with pytest.raises(ApduError) as raised:
            session.generate_key(Slot.CARD_AUTHENTICATION)
    assert raised.value.sw == SW.SECURITY_CONDITION_NOT_SATISFIED


def test_generated_key_signs_digest(card, context) -> None:
    digest = os.urandom(32)
    session, connection = session_of(context)
    with connection:
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        point = session.generate_key(Slot.CARD_AUTHENTICATION)
        session.select()
        signature = session.sign_digest(Slot.CARD_AUTHENTICATION, digest)
    assert verify_der_prehashed(decompress_point(point), signature, digest)
    assert not verify_der_prehashed(decompress_point(point), signature, os.urandom(32))


def test_card_state_survives_emulator_restart(card, context) -> None:
    value = b"kept across restarts"
    session, connection = session_of(context)
    with connection:
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.put_data(ObjectId.KARTU_CREDENTIAL, value)
    card.remove()
    context.wait_for_removal(READER, 10)
    card.insert()
    context.wait_for_card(READER, 10)
    session, connection = session_of(context)
    with connection:
        assert session.get_data(ObjectId.KARTU_CREDENTIAL) == value
    assert oct(card.state_file.stat().st_mode & 0o777) == "0o600"


def test_corrupt_state_file_named_in_error(tmp_path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(Exception, match="broken.json.*remove it"):
        CardState.open(path)
