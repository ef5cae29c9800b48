"""The terminal's tap flow with personalised reference cards in the real vpcd reader."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from card.decision import Reason
from card.keys import verify_der_prehashed, decompress_point
from card.piv import DEFAULT_MANAGEMENT_KEY, ObjectId, PivSession, Slot
from card.records import Assurance, verify_signed_record
from card.reference_state import CardState
from terminal.tap import TapService
from tests.conftest import READER
from tests.terminal.conftest import eject, insert, make_terminal, personalise, qr_card

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


def tap(pcsc, service: TapService, state_file, program: str = "lpg", quantity: int = 1):
    card = insert(pcsc, state_file)
    try:
        with pcsc.connect(READER) as connection:
            return service.tap_card(connection, program, NOW, quantity)
    finally:
        eject(pcsc, card)


def stored_records(store) -> list:
    return store._db.execute("SELECT record_id, signed_record, status FROM redemptions").fetchall()


def test_accepted_tap_records_card_signature(pcsc, station, residents, tmp_path) -> None:
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    outcome = tap(pcsc, TapService(store, signer), tmp_path / "card.json")

    assert outcome.decision.accepted, outcome.decision.message_en
    assert outcome.remaining == 2
    [(record_id, signed, status)] = stored_records(store)
    record = verify_signed_record(signed, signer.public_key)
    assert (record_id, status) == (outcome.record_id, "pending")
    assert record.assurance is Assurance.CHIP
    assert verify_der_prehashed(decompress_point(issued.card_key), record.card_signature, record.digest())


def test_household_quota_shared_and_enforced(pcsc, station, residents, tmp_path) -> None:
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 1}, quota=3)
    service = TapService(store, signer)

    assert tap(pcsc, service, tmp_path / "card.json").decision.accepted
    over = tap(pcsc, service, tmp_path / "card.json", quantity=2)

    assert over.decision.reason is Reason.QUOTA_EXCEEDED
    assert "2 of 3 cylinders" in over.decision.message_en
    assert "2 dari 3 tabung" in over.decision.message_id
    assert len(stored_records(store)) == 1


def test_household_without_entitlement_refused(pcsc, station, residents, tmp_path) -> None:
    personalise(pcsc, station, residents[0], tmp_path / "card.json")
    store, signer = make_terminal(tmp_path / "terminal", station, {bytes(8): 0})
    outcome = tap(pcsc, TapService(store, signer), tmp_path / "card.json")
    assert outcome.decision.reason is Reason.NOT_ENTITLED
    assert stored_records(store) == []


def test_clone_with_own_key_refused(pcsc, station, residents, tmp_path) -> None:
    """Every object copied, the genuine card's CAK certificate too, and a key generated on the clone."""
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    genuine = CardState.open(tmp_path / "card.json")
    clone_file = tmp_path / "clone.json"
    clone = CardState.blank(clone_file)
    for object_id, value in genuine.objects.items():
        clone.put_object(object_id, value)
    card = insert(pcsc, clone_file)
    with pcsc.connect(READER) as connection:
        session = PivSession(connection)
        session.authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
        session.generate_key(Slot.CARD_AUTHENTICATION)
    eject(pcsc, card)
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})

    outcome = tap(pcsc, TapService(store, signer), clone_file)

    assert outcome.decision.reason is Reason.CERTIFICATE_OF_OTHER_CARD
    assert outcome.credential.card_number == issued.card_number
    assert stored_records(store) == []


def test_clone_with_no_key_at_all_refused(pcsc, station, residents, tmp_path) -> None:
    issued = personalise(pcsc, station, residents[0], tmp_path / "card.json")
    clone = CardState.blank(tmp_path / "clone.json")
    clone.put_object(f"{ObjectId.KARTU_CREDENTIAL:06x}", CardState.open(tmp_path / "card.json").objects[f"{ObjectId.KARTU_CREDENTIAL:06x}"])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    outcome = tap(pcsc, TapService(store, signer), tmp_path / "clone.json")
    assert outcome.decision.reason is Reason.CARD_CLONED
    assert stored_records(store) == []


def test_blank_piv_card_is_not_kartu_bahagia(pcsc, station, tmp_path) -> None:
    CardState.blank(tmp_path / "blank.json")
    store, signer = make_terminal(tmp_path / "terminal", station, {})
    outcome = tap(pcsc, TapService(store, signer), tmp_path / "blank.json")
    assert outcome.decision.reason is Reason.NOT_KARTU_BAHAGIA
    assert "Kartu Bahagia" in outcome.decision.message_id


def test_card_of_unknown_issuer_refused(pcsc, station, residents, tmp_path) -> None:
    from issuance.station import Station, create_station_keys

    create_station_keys(tmp_path / "other")
    other = Station(tmp_path / "other")
    issued = personalise(pcsc, other, residents[0], tmp_path / "card.json")
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    outcome = tap(pcsc, TapService(store, signer), tmp_path / "card.json")
    assert outcome.decision.reason is Reason.UNKNOWN_ISSUER


def test_qr_scan_recorded_without_card_signature(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    outcome = TapService(store, signer).scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    [(_, signed, _)] = stored_records(store)
    record = verify_signed_record(signed, signer.public_key)
    assert record.assurance is Assurance.QR
    assert record.card_signature is None


def test_unsynced_month_rollover_resets_server_count(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 3}, period="2026-11")
    outcome = TapService(store, signer).scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    assert outcome.remaining == 2


@pytest.mark.parametrize("status_after_push", ["pending", "rejected"])
def test_unacknowledged_records_count_against_quota(station, residents, tmp_path, status_after_push) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0}, quota=2)
    service = TapService(store, signer)
    first = service.scan_qr(issued.qr_text, "lpg", NOW)
    if status_after_push == "rejected":
        store.mark_rejected({first.record_id: "card not registered"})
    assert service.scan_qr(issued.qr_text, "lpg", NOW).decision.accepted
    assert service.scan_qr(issued.qr_text, "lpg", NOW).decision.reason is Reason.QUOTA_EXCEEDED


def test_acknowledged_records_not_counted_twice(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0}, quota=3)
    service = TapService(store, signer)
    first = service.scan_qr(issued.qr_text, "lpg", NOW)
    store.mark_acked([first.record_id])
    # The next pull reports the acknowledged record in the server's count.
    set_now = store.entitlement_set("lpg")
    store.replace_entitlements([(set_now, {issued.household_id: 1})], pulled_at=1)

    second = service.scan_qr(issued.qr_text, "lpg", NOW)

    assert second.remaining == 1
