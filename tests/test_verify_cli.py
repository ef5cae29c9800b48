"""`kartu verify`: offline QR verification against a terminal's lists, with exit status and language."""

from __future__ import annotations

import json
import subprocess
import sys
from array import array
from datetime import date
from pathlib import Path

import pytest
import qrcode
from PIL import Image

from card.cardnumber import make_card_number
from card.credential import sign_credential
from card.qrtext import to_qr_text
from card.revocation import ListKind, RevocationList, serial_of, sign_revocation_list
from kartu.cli import main
from terminal.enrol import STORE_NAME
from terminal.trust import apply_revocation_list, apply_trust_list
from tests.card.trust_kit import City, enrolled_store, unix_wib
from tests.conftest import make_credential

REVOKED_SERIAL = 1_000_000_077


@pytest.fixture
def city() -> City:
    return City()


@pytest.fixture
def terminal(tmp_path, city) -> Path:
    directory = tmp_path / "terminal"
    directory.mkdir()
    store = enrolled_store(directory / STORE_NAME, city)
    apply_trust_list(store, city.trust_list(1))
    revoked = RevocationList(ListKind.FULL, 1, unix_wib(2026, 6, 1), array("Q", [REVOKED_SERIAL]), count=1)
    apply_revocation_list(store, sign_revocation_list(revoked, city.sync))
    store.close()
    return directory


def _qr(city: City, serial: int = 1_000_000_042, expires: date = date(2031, 3, 1)) -> str:
    credential = make_credential(card_number=make_card_number(serial), issued=date(2026, 3, 1), expires=expires)
    return to_qr_text(sign_credential(credential, city.issuer))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_valid_card_accepted_in_indonesian(capsys, terminal, city) -> None:
    code, out, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", _qr(city), "--at", "2026-06-02T10:00:00+07:00")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "DITERIMA"
    assert lines[1] == f"SITI NURHALIZA BINTI AHMAD · {make_card_number(1_000_000_042)}"
    assert lines[2] == "Diterima."


def test_revoked_card_refused_with_reason(capsys, terminal, city) -> None:
    code, out, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", _qr(city, REVOKED_SERIAL),
                       "--at", "2026-06-02T10:00:00+07:00")
    assert code == 1
    assert out.splitlines()[0] == "DITOLAK (card_revoked)"
    assert "sudah dicabut" in out


def test_english_with_lang_after_command(capsys, terminal, city) -> None:
    code, out, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", _qr(city, REVOKED_SERIAL), "--lang", "en",
                       "--at", "2026-06-02T10:00:00+07:00")
    assert code == 1
    assert out.splitlines()[0] == "REFUSED (card_revoked)"
    assert "This card has been revoked" in out


def test_english_with_global_lang(capsys, terminal, city) -> None:
    code, out, _ = run(capsys, "--lang", "en", "verify", "--dir", str(terminal), "--qr-text", _qr(city),
                       "--at", "2026-06-02T10:00:00+07:00")
    assert code == 0
    assert out.splitlines()[0] == "ACCEPTED"


def test_expiry_boundary_to_the_second(capsys, terminal, city) -> None:
    text = _qr(city, expires=date(2031, 3, 1))
    code, _, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", text, "--at", "2031-03-01T23:59:59+07:00")
    assert code == 0
    code, out, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", text, "--at", "2031-03-02T00:00:00+07:00")
    assert code == 1
    assert "(expired)" in out


def test_unknown_issuer_refused(capsys, terminal) -> None:
    code, out, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", _qr(City()), "--at", "2026-06-02T10:00:00+07:00")
    assert code == 1
    assert "(unknown_issuer)" in out


def test_garbage_text_refused(capsys, terminal) -> None:
    code, out, _ = run(capsys, "verify", "--dir", str(terminal), "--qr-text", "https://example.invalid/")
    assert code == 1
    assert "(qr_text_invalid)" in out


def test_qr_image_accepted(tmp_path, capsys, terminal, city) -> None:
    image = tmp_path / "back.png"
    qrcode.make(_qr(city), error_correction=qrcode.constants.ERROR_CORRECT_M).save(image)
    code, out, err = run(capsys, "verify", "--dir", str(terminal), "--qr-image", str(image),
                         "--at", "2026-06-02T10:00:00+07:00", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["accepted"] is True
    assert result["card_number"] == make_card_number(1_000_000_042)
    assert result["message"] == "Diterima."


def test_image_without_qr_is_usage_error(tmp_path, capsys, terminal) -> None:
    image = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(image)
    code, out, err = run(capsys, "verify", "--dir", str(terminal), "--qr-image", str(image))
    assert code == 2
    assert out == ""
    assert "no QR code found" in err


@pytest.mark.parametrize(("language", "message"), [("en", "is not a terminal directory"),
                                                   ("id", "bukan direktori terminal")])
def test_missing_terminal_is_usage_error(tmp_path, capsys, city, language, message) -> None:
    code, _, err = run(capsys, "verify", "--dir", str(tmp_path / "nowhere"), "--qr-text", _qr(city),
                       "--lang", language)
    assert code == 2
    assert message in err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(("value", "language", "message"), [
    ("yesterday", "en", "not an ISO 8601 time"),
    ("2026-06-02T10:00:00", "en", "has no UTC offset"),
    ("yesterday", "id", "bukan waktu ISO 8601"),
    ("2026-06-02T10:00:00", "id", "tidak memiliki selisih UTC"),
])
def test_bad_time_is_usage_error(capsys, terminal, city, value, language, message) -> None:
    code, _, err = run(capsys, "verify", "--dir", str(terminal), "--qr-text", _qr(city), "--at", value,
                       "--lang", language)
    assert code == 2
    assert message in err


def test_missing_input_is_usage_error(capsys, terminal) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "--dir", str(terminal)])
    assert exit_info.value.code == 2


def test_command_line_entry_point(terminal, city) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kartu", "verify", "--dir", str(terminal), "--qr-text", _qr(city, REVOKED_SERIAL),
         "--at", "2026-06-02T10:00:00+07:00", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["reason"] == "card_revoked"
    assert answer["card_number"] == make_card_number(REVOKED_SERIAL)
    assert serial_of(answer["card_number"]) == REVOKED_SERIAL
