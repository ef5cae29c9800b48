"""Complete register imports: residents missing from the file leave the register, guarded against truncated files."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kartu.cli import main as kartu_main
from server.db import create_db_engine, upgrade_database
from server.models_register import Entitlement, RegisterImport, Resident, ResidentHistory
from server.register_import import import_register
from server.register_leavers import MAX_LEFT_SHARE
from tests.server.register_support import CHILD, HEAD, HOUSEHOLD_KEY, WIFE, csv_bytes

NOW = datetime(2026, 3, 15, 3, 0, tzinfo=timezone.utc)
CITY_SIZE = 40


def resident(number: int) -> dict:
    """Return a register row for a household head of desil 2 (entitled to LPG) with its own KK."""
    name = f"WARGA {chr(65 + number // 26)}{chr(65 + number % 26)}"
    return {**HEAD, "NIK": f"15710101018{number:05d}", "NO_KK": f"15710115061{number:05d}", "NAMA": name}


# Numbers from 100 keep clear of the NIK and KK of HEAD and its family.
CITY = [resident(number) for number in range(100, 100 + CITY_SIZE)]


@pytest.fixture
def session(database_url):
    engine = create_db_engine(database_url)
    upgrade_database(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def run_import(session, rows, **options):
    report = import_register(session, csv_bytes(rows), "register.csv", NOW, HOUSEHOLD_KEY, **options)
    session.commit()
    return report


def left_niks(session) -> set[str]:
    return set(session.scalars(select(Resident.nik).where(Resident.left_at.is_not(None))))


def entitlements_of(session, nik: str) -> int:
    household_pk = session.scalar(select(Resident.household_pk).where(Resident.nik == nik))
    return session.scalar(select(func.count()).select_from(Entitlement).where(Entitlement.household_pk == household_pk))


def lpg_entitled(session, nik: str) -> bool:
    household_pk = session.scalar(select(Resident.household_pk).where(Resident.nik == nik))
    query = select(func.count()).select_from(Entitlement).where(
        Entitlement.household_pk == household_pk, Entitlement.program == "lpg")
    return session.scalar(query) > 0


def imports(session) -> int:
    return session.scalar(select(func.count()).select_from(RegisterImport))


def test_partial_import_removes_nobody(session):
    run_import(session, CITY)
    report = run_import(session, CITY[:5])
    assert report.left == 0
    assert left_niks(session) == set()
    assert session.scalar(select(func.count()).select_from(Resident)) == CITY_SIZE


def test_complete_import_marks_left(session):
    run_import(session, CITY)
    left_nik = CITY[-1]["NIK"]
    assert lpg_entitled(session, left_nik)
    entitlements_before = entitlements_of(session, left_nik)

    report = run_import(session, CITY[:-1], complete=True)
    assert report.rejection is None
    assert report.left == 1
    assert report.unchanged == CITY_SIZE - 1
    assert left_niks(session) == {left_nik}
    assert not lpg_entitled(session, left_nik)
    assert lpg_entitled(session, CITY[0]["NIK"])
    assert entitlements_of(session, left_nik) == 0
    assert report.entitlements.removed == entitlements_before

    stored = session.scalars(select(Resident).where(Resident.nik == left_nik)).one()
    assert stored.name == CITY[-1]["NAMA"]
    assert stored.left_import_id == report.import_id
    assert stored.left_at == NOW
    history = session.scalars(select(ResidentHistory).where(ResidentHistory.resident_pk == stored.id)).one()
    assert history.changed_columns == "left_at"
    assert history.previous == {"left_at": None}
    record = session.get(RegisterImport, report.import_id)
    assert record.complete is True
    assert record.left == 1


def test_same_complete_import_twice(session):
    run_import(session, CITY)
    run_import(session, CITY[:-1], complete=True)
    report = run_import(session, CITY[:-1], complete=True)
    assert report.left == 0
    assert report.entitlements is None
    assert left_niks(session) == {CITY[-1]["NIK"]}


def test_large_removal_rejected(session):
    run_import(session, CITY)
    before = imports(session)
    report = run_import(session, CITY[:30], complete=True)
    assert report.import_id is None
    assert report.rejection.reason == "too_many_left"
    assert report.rejection.left == 10
    assert report.rejection.active == CITY_SIZE
    assert left_niks(session) == set()
    assert imports(session) == before


def test_header_only_file_rejected(session):
    run_import(session, CITY)
    report = run_import(session, [], complete=True)
    assert report.rejection.reason == "too_many_left"
    assert report.rejection.left == CITY_SIZE
    assert left_niks(session) == set()


def test_limit_allows_share(session):
    allowed = int(MAX_LEFT_SHARE * CITY_SIZE)
    run_import(session, CITY)
    report = run_import(session, CITY[allowed:], complete=True)
    assert report.rejection is None
    assert report.left == allowed


def test_confirmed_large_removal(session):
    run_import(session, CITY)
    report = run_import(session, CITY[:30], complete=True, confirm_left=10)
    assert report.rejection is None
    assert report.left == 10
    assert len(left_niks(session)) == 10


def test_confirm_mismatch_rejected(session):
    run_import(session, CITY)
    report = run_import(session, CITY[:30], complete=True, confirm_left=9)
    assert report.rejection.reason == "confirm_mismatch"
    assert report.rejection.confirmed == 9
    assert left_niks(session) == set()


def test_rejected_row_rejects_complete(session):
    run_import(session, CITY)
    broken = [*CITY[:-1], {**CITY[-1], "DESIL": "11"}]
    report = run_import(session, broken, complete=True)
    assert report.rejection.reason == "rejected_rows"
    assert report.import_id is None
    assert report.rejected_lines == 1
    assert left_niks(session) == set()


def test_resident_returns(session):
    run_import(session, CITY)
    run_import(session, CITY[:-1], complete=True)
    left_nik = CITY[-1]["NIK"]

    report = run_import(session, [CITY[-1]])
    assert report.returned == 1
    assert report.updated == 1
    assert left_niks(session) == set()
    assert lpg_entitled(session, left_nik)
    stored = session.scalars(select(Resident).where(Resident.nik == left_nik)).one()
    assert stored.left_import_id is None


# --- issuance queue ----------------------------------------------------------------


def test_queue_skips_head_who_left(kit):
    kit.live.app.state.household_key = HOUSEHOLD_KEY
    with Session(kit.live.app.state.engine) as session:
        run_import(session, [*CITY, HEAD, WIFE, CHILD])
        report = run_import(session, [*CITY, WIFE, CHILD], complete=True)
    assert report.left == 1

    response = kit.admin.get("/api/v1/issuance/queue", params={"limit": 100})
    assert response.status_code == 200, response.text
    niks = {entry["nik"] for entry in response.json()["residents"]}
    assert HEAD["NIK"] not in niks
    assert WIFE["NIK"] in niks

    response = kit.admin.post("/api/v1/issuance/residents/lookup", json={"nik": HEAD["NIK"]})
    assert response.status_code == 404
    assert "left the register" in response.json()["detail"]


# --- kartu server import-register --complete ------------------------------------


@pytest.fixture
def city_database(tmp_path) -> str:
    register = tmp_path / "city.csv"
    register.write_bytes(csv_bytes(CITY))
    database = f"sqlite:///{tmp_path / 'server.db'}"
    assert kartu_main(["server", "import-register", str(register), "--db", database]) == 0
    return database


def test_cli_complete_reports_left(tmp_path, city_database, capsys):
    capsys.readouterr()
    register = tmp_path / "city-2.csv"
    register.write_bytes(csv_bytes(CITY[:-1]))
    status = kartu_main(["--lang", "en", "server", "import-register", str(register), "--db", city_database,
                         "--complete"])
    assert status == 0
    assert "Complete register: residents who left: 1, residents who returned: 0." in capsys.readouterr().out


@pytest.mark.parametrize("language, expected", [
    ("en", "the file would mark 10 of 40 residents (25.0%) as left, more than 5%. "
           "If the file is whole, run again with --confirm-left 10."),
    ("id", "berkas ini akan menandai 10 dari 40 warga (25.0%) keluar, lebih dari 5%. "
           "Jika berkasnya utuh, jalankan lagi dengan --confirm-left 10."),
])
def test_cli_rejection_message(tmp_path, city_database, capsys, language, expected):
    capsys.readouterr()
    register = tmp_path / "city-2.csv"
    register.write_bytes(csv_bytes(CITY[:30]))
    status = kartu_main(["--lang", language, "server", "import-register", str(register), "--db", city_database,
                         "--complete"])
    assert status == 2
    assert expected in capsys.readouterr().err


def test_cli_confirm_needs_complete(tmp_path, city_database, capsys):
    capsys.readouterr()
    register = tmp_path / "city-2.csv"
    register.write_bytes(csv_bytes(CITY[:30]))
    status = kartu_main(["--lang", "en", "server", "import-register", str(register), "--db", city_database,
                         "--confirm-left", "10"])
    assert status == 2
    assert "--confirm-left needs --complete" in capsys.readouterr().err
