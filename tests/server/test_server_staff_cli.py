"""The `kartu staff` command creates and deactivates accounts directly in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from card.i18n import set_argument_language
from kartu.cli import main
from server.db import create_db_engine, make_sessionmaker
from server.models_people import StaffUser
from server.people import authenticate

PASSWORD = "kata-sandi-panjang-1"


@pytest.fixture(autouse=True)
def english_messages(monkeypatch):
    """Check the English texts here; test_server_cli_language checks the Indonesian ones."""
    monkeypatch.setenv("KARTU_LANG", "en")
    set_argument_language(None)


def password_file(tmp_path, mode: int = 0o600):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    return path


def stored_users(database_url: str) -> list[StaffUser]:
    engine = create_db_engine(database_url)
    with make_sessionmaker(engine)() as session:
        users = session.scalars(select(StaffUser).order_by(StaffUser.id)).all()
    engine.dispose()
    return users


def test_create_administrator(database_url, tmp_path, capsys):
    status = main(["staff", "create", "--db", database_url, "--username", "andi", "--role", "administrator",
                   "--password-file", str(password_file(tmp_path))])
    assert status == 0
    assert "Created staff account andi (id 1), role administrator." in capsys.readouterr().out
    users = stored_users(database_url)
    assert [(user.username, user.role, user.active) for user in users] == [("andi", "administrator", True)]
    engine = create_db_engine(database_url)
    with make_sessionmaker(engine)() as session:
        assert authenticate(session, "andi", PASSWORD) is not None
    engine.dispose()


def test_create_operator_needs_opd(database_url, tmp_path, capsys):
    status = main(["staff", "create", "--db", database_url, "--username", "sari", "--role", "operator",
                   "--password-file", str(password_file(tmp_path))])
    assert status == 2
    assert "opd: is required for an operator" in capsys.readouterr().err
    assert stored_users(database_url) == []


def test_create_operator_with_owner_opd(database_url, tmp_path, capsys):
    status = main(["staff", "create", "--db", database_url, "--username", "sari", "--role", "operator",
                   "--opd", " Dinas Sosial ", "--password-file", str(password_file(tmp_path))])
    assert status == 0
    assert "Created staff account sari" in capsys.readouterr().out
    assert [(user.username, user.opd) for user in stored_users(database_url)] == [("sari", "Dinas Sosial")]


def test_create_operator_unknown_opd(database_url, tmp_path, capsys):
    status = main(["staff", "create", "--db", database_url, "--username", "sari", "--role", "operator",
                   "--opd", "Dinas Perindag", "--password-file", str(password_file(tmp_path))])
    assert status == 2
    err = capsys.readouterr().err
    assert "opd: 'Dinas Perindag' owns no programme; use the OPD of a programme: " in err
    assert "'Dinas Perindustrian dan Perdagangan'" in err
    assert "'Dinas Sosial'" in err
    assert stored_users(database_url) == []


def test_password_file_mode_checked(database_url, tmp_path, capsys):
    path = password_file(tmp_path, 0o644)
    status = main(["staff", "create", "--db", database_url, "--username", "andi", "--role", "auditor",
                   "--password-file", str(path)])
    assert status == 2
    assert f"run 'chmod 600 {path}'" in capsys.readouterr().err


def test_deactivate(database_url, tmp_path, capsys):
    main(["staff", "create", "--db", database_url, "--username", "andi", "--role", "auditor",
          "--password-file", str(password_file(tmp_path))])
    assert main(["staff", "deactivate", "--db", database_url, "--username", "andi"]) == 0
    assert stored_users(database_url)[0].active is False
    assert main(["staff", "deactivate", "--db", database_url, "--username", "budi"]) == 2
    assert "staff account 'budi' not found" in capsys.readouterr().err
