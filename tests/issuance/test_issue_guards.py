"""`kartu issuance issue` guards: no second active card, a chip card needs a photo, Ctrl-C reports the card state."""

from __future__ import annotations

import io
import stat
from datetime import date

import pytest
from PIL import Image

from issuance import batch, issue, pending, queue
from issuance.interrupted import interrupted_message, take_snapshot
from issuance.issue import CardAlreadyIssuedError, active_card, check_can_issue, issue_resident
from card.reference import ReferenceCard
from card.reference_state import CardState
from issuance.photo_store import PHOTOS_DIR, PhotoMissingError
from tests.conftest import READER
from tests.hardware.piv_support import pcsc  # noqa: F401 (fixture)
from tests.issuance.station_support import (  # noqa: F401 (fixtures)
    CLERK, CardInReader, entries_of, open_station, register_file, residents, run_cli, station, station_dir,
)

ISSUED = date(2026, 12, 1)


def issue_qr(station_dir, register_file, nik, *extra):
    return run_cli(["issuance", "issue", "--station", str(station_dir), "--register", str(register_file),
                    "--nik", nik, "--qr-only", *extra])


# --- one active card per resident -------------------------------------------------------


def test_issue_twice_rejected(station, residents, tmp_path):
    first = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    with pytest.raises(CardAlreadyIssuedError) as caught:
        issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    message = caught.value.message("en")
    assert first.card.card_number in message
    assert "kartu issuance reissue" in message
    assert [card.card_number for card in station.cards()] == [first.card.card_number]


def test_issue_twice_message_in_indonesian(station, residents, tmp_path):
    first = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    with pytest.raises(CardAlreadyIssuedError) as caught:
        check_can_issue(station, residents[0], chip=False)
    message = caught.value.message("id")
    assert first.card.card_number in message
    assert "kartu issuance reissue" in message
    assert message != caught.value.message("en")


def test_issue_after_revocation_allowed(station, residents, tmp_path):
    first = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    pending.journal_revocation(station.journal, first.card.card_number, "lost", ISSUED.isoformat())
    assert active_card(station.journal, residents[0].nik) is None
    second = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    assert second.card.card_number != first.card.card_number


def test_cli_issue_twice_rejected(station_dir, register_file, residents, capsys):
    assert issue_qr(station_dir, register_file, residents[0].nik) == 0
    first_output = capsys.readouterr().out
    status = issue_qr(station_dir, register_file, residents[0].nik)
    error = capsys.readouterr().err
    station = open_station(station_dir)
    cards = station.cards()
    station.close()
    assert status == 2
    assert "Traceback" not in error
    assert len(cards) == 1
    assert cards[0].card_number in first_output
    assert cards[0].card_number in error
    assert "kartu issuance reissue" in error


def test_cli_chip_issue_after_qr_rejected(station_dir, register_file, residents, capsys):
    """The check runs before the reader is opened, so no card needs to be in it."""
    assert issue_qr(station_dir, register_file, residents[0].nik) == 0
    capsys.readouterr()
    status = run_cli(["issuance", "issue", "--station", str(station_dir), "--register", str(register_file),
                      "--nik", residents[0].nik, "--reader", "no such reader"])
    assert status == 2
    assert "kartu issuance reissue" in capsys.readouterr().err


def test_batch_skips_resident_issued_singly(station, residents, tmp_path):
    single = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    batch_id = batch.create_batch(station.journal, entries_of(residents[:2]), CLERK, "register", True)
    report = batch.run_batch(station, batch_id, CLERK, ISSUED, tmp_path / "faces", None, None, io.StringIO(), "en")
    assert len(report.issued) == 1
    [(position, error)] = report.failed
    assert position == 1
    assert single.card.card_number in error


def test_register_queue_hides_issued_resident(station, residents, register_file, tmp_path):
    issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    waiting = [entry.resident.nik for entry in queue.register_queue(register_file, station.journal).entries]
    assert residents[0].nik not in waiting
    assert residents[1].nik in waiting


# --- a chip card needs the accepted photo -----------------------------------------------


def test_chip_issue_without_photo_rejected(station, residents):
    (station.directory / PHOTOS_DIR / f"{residents[0].nik}.jpg").unlink()
    with pytest.raises(PhotoMissingError):
        check_can_issue(station, residents[0], chip=True)
    assert check_can_issue(station, residents[0], chip=False) is None


def test_cli_chip_issue_without_photo_rejected(station_dir, register_file, residents, capsys):
    (station_dir / PHOTOS_DIR / f"{residents[0].nik}.jpg").unlink()
    status = run_cli(["issuance", "issue", "--station", str(station_dir), "--register", str(register_file),
                      "--nik", residents[0].nik, "--reader", "no such reader"])
    error = capsys.readouterr().err
    assert status == 2
    assert "no accepted photo" in error
    assert "Traceback" not in error


def test_qr_issue_without_photo_allowed(station, residents, tmp_path):
    (station.directory / PHOTOS_DIR / f"{residents[0].nik}.jpg").unlink()
    result = issue_resident(station, residents[0], None, ISSUED, tmp_path / "faces", clerk=CLERK)
    assert result.card.assurance == "qr"


# --- card-face files --------------------------------------------------------------------


def test_face_files_private(station, residents, tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir(mode=0o755)
    faces.chmod(0o755)
    result = issue_resident(station, residents[0], None, ISSUED, faces, clerk=CLERK)
    assert stat.S_IMODE(faces.stat().st_mode) == 0o700
    for path in (result.front, result.back):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with Image.open(path) as image:
            image.load()
    assert sorted(path.name for path in faces.iterdir()) == sorted([result.front.name, result.back.name])


def test_face_interrupted_while_drawing(station, residents, tmp_path, monkeypatch):
    """Ctrl-C while the face is written leaves no PNG under its final name, but the card stays journalled."""
    faces = tmp_path / "faces"
    before = take_snapshot(station, residents[0].nik)

    def interrupt(descriptor):
        raise KeyboardInterrupt

    monkeypatch.setattr("issuance.private_files.os.fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        issue_resident(station, residents[0], None, ISSUED, faces, clerk=CLERK)
    assert list(faces.iterdir()) == []
    [card] = station.cards()
    message = interrupted_message(station, station.directory, residents[0].nik, before, False, "en")
    assert card.card_number in message
    assert "register-pending" in message
    assert "kartu issuance print" in message


# --- Ctrl-C in the CLI ------------------------------------------------------------------


def test_cli_interrupt_reports_journalled_card(station_dir, register_file, residents, capsys, monkeypatch):
    real_render = issue.render_card_face

    def render_then_interrupt(face, out_dir):
        real_render(face, out_dir)
        raise KeyboardInterrupt

    monkeypatch.setattr(issue, "render_card_face", render_then_interrupt)
    status = issue_qr(station_dir, register_file, residents[0].nik, "--clerk", CLERK)
    error = capsys.readouterr().err
    station = open_station(station_dir)
    [card] = station.cards()
    station.close()
    assert status == 130
    assert "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
    assert card.card_number in error
    assert "kartu issuance register-pending" in error


def test_interrupt_before_writing(station, residents):
    before = take_snapshot(station, residents[0].nik)
    message = interrupted_message(station, station.directory, residents[0].nik, before, True, "en")
    assert "no card was written" in message


def test_interrupt_after_chip_serial_allocated(station, residents):
    before = take_snapshot(station, residents[0].nik)
    card_number = station.allocate_card_number()
    message = interrupted_message(station, station.directory, residents[0].nik, before, True, "en")
    assert card_number in message
    assert "kartu issuance wipe" in message


def test_cli_interrupt_before_issue(station_dir, register_file, residents, capsys, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("issuance.cli.check_can_issue", interrupt)
    status = issue_qr(station_dir, register_file, residents[0].nik)
    error = capsys.readouterr().err
    assert status == 130
    assert "Traceback" not in error
    assert "no card was written" in error


@pytest.mark.usefixtures("pcsc_available")
def test_cli_interrupt_after_chip_written(station_dir, register_file, residents, pcsc, tmp_path, capsys,
                                          monkeypatch):
    def interrupt(face, out_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(issue, "render_card_face", interrupt)
    state = CardState.open(tmp_path / "card.json")
    inserted = CardInReader(pcsc, ReferenceCard(state)).insert()
    try:
        status = run_cli(["issuance", "issue", "--station", str(station_dir), "--register", str(register_file),
                          "--nik", residents[0].nik, "--reader", READER, "--timeout", "5"])
    finally:
        inserted.remove()
    error = capsys.readouterr().err
    station = open_station(station_dir)
    [card] = station.cards()
    station.close()
    assert status == 130
    assert "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
    assert card.assurance == "chip"
    assert card.card_number in error
    assert "register-pending" in error
    assert state.objects
