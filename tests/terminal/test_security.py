"""Security refusals of the chip tap, each with its own reason, and none of them recording anything.

Cards are personalised reference cards; the attacks edit a card's state file
(what an attacker with a programmable card can write) or answer in its place
in this process, through the vpcd bridge, pyscard and the real pcscd.
"""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from card.apdu import tlv
from card.decision import Reason
from card.piv import INS, ObjectId, TAG_DYNAMIC_AUTH, TAG_RESPONSE
from card.records import verify_signed_record
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState
from hardware.pcsc import Exchange, PcscContext
from hardware.vpcd import VpcdBridge
from issuance.station import Station, create_station_keys
from terminal.tap import TapOutcome, TapService
from tests.conftest import READER
from tests.terminal.conftest import adult_per_household, make_terminal, personalise

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
CREDENTIAL = f"{ObjectId.KARTU_CREDENTIAL:06x}"
CAK_CERTIFICATE = f"{ObjectId.CARD_AUTHENTICATION_CERTIFICATE:06x}"
FACIAL_IMAGE = f"{ObjectId.FACIAL_IMAGE:06x}"


class ReplayingCard:
    """A modified card: answers every 9E challenge with a signature recorded at an earlier tap."""

    def __init__(self, state_file: Path, recorded_signature: bytes):
        self.inner = ReferenceCard(CardState.open(state_file))
        self.answer = tlv(TAG_DYNAMIC_AUTH, tlv(TAG_RESPONSE, recorded_signature)) + b"\x90\x00"

    def reset(self) -> None:
        self.inner.reset()

    def process(self, apdu: bytes) -> bytes:
        if apdu[1] == INS.GENERAL_AUTHENTICATE and apdu[3] == 0x9E:
            return self.answer
        return self.inner.process(apdu)


def tap(pcsc: PcscContext, service: TapService, card, check_photo: bool = False) -> tuple[TapOutcome, list[Exchange]]:
    exchanges: list[Exchange] = []
    with VpcdBridge(card, ATR):
        pcsc.wait_for_card(READER, 10)
        with pcsc.connect(READER) as connection:
            connection.exchange_log = exchanges
            outcome = service.tap_card(connection, "lpg", NOW, check_photo=check_photo)
    pcsc.wait_for_removal(READER, 10)
    return outcome, exchanges


def reference(state_file: Path) -> ReferenceCard:
    return ReferenceCard(CardState.open(state_file))


def commands(exchanges: list[Exchange]) -> list[int]:
    """Instruction bytes of the commands sent, without GET RESPONSE rounds."""
    return [exchange.ins for exchange in exchanges if exchange.ins != INS.GET_RESPONSE]


def signed_records(store) -> list[bytes]:
    return [row[0] for row in store._db.execute("SELECT signed_record FROM redemptions")]


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Station:
    """One issuance station for the module's tests, which share the cards it personalised."""
    directory = tmp_path_factory.mktemp("security") / "station"
    create_station_keys(directory)
    return Station(directory)


@pytest.fixture(scope="module")
def personalised(pcsc_available, station, tmp_path_factory):
    """Two cards of different households, personalised once, because that takes about 5 s."""
    directory = tmp_path_factory.mktemp("security-cards")
    first_resident, second_resident = adult_per_household()[:2]
    with PcscContext() as context:
        first = personalise(context, station, first_resident, directory / "a.json")
        second = personalise(context, station, second_resident, directory / "b.json")
    for state_file in (directory / "a.json", directory / "b.json"):
        assert CAK_CERTIFICATE in CardState.open(state_file).objects, "personalisation wrote no CAK certificate"
    return (first, directory / "a.json"), (second, directory / "b.json")


@pytest.fixture
def two_cards(personalised, station, tmp_path):
    """Fresh copies of the two cards, and a terminal that serves both."""
    (first, first_file), (second, second_file) = personalised
    shutil.copyfile(first_file, tmp_path / "a.json")
    shutil.copyfile(second_file, tmp_path / "b.json")
    store, signer = make_terminal(tmp_path / "terminal", station, {first.household_id: 0, second.household_id: 0})
    yield (first, tmp_path / "a.json"), (second, tmp_path / "b.json"), TapService(store, signer)
    store.close()


def test_fast_path_sends_three_commands(pcsc, two_cards) -> None:
    (_, card_file), _, service = two_cards
    outcome, exchanges = tap(pcsc, service, reference(card_file))
    assert outcome.decision.accepted, outcome.decision.message_en
    assert commands(exchanges) == [INS.SELECT, INS.GET_DATA, INS.GENERAL_AUTHENTICATE]
    assert outcome.photo is None


def test_photo_check_adds_fourth_command(pcsc, two_cards) -> None:
    (issued, card_file), _, service = two_cards
    outcome, exchanges = tap(pcsc, service, reference(card_file), check_photo=True)
    assert outcome.decision.accepted, outcome.decision.message_en
    assert commands(exchanges) == [INS.SELECT, INS.GET_DATA, INS.GENERAL_AUTHENTICATE, INS.GET_DATA]
    assert outcome.photo == issued.photo


def test_photo_mismatch_refused(pcsc, two_cards) -> None:
    (issued, card_file), _, service = two_cards
    state = CardState.open(card_file)
    state.put_object(FACIAL_IMAGE, issued.photo[:-1] + bytes([issued.photo[-1] ^ 0x01]))
    assert hashlib.sha256(state.objects[FACIAL_IMAGE]).digest() != hashlib.sha256(issued.photo).digest()

    outcome, _ = tap(pcsc, service, reference(card_file), check_photo=True)

    assert outcome.decision.reason is Reason.PHOTO_MISMATCH
    assert "photo" in outcome.decision.message_en
    assert signed_records(service.store) == []


def test_missing_photo_refused(pcsc, two_cards) -> None:
    (_, card_file), _, service = two_cards
    CardState.open(card_file).put_object(FACIAL_IMAGE, b"")
    outcome, _ = tap(pcsc, service, reference(card_file), check_photo=True)
    assert outcome.decision.reason is Reason.PHOTO_MISMATCH
    assert signed_records(service.store) == []


def test_clone_without_key_refused(pcsc, two_cards, tmp_path) -> None:
    (issued, card_file), _, service = two_cards
    clone = CardState.blank(tmp_path / "clone.json")
    for object_id, value in CardState.open(card_file).objects.items():
        clone.put_object(object_id, value)

    outcome, exchanges = tap(pcsc, service, reference(tmp_path / "clone.json"))

    assert outcome.decision.reason is Reason.CARD_CLONED
    assert outcome.credential.card_number == issued.card_number
    assert "copy" in outcome.decision.message_en
    assert commands(exchanges) == [INS.SELECT, INS.GET_DATA, INS.GENERAL_AUTHENTICATE]
    assert signed_records(service.store) == []


def test_replayed_signature_refused(pcsc, two_cards) -> None:
    (_, card_file), _, service = two_cards
    first, _ = tap(pcsc, service, reference(card_file))
    assert first.decision.accepted, first.decision.message_en
    [signed] = signed_records(service.store)
    recorded = verify_signed_record(signed, service.signer.public_key).card_signature

    replayed, exchanges = tap(pcsc, service, ReplayingCard(card_file, recorded))

    assert replayed.decision.reason is Reason.SIGNATURE_REPLAYED
    assert "earlier tap" in replayed.decision.message_en
    # This terminal's own records expose the replay, so no second challenge is needed.
    assert commands(exchanges) == [INS.SELECT, INS.GET_DATA, INS.GENERAL_AUTHENTICATE]
    assert signed_records(service.store) == [signed]


def test_replay_recorded_elsewhere_refused(pcsc, two_cards, station, tmp_path) -> None:
    (issued, card_file), _, service = two_cards
    first, _ = tap(pcsc, service, reference(card_file))
    [signed] = signed_records(service.store)
    recorded = verify_signed_record(signed, service.signer.public_key).card_signature
    other_store, other_signer = make_terminal(tmp_path / "other-terminal", station, {issued.household_id: 0})
    other = TapService(other_store, other_signer)

    replayed, exchanges = tap(pcsc, other, ReplayingCard(card_file, recorded))

    assert replayed.decision.reason is Reason.SIGNATURE_REPLAYED
    # The second challenge, sent only on this failure path, is what exposed the replay.
    assert commands(exchanges) == [INS.SELECT, INS.GET_DATA, INS.GENERAL_AUTHENTICATE, INS.GENERAL_AUTHENTICATE]
    assert signed_records(other_store) == []
    other_store.close()


def test_credential_moved_to_other_genuine_card(pcsc, two_cards) -> None:
    (issued, card_file), (_, other_file), service = two_cards
    CardState.open(other_file).put_object(CREDENTIAL, CardState.open(card_file).objects[CREDENTIAL])

    outcome, exchanges = tap(pcsc, service, reference(other_file))

    assert outcome.decision.reason is Reason.CREDENTIAL_ON_OTHER_CARD
    assert outcome.credential.card_number == issued.card_number
    assert "another chip" in outcome.decision.message_en
    assert INS.GET_DATA in commands(exchanges)[3:]
    assert signed_records(service.store) == []


def test_certificate_of_other_card_refused(pcsc, two_cards) -> None:
    (_, card_file), (_, other_file), service = two_cards
    genuine = CardState.open(card_file).objects
    impostor = CardState.open(other_file)
    impostor.put_object(CREDENTIAL, genuine[CREDENTIAL])
    impostor.put_object(CAK_CERTIFICATE, genuine[CAK_CERTIFICATE])

    outcome, _ = tap(pcsc, service, reference(other_file))

    assert outcome.decision.reason is Reason.CERTIFICATE_OF_OTHER_CARD
    assert "certificate of another card" in outcome.decision.message_en
    assert outcome.decision.message_id != outcome.decision.message_en
    assert signed_records(service.store) == []


def test_clone_with_own_key_and_no_certificate(pcsc, two_cards, tmp_path) -> None:
    (_, card_file), _, service = two_cards
    clone = CardState.blank(tmp_path / "clone.json")
    clone.put_object(CREDENTIAL, CardState.open(card_file).objects[CREDENTIAL])
    clone.generate_key(0x9E)

    outcome, _ = tap(pcsc, service, reference(tmp_path / "clone.json"))

    assert outcome.decision.reason is Reason.CARD_NOT_GENUINE
    assert signed_records(service.store) == []


def test_genuine_card_still_accepted_after_refusals(pcsc, two_cards) -> None:
    (_, card_file), _, service = two_cards
    CardState.open(card_file).put_object(FACIAL_IMAGE, b"\xff\xd8 not the photo")
    refused, _ = tap(pcsc, service, reference(card_file), check_photo=True)
    accepted, _ = tap(pcsc, service, reference(card_file))
    assert refused.decision.reason is Reason.PHOTO_MISMATCH
    assert accepted.decision.accepted, accepted.decision.message_en
    assert len(signed_records(service.store)) == 1
