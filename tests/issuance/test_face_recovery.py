"""`kartu issuance print` with a missing or broken card face: a message, not a traceback, and a redraw."""

from __future__ import annotations

import argparse
import stat
from datetime import date

from PIL import Image

from card.cardnumber import make_card_number
from issuance import print_cli
from issuance.issue import issue_resident
from tests.issuance.station_support import CLERK, register_file, residents, station, station_dir  # noqa: F401

ISSUED = date(2026, 12, 1)
# The first bytes of a PNG that an interrupted save left behind: signature and part of the IHDR chunk.
TRUNCATED_PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x03\xf3\x00\x00\x02~\x08\x02" + bytes(28)


def run_print(argv: list[str], lang: str = "en") -> int:
    parser = argparse.ArgumentParser(prog="kartu")
    parser.add_argument("--lang", default="en")
    commands = parser.add_subparsers(dest="command", required=True)
    print_cli.add_commands(commands)
    args = parser.parse_args(["--lang", lang, "print", *argv])
    return args.handler(args)


def issue_with_broken_face(station, resident, station_dir):
    """Issue a QR-only card into STATION/faces, then cut its front PNG short, as a Ctrl-C in an old save did."""
    result = issue_resident(station, resident, None, ISSUED, station_dir / "faces", clerk=CLERK)
    result.front.write_bytes(TRUNCATED_PNG)
    return result


def test_print_broken_face_reported(station, station_dir, residents, capsys):
    result = issue_with_broken_face(station, residents[0], station_dir)
    assert len(TRUNCATED_PNG) == 54

    status = run_print(["--station", str(station_dir), "--card", result.card.card_number])

    error = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in error
    assert "missing or unreadable" in error
    assert "--register" in error


def test_print_broken_face_message_in_indonesian(station, station_dir, residents, capsys):
    result = issue_with_broken_face(station, residents[0], station_dir)

    status = run_print(["--station", str(station_dir), "--card", result.card.card_number], lang="id")

    error = capsys.readouterr().err
    assert status == 2
    assert "tidak dapat dibaca" in error


def test_print_redraws_broken_face(station, station_dir, residents, register_file, capsys):
    result = issue_with_broken_face(station, residents[0], station_dir)
    (station_dir / "faces" / f"{result.card.card_number}-back.png").unlink()

    status = run_print(["--station", str(station_dir), "--card", result.card.card_number,
                        "--register", str(register_file)])

    assert status == 0
    assert "redrawn" in capsys.readouterr().out
    for side in ("front", "back"):
        path = station_dir / "faces" / f"{result.card.card_number}-{side}.png"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with Image.open(path) as image:
            assert image.size == (1011, 638)
    pdf = station_dir / "faces" / f"{result.card.card_number}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(pdf.stat().st_mode) == 0o600


def test_print_redraw_needs_holder_in_register(station, station_dir, residents, register_file, tmp_path, capsys):
    result = issue_with_broken_face(station, residents[0], station_dir)
    other_register = tmp_path / "other.csv"
    other_register.write_text(register_file.read_text(encoding="utf-8").splitlines()[0] + "\n",
                              encoding="utf-8")

    status = run_print(["--station", str(station_dir), "--card", result.card.card_number,
                        "--register", str(other_register)])

    error = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in error
    assert "not a valid row of the register" in error


def test_print_redraw_of_unknown_card(station, station_dir, register_file, capsys):
    unknown = make_card_number(10**9 + 99)

    status = run_print(["--station", str(station_dir), "--card", unknown, "--register", str(register_file)])

    error = capsys.readouterr().err
    assert status == 2
    assert "not in the journal" in error
