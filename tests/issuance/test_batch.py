"""Batch issuance: progress, failed cards, cards pulled out half-written, and resuming after a station stop."""

from __future__ import annotations

import io
import logging
from datetime import date

import pytest

from card.piv import DEFAULT_MANAGEMENT_KEY, ManagementKeyError, PivSession
from card.reference import ReferenceCard
from card.reference_state import CardState
from hardware.pcsc import NoCard
from issuance import audit, batch, pending
from issuance.batch import create_batch, progress_bar, run_batch
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, BlankCardSlot, CardInReader, CorruptingCard, PulledOutCard, entries_of, open_station, register_file,
    residents, run_cli, station, station_dir,
)

ISSUED = date(2026, 12, 1)


def _journal_niks(station) -> list[str]:
    return [nik for (nik,) in station.journal.execute("SELECT nik FROM cards ORDER BY card_number")]


def _item_states(station, batch_id: int) -> list[str]:
    rows = station.journal.execute(
        "SELECT state FROM batch_items WHERE batch_id = ? ORDER BY position", (batch_id,)
    )
    return [state for (state,) in rows]


def _run(station, batch_id, slot, tmp_path, out=None):
    return run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", slot, None, out or io.StringIO(), "en")


@pytest.mark.parametrize("done, total, bar", [
    (0, 4, "[" + "-" * 30 + "] 0/4"),
    (2, 4, "[" + "#" * 15 + "-" * 15 + "] 2/4"),
    (4, 4, "[" + "#" * 30 + "] 4/4"),
    (0, 0, "[" + "#" * 30 + "] 0/0"),
])
def test_progress_bar(done, total, bar):
    assert progress_bar(done, total) == bar


def test_qr_batch_issues_every_resident(station, residents, tmp_path):
    batch_id = create_batch(station.journal, entries_of(residents), CLERK, "register.csv", qr_only=True)
    out = io.StringIO()
    report = _run(station, batch_id, None, tmp_path, out)
    assert len(report.issued) == len(residents)
    assert report.failed == []
    assert report.stopped is None
    assert sorted(_journal_niks(station)) == sorted(resident.nik for resident in residents)
    assert _item_states(station, batch_id) == ["issued"] * len(residents)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[")
    assert lines[0].split("]")[1].startswith(f" 1/{len(residents)}")
    assert lines[-1].startswith("[" + "#" * 30 + f"] {len(residents)}/{len(residents)}")
    assert len(audit.entries(station.journal, action="issue")) == len(residents)
    assert len(pending.pending_calls(station.journal)) == len(residents)
    for number in report.issued:
        assert (tmp_path / "faces" / f"{number}-front.png").exists()


def test_finished_batch_not_issued_again(station, residents, tmp_path):
    batch_id = create_batch(station.journal, entries_of(residents[:3]), CLERK, "register.csv", qr_only=True)
    _run(station, batch_id, None, tmp_path)
    again = _run(station, batch_id, None, tmp_path)
    assert again.issued == []
    assert len(_journal_niks(station)) == 3
    assert batch.latest_open_batch(station.journal) is None


def test_unknown_batch(station, tmp_path):
    with pytest.raises(LookupError, match="batch 42"):
        _run(station, 42, None, tmp_path)


class StationStopped(BaseException):
    """Stands for the station process dying: nothing in the batch code catches it."""


def test_resume_after_station_stop(station_dir, residents, tmp_path):
    station = open_station(station_dir)
    batch_id = create_batch(station.journal, entries_of(residents[:5]), CLERK, "register.csv", qr_only=True)
    issued_before = []

    def stop_at_third(db, card_number):
        issued_before.append(card_number)
        if len(issued_before) == 3:
            raise StationStopped()

    original = batch._set_state

    def set_state(db, batch_id, position, state, card_number=None, error=None):
        original(db, batch_id, position, state, card_number, error)
        if state == "issued":
            stop_at_third(db, card_number)

    batch._set_state = set_state
    try:
        with pytest.raises(StationStopped):
            _run(station, batch_id, None, tmp_path)
    finally:
        batch._set_state = original
    station.close()

    # The third card's transaction was rolled back with the stop, so the journal contains two cards.
    station = open_station(station_dir)
    try:
        assert len(_journal_niks(station)) == 2
        assert _item_states(station, batch_id) == ["issued", "issued", "writing", "pending", "pending"]
        assert batch.latest_open_batch(station.journal) == batch_id
        out = io.StringIO()
        report = _run(station, batch_id, None, tmp_path, out)
        assert report.interrupted == [3]
        assert "item 3 was interrupted" in out.getvalue()
        assert len(report.issued) == 3
        assert sorted(_journal_niks(station)) == sorted(resident.nik for resident in residents[:5])
        assert _item_states(station, batch_id) == ["issued"] * 5
        [failed] = audit.entries(station.journal, action="failed")
        assert "interrupted" in failed.detail
        assert failed.nik == residents[2].nik
    finally:
        station.close()


pcsc_cards = pytest.mark.usefixtures("pcsc_available")


@pcsc_cards
def test_chip_batch_survives_failed_cards(station, residents, pcsc, tmp_path):
    """Card 2 is pulled out half-written and card 3 reads back wrong; cards 1 and 4 are issued."""
    slot = BlankCardSlot(pcsc, tmp_path, {2: PulledOutCard, 3: CorruptingCard})
    batch_id = create_batch(station.journal, entries_of(residents[:4]), CLERK, "register.csv", qr_only=False)
    out = io.StringIO()
    report = _run(station, batch_id, slot, tmp_path, out)

    assert len(report.issued) == 2
    assert [position for position, _ in report.failed] == [2, 3]
    assert _item_states(station, batch_id) == ["issued", "failed", "failed", "issued"]
    assert sorted(_journal_niks(station)) == sorted([residents[0].nik, residents[3].nik])
    assert "FAILED" in out.getvalue()
    assert out.getvalue().splitlines()[-1].startswith("[" + "#" * 30 + "] 4/4")

    failed = audit.entries(station.journal, action="failed")
    assert [entry.nik for entry in failed] == [residents[1].nik, residents[2].nik]
    spoiled = [entry.card_number for entry in failed]
    assert all(number is not None for number in spoiled)
    registrations = {call.card_number for call in pending.pending_calls(station.journal)}
    assert registrations == set(report.issued)
    assert registrations.isdisjoint(spoiled)
    assert "read back different data" in dict(report.failed)[3]


@pcsc_cards
def test_pulled_out_card_is_half_written(station, residents, pcsc, tmp_path):
    slot = BlankCardSlot(pcsc, tmp_path, {1: lambda state: PulledOutCard(state, pull_at=2)})
    batch_id = create_batch(station.journal, entries_of(residents[:1]), CLERK, "register.csv", qr_only=False)
    report = _run(station, batch_id, slot, tmp_path)
    assert [position for position, _ in report.failed] == [1]
    assert _journal_niks(station) == []
    # Back in the reader, the card still opens with the factory key: it was never finished.
    card = CardInReader(pcsc, ReferenceCard(slot.cards[1].state)).insert()
    try:
        with pcsc.connect("Virtual PCD 00 00") as connection:
            PivSession(connection).authenticate_management_key(DEFAULT_MANAGEMENT_KEY)
    finally:
        card.remove()


@pcsc_cards
def test_personalised_card_fails_as_not_blank(station, residents, pcsc, tmp_path):
    slot = BlankCardSlot(pcsc, tmp_path)
    first = create_batch(station.journal, entries_of(residents[:1]), CLERK, "register.csv", qr_only=False)
    _run(station, first, slot, tmp_path)
    used_card = slot.cards[1]

    class SameCardSlot(BlankCardSlot):
        def __call__(self, entry):
            self.kinds = {entry.position: lambda state: used_card}
            return super().__call__(entry)

    second = create_batch(station.journal, entries_of(residents[1:2]), CLERK, "register.csv", qr_only=False)
    report = _run(station, second, SameCardSlot(pcsc, tmp_path), tmp_path)
    assert [position for position, _ in report.failed] == [1]
    assert _item_states(station, second) == ["failed"]
    assert len(_journal_niks(station)) == 1


class EmptyReaderSlot:
    """A slot whose reader never gets a card: waiting times out."""

    def __call__(self, entry):
        raise NoCard("timeout", seconds=1)


def test_no_card_stops_batch_for_resume(station, residents, tmp_path):
    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=False)
    out = io.StringIO()
    report = _run(station, batch_id, EmptyReaderSlot(), tmp_path, out)
    assert report.stopped is not None
    assert report.issued == []
    assert _item_states(station, batch_id) == ["pending", "pending"]
    assert batch.latest_open_batch(station.journal) == batch_id
    assert "batch stopped at item 1" in out.getvalue()


def test_retry_failed_items(station, residents, tmp_path):
    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=True)
    station.journal.execute("UPDATE batch_items SET state = 'failed', error = 'test' WHERE position = 2")
    station.journal.execute("UPDATE batch_items SET state = 'issued' WHERE position = 1")
    station.journal.execute("UPDATE batches SET done = 1")
    assert batch.retry_failed(station.journal, batch_id) == 1
    report = _run(station, batch_id, None, tmp_path)
    assert len(report.issued) == 1
    assert _journal_niks(station) == [residents[1].nik]


def test_management_key_error_is_card_failure(station, residents, tmp_path, monkeypatch, caplog):
    def not_blank(*args, **kwargs):
        raise ManagementKeyError("card refused the management key")

    monkeypatch.setattr(batch, "PivSession", lambda connection: connection)
    monkeypatch.setattr(batch, "personalise_chip_card", not_blank)

    class FakeSlot:
        from contextlib import contextmanager

        @contextmanager
        def __call__(self, entry):
            yield object()

    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=False)
    with caplog.at_level(logging.WARNING, logger="issuance.batch"):
        report = _run(station, batch_id, FakeSlot(), tmp_path)
    assert [position for position, _ in report.failed] == [1, 2]
    assert report.stopped is None
    # The card gets no number before the chip is written, so the log names the batch item instead.
    assert f"batch {batch_id} item 1: card (no card number allocated yet) failed" in caplog.text
    assert "card None" not in caplog.text


def test_batch_command_qr_only(station_dir, register_file, residents, tmp_path, capsys):
    argv = ["issuance", "batch", "--station", str(station_dir), "--register", str(register_file), "--qr-only",
            "--clerk", CLERK, "--limit", "3", "--faces", str(tmp_path / "faces")]
    assert run_cli(argv) == 0
    output = capsys.readouterr().out
    assert "3 cards issued, 0 failed, 3 not yet registered with the server" in output
    assert "[" + "#" * 30 + "] 3/3" in output

    assert run_cli(argv) == 0
    assert "3 cards issued" in capsys.readouterr().out
    resume = ["issuance", "batch", "--station", str(station_dir), "--register", str(register_file), "--qr-only",
              "--clerk", CLERK, "--resume"]
    assert run_cli(resume) == 2
    assert "no unfinished batch" in capsys.readouterr().err

    station = open_station(station_dir)
    try:
        assert len(_journal_niks(station)) == 6
        assert len(set(_journal_niks(station))) == 6
    finally:
        station.close()


def test_batch_command_empty_queue(station_dir, tmp_path, capsys):
    from issuance.register import write_register

    empty = tmp_path / "empty.csv"
    write_register([], empty)
    argv = ["issuance", "batch", "--station", str(station_dir), "--register", str(empty), "--qr-only",
            "--clerk", CLERK]
    assert run_cli(argv) == 2
    assert "the queue is empty" in capsys.readouterr().err


def test_missing_master_key_stops_batch(station_dir, residents, tmp_path, monkeypatch):
    from contextlib import contextmanager

    from issuance.card_secrets import MASTER_KEY_FILE

    (station_dir / MASTER_KEY_FILE).unlink()
    station = open_station(station_dir)

    @contextmanager
    def slot(entry):
        yield object()

    monkeypatch.setattr(batch, "PivSession", lambda connection: connection)
    try:
        batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=False)
        report = _run(station, batch_id, slot, tmp_path)
        assert report.stopped is not None
        assert MASTER_KEY_FILE in report.stopped
        assert _item_states(station, batch_id) == ["pending", "pending"]
        assert audit.entries(station.journal, action="failed") == []
    finally:
        station.close()


@pcsc_cards
def test_batch_command_chip_card(station_dir, register_file, residents, pcsc, tmp_path, capsys):
    card = CardInReader(pcsc, ReferenceCard(CardState.open(tmp_path / "blank.json"))).insert()
    try:
        argv = ["issuance", "batch", "--station", str(station_dir), "--register", str(register_file),
                "--reader", "Virtual PCD 00 00", "--timeout", "10", "--clerk", CLERK, "--limit", "1",
                "--faces", str(tmp_path / "faces")]
        assert run_cli(argv) == 0
    finally:
        card.remove()
    output = capsys.readouterr().out
    assert f"item 1: {residents[0].name}" in output
    assert "1 cards issued, 0 failed" in output
    station = open_station(station_dir)
    try:
        [entry] = station.cards()
    finally:
        station.close()
    assert (entry.nik, entry.assurance) == (residents[0].nik, "chip")


def test_resident_carded_since_batch_skipped(station, residents, tmp_path):
    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=True)
    earlier = batch.issue_card(station, residents[1], None, ISSUED, CLERK).card
    report = _run(station, batch_id, None, tmp_path)
    assert len(report.issued) == 1
    [(position, error)] = report.failed
    assert position == 2
    assert earlier.card_number in error
    assert sorted(_journal_niks(station)) == sorted([residents[0].nik, residents[1].nik])


def test_resume_keeps_card_kind(station_dir, register_file, residents, tmp_path, capsys):
    station = open_station(station_dir)
    try:
        batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, str(register_file), qr_only=True)
    finally:
        station.close()
    argv = ["issuance", "batch", "--station", str(station_dir), "--register", str(register_file), "--clerk", CLERK,
            "--resume", "--reader", "no such reader", "--faces", str(tmp_path / "faces")]
    assert run_cli(argv) == 0
    assert f"batch {batch_id}" in capsys.readouterr().out
    station = open_station(station_dir)
    try:
        assert [entry.assurance for entry in station.cards()] == ["qr", "qr"]
    finally:
        station.close()
