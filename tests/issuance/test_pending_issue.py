"""Single-card issue (`kartu issuance issue`) journals its registration body, so register-pending can send it."""

from __future__ import annotations

from datetime import date

import pytest

from card.piv import pad_reference
from card.reference import ReferenceCard
from card.reference_state import CardState
from issuance import audit, pending, pin_slips
from issuance.issue import UNNAMED_CLERK, issue_resident
from issuance.server_client import ServerUnreachableError, registration_body
from tests.conftest import READER
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import CLERK, CardInReader, residents, station, station_dir  # noqa: F401
from tests.issuance.test_pending import RecordingServer

ISSUED = date(2026, 12, 1)
# Loopback port 9 (discard) has no listener here, so every connection is refused.
UNREACHABLE = "http://127.0.0.1:9"


def test_issue_journals_registration_body(station, residents, tmp_path):
    result = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    [call] = pending.pending_calls(station.journal)
    assert call.kind == pending.REGISTRATION
    assert call.card_number == result.card.card_number
    assert call.body == registration_body(result.card, residents[0], station.issuer.kid)
    [entry] = audit.entries(station.journal, action="issue")
    assert entry.card_number == result.card.card_number
    assert entry.clerk == CLERK


def test_issue_without_clerk_uses_setting(station, residents, tmp_path):
    issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces")
    audit.set_station_clerk(station.journal, "Dewi Lestari")
    issue_resident(station, residents[1], None, ISSUED, tmp_path / "faces")
    clerks = [entry.clerk for entry in audit.entries(station.journal, action="issue")]
    assert clerks == [UNNAMED_CLERK, "Dewi Lestari"]


def test_issue_offline_sent_later(station, residents, tmp_path):
    with pytest.raises(ServerUnreachableError):
        issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", UNREACHABLE, "token", clerk=CLERK)
    [call] = pending.pending_calls(station.journal)
    assert pending.cards_without_body(station.journal) == []

    server = RecordingServer()
    report = pending.send_pending(station.journal, UNREACHABLE, "token", CLERK, server.client())
    assert [sent.card_number for sent in report.sent] == [call.card_number]
    assert list(server.cards) == [call.card_number]
    registered = station.journal.execute(
        "SELECT registered FROM cards WHERE card_number = ?", (call.card_number,)
    ).fetchone()
    assert registered == (1,)


@pytest.mark.usefixtures("pcsc_available")
def test_issue_chip_card_keeps_given_pin(station, residents, pcsc, tmp_path):
    state = CardState.open(tmp_path / "card.json")
    inserted = CardInReader(pcsc, ReferenceCard(state)).insert()
    try:
        with pcsc.connect(READER) as connection:
            result = issue_resident(station, residents[0], connection, ISSUED, tmp_path / "faces", pin="13572468",
                                    clerk=CLERK)
    finally:
        inserted.remove()
    assert result.card.assurance == "chip"
    assert state.pin == pad_reference("13572468")
    assert pin_slips.slip_paths(station.directory, pin_slips.SINGLE_GROUP) == []
    [call] = pending.pending_calls(station.journal)
    assert call.body["card_key"] == result.card.card_key.hex()
