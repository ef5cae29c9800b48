"""Cardholder PINs: one random PIN per chip card, on a PIN slip file only, printed and then deleted."""

from __future__ import annotations

import io
import logging
import re
import stat
from datetime import date

import pytest

from card.piv import pad_reference
from issuance import audit, pin_slips
from issuance.batch import create_batch, run_batch
from issuance.pin_slips import batch_group, delete_slips, new_pin, slip_paths, write_slip
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, BlankCardSlot, entries_of, register_file, residents, run_cli, station, station_dir,
)

ISSUED = date(2026, 12, 1)


def _pin_of(slip) -> str:
    [pin] = re.findall(r"^PIN: (\d{6})$", slip.read_text(encoding="utf-8"), re.MULTILINE)
    return pin


def _occurs(pin: str, text: str) -> bool:
    """True when pin occurs in text as a whole number, not inside a longer run of digits."""
    return re.search(rf"(?<!\d){pin}(?!\d)", text) is not None


def test_new_pin_is_six_digits():
    for _ in range(200):
        pin = new_pin()
        assert len(pin) == 6
        assert pin.isdigit()


@pytest.mark.parametrize("weak", [0, 111111, 123456, 654321, 999999])
def test_new_pin_rejects_weak_pins(monkeypatch, weak):
    drawn = iter([weak, 470213])
    monkeypatch.setattr(pin_slips.secrets, "randbelow", lambda _bound: next(drawn))
    assert new_pin() == "470213"


def test_slip_file_is_private(tmp_path, residents):
    path = write_slip(tmp_path, "batch-1", "1571010000000019", residents[0], "470213", "en")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert _pin_of(path) == "470213"
    assert residents[0].name in path.read_text(encoding="utf-8")


def test_delete_slips_removes_group(tmp_path, residents):
    write_slip(tmp_path, "batch-1", "1571010000000019", residents[0], "470213")
    write_slip(tmp_path, "batch-1", "1571010000000027", residents[1], "581324")
    assert delete_slips(tmp_path, "batch-1") == 2
    assert slip_paths(tmp_path, "batch-1") == []
    assert not (tmp_path / "pin-slips" / "batch-1").exists()


def test_qr_batch_writes_no_slips(station, residents, tmp_path):
    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=True)
    run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", None, None, io.StringIO(), "en")
    assert slip_paths(station.directory, batch_group(batch_id)) == []


@pytest.mark.usefixtures("pcsc_available")
def test_chip_batch_gives_each_card_own_pin(station, residents, pcsc, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    slot = BlankCardSlot(pcsc, tmp_path)
    batch_id = create_batch(station.journal, entries_of(residents[:2]), CLERK, "register.csv", qr_only=False)
    out = io.StringIO()
    report = run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", slot, None, out, "en")
    assert len(report.issued) == 2

    slips = slip_paths(station.directory, batch_group(batch_id))
    assert [slip.stem for slip in slips] == sorted(report.issued)
    pins = {slip.stem: _pin_of(slip) for slip in slips}
    assert len(set(pins.values())) == 2
    for position, card_number in enumerate(report.issued, start=1):
        assert slot.cards[position].state.pin == pad_reference(pins[card_number])

    logged = "\n".join(record.getMessage() for record in caplog.records) + out.getvalue()
    dump = "\n".join(station.journal.iterdump())
    database = (station.directory / "station.db").read_bytes().decode("latin-1")
    for pin in pins.values():
        assert not _occurs(pin, logged)
        assert not _occurs(pin, dump)
        assert not _occurs(pin, database)


@pytest.mark.usefixtures("pcsc_available")
def test_unwritable_slip_fails_card(station, residents, pcsc, tmp_path):
    (station.directory / "pin-slips").write_text("not a directory")
    slot = BlankCardSlot(pcsc, tmp_path)
    batch_id = create_batch(station.journal, entries_of(residents[:1]), CLERK, "register.csv", qr_only=False)
    report = run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", slot, None, io.StringIO(), "en")
    assert report.issued == []
    [(position, error)] = report.failed
    assert "PIN slip" in error
    assert station.journal.execute("SELECT count(*) FROM cards").fetchone()[0] == 0
    [failed] = audit.entries(station.journal, action="failed")
    assert failed.card_number is not None


def _fake_lp(tmp_path, monkeypatch) -> tuple:
    """Put an `lp` on PATH that copies the files it gets into tmp_path/printed and reports a job id."""
    bin_dir = tmp_path / "bin"
    printed = tmp_path / "printed"
    bin_dir.mkdir()
    printed.mkdir()
    lp = bin_dir / "lp"
    lp.write_text(f'#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done; shift\ncp "$@" {printed}/\n'
                  'echo "request id is slips-7 (2 file(s))"\n')
    lp.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return printed


def test_pin_slips_command_prints_then_deletes(station_dir, residents, tmp_path, monkeypatch, capsys):
    write_slip(station_dir, "batch-3", "1571010000000019", residents[0], "470213")
    write_slip(station_dir, "batch-3", "1571010000000027", residents[1], "581324")
    printed = _fake_lp(tmp_path, monkeypatch)

    assert run_cli(["issuance", "pin-slips", "3", "--station", str(station_dir)]) == 0
    listing = capsys.readouterr().out
    assert "1571010000000019" in listing
    assert "470213" not in listing

    assert run_cli(["issuance", "pin-slips", "3", "--station", str(station_dir), "--clerk", CLERK, "--print", "slips"]) == 0
    assert "slips-7" in capsys.readouterr().out
    assert sorted(path.name for path in printed.iterdir()) == ["1571010000000019.txt", "1571010000000027.txt"]

    assert run_cli(["issuance", "pin-slips", "3", "--station", str(station_dir), "--clerk", CLERK, "--delete"]) == 0
    assert slip_paths(station_dir, "batch-3") == []
    from tests.issuance.station_support import open_station

    opened = open_station(station_dir)
    try:
        details = [entry.detail for entry in audit.entries(opened.journal, action="pin_slips")]
    finally:
        opened.close()
    assert details == ["2 slips of batch-3 printed on queue slips as job slips-7", "2 slips of batch-3 deleted"]


def test_pin_slips_command_invalid_group(station_dir, capsys):
    assert run_cli(["issuance", "pin-slips", "latest", "--station", str(station_dir)]) == 2
    assert "'latest'" in capsys.readouterr().err
