"""The --db option of the server commands and the mode of the SQLite files they create."""

from __future__ import annotations

import argparse
import logging
import os
import stat

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from card.i18n import set_argument_language
from kartu.cli import main
from server.database_option import database_url_option
from server.db import create_db_engine, upgrade_database

PASSWORD = "kata-sandi-panjang-1"


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """Check the English texts here; test_server_cli_language checks the Indonesian ones."""
    monkeypatch.setenv("KARTU_LANG", "en")
    set_argument_language(None)


def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


def test_plain_path_becomes_sqlite_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = make_url(database_url_option("srv.db"))
    assert url.get_backend_name() == "sqlite"
    assert url.database == str(tmp_path / "srv.db")


def test_plain_path_with_url_characters(tmp_path):
    path = tmp_path / "a?b#c%d.db"
    assert make_url(database_url_option(str(path))).database == str(path)


@pytest.mark.parametrize("value", [
    "sqlite:///kartu-server.db", "sqlite://", "postgresql://kartu@127.0.0.1/kartu",
    "postgresql+psycopg://kartu:pw@127.0.0.1:5432/kartu?options=-csearch_path%3Dx",
])
def test_urls_kept(value):
    assert database_url_option(value) == value


def test_unparseable_url_named():
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        database_url_option("postgresql://kartu:s3cret@host:port/db")
    message = str(raised.value)
    assert "invalid database URL 'postgresql://kartu:***@host:port/db'" in message
    assert "SQLite file path" in message
    assert "postgresql://USER@HOST/NAME" in message
    assert "s3cret" not in message


def test_unsupported_backend_rejected():
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        database_url_option("mysql://kartu@127.0.0.1/kartu")
    assert "unsupported database 'mysql://kartu@127.0.0.1/kartu'" in str(raised.value)


@pytest.mark.parametrize("form", ["path", "url"])
def test_missing_directory_rejected(tmp_path, form):
    missing = tmp_path / "nodir"
    value = str(missing / "x.db") if form == "path" else f"sqlite:///{missing / 'x.db'}"
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        database_url_option(value)
    assert f"directory {missing} of the SQLite database does not exist" in str(raised.value)
    assert f"mkdir -p {missing}" in str(raised.value)


@pytest.mark.parametrize("command", [
    ["server"], ["server", "import-register", "register.csv"], ["server", "recompute-entitlements"],
    ["staff", "deactivate", "--username", "andi"], ["service-point", "list"],
])
def test_commands_reject_missing_directory(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as raised:
        main([*command, "--db", "sqlite:///nodir/x.db"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --db: directory {tmp_path / 'nodir'} of the SQLite database does not exist" in err
    assert "Traceback" not in err
    assert not (tmp_path / "nodir").exists()


def test_staff_create_with_plain_path(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = main(["staff", "create", "--db", "srv.db", "--username", "andi", "--role", "administrator",
                   "--password-file", str(password_file(tmp_path))])
    assert status == 0, capsys.readouterr().err
    assert (tmp_path / "srv.db").is_file()


def test_server_rejects_unparseable_url(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["server", "--db", "postgresql://kartu@host:port/db"])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "argument --db: invalid database URL 'postgresql://kartu@host:port/db'" in err
    assert "Traceback" not in err


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_files_private(tmp_path):
    database = tmp_path / "server.db"
    previous_umask = os.umask(0o022)
    try:
        engine = create_db_engine(f"sqlite:///{database}")
        upgrade_database(engine)
        with engine.connect() as connection:
            connection.execute(text("SELECT count(*) FROM programmes")).scalar_one()
            files = {name: _mode(tmp_path / name) for name in ("server.db", "server.db-wal", "server.db-shm")}
        engine.dispose()
    finally:
        os.umask(previous_umask)
    assert files == {"server.db": 0o600, "server.db-wal": 0o600, "server.db-shm": 0o600}


def test_loose_sqlite_file_warned(tmp_path, caplog):
    database = tmp_path / "server.db"
    database.touch()
    database.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="server.db"):
        create_db_engine(f"sqlite:///{database}").dispose()
    assert f"database file {database} has mode 0644" in caplog.text
    assert f"chmod 600 {database}" in caplog.text
    assert _mode(database) == 0o644
