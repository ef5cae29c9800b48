"""The per-card limit of a per-person quota: one card draws at most one person's share per quota period."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from card.decision import Reason
from terminal.store import HouseholdUse
from terminal.tap import TapService
from tests.terminal.conftest import make_terminal, qr_card

# Times are in UTC. WIB is UTC+7, so each lies well inside its WIB month.
JANUARY = datetime(2027, 1, 20, 3, 0, tzinfo=timezone.utc)
FEBRUARY = datetime(2027, 2, 3, 3, 0, tzinfo=timezone.utc)
JUNE = datetime(2027, 6, 10, 3, 0, tzinfo=timezone.utc)
JULY = datetime(2027, 7, 5, 3, 0, tzinfo=timezone.utc)


def member(resident, number: int):
    """Return another member of the resident's household (same KK) with its own NIK."""
    return replace(resident, nik=resident.nik[:-4] + f"{9900 + number}", name=f"ANAK {number}")


@pytest.fixture
def cards(station, residents):
    """Three cards of one household: the pupil's and two siblings'."""
    return [qr_card(station, residents[0])] + [qr_card(station, member(residents[0], n)) for n in (1, 2)]


def scholarship(tmp_path, station, household: bytes, persons: int | None, period: str = "2027-01"):
    store, signer = make_terminal(tmp_path / "terminal", station, {household: HouseholdUse(0, persons)}, quota=1,
                                  period=period, program="beasiswa", unit="pencairan")
    return store, TapService(store, signer)


def test_second_payout_same_card_rejected(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=3)

    first = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)
    second = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)

    assert first.decision.accepted, first.decision.message_en
    assert second.decision.reason is Reason.CARD_SHARE_USED
    assert "This card has received 1 payout of Scholarship for 2027-01 – 2027-06" in second.decision.message_en
    assert "must bring their own card" in second.decision.message_en
    assert "Kartu ini sudah menerima 1 pencairan" in second.decision.message_id
    assert "kartunya sendiri" in second.decision.message_id
    assert second.record_id is None
    assert store.count_by_status() == {"pending": 1}


def test_same_card_rejected_later_in_semester(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=3)

    january = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)
    february = service.scan_qr(cards[0].qr_text, "beasiswa", FEBRUARY)

    assert january.decision.accepted, january.decision.message_en
    assert february.decision.reason is Reason.CARD_SHARE_USED
    assert store.count_by_status() == {"pending": 1}


def test_sibling_card_still_accepted(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=3)

    service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)
    rejected = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)
    sibling = service.scan_qr(cards[1].qr_text, "beasiswa", FEBRUARY)

    assert rejected.decision.reason is Reason.CARD_SHARE_USED
    assert sibling.decision.accepted, sibling.decision.message_en
    assert sibling.remaining == 1
    assert store.count_by_status() == {"pending": 2}


def test_household_cap_still_applies(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=2)

    first = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)
    second = service.scan_qr(cards[1].qr_text, "beasiswa", JANUARY)
    third = service.scan_qr(cards[2].qr_text, "beasiswa", JANUARY)

    assert first.decision.accepted, first.decision.message_en
    assert second.decision.accepted, second.decision.message_en
    assert third.decision.reason is Reason.QUOTA_EXCEEDED
    assert "2 of 2 payouts" in third.decision.message_en
    assert store.count_by_status() == {"pending": 2}


def test_multi_share_request_rejected(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=3)

    outcome = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY, quantity=2)

    assert outcome.decision.reason is Reason.CARD_SHARE_USED
    assert "Requested: 2 payouts" in outcome.decision.message_en
    assert store.count_by_status() == {}


def test_next_semester_renews_card_share(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=2, period="2027-06")

    june = service.scan_qr(cards[0].qr_text, "beasiswa", JUNE)
    july = service.scan_qr(cards[0].qr_text, "beasiswa", JULY)

    assert june.decision.accepted, june.decision.message_en
    assert july.decision.accepted, july.decision.message_en
    assert store.count_by_status() == {"pending": 2}


def test_household_quota_has_no_card_limit(station, cards, tmp_path) -> None:
    store, service = scholarship(tmp_path, station, cards[0].household_id, persons=None)
    store.execute("UPDATE entitlement_sets SET quota = 2")

    first = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)
    second = service.scan_qr(cards[0].qr_text, "beasiswa", JANUARY)

    assert first.decision.accepted, first.decision.message_en
    assert second.decision.accepted, second.decision.message_en
    assert store.count_by_status() == {"pending": 2}
