"""Wiping a half-written or bad card back to blank on the reference card in vpcd."""

from __future__ import annotations

import io
from datetime import date

import pytest

from card.piv import DEFAULT_MANAGEMENT_KEY, DEFAULT_PIN, DEFAULT_PUK, INS, PivSession, pad_reference
from card.reference import ReferenceCard
from card.reference_state import CardState
from issuance import audit, pending
from issuance.batch import create_batch, issue_card, run_batch
from issuance.personalise import check_blank_card
from issuance.wipe import PERSONALISED_OBJECTS, WipeError, wipe_card
from tests.conftest import READER
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, BlankCardSlot, CardInReader, PulledOutCard, entries_of, open_station, register_file, residents, run_cli,
    station, station_dir,
)

ISSUED = date(2026, 12, 1)

pytestmark = pytest.mark.usefixtures("pcsc_available")


def _issue_batch(station, residents, pcsc, tmp_path, kinds=None) -> tuple[BlankCardSlot, list[str]]:
    slot = BlankCardSlot(pcsc, tmp_path, kinds)
    batch_id = create_batch(station.journal, entries_of(residents[:1]), CLERK, "register.csv", qr_only=False)
    out = io.StringIO()
    report = run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", slot, None, out, "en")
    assert kinds or report.issued, out.getvalue()
    return slot, report.issued


def _wipe(pcsc, state: CardState, station, card_number: str | None = None):
    inserted = CardInReader(pcsc, ReferenceCard(state)).insert()
    try:
        with pcsc.connect(READER) as connection:
            return wipe_card(PivSession(connection), station, CLERK, card_number)
    finally:
        inserted.remove()


def _assert_blank(state: CardState) -> None:
    assert state.objects == {}
    assert state.pin == pad_reference(DEFAULT_PIN)
    assert state.puk == pad_reference(DEFAULT_PUK, digits_only=False)


def test_wipe_rejects_card_in_use(station, residents, pcsc, tmp_path):
    slot, [card_number] = _issue_batch(station, residents, pcsc, tmp_path)
    with pytest.raises(WipeError, match="has not been revoked"):
        _wipe(pcsc, slot.cards[1].state, station)
    assert slot.cards[1].state.objects != {}
    assert audit.entries(station.journal, action="wipe") == []


def test_wipe_personalised_card_then_issue_again(station, residents, pcsc, tmp_path):
    slot, [card_number] = _issue_batch(station, residents, pcsc, tmp_path)
    pending.journal_revocation(station.journal, card_number, "damaged", ISSUED.isoformat())
    state = slot.cards[1].state

    result = _wipe(pcsc, state, station)
    assert result.card_number == card_number
    assert result.used_derived_key
    assert result.deleted_objects == len(PERSONALISED_OBJECTS)
    _assert_blank(state)
    [entry] = audit.entries(station.journal, action="wipe")
    assert entry.card_number == card_number
    assert entry.clerk == CLERK

    inserted = CardInReader(pcsc, ReferenceCard(state)).insert()
    try:
        with pcsc.connect(READER) as connection:
            check_blank_card(PivSession(connection), DEFAULT_MANAGEMENT_KEY)
            issued = issue_card(station, residents[1], connection, ISSUED, CLERK)
    finally:
        inserted.remove()
    assert issued.card.card_number != card_number
    assert issued.card.assurance == "chip"


def test_wipe_half_written_card(station, residents, pcsc, tmp_path):
    slot, issued = _issue_batch(station, residents, pcsc, tmp_path, {1: lambda state: PulledOutCard(state, pull_at=3)})
    assert issued == []
    state = slot.cards[1].state
    assert state.objects != {}

    result = _wipe(pcsc, state, station)
    assert not result.used_derived_key
    assert result.deleted_objects == 2
    _assert_blank(state)
    [entry] = audit.entries(station.journal, action="wipe")
    assert "factory management key" in entry.detail


def test_wipe_card_whose_pin_was_set(station, residents, pcsc, tmp_path):
    """Pulled out after the PIN and PUK were set, before the management key: the wipe finds the derived PUK."""

    class PulledAfterPuk(ReferenceCard):
        def process(self, apdu: bytes) -> bytes:
            if apdu[1] == INS.SET_MANAGEMENT_KEY:
                raise OSError("card pulled out of the reader")
            return super().process(apdu)

    slot, issued = _issue_batch(station, residents, pcsc, tmp_path, {1: PulledAfterPuk})
    assert issued == []
    state = slot.cards[1].state
    assert state.pin != pad_reference(DEFAULT_PIN)

    result = _wipe(pcsc, state, station)
    assert not result.used_derived_key
    assert result.card_number is not None
    _assert_blank(state)


def test_wipe_blank_card_changes_nothing(station, pcsc, tmp_path):
    state = CardState.open(tmp_path / "blank.json")
    result = _wipe(pcsc, state, station)
    assert result.deleted_objects == 0
    _assert_blank(state)


def test_wipe_command(station_dir, residents, pcsc, tmp_path, capsys):
    opened = open_station(station_dir)
    try:
        slot, [card_number] = _issue_batch(opened, residents, pcsc, tmp_path)
        pending.journal_revocation(opened.journal, card_number, "damaged", ISSUED.isoformat())
    finally:
        opened.close()
    inserted = CardInReader(pcsc, ReferenceCard(slot.cards[1].state)).insert()
    try:
        assert run_cli(["issuance", "wipe", "--station", str(station_dir), "--clerk", CLERK]) == 0
    finally:
        inserted.remove()
    assert card_number in capsys.readouterr().out
    _assert_blank(slot.cards[1].state)
