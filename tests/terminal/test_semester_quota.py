"""A quota period longer than a month (the scholarship's semester): use counted across its months until the next pull."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from card.decision import Decision, Reason
from terminal.modes import MODES, ModeName, ProgrammeStanding, household_standing
from terminal.programmes import quota_period_of
from terminal.store import EntitlementSet, HouseholdUse
from terminal.tap import TapOutcome, TapService
from terminal.web.views import tap_screen
from tests.terminal.conftest import make_terminal, qr_card

# Times are in UTC. WIB is UTC+7, so each lies well inside its WIB month.
JANUARY = datetime(2027, 1, 20, 3, 0, tzinfo=timezone.utc)
FEBRUARY = datetime(2027, 2, 3, 3, 0, tzinfo=timezone.utc)
JUNE = datetime(2027, 6, 10, 3, 0, tzinfo=timezone.utc)
JULY = datetime(2027, 7, 5, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def card(station, residents):
    return qr_card(station, residents[0])


@pytest.fixture
def sibling_card(station, residents):
    """A card of another member of the first card's household (same KK)."""
    sibling = replace(residents[0], nik=residents[0].nik[:-4] + "9901", name="SITI AMINAH")
    return qr_card(station, sibling)


def scholarship_terminal(tmp_path, station, household: bytes, used: int, persons: int | None = None,
                         period: str = "2027-01"):
    return make_terminal(tmp_path / "terminal", station, {household: HouseholdUse(used, persons)}, quota=1,
                         period=period, program="beasiswa", unit="pencairan")


def pull(store, household: bytes, used: int, period: str, persons: int | None = None) -> None:
    """Apply a pull of the scholarship set, as a sync does after its push."""
    current = store.entitlement_set("beasiswa")
    pulled = EntitlementSet("beasiswa", period, current.quota, current.unit, current.generation)
    store.replace_entitlements([(pulled, {household: HouseholdUse(used, persons)})], pulled_at=int(FEBRUARY.timestamp()))


def test_local_use_counts_next_month(station, card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, used=0)
    service = TapService(store, signer)

    january = service.scan_qr(card.qr_text, "beasiswa", JANUARY)
    february = service.scan_qr(card.qr_text, "beasiswa", FEBRUARY)

    assert january.decision.accepted, january.decision.message_en
    assert february.decision.reason is Reason.QUOTA_EXCEEDED
    assert february.remaining == 0
    assert "used 1 of 1 payout of its Scholarship quota for 2027-01 – 2027-06" in february.decision.message_en
    assert store.count_by_status() == {"pending": 1}


def test_pulled_use_counts_next_month(station, card, tmp_path) -> None:
    # The January pull reports a payout made at another terminal.
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, used=1)

    february = TapService(store, signer).scan_qr(card.qr_text, "beasiswa", FEBRUARY)

    assert february.decision.reason is Reason.QUOTA_EXCEEDED
    assert store.count_by_status() == {}


def test_acknowledged_use_not_counted_twice(station, card, sibling_card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, used=0, persons=2)
    service = TapService(store, signer)
    january = service.scan_qr(card.qr_text, "beasiswa", JANUARY)
    store.mark_acked([january.record_id])
    pull(store, card.household_id, used=1, period="2027-02", persons=2)

    february = service.scan_qr(sibling_card.qr_text, "beasiswa", FEBRUARY)
    again = service.scan_qr(sibling_card.qr_text, "beasiswa", FEBRUARY)

    assert february.decision.accepted, february.decision.message_en
    assert february.remaining == 0
    assert again.decision.reason is Reason.QUOTA_EXCEEDED


def test_unacknowledged_use_counted_after_pull(station, card, sibling_card, tmp_path) -> None:
    # The push failed, so the February pull does not include January's payout yet.
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, used=0, persons=2)
    service = TapService(store, signer)
    service.scan_qr(card.qr_text, "beasiswa", JANUARY)
    pull(store, card.household_id, used=0, period="2027-02", persons=2)

    february = service.scan_qr(sibling_card.qr_text, "beasiswa", FEBRUARY)
    again = service.scan_qr(sibling_card.qr_text, "beasiswa", FEBRUARY)

    assert february.decision.accepted, february.decision.message_en
    assert february.remaining == 0
    assert again.decision.reason is Reason.QUOTA_EXCEEDED


def test_next_semester_starts_fresh(station, card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, used=0, period="2027-06")
    service = TapService(store, signer)
    june = service.scan_qr(card.qr_text, "beasiswa", JUNE)

    july = service.scan_qr(card.qr_text, "beasiswa", JULY)

    assert june.decision.accepted, june.decision.message_en
    assert july.decision.accepted, july.decision.message_en
    assert july.remaining == 0


def test_monthly_programme_still_monthly(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0}, quota=1, period="2027-01")
    service = TapService(store, signer)

    assert service.scan_qr(card.qr_text, "lpg", JANUARY).decision.accepted
    assert service.scan_qr(card.qr_text, "lpg", FEBRUARY).decision.accepted
    assert service.scan_qr(card.qr_text, "lpg", FEBRUARY).decision.reason is Reason.QUOTA_EXCEEDED


def test_kiosk_standing_counts_semester(station, card, tmp_path) -> None:
    store, signer = scholarship_terminal(tmp_path, station, card.household_id, used=0)
    TapService(store, signer).scan_qr(card.qr_text, "beasiswa", JANUARY)

    [standing] = household_standing(store, card.household_id, FEBRUARY)

    assert standing.used == 1
    assert standing.remaining == 0


def test_event_quota_never_renews(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0}, quota=1, period="2027-01",
                                  program="bantuan_bencana", unit="pencairan")
    service = TapService(store, signer)

    january = service.scan_qr(card.qr_text, "bantuan_bencana", JANUARY)
    july = service.scan_qr(card.qr_text, "bantuan_bencana", JULY)

    assert january.decision.accepted, january.decision.message_en
    assert july.decision.reason is Reason.QUOTA_EXCEEDED
    assert "of its Disaster cash aid quota for all time" in july.decision.message_en
    assert "sepanjang waktu" in july.decision.message_id


def test_event_pulled_use_counts(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 1}, quota=1, period="2027-01",
                                  program="bantuan_bencana", unit="pencairan")

    july = TapService(store, signer).scan_qr(card.qr_text, "bantuan_bencana", JULY)

    assert july.decision.reason is Reason.QUOTA_EXCEEDED


def test_event_quota_has_no_months() -> None:
    assert quota_period_of("bantuan_bencana", "2027-02") is None


def test_screen_names_semester() -> None:
    outcome = TapOutcome(Decision.accept(), remaining=0, unit="pencairan")
    standing = ProgrammeStanding("beasiswa", True, 1, 1, "pencairan", "2027-02")
    school = tap_screen(MODES[ModeName.SCHOOL], outcome, now=FEBRUARY)
    kiosk = tap_screen(MODES[ModeName.KIOSK], outcome, standings=(standing,), now=FEBRUARY)

    assert school.render("en")["remaining"] == "Remaining for 2027-01 – 2027-06: 0 payouts"
    assert school.render("id")["remaining"] == "Sisa untuk 2027-01 – 2027-06: 0 pencairan"
    assert kiosk.render("en")["standings"] == ["Scholarship: 0 of 1 payout left for 2027-01 – 2027-06"]
    assert kiosk.render("id")["standings"] == ["Beasiswa: sisa 0 dari 1 pencairan untuk 2027-01 – 2027-06"]


def test_screen_monthly_names_month() -> None:
    outcome = TapOutcome(Decision.accept(), remaining=2, unit="tabung")
    lpg = tap_screen(MODES[ModeName.LPG], outcome, now=FEBRUARY)

    assert lpg.render("en")["remaining"] == "Remaining this month: 2 cylinders"


@pytest.mark.parametrize(("program", "month", "first", "last"), [
    ("beasiswa", "2027-01", "2027-01", "2027-06"),
    ("beasiswa", "2027-06", "2027-01", "2027-06"),
    ("beasiswa", "2027-07", "2027-07", "2027-12"),
    ("beasiswa", "2027-12", "2027-07", "2027-12"),
    ("lpg", "2027-02", "2027-02", "2027-02"),
    ("unknown", "2027-02", "2027-02", "2027-02"),
])
def test_quota_period_months(program, month, first, last) -> None:
    months = quota_period_of(program, month)

    assert months[0] == first
    assert months[-1] == last
    assert month in months
