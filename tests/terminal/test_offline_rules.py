"""Offline rules: refuse or warn once a programme has gone too long without a sync."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from card.decision import Reason
from terminal.offline_rules import (
    OfflineAction, OfflineRule, RuledTapService, load_rules, offline_status, save_rule,
)
from terminal.store import EntitlementSet
from tests.terminal.conftest import make_terminal, qr_card

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=timezone.utc)
DAY = 24 * 3600


@pytest.fixture
def terminal(station, residents, tmp_path):
    """A store whose lpg entitlements were pulled one day before NOW, and one entitled QR card."""
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0})
    pulled_at = int((NOW - timedelta(days=1)).timestamp())
    store.replace_entitlements([(EntitlementSet("lpg", "2026-12", 3, "tabung", 0), {issued.household_id: 0})], pulled_at)
    return store, signer, issued


def test_no_rule_no_limit(terminal) -> None:
    store, signer, issued = terminal
    assert offline_status(store, "lpg", int(NOW.timestamp())) is None
    assert RuledTapService(store, signer).scan_qr(issued.qr_text, "lpg", NOW).decision.accepted


def test_refuse_rule_within_limit(terminal) -> None:
    store, signer, issued = terminal
    save_rule(store, OfflineRule("lpg", 2 * DAY, OfflineAction.REFUSE))
    service = RuledTapService(store, signer)
    outcome = service.scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    assert service.warnings == {}


def test_refuse_rule_past_limit(terminal) -> None:
    store, signer, issued = terminal
    save_rule(store, OfflineRule("lpg", 12 * 3600, OfflineAction.REFUSE))
    outcome = RuledTapService(store, signer).scan_qr(issued.qr_text, "lpg", NOW)
    assert not outcome.decision.accepted
    assert outcome.decision.reason is Reason.OFFLINE_TOO_LONG
    assert store.count_by_status() == {}
    assert "not synced for 24 hours" in outcome.decision.message_en
    assert "at most 12 hours" in outcome.decision.message_en
    assert "24 jam" in outcome.decision.message_id


def test_limit_to_the_second(terminal) -> None:
    store, signer, issued = terminal
    save_rule(store, OfflineRule("lpg", DAY, OfflineAction.REFUSE))
    service = RuledTapService(store, signer)
    assert service.scan_qr(issued.qr_text, "lpg", NOW).decision.accepted
    late = service.scan_qr(issued.qr_text, "lpg", NOW + timedelta(seconds=1))
    assert late.decision.reason is Reason.OFFLINE_TOO_LONG


def test_warn_rule_records_with_warning(terminal) -> None:
    store, signer, issued = terminal
    save_rule(store, OfflineRule("lpg", 3600, OfflineAction.WARN))
    service = RuledTapService(store, signer)
    outcome = service.scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.accepted
    assert store.count_by_status() == {"pending": 1}
    warning = service.warnings[outcome.record_id]
    assert warning.offline_seconds == DAY
    assert "The hand-over was recorded" in warning.warning("en")
    assert "24" in warning.warning("id")


def test_never_synced_counts_as_exceeded(station, residents, tmp_path) -> None:
    issued = qr_card(station, residents[1])
    store, signer = make_terminal(tmp_path / "terminal", station, {issued.household_id: 0}, pulled_at=0)
    save_rule(store, OfflineRule("lpg", 30 * DAY, OfflineAction.REFUSE))
    outcome = RuledTapService(store, signer).scan_qr(issued.qr_text, "lpg", NOW)
    assert outcome.decision.reason is Reason.OFFLINE_TOO_LONG
    assert "-" in outcome.decision.message_en


def test_rules_round_trip(terminal) -> None:
    store, _signer, _issued = terminal
    save_rule(store, OfflineRule("lpg", 3600, OfflineAction.WARN))
    save_rule(store, OfflineRule("bpjs", 7200, OfflineAction.REFUSE))
    assert load_rules(store) == {
        "lpg": OfflineRule("lpg", 3600, OfflineAction.WARN),
        "bpjs": OfflineRule("bpjs", 7200, OfflineAction.REFUSE),
    }


def test_damaged_rule_rejected(terminal) -> None:
    store, _signer, _issued = terminal
    store.set_meta({"offline_rules": '{"lpg": {"max_offline_seconds": 60, "action": "ignore"}}'})
    with pytest.raises(ValueError, match="offline rule for 'lpg'"):
        load_rules(store)


def test_non_positive_limit_rejected() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        OfflineRule("lpg", 0, OfflineAction.REFUSE)


def test_cli_rule_refuses_tap(terminal) -> None:
    store, _signer, issued = terminal
    directory = str(store.path.parent)
    store.close()
    base = [sys.executable, "-m", "kartu", "--lang", "en", "terminal"]
    rule = subprocess.run([*base, "offline-rule", "--dir", directory, "--program", "lpg", "--max-hours", "1",
                           "--after", "refuse"], capture_output=True, text=True, timeout=60)
    assert rule.returncode == 0, rule.stderr
    tap = subprocess.run([*base, "tap", "--dir", directory, "--program", "lpg", "--qr-text", issued.qr_text],
                         capture_output=True, text=True, timeout=60)
    assert tap.returncode == 1
    assert "has not synced for" in tap.stdout
