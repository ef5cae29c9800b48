"""How `kartu` ends on Ctrl+C, Ctrl+D at a prompt and a closed standard output, and what importing it costs."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kartu.cli import main
from server import register_cli
from server.db import create_db_engine, make_sessionmaker, upgrade_database
from server.people import _dummy_hash, authenticate
from tests.server.test_server_staff_cli import stored_users

REPO_ROOT = Path(__file__).resolve().parents[2]


def migrated(database_url: str) -> str:
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    engine.dispose()
    return database_url


def staff_create(database_url: str, language: str) -> int:
    return main(["--lang", language, "staff", "create", "--db", database_url, "--username", "andi",
                 "--role", "administrator"])


@pytest.mark.parametrize(("interruption", "status"), [(KeyboardInterrupt, 130), (EOFError, 1)])
@pytest.mark.parametrize(("language", "message"), [
    ("id", "dibatalkan; tidak ada yang diubah"), ("en", "cancelled; nothing was changed"),
])
def test_password_prompt_cancelled(database_url, monkeypatch, capsys, interruption, status, language, message):
    migrated(database_url)

    def interrupted_prompt(prompt: str = "") -> str:
        raise interruption

    monkeypatch.setattr(getpass, "getpass", interrupted_prompt)
    assert staff_create(database_url, language) == status
    captured = capsys.readouterr()
    assert captured.err.strip() == message
    assert "Traceback" not in captured.err
    assert stored_users(database_url) == []


def test_second_prompt_cancelled(database_url, monkeypatch, capsys):
    answers = iter(["kata-sandi-panjang-1"])

    def prompt(prompt: str = "") -> str:
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(getpass, "getpass", prompt)
    migrated(database_url)
    assert staff_create(database_url, "en") == 1
    assert capsys.readouterr().err.strip() == "cancelled; nothing was changed"
    assert stored_users(database_url) == []


def test_interrupt_in_any_command(tmp_path, monkeypatch, capsys):
    def interrupted_import(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(register_cli, "import_register", interrupted_import)
    register = tmp_path / "register.csv"
    register.write_text("nik\n")
    status = main(["--lang", "en", "server", "import-register", str(register), "--db", str(tmp_path / "x.db")])
    assert status == 130
    assert capsys.readouterr().err.splitlines()[-1] == "stopped by Ctrl+C"


def test_other_broken_pipe_not_hidden(tmp_path, monkeypatch):
    def broken_connection(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(register_cli, "import_register", broken_connection)
    register = tmp_path / "register.csv"
    register.write_text("nik\n")
    with pytest.raises(BrokenPipeError):
        main(["server", "import-register", str(register), "--db", str(tmp_path / "x.db")])


def run_with_closed_stdout(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `python -m kartu ARGS` with a standard output whose reader has already gone, as after `| head`."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "kartu", *args], cwd=cwd, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)


def test_closed_stdout_quiet(tmp_path):
    station = tmp_path / "station"
    register = tmp_path / "register.csv"
    assert main(["keys", "create", "--dir", str(station)]) == 0
    assert main(["issuance", "generate-register", "--count", "20", "--seed", "1", "--out", str(register)]) == 0
    result = run_with_closed_stdout(["issuance", "queue", "--station", str(station), "--register", str(register)],
                                    REPO_ROOT)
    assert result.stderr == ""
    assert result.returncode == 141


def test_closed_stdout_after_help(tmp_path):
    result = run_with_closed_stdout(["--help"], REPO_ROOT)
    assert result.stderr == ""
    assert result.returncode == 141


def test_import_computes_no_password_hash():
    code = ("import kartu.cli, server.people; kartu.cli.build_parser(); "
            "print(server.people._dummy_hash.cache_info().currsize)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "0"


def test_unknown_user_checked_against_dummy_hash(database_url):
    engine = create_db_engine(migrated(database_url))
    with make_sessionmaker(engine)() as session:
        assert authenticate(session, "nobody", "kata-sandi-panjang-1") is None
    engine.dispose()
    assert _dummy_hash.cache_info().currsize == 1
    assert _dummy_hash().startswith("$argon2id$")
