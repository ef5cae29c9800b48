"""A card whose household the pulled set does not list: not entitled, or newer than the set and needing a sync."""

from __future__ import annotations

from datetime import date, datetime, timezone

from card.decision import Reason
from card.verify import WIB
from issuance.personalise import issue_qr_only
from terminal.tap import TapService
from tests.terminal.conftest import make_terminal

NOW = datetime(2026, 12, 10, 3, 0, tzinfo=timezone.utc)
OTHER_HOUSEHOLD = bytes(8)


def set_issued(store, day: date) -> None:
    """Store the held lpg set's issue time as a verified pull does: noon WIB of day, in Unix milliseconds."""
    issued_ms = int(datetime(day.year, day.month, day.day, 12, tzinfo=WIB).timestamp() * 1000)
    store.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('entitlement_issued_at_ms:lpg', ?)",
                  (str(issued_ms),))


def unlisted_tap(station, resident, tmp_path, card_issued: date, set_day: date | None = None,
                 pulled_at: int | None = None):
    """Tap a card issued on card_issued at a terminal whose set lists another household only."""
    card = issue_qr_only(resident, station, card_issued)
    pulled = pulled_at if pulled_at is not None else int(NOW.timestamp())
    store, signer = make_terminal(tmp_path / "terminal", station, {OTHER_HOUSEHOLD: 0}, pulled_at=pulled)
    if set_day is not None:
        set_issued(store, set_day)
    return store, TapService(store, signer).scan_qr(card.qr_text, "lpg", NOW)


def test_card_after_set_needs_sync(station, residents, tmp_path) -> None:
    store, outcome = unlisted_tap(station, residents[0], tmp_path, date(2026, 12, 8), set_day=date(2026, 12, 7))

    assert outcome.decision.reason is Reason.CARD_NEWER_THAN_LIST
    assert "issued on 08-12-2026" in outcome.decision.message_en
    assert "dates from 07-12-2026" in outcome.decision.message_en
    assert "Sync the terminal" in outcome.decision.message_en
    assert "Sinkronkan terminal" in outcome.decision.message_id
    assert outcome.record_id is None
    assert store.count_by_status() == {}


def test_card_issued_on_set_day_needs_sync(station, residents, tmp_path) -> None:
    _store, outcome = unlisted_tap(station, residents[0], tmp_path, date(2026, 12, 7), set_day=date(2026, 12, 7))

    assert outcome.decision.reason is Reason.CARD_NEWER_THAN_LIST


def test_card_before_set_not_entitled(station, residents, tmp_path) -> None:
    store, outcome = unlisted_tap(station, residents[0], tmp_path, date(2026, 12, 6), set_day=date(2026, 12, 7))

    assert outcome.decision.reason is Reason.NOT_ENTITLED
    assert "not entitled" in outcome.decision.message_en
    assert store.count_by_status() == {}


def test_set_issue_day_wins_over_pull_day(station, residents, tmp_path) -> None:
    # Pulled on 10 December, but the set was issued on 5 December, before the card.
    _store, outcome = unlisted_tap(station, residents[0], tmp_path, date(2026, 12, 6), set_day=date(2026, 12, 5))

    assert outcome.decision.reason is Reason.CARD_NEWER_THAN_LIST


def test_pull_day_used_without_issue_time(station, residents, tmp_path) -> None:
    pulled_at = int(datetime(2026, 12, 7, 12, tzinfo=WIB).timestamp())
    _store, newer = unlisted_tap(station, residents[0], tmp_path / "newer", date(2026, 12, 7), pulled_at=pulled_at)
    _store, older = unlisted_tap(station, residents[0], tmp_path / "older", date(2026, 12, 6), pulled_at=pulled_at)

    assert newer.decision.reason is Reason.CARD_NEWER_THAN_LIST
    assert older.decision.reason is Reason.NOT_ENTITLED
