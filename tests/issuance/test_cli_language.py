"""`kartu issuance` and `kartu keys` messages in Bahasa Indonesia (default) and English."""

from __future__ import annotations

from pathlib import Path

import pytest

from issuance.register import write_register
from issuance.station import create_station_keys
from issuance.synth import generate_register
from kartu.cli import main

REGISTER = generate_register(3, seed=41)


def run(capsys, language: str, *arguments: str) -> tuple[int, str, str]:
    status = main(["--lang", language, *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def station_dir(tmp_path) -> Path:
    create_station_keys(tmp_path / "station")
    return tmp_path / "station"


@pytest.fixture
def register_file(tmp_path) -> Path:
    path = tmp_path / "register.csv"
    write_register(REGISTER, path)
    return path


def issue(capsys, language: str, station_dir: Path, register_file: Path, nik: str) -> tuple[int, str, str]:
    return run(capsys, language, "issuance", "issue", "--station", str(station_dir), "--register",
               str(register_file), "--nik", nik, "--qr-only")


def write_token_file(tmp_path: Path, mode: int) -> Path:
    token_file = tmp_path / "token"
    token_file.write_text("secret-token\n")
    token_file.chmod(mode)
    return token_file


@pytest.mark.parametrize("language, expected", [
    ("id", "--nik '1.5710E+15' bukan NIK: berikan 16 angka persis seperti tercetak di KTP"),
    ("en", "--nik '1.5710E+15' is not a NIK: give the 16 digits exactly as printed on the KTP"),
])
def test_issue_rejects_nik_in_exponent_form(capsys, station_dir, register_file, language, expected) -> None:
    status, _, err = issue(capsys, language, station_dir, register_file, "1.5710E+15")

    assert status == 2
    assert err.strip() == expected


@pytest.mark.parametrize("language, expected", [
    ("id", "(kartu QR saja) diterbitkan, BELUM didaftarkan (tanpa --server)"),
    ("en", "(QR-only card) issued, NOT registered (no --server given)"),
])
def test_issue_qr_only_card_message(capsys, station_dir, register_file, language, expected) -> None:
    status, out, _ = issue(capsys, language, station_dir, register_file, REGISTER[0].nik)

    lines = out.splitlines()
    assert status == 0
    assert lines[0].startswith("kartu 1571" if language == "id" else "card 1571")
    assert lines[0].endswith(expected)
    assert lines[1].startswith("muka kartu: " if language == "id" else "card face: ")


@pytest.mark.parametrize("language, label, reason", [
    ("id", "Alasan antrean", "kartu baru"),
    ("en", "Queue reason", "new card"),
])
def test_show_names_queue_reason(capsys, station_dir, register_file, language, label, reason) -> None:
    status, out, _ = run(capsys, language, "issuance", "show", "1", "--station", str(station_dir),
                         "--register", str(register_file))

    [line] = [line for line in out.splitlines() if line.startswith(label)]
    assert status == 0
    assert line.split(maxsplit=len(label.split()))[-1] == reason


def test_queue_lists_reason_in_indonesian(capsys, station_dir, register_file) -> None:
    status, out, _ = run(capsys, "id", "issuance", "queue", "--station", str(station_dir),
                         "--register", str(register_file))

    assert status == 0
    assert out.count("kartu baru") == len(REGISTER)
    assert " new " not in out


@pytest.mark.parametrize("language, expected", [
    ("id", "kunci stasiun dibuat di {directory}; kid penerbit "),
    ("en", "station keys created in {directory}; issuer kid "),
])
def test_keys_create_station_message(capsys, tmp_path, language, expected) -> None:
    directory = tmp_path / "new-station"
    status, out, _ = run(capsys, language, "keys", "create", "--dir", str(directory))

    assert status == 0
    assert out.startswith(expected.format(directory=directory))


@pytest.mark.parametrize("language, expected", [
    ("id", "berikan --revoke BERKAS, --reinstate BERKAS, atau keduanya"),
    ("en", "give --revoke FILE, --reinstate FILE or both"),
])
def test_keys_sign_revocations_without_files(capsys, tmp_path, language, expected) -> None:
    status, _, err = run(capsys, language, "keys", "sign-revocations", "--sync-key", str(tmp_path / "sync.key"),
                         "--publish", str(tmp_path / "pub"))

    assert status == 2
    assert err.strip() == expected


def test_issue_server_unreachable_in_indonesian(capsys, station_dir, register_file, tmp_path) -> None:
    token_file = write_token_file(tmp_path, 0o600)
    status, _, err = run(capsys, "id", "issuance", "issue", "--station", str(station_dir), "--register",
                         str(register_file), "--nik", REGISTER[0].nik, "--qr-only",
                         "--server", "http://127.0.0.1:9", "--admin-token-file", str(token_file))

    assert status == 2
    assert err.startswith("server http://127.0.0.1:9 tidak dapat dihubungi: ")
    assert err.rstrip().endswith("tidak ada kartu yang ditulis")
    assert "secret-token" not in err


def test_admin_token_file_mode_in_indonesian(capsys, station_dir, register_file, tmp_path) -> None:
    token_file = write_token_file(tmp_path, 0o644)
    status, _, err = run(capsys, "id", "issuance", "queue", "--station", str(station_dir),
                         "--server", "http://127.0.0.1:9", "--admin-token-file", str(token_file))

    assert status == 2
    assert err.strip() == f"berkas token administrator {token_file} bermode 0644; jalankan 'chmod 600 {token_file}'"


@pytest.mark.parametrize("language, expected", [
    ("id", "tidak dapat dihubungi: "),
    ("en", "unreachable: "),
])
def test_register_pending_unreachable_message(capsys, station_dir, register_file, tmp_path, language,
                                              expected) -> None:
    assert issue(capsys, "en", station_dir, register_file, REGISTER[0].nik)[0] == 0
    token_file = write_token_file(tmp_path, 0o600)
    status, out, _ = run(capsys, language, "issuance", "register-pending", "--station", str(station_dir),
                         "--server", "http://127.0.0.1:9", "--admin-token-file", str(token_file), "--clerk", "Ani")

    [line] = [line for line in out.splitlines() if "127.0.0.1:9" in line]
    assert status == 1
    assert f"server http://127.0.0.1:9/api/v1/cards {expected}" in line
