"""Reissue of a lost or stolen card at the station: checks, revocation first, same household, audit."""

from __future__ import annotations

from datetime import date

import pytest

from card.cardnumber import make_card_number
from card.piv import ObjectId, PivSession
from issuance.station import COUNTER_LIMIT
from issuance import audit, pending
from issuance.batch import issue_card
from issuance.reissue import ReissueError, reissue
from tests.conftest import READER
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, CardInReader, open_station, register_file, residents, run_cli, station, station_dir,
)

ISSUED = date(2026, 12, 1)
REISSUED = date(2026, 12, 3)


@pytest.fixture
def old_card(station, residents):
    return issue_card(station, residents[0], None, ISSUED, CLERK).card


def test_reissue_gives_new_number_same_household(station, residents, old_card):
    result = reissue(station, old_card.card_number, residents[0], "lost", CLERK, None, REISSUED, None)
    new_card = result.issued.card
    assert new_card.card_number != old_card.card_number
    assert new_card.household_id == old_card.household_id
    assert new_card.issued == REISSUED
    assert not result.revoked_on_server
    assert not result.registered
    link = station.journal.execute("SELECT old_card, new_card, reason FROM reissues").fetchall()
    assert link == [(old_card.card_number, new_card.card_number, "lost")]


def test_reissue_journals_revocation_before_registration(station, residents, old_card):
    result = reissue(station, old_card.card_number, residents[0], "stolen", CLERK, None, REISSUED, None)
    calls = [(call.kind, call.card_number) for call in pending.pending_calls(station.journal)]
    assert calls == [
        (pending.REVOCATION, old_card.card_number),
        (pending.REGISTRATION, old_card.card_number),
        (pending.REGISTRATION, result.issued.card.card_number),
    ]
    revocation = pending.pending_calls(station.journal)[0]
    assert revocation.body == {"card_number": old_card.card_number, "reason": "stolen", "effective": "2026-12-03"}


def test_reissue_audited(station, residents, old_card):
    result = reissue(station, old_card.card_number, residents[0], "lost", CLERK, None, REISSUED, None)
    entries = [(entry.action, entry.card_number, entry.clerk) for entry in audit.entries(station.journal)]
    assert entries == [
        ("issue", old_card.card_number, CLERK),
        ("revoke", old_card.card_number, CLERK),
        ("reissue", result.issued.card.card_number, CLERK),
    ]
    assert old_card.card_number in audit.entries(station.journal, action="reissue")[0].detail


def test_reissue_rejects_unknown_reason(station, residents, old_card):
    with pytest.raises(ReissueError, match="'broken'"):
        reissue(station, old_card.card_number, residents[0], "broken", CLERK, None, REISSUED, None)
    assert pending.pending_calls(station.journal)[0].kind == pending.REGISTRATION


def test_reissue_rejects_invalid_number(station, residents):
    with pytest.raises(ReissueError, match="Luhn"):
        reissue(station, "1571000000000000", residents[0], "lost", CLERK, None, REISSUED, None)


def test_reissue_rejects_other_residents_card(station, residents, old_card):
    with pytest.raises(ReissueError, match="another resident"):
        reissue(station, old_card.card_number, residents[1], "lost", CLERK, None, REISSUED, None)
    assert audit.entries(station.journal, action="revoke") == []


def test_reissue_rejects_replaced_card(station, residents, old_card):
    first = reissue(station, old_card.card_number, residents[0], "lost", CLERK, None, REISSUED, None)
    with pytest.raises(ReissueError, match=first.issued.card.card_number):
        reissue(station, old_card.card_number, residents[0], "lost", CLERK, None, REISSUED, None)


def test_reissue_card_from_another_station(station, residents):
    other_station_card = make_card_number(2 * COUNTER_LIMIT + 7)
    result = reissue(station, other_station_card, residents[2], "lost", CLERK, None, REISSUED, None)
    assert result.issued.card.card_number != other_station_card


@pytest.mark.usefixtures("pcsc_available")
def test_chip_reissue_personalises_new_card(station, residents, old_card, pcsc, tmp_path):
    from card.reference import ReferenceCard
    from card.reference_state import CardState

    inserted = CardInReader(pcsc, ReferenceCard(CardState.open(tmp_path / "new.json"))).insert()
    try:
        with pcsc.connect(READER) as connection:
            result = reissue(station, old_card.card_number, residents[0], "lost", CLERK, connection, REISSUED, None)
            credential = PivSession(connection).get_data(ObjectId.KARTU_CREDENTIAL)
    finally:
        inserted.remove()
    card = result.issued.card
    assert card.assurance == "chip"
    assert card.household_id == old_card.household_id
    assert credential == card.chip_credential


def test_reissue_command_offline(station_dir, register_file, residents, capsys):
    station = open_station(station_dir)
    try:
        old = issue_card(station, residents[0], None, ISSUED, CLERK).card
    finally:
        station.close()
    argv = ["issuance", "reissue", "--station", str(station_dir), "--register", str(register_file), "--qr-only",
            "--card", old.card_number, "--nik", residents[0].nik, "--reason", "lost", "--clerk", CLERK]
    assert run_cli(argv) == 1
    output = capsys.readouterr().out
    assert f"card {old.card_number} is NOT yet revoked on the server" in output
    assert "new card" in output
    assert "register-pending" in output


def test_reissue_command_unknown_nik(station_dir, register_file, capsys):
    argv = ["issuance", "reissue", "--station", str(station_dir), "--register", str(register_file), "--qr-only",
            "--card", make_card_number(7), "--nik", "1571019999999999", "--reason", "lost", "--clerk", CLERK]
    assert run_cli(argv) == 2
    assert "1571019999999999" in capsys.readouterr().err
