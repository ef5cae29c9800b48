"""Programme names and counted units in the texts a person reads: rejections, receipts, status and screens."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from card.decision import Decision, Reason
from terminal.modes import MODES, ModeName, ProgrammeStanding
from terminal.offline_rules import OfflineAction, OfflineRule, RuledTapService, save_rule
from terminal.programmes import amount_text, programme_name
from terminal.receipt import Receipt, render_receipt
from terminal.status import TerminalStatus
from terminal.tap import TapOutcome, TapService
from terminal.tap_cli import loop_summary
from terminal.tap_loop import LoopReport
from terminal.web.views import tap_screen
from tests.terminal.conftest import make_terminal, qr_card

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def card(station, residents):
    return qr_card(station, residents[0])


def test_not_entitled_names_programme(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {bytes(8): 0})
    outcome = TapService(store, signer).scan_qr(card.qr_text, "lpg", NOW)

    assert outcome.decision.reason is Reason.NOT_ENTITLED
    assert "not entitled to LPG 3 kg." in outcome.decision.message_en
    assert "LPG 3 kg" in outcome.decision.message_id
    assert "lpg" not in outcome.decision.message_en
    assert "lpg" not in outcome.decision.message_id


def test_scholarship_name_per_language(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {bytes(8): 0}, quota=1, program="beasiswa",
                                  unit="pencairan")
    outcome = TapService(store, signer).scan_qr(card.qr_text, "beasiswa", NOW)

    assert "not entitled to Scholarship." in outcome.decision.message_en
    assert "Beasiswa" in outcome.decision.message_id
    assert "beasiswa" not in outcome.decision.message_id


def test_unknown_programme_shows_code(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {bytes(8): 0}, program="zakat_fitrah")
    outcome = TapService(store, signer).scan_qr(card.qr_text, "zakat_fitrah", NOW)

    assert outcome.decision.reason is Reason.NOT_ENTITLED
    assert "not entitled to zakat_fitrah." in outcome.decision.message_en
    assert "zakat_fitrah" in outcome.decision.message_id
    assert programme_name("zakat_fitrah", "en") == "zakat_fitrah"


def test_quota_rejection_counts_units(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 2}, quota=3)
    outcome = TapService(store, signer).scan_qr(card.qr_text, "lpg", NOW, quantity=2)
    english = outcome.decision.message_en
    indonesian = outcome.decision.message_id

    assert outcome.decision.reason is Reason.QUOTA_EXCEEDED
    assert "used 2 of 3 cylinders of its LPG 3 kg quota" in english
    assert "Requested: 2 cylinders; still available: 1 cylinder." in english
    assert "Hand over at most 1 cylinder," in english
    assert "tabung" not in english
    assert "memakai 2 dari 3 tabung kuota LPG 3 kg" in indonesian
    assert "Diminta: 2 tabung; masih tersedia: 1 tabung." in indonesian


@pytest.mark.parametrize(("count", "unit", "language", "expected"), [
    (1, "tabung", "en", "1 cylinder"),
    (2, "tabung", "en", "2 cylinders"),
    (0, "tabung", "en", "0 cylinders"),
    (1, "tabung", "id", "1 tabung"),
    (2, "tabung", "id", "2 tabung"),
    (1, "pencairan", "en", "1 payout"),
    (3, "pencairan", "id", "3 pencairan"),
    (1, "kali", "en", "1 time"),
    (4, "kali", "en", "4 times"),
    (2, "kali", "id", "2 kali"),
    (2, "karung", "en", "2 karung"),
    (2, "{x}", "en", "2 {x}"),
])
def test_amount_text_forms(count, unit, language, expected) -> None:
    assert amount_text(count, unit, language) == expected


def test_receipt_names_programme_and_units() -> None:
    receipt = Receipt(
        number=7, record_id="0f0e0d0c-0000-4000-8000-000000000007", terminal_id="TRM-TEST0001",
        service_point="Agen LPG Talang Banjar", card_number="1571000000012344", program="lpg", quantity=1,
        unit="tabung", remaining=2, tapped_at=int(NOW.timestamp()),
    )
    english = render_receipt(receipt, "en").decode("ascii")
    indonesian = render_receipt(receipt, "id").decode("ascii")

    assert "LPG 3 kg" in english
    assert "1 cylinder\n" in english
    assert "2 cylinders\n" in english
    assert "tabung" not in english
    assert "LPG 3 kg" in indonesian
    assert "1 tabung\n" in indonesian
    assert "\nlpg" not in indonesian.lower().replace("lpg 3 kg", "")


def test_offline_rejection_singular_hour(station, card, tmp_path) -> None:
    store, signer = make_terminal(tmp_path / "terminal", station, {card.household_id: 0})
    save_rule(store, OfflineRule("lpg", 3600, OfflineAction.REFUSE))
    store.execute("UPDATE entitlement_sets SET pulled_at = ?", (int((NOW - timedelta(hours=1, minutes=30)).timestamp()),))
    outcome = RuledTapService(store, signer).scan_qr(card.qr_text, "lpg", NOW)
    english = outcome.decision.message_en

    assert outcome.decision.reason is Reason.OFFLINE_TOO_LONG
    assert "not synced for 1 hour, and LPG 3 kg allows at most 1 hour without" in english
    assert "1 jam" in outcome.decision.message_id


def test_status_ages_singular_and_plural() -> None:
    now = int(NOW.timestamp())
    status = TerminalStatus(last_sync_at=now, pending=0, trust_list_issued_at=now - 3600,
                            revocation_issued_at=now - 3 * 86400, now=now, offline_limit=("lpg", 3600))
    synced_long_ago = TerminalStatus(last_sync_at=now - 2 * 3600, pending=0, trust_list_issued_at=now,
                                     revocation_issued_at=now, now=now, offline_limit=("lpg", 2 * 3600 - 1))
    english = status.render("en")

    assert english["trust"] == "Trust list: 1 hour old"
    assert english["revocation"] == "Revocation list: 3 days old"
    assert status.render("id")["trust"] == "Daftar kepercayaan: umur 1 jam"
    assert synced_long_ago.render("en")["warning"].startswith(
        "The last sync is older than the 1 hour that LPG 3 kg allows."
    )


def test_screen_counts_units_in_english() -> None:
    standing = ProgrammeStanding("lpg", True, 3, 2, "tabung", "2026-12")
    outcome = TapOutcome(Decision.accept(), remaining=1, unit="tabung")
    screen = tap_screen(MODES[ModeName.LPG], outcome, standings=(standing,))
    english = screen.render("en")
    indonesian = screen.render("id")

    assert english["remaining"] == "Remaining this month: 1 cylinder"
    assert english["standings"] == ["LPG 3 kg: 1 of 3 cylinders left this month"]
    assert indonesian["remaining"] == "Sisa bulan ini: 1 tabung"
    assert indonesian["standings"] == ["LPG 3 kg: sisa 1 dari 3 tabung bulan ini"]


def test_stale_warning_singular_day() -> None:
    now = int(NOW.timestamp())
    status = TerminalStatus(last_sync_at=now, pending=0, trust_list_issued_at=now - 2 * 86400,
                            revocation_issued_at=now, now=now, max_list_age=timedelta(days=1))

    assert status.render("en")["warning"] == "Lists are older than 1 day. Sync the terminal before serving more cards."
    assert status.render("id")["warning"].startswith("Daftar lebih tua dari 1 hari.")


@pytest.mark.parametrize(("taps", "english", "indonesian"), [
    (1, "Stopped after 1 tap: 1 accepted, 0 refused.", "Berhenti setelah 1 kali tempel: 1 diterima, 0 ditolak."),
    (2, "Stopped after 2 taps: 1 accepted, 1 refused.", "Berhenti setelah 2 kali tempel: 1 diterima, 1 ditolak."),
])
def test_loop_summary_counts_taps(taps, english, indonesian) -> None:
    report = LoopReport(taps=taps, accepted=1, refused=taps - 1)

    assert loop_summary(report, "en") == english
    assert loop_summary(report, "id") == indonesian
