"""The quota period a pulled set carries: stored with the set and used to count the household's use."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from card.decision import Decision, Reason
from server.models import Programme
from terminal.enrol import open_terminal
from terminal.modes import MODES, ModeName, ProgrammeStanding, household_standing
from terminal.programmes import quota_period_of
from terminal.store import SCHEMA_STEPS, EntitlementSet, TerminalStore
from terminal.tap import TapOutcome, TapService, period_of
from terminal.web.views import tap_screen
from tests.terminal.conftest import make_terminal, qr_card
from tests.terminal.live_server import enrol, live_server, register_qr_cards, sync

# Times are in UTC. WIB is UTC+7, so each lies well inside its WIB month.
JANUARY = datetime(2027, 1, 20, 3, 0, tzinfo=timezone.utc)
NOVEMBER = datetime(2027, 11, 3, 3, 0, tzinfo=timezone.utc)
NEXT_JANUARY = datetime(2028, 1, 12, 3, 0, tzinfo=timezone.utc)
FEBRUARY = datetime(2027, 2, 3, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def card(station, residents):
    return qr_card(station, residents[0])


def pull(store: TerminalStore, program: str, quota_period: str | None, used: dict) -> None:
    """Apply a pulled set of program issued in January 2027 that carries quota_period."""
    pulled = EntitlementSet(program, "2027-01", 1, "tabung", 0, quota_period=quota_period)
    store.replace_entitlements([(pulled, used)], pulled_at=int(JANUARY.timestamp()))


def test_quota_period_stored_with_set(station, card, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    pull(store, "lpg", "year", {card.household_id: 0})

    usage = store.quota_usage("lpg", card.household_id, "2027-01")

    assert store.entitlement_set("lpg").quota_period == "year"
    assert usage.entitlement_set.quota_period == "year"


def test_next_pull_replaces_quota_period(station, card, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    pull(store, "lpg", "year", {card.household_id: 0})
    assert store.quota_usage("lpg", card.household_id, "2027-01").entitlement_set.quota_period == "year"

    pull(store, "lpg", "semester", {card.household_id: 0})

    assert store.quota_usage("lpg", card.household_id, "2027-01").entitlement_set.quota_period == "semester"


def test_quota_period_from_other_connection(station, card, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    assert store.quota_usage("lpg", card.household_id, "2027-01").entitlement_set.quota_period is None
    other = TerminalStore(store.path)
    pull(other, "lpg", "year", {card.household_id: 0})
    other.close()

    assert store.quota_usage("lpg", card.household_id, "2027-01").entitlement_set.quota_period == "year"


def test_old_store_gains_quota_period_column(tmp_path) -> None:
    path = tmp_path / "terminal.db"
    TerminalStore(path).close()
    # Rebuild the store as the version before the quota period column left it.
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE entitlement_sets DROP COLUMN quota_period")
    db.execute("INSERT INTO entitlement_sets (program, period, quota, unit, generation, pulled_at) "
               "VALUES ('beasiswa', '2027-01', 1, 'pencairan', 1, 0)")
    db.execute(f"PRAGMA user_version = {len(SCHEMA_STEPS) - 1}")
    db.commit()
    db.close()

    store = TerminalStore(path)

    assert store.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA_STEPS)
    assert store.entitlement_set("beasiswa").quota_period is None


def test_yearly_period_counts_across_months(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    pull(store, "lpg", "year", {card.household_id: 0})
    service = TapService(store, signer)

    january = service.scan_qr(card.qr_text, "lpg", JANUARY)
    november = service.scan_qr(card.qr_text, "lpg", NOVEMBER)
    next_year = service.scan_qr(card.qr_text, "lpg", NEXT_JANUARY)

    assert january.decision.accepted, january.decision.message_en
    assert november.decision.reason is Reason.QUOTA_EXCEEDED
    assert "quota for 2027-01 – 2027-12" in november.decision.message_en
    assert november.quota_period == "year"
    assert next_year.decision.accepted, next_year.decision.message_en


def test_pulled_period_overrides_fallback(station, card, tmp_path) -> None:
    # The fallback table counts the scholarship by semester, but the pulled set carries "month".
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0}, program="beasiswa")
    pull(store, "beasiswa", "month", {card.household_id: 0})
    service = TapService(store, signer)

    assert service.scan_qr(card.qr_text, "beasiswa", JANUARY).decision.accepted
    assert service.scan_qr(card.qr_text, "beasiswa", FEBRUARY).decision.accepted


def test_set_without_period_uses_fallback(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0}, program="beasiswa")
    pull(store, "beasiswa", None, {card.household_id: 0})
    service = TapService(store, signer)

    assert service.scan_qr(card.qr_text, "beasiswa", JANUARY).decision.accepted
    assert service.scan_qr(card.qr_text, "beasiswa", FEBRUARY).decision.reason is Reason.QUOTA_EXCEEDED


def test_none_period_never_renews(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    pull(store, "lpg", "none", {card.household_id: 0})
    service = TapService(store, signer)

    assert service.scan_qr(card.qr_text, "lpg", JANUARY).decision.accepted
    assert service.scan_qr(card.qr_text, "lpg", NEXT_JANUARY).decision.reason is Reason.QUOTA_EXCEEDED


def test_kiosk_standing_counts_year(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    pull(store, "lpg", "year", {card.household_id: 0})
    TapService(store, signer).scan_qr(card.qr_text, "lpg", JANUARY)

    [standing] = household_standing(store, card.household_id, NOVEMBER)

    assert standing.used == 1
    assert standing.remaining == 0
    assert standing.quota_period == "year"


def test_screen_names_year() -> None:
    outcome = TapOutcome(Decision.accept(), remaining=0, unit="tabung", quota_period="year")
    standing = ProgrammeStanding("lpg", True, 1, 1, "tabung", "2027-02", quota_period="year")
    lpg = tap_screen(MODES[ModeName.LPG], outcome, now=FEBRUARY)
    kiosk = tap_screen(MODES[ModeName.KIOSK], outcome, standings=(standing,), now=FEBRUARY)

    assert lpg.render("en")["remaining"] == "Remaining for 2027-01 – 2027-12: 0 cylinders"
    assert kiosk.render("en")["standings"] == ["LPG 3 kg: 0 of 1 cylinder left for 2027-01 – 2027-12"]


@pytest.mark.parametrize(("quota_period", "month", "first", "last"), [
    ("year", "2027-01", "2027-01", "2027-12"),
    ("year", "2027-12", "2027-01", "2027-12"),
    ("semester", "2027-08", "2027-07", "2027-12"),
    ("month", "2027-08", "2027-08", "2027-08"),
])
def test_quota_period_of_pulled_word(quota_period, month, first, last) -> None:
    months = quota_period_of("lpg", month, quota_period)

    assert months[0] == first
    assert months[-1] == last
    assert len(months) == int(last[5:]) - int(first[5:]) + 1


@pytest.mark.parametrize("quota_period", ["event", "none"])
def test_never_renewing_words_have_no_months(quota_period) -> None:
    assert quota_period_of("lpg", "2027-02", quota_period) is None


def test_yearly_period_pulled_from_server(station, residents, tmp_path) -> None:
    with live_server(tmp_path) as kit:
        with Session(kit.live.app.state.engine) as session:
            session.execute(update(Programme).where(Programme.code == "lpg").values(quota_period="year", quota=1))
            session.commit()
        [card] = register_qr_cards(kit, station, residents[:1])
        directory = tmp_path / "terminal"
        enrol(kit, station, directory).close()
        report = sync(directory)

    assert report.programmes_pulled == ["lpg"], report
    store, signer = open_terminal(directory)
    pulled = store.entitlement_set("lpg")
    # The year after the pull's, so that every tap falls after the card's issue date.
    year = int(pulled.period[:4]) + 1
    service = TapService(store, signer)
    february = service.scan_qr(card.qr_text, "lpg", datetime(year, 2, 3, 3, 0, tzinfo=timezone.utc))
    november = service.scan_qr(card.qr_text, "lpg", datetime(year, 11, 3, 3, 0, tzinfo=timezone.utc))
    next_year = service.scan_qr(card.qr_text, "lpg", datetime(year + 1, 2, 3, 3, 0, tzinfo=timezone.utc))

    assert pulled.quota_period == "year"
    assert february.decision.accepted, february.decision.message_en
    assert november.decision.reason is Reason.QUOTA_EXCEEDED
    assert f"quota for {year}-01 – {year}-12" in november.decision.message_en
    assert next_year.decision.accepted, next_year.decision.message_en


def test_cli_names_pulled_year(station, card, tmp_path) -> None:
    store, _ = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    pulled = EntitlementSet("lpg", "2026-12", 2, "tabung", 0, quota_period="year")
    store.replace_entitlements([(pulled, {card.household_id: 0})], pulled_at=0)
    store.close()
    year = period_of(datetime.now(timezone.utc))[:4]

    result = subprocess.run(
        [sys.executable, "-m", "kartu", "--lang", "en", "terminal", "tap", "--dir", str(tmp_path / "terminal"),
         "--program", "lpg", "--qr-text", card.qr_text],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert f"Remaining for {year}-01 – {year}-12: 1 cylinder" in result.stdout
