"""Server-side commands in Bahasa Indonesia (the default) and in English (--lang en or KARTU_LANG=en)."""

from __future__ import annotations

import pytest

from card.i18n import set_argument_language
from kartu.cli import main

PASSWORD = "kata-sandi-panjang-1"


@pytest.fixture(autouse=True)
def default_language(monkeypatch):
    monkeypatch.delenv("KARTU_LANG", raising=False)
    set_argument_language(None)


def password_file(tmp_path, mode: int = 0o600):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    return path


def language_options(language: str | None) -> list[str]:
    return [] if language is None else ["--lang", language]


@pytest.mark.parametrize("language, expected", [
    (None, "Akun petugas andi (id 1) dibuat, peran administrator."),
    ("id", "Akun petugas andi (id 1) dibuat, peran administrator."),
    ("en", "Created staff account andi (id 1), role administrator."),
])
def test_staff_create_output(tmp_path, capsys, language, expected):
    status = main([*language_options(language), "staff", "create", "--db", str(tmp_path / "s.db"),
                   "--username", "andi", "--role", "administrator", "--password-file", str(password_file(tmp_path))])
    assert status == 0
    assert capsys.readouterr().out == expected + "\n"


@pytest.mark.parametrize("language, expected", [
    ("id", "kartu staff: kesalahan: opd: wajib untuk operator: OPD yang programnya dikelola operator itu"),
    ("en", "kartu staff: error: opd: is required for an operator: the OPD whose programmes the operator manages"),
])
def test_staff_account_error(tmp_path, capsys, language, expected):
    status = main(["--lang", language, "staff", "create", "--db", str(tmp_path / "s.db"), "--username", "sari",
                   "--role", "operator", "--password-file", str(password_file(tmp_path))])
    assert status == 2
    assert capsys.readouterr().err == expected + "\n"


@pytest.mark.parametrize("language, expected", [
    ("id", "kartu staff: kesalahan: opd: 'Dinas Perindag' tidak memiliki program; gunakan OPD pemilik program: "),
    ("en", "kartu staff: error: opd: 'Dinas Perindag' owns no programme; use the OPD of a programme: "),
])
def test_staff_unknown_opd(tmp_path, capsys, language, expected):
    status = main(["--lang", language, "staff", "create", "--db", str(tmp_path / "s.db"), "--username", "sari",
                   "--role", "operator", "--opd", "Dinas Perindag", "--password-file", str(password_file(tmp_path))])
    assert status == 2
    assert capsys.readouterr().err.startswith(expected)


@pytest.mark.parametrize("language, expected", [
    ("id", "kartu staff: kesalahan: akun petugas 'budi' tidak ditemukan"),
    ("en", "kartu staff: error: staff account 'budi' not found"),
])
def test_staff_not_found(tmp_path, capsys, language, expected):
    status = main(["--lang", language, "staff", "deactivate", "--db", str(tmp_path / "s.db"), "--username", "budi"])
    assert status == 2
    assert capsys.readouterr().err == expected + "\n"


@pytest.mark.parametrize("language, expected", [
    ("id", "berkas kata sandi {path} bermode 0644; jalankan dulu 'chmod 600 {path}'"),
    ("en", "password file {path} has mode 0644; run 'chmod 600 {path}' first"),
])
def test_password_file_mode(tmp_path, capsys, language, expected):
    path = password_file(tmp_path, 0o644)
    status = main(["--lang", language, "staff", "create", "--db", str(tmp_path / "s.db"), "--username", "andi",
                   "--role", "auditor", "--password-file", str(path)])
    assert status == 2
    assert expected.format(path=path) in capsys.readouterr().err


@pytest.mark.parametrize("language, expected", [
    ("id", "argument --workers: jumlah worker 'dua' tidak valid: berikan bilangan bulat sedikitnya 1"),
    ("en", "argument --workers: invalid worker count 'dua': give a whole number of at least 1"),
])
def test_server_option_error(capsys, language, expected):
    with pytest.raises(SystemExit) as raised:
        main(["--lang", language, "server", "--workers", "dua"])
    assert raised.value.code == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("language, expected", [
    ("id", "argument --db: basis data 'mysql://kartu@127.0.0.1/kartu' tidak didukung; berikan path berkas SQLite"),
    ("en", "argument --db: unsupported database 'mysql://kartu@127.0.0.1/kartu'; give a SQLite file path"),
])
def test_database_option_error(capsys, language, expected):
    with pytest.raises(SystemExit) as raised:
        main(["--lang", language, "staff", "deactivate", "--db", "mysql://kartu@127.0.0.1/kartu", "--username", "x"])
    assert raised.value.code == 2
    assert expected in capsys.readouterr().err


def test_environment_selects_english(capsys, monkeypatch):
    monkeypatch.setenv("KARTU_LANG", "en")
    with pytest.raises(SystemExit):
        main(["server", "--workers", "0"])
    assert "invalid worker count '0'" in capsys.readouterr().err


def test_lang_option_not_kept(capsys):
    with pytest.raises(SystemExit):
        main(["--lang", "en", "server", "--workers", "0"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["server", "--workers", "0"])
    assert "jumlah worker '0' tidak valid" in capsys.readouterr().err


@pytest.mark.parametrize("language, expected", [
    ("id", "kartu server: kesalahan: --host 10.1.2.3 bukan alamat loopback; "
           "tambahkan --allow-remote untuk mendengarkan di alamat itu"),
    ("en", "kartu server: error: --host 10.1.2.3 is not a loopback address; pass --allow-remote to listen on it"),
])
def test_server_error(tmp_path, capsys, language, expected):
    status = main(["--lang", language, "server", "--db", str(tmp_path / "s.db"), "--host", "10.1.2.3"])
    assert status == 2
    assert capsys.readouterr().err == expected + "\n"


@pytest.mark.parametrize("language, expected", [
    ("id", "kartu server import-register: kesalahan: kunci keluarga {path} dapat dibaca pengguna lain; "
           "jalankan 'chmod 600 {path}'"),
    ("en", "kartu server import-register: error: household key {path} is readable by others; "
           "run 'chmod 600 {path}'"),
])
def test_register_key_error(tmp_path, capsys, language, expected):
    register = tmp_path / "register.csv"
    register.write_text("NIK\n")
    key_file = tmp_path / "household.key"
    key_file.write_bytes(b"k" * 32)
    key_file.chmod(0o644)
    status = main(["--lang", language, "server", "import-register", str(register), "--db", str(tmp_path / "s.db"),
                   "--household-key", str(key_file)])
    assert status == 2
    assert capsys.readouterr().err == expected.format(path=key_file) + "\n"
