"""The `kartu service-point` command creates service points and enrolment codes in the database."""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kartu.cli import main
from server.db import create_db_engine, make_sessionmaker, upgrade_database
from server.enrolment_codes import hash_code
from server.models import EnrolmentCode, ServicePoint

CODE_LINE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$", re.MULTILINE)


def stored(database_url: str, model) -> list:
    engine = create_db_engine(database_url)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(select(model).order_by(model.id)).all()
        if model is ServicePoint:
            rows = [(row.id, row.name, row.kind, row.programme_codes) for row in rows]
    engine.dispose()
    return rows


def create(database_url: str, *extra: str) -> int:
    return main(["--lang", "en", "service-point", "create", "--db", database_url, *extra])


def test_create_service_point(database_url, capsys):
    status = create(database_url, "--name", "Pangkalan LPG Sukamaju", "--kind", "lpg_agent",
                    "--programme", "lpg", "--programme", "lansia")
    out = capsys.readouterr().out
    assert status == 0
    points = stored(database_url, ServicePoint)
    assert points == [(points[0][0], "Pangkalan LPG Sukamaju", "lpg_agent", ["lansia", "lpg"])]
    assert f"Created service point {points[0][0]}: Pangkalan LPG Sukamaju (lpg_agent)" in out
    assert f"kartu service-point enrolment-code --db {shlex.quote(database_url)} --service-point {points[0][0]}" in out


def hinted_command(out: str) -> list[str]:
    [line] = [line for line in out.splitlines() if "kartu service-point enrolment-code" in line]
    return shlex.split(line.split(": ", 1)[1])


def test_create_hint_runs_on_same_database(database_url, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert create(database_url, "--name", "Pangkalan", "--kind", "lpg_agent", "--programme", "lpg") == 0
    command = hinted_command(capsys.readouterr().out)
    assert command[:3] == ["kartu", "service-point", "enrolment-code"]

    assert main(["--lang", "en", *command[1:]]) == 0
    assert CODE_LINE.search(capsys.readouterr().out)
    assert len(stored(database_url, EnrolmentCode)) == 1
    assert not (tmp_path / "kartu-server.db").exists()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_create_hint_masks_password(database_url, capsys):
    # The test server trusts loopback connections, so it ignores the password.
    with_password = database_url.replace("@", ":kata-rahasia@", 1)
    assert create(with_password, "--name", "Pangkalan", "--kind", "lpg_agent", "--programme", "lpg") == 0
    out = capsys.readouterr().out
    assert "kata-rahasia" not in out
    assert ":***@" in " ".join(hinted_command(out))


def test_create_message_in_indonesian(database_url, capsys):
    assert main(["--lang", "id", "service-point", "create", "--db", database_url, "--name", "Klinik",
                 "--kind", "clinic", "--programme", "pbi"]) == 0
    assert "Titik layanan" in capsys.readouterr().out


def test_create_rejects_bad_kind(database_url, capsys):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    engine.dispose()
    status = create(database_url, "--name", "Pangkalan", "--kind", "LPG", "--programme", "lpg")
    assert status == 2
    assert "invalid --kind: must be 1 to 40 lower-case letters" in capsys.readouterr().err
    assert stored(database_url, ServicePoint) == []


def test_create_rejects_unknown_programme(database_url, capsys):
    status = create(database_url, "--name", "Pangkalan", "--kind", "lpg_agent", "--programme", "gas")
    err = capsys.readouterr().err
    assert status == 2
    assert "programme gas not found; programmes on this server:" in err
    assert "lpg" in err
    assert stored(database_url, ServicePoint) == []


def test_create_rejects_repeated_programme(database_url, capsys):
    status = create(database_url, "--name", "Pangkalan", "--kind", "lpg_agent",
                    "--programme", "lpg", "--programme", "lpg")
    assert status == 2
    assert "invalid --programme: lists a programme more than once" in capsys.readouterr().err


def test_enrolment_code_stored_hashed(database_url, capsys):
    create(database_url, "--name", "Pangkalan", "--kind", "lpg_agent", "--programme", "lpg")
    service_point_id = stored(database_url, ServicePoint)[0][0]
    capsys.readouterr()
    before = datetime.now(timezone.utc)
    status = main(["--lang", "en", "service-point", "enrolment-code", "--db", database_url,
                   "--service-point", str(service_point_id)])
    after = datetime.now(timezone.utc)
    out = capsys.readouterr().out
    assert status == 0
    code = CODE_LINE.search(out).group(0)
    rows = stored(database_url, EnrolmentCode)
    assert len(rows) == 1
    assert rows[0].code_hash == hash_code(code)
    assert rows[0].service_point_id == service_point_id
    assert rows[0].used_at is None
    assert before + timedelta(hours=24) - timedelta(seconds=1) <= rows[0].expires_at <= after + timedelta(hours=24)


def test_enrolment_code_enrols_terminal(kit, database_url, capsys):
    create(database_url, "--name", "Pangkalan", "--kind", "lpg_agent", "--programme", "lpg")
    service_point_id = stored(database_url, ServicePoint)[0][0]
    main(["service-point", "enrolment-code", "--db", database_url, "--service-point", str(service_point_id)])
    code = CODE_LINE.search(capsys.readouterr().out).group(0)
    payload, _signer = kit.enrolment_payload(code, "T-0001")
    response = kit.anonymous.post("/api/v1/terminals/enrol", json=payload)
    assert response.status_code == 201, response.text
    assert response.json()["service_point_id"] == service_point_id


def test_enrolment_code_unknown_service_point(database_url, capsys):
    status = main(["--lang", "en", "service-point", "enrolment-code", "--db", database_url, "--service-point", "7"])
    assert status == 2
    assert "service point 7 not found" in capsys.readouterr().err
    assert stored(database_url, EnrolmentCode) == []


def test_list_service_points(database_url, capsys):
    create(database_url, "--name", "Pangkalan A", "--kind", "lpg_agent", "--programme", "lpg")
    create(database_url, "--name", "Klinik B", "--kind", "clinic", "--programme", "pbi")
    capsys.readouterr()
    assert main(["--lang", "en", "service-point", "list", "--db", database_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1:] for line in lines[:2]] == [["Pangkalan A", "lpg_agent", "lpg"],
                                                           ["Klinik B", "clinic", "pbi"]]
    assert lines[2] == "Service points: 2"
