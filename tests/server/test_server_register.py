"""Register import: CSV and XLSX upload, per-row rejections, idempotent re-import, history, CLI."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kartu.cli import main as kartu_main
from server.db import create_db_engine
from server.models_register import Entitlement, Household, RegisterImport, Resident, ResidentHistory
from server.register_rows import parse_clerk_date
from tests.server.register_support import (
    CHILD, ELDER, FAMILY, HEAD, HOUSEHOLD_KEY, KK, WIFE, csv_bytes, household_of, xlsx_bytes,
)
from tests.server.test_server_people import log_in

IMPORTS = "/api/v1/register/imports"


def upload(kit, data: bytes, filename: str = "register.csv"):
    return kit.admin.post(IMPORTS, params={"filename": filename}, content=data,
                          headers={"Content-Type": "text/csv"})


def count(kit, model) -> int:
    with Session(kit.live.app.state.engine) as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def keyed(kit):
    kit.live.app.state.household_key = HOUSEHOLD_KEY
    return kit


def test_upload_imports_rows(keyed):
    response = upload(keyed, csv_bytes(FAMILY))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["rows"], body["inserted"], body["updated"], body["unchanged"]) == (3, 3, 0, 0)
    assert body["errors"] == []
    assert body["rejected_rows"] == 0
    assert body["entitlements"]["added"] > 0
    with Session(keyed.live.app.state.engine) as session:
        household = session.scalars(select(Household).where(Household.kk == KK)).one()
        child = session.scalars(select(Resident).where(Resident.nik == CHILD["NIK"])).one()
    assert household.household_id == household_of(HEAD)
    assert (child.household_pk, child.birth_date, child.kelurahan) == (household.id, date(2010, 7, 25), "1571011002")


def test_reimport_changes_nothing(keyed):
    data = csv_bytes(FAMILY + [ELDER])
    assert upload(keyed, data).status_code == 200
    with Session(keyed.live.app.state.engine) as session:
        before = sorted(session.execute(select(Entitlement.id, Entitlement.program, Entitlement.computed_at)).all())

    body = upload(keyed, data).json()
    assert (body["inserted"], body["updated"], body["unchanged"]) == (0, 0, 4)
    assert body["entitlements"] is None
    assert count(keyed, Resident) == 4
    assert count(keyed, ResidentHistory) == 0
    assert count(keyed, RegisterImport) == 2
    with Session(keyed.live.app.state.engine) as session:
        after = sorted(session.execute(select(Entitlement.id, Entitlement.program, Entitlement.computed_at)).all())
    assert after == before


def test_changed_row_keeps_history(keyed):
    assert upload(keyed, csv_bytes(FAMILY)).status_code == 200
    moved = {**WIFE, "DESIL": "5", "ALAMAT": "JL. MELATI NO. 3 RT 002"}
    body = upload(keyed, csv_bytes([HEAD, moved, CHILD])).json()
    assert (body["inserted"], body["updated"], body["unchanged"]) == (0, 1, 2)

    with Session(keyed.live.app.state.engine) as session:
        wife = session.scalars(select(Resident).where(Resident.nik == WIFE["NIK"])).one()
        history = session.scalars(select(ResidentHistory)).all()
    assert (wife.desil, wife.address) == (5, "JL. MELATI NO. 3 RT 002")
    assert len(history) == 1
    assert history[0].resident_pk == wife.id
    assert history[0].changed_columns == "address,desil"
    assert history[0].previous == {"address": "JL. KENANGA NO. 12 RT 007", "desil": 2}


def test_move_to_other_household_recorded(keyed):
    assert upload(keyed, csv_bytes(FAMILY)).status_code == 200
    upload(keyed, csv_bytes([HEAD, WIFE, {**CHILD, "NO_KK": "1571010203050001"}]))
    with Session(keyed.live.app.state.engine) as session:
        history = session.scalars(select(ResidentHistory)).one()
    assert history.changed_columns == "kk"
    assert history.previous == {"kk": KK}


BAD_ROWS = [
    ({**HEAD, "NIK": "1.5710E+15"}, "NIK", "scientific_notation"),
    ({**HEAD, "NIK": "571010101800001"}, "NIK", "digits_lost"),
    ({**HEAD, "NO_KK": "157101150610001"}, "NO_KK", "digits_lost"),
    ({**HEAD, "NIK": "1571010101800001.0"}, "NIK", "numeric_cell"),
    ({**HEAD, "TANGGAL_LAHIR": "01/01/80"}, "TANGGAL_LAHIR", "birth_date_format_clerk"),
    ({**HEAD, "TANGGAL_LAHIR": "31-02-1980"}, "TANGGAL_LAHIR", "birth_date_format_clerk"),
    ({**HEAD, "TANGGAL_LAHIR": "02-01-1980"}, "NIK", "nik_birth_date_mismatch"),
    ({**HEAD, "JENIS_KELAMIN": "P"}, "NIK", "nik_sex_mismatch"),
    ({**HEAD, "NIK": "1571990101800001"}, "NIK", "nik_kecamatan"),
    ({**HEAD, "DESIL": "11"}, "DESIL", "desil_invalid"),
    ({**HEAD, "SEKOLAH": "TK"}, "SEKOLAH", "school_invalid"),
]


@pytest.mark.parametrize("row, column, code", BAD_ROWS)
def test_bad_row_reported_rest_imported(keyed, row, column, code):
    body = upload(keyed, csv_bytes([WIFE, row, CHILD], extra=("SEKOLAH",))).json()
    assert body["inserted"] == 2
    assert body["rejected_rows"] == 1
    assert [(error["line"], error["column"], error["code"]) for error in body["errors"]] == [(3, column, code)]
    assert body["errors"][0]["message_id"] != body["errors"][0]["message_en"]
    assert count(keyed, Resident) == 2


def test_digits_lost_message_says_what_to_do(keyed):
    body = upload(keyed, csv_bytes([{**HEAD, "NIK": "571010101800001"}])).json()
    message = body["errors"][0]["message_en"]
    assert "has 15 digits instead of 16" in message
    assert "Format the NIK column as Text" in message


@pytest.mark.parametrize("text, expected", [
    ("1985-03-12", date(1985, 3, 12)),
    ("12-03-1985", date(1985, 3, 12)),
    ("12/3/1985", date(1985, 3, 12)),
    ("12.03.1985", date(1985, 3, 12)),
    ("12 Maret 1985", date(1985, 3, 12)),
    ("12-Mar-1985", date(1985, 3, 12)),
    ("5 agustus 2001", date(2001, 8, 5)),
    ("12/03/85", None),
    ("1985/03/12", None),
    ("30-02-1980", None),
    ("12 Marz 1985", None),
    ("", None),
])
def test_clerk_date_formats(text, expected):
    assert parse_clerk_date(text) == expected


def test_semicolon_csv_with_bom(keyed):
    body = upload(keyed, csv_bytes(FAMILY, delimiter=";", bom=True)).json()
    assert (body["inserted"], body["errors"]) == (3, [])


def test_occupation_and_school_stored(keyed):
    rows = [{**HEAD, "PEKERJAAN": "ketua  rt"}, WIFE, {**CHILD, "SEKOLAH": "mts"}]
    assert upload(keyed, csv_bytes(rows, extra=("PEKERJAAN", "SEKOLAH"))).json()["inserted"] == 3
    with Session(keyed.live.app.state.engine) as session:
        stored = dict(session.execute(select(Resident.nik, Resident.occupation)).all())
        school = session.scalar(select(Resident.school).where(Resident.nik == CHILD["NIK"]))
    assert stored[HEAD["NIK"]] == "KETUA RT"
    assert stored[WIFE["NIK"]] is None
    assert school == "SMP"


def test_xlsx_upload(keyed):
    header = ["NIK", "NO_KK", "NAMA", "TANGGAL_LAHIR", "JENIS_KELAMIN", "ALAMAT", "KELURAHAN", "KECAMATAN",
              "DESIL", "HUBUNGAN_KELUARGA"]
    rows = [
        [HEAD["NIK"], KK, "BUDI SANTOSO", datetime(1980, 1, 1), "L", "JL. KENANGA", "KENALI ASAM BAWAH",
         "KOTA BARU", 2, "KEPALA KELUARGA"],
        [1571015203850001, KK, "SITI AISYAH", "12/03/1985", "P", "JL. KENANGA", "KENALI ASAM BAWAH",
         "KOTA BARU", 2, "ISTRI"],
        [None] * 10,
        [CHILD["NIK"], KK, "RIZKY SANTOSO", "25-07-2010", "L", "JL. KENANGA", "KENALI ASAM BAWAH",
         "KOTA BARU", 2.0, "ANAK"],
    ]
    body = upload(keyed, xlsx_bytes(header, rows), "register.xlsx").json()
    assert body["inserted"] == 2
    assert [(error["line"], error["column"], error["code"]) for error in body["errors"]] == [(3, "NIK", "numeric_cell")]


def test_unreadable_xlsx_is_422(keyed):
    response = upload(keyed, b"PK\x03\x04" + b"\x00" * 100, "broken.xlsx")
    assert response.status_code == 422
    body = response.json()
    assert body["import_id"] is None
    assert body["errors"][0]["code"] == "xlsx_unreadable"
    assert count(keyed, RegisterImport) == 0


def test_missing_column_is_one_error(keyed):
    data = b"NIK,NAMA\r\n1571010101800001,BUDI\r\n"
    response = upload(keyed, data)
    assert response.status_code == 422
    body = response.json()
    assert body["import_id"] is None
    assert [error["code"] for error in body["errors"]] == ["header_missing_columns"]
    assert count(keyed, RegisterImport) == 0


def test_oversized_csv_field_is_422(keyed):
    data = csv_bytes(FAMILY) + b'"' + b"x" * 200_000 + b'"\r\n'
    response = upload(keyed, data)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["code"] == "csv_unreadable"
    assert "field larger than field limit" in error["message_en"]
    assert count(keyed, Resident) == 0


def test_upload_needs_admin(kit):
    response = kit.anonymous.post(IMPORTS, content=csv_bytes(FAMILY))
    assert response.status_code == 401
    assert count(kit, Resident) == 0


def test_import_list(keyed):
    upload(keyed, csv_bytes(FAMILY), "januari.csv")
    upload(keyed, csv_bytes(FAMILY), "februari.csv")
    body = keyed.admin.get(IMPORTS).json()
    assert body["count"] == 2
    assert [item["filename"] for item in body["imports"]] == ["februari.csv", "januari.csv"]
    assert body["imports"][0]["unchanged"] == 3


def test_cli_import(tmp_path, capsys):
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes(FAMILY + [{**ELDER, "NIK": "1.5710E+15"}]))
    key_file = tmp_path / "household.key"
    key_file.write_bytes(HOUSEHOLD_KEY)
    key_file.chmod(0o600)
    database = f"sqlite:///{tmp_path / 'server.db'}"

    status = kartu_main(["--lang", "en", "server", "import-register", str(register), "--db", database,
                         "--household-key", str(key_file)])
    output = capsys.readouterr().out
    assert status == 1
    assert "Register register.csv: 4 rows, 3 new, 0 changed, 0 unchanged, 1 rejected." in output
    assert "line 5: NIK \"1.5710E+15\" was turned into scientific notation" in output

    register.write_bytes(csv_bytes(FAMILY))
    assert kartu_main(["--lang", "en", "server", "import-register", str(register), "--db", database,
                       "--household-key", str(key_file)]) == 0
    assert "3 rows, 0 new, 0 changed, 3 unchanged, 0 rejected." in capsys.readouterr().out


def test_cli_rejects_loose_household_key(tmp_path, capsys):
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes(FAMILY))
    key_file = tmp_path / "household.key"
    key_file.write_bytes(HOUSEHOLD_KEY)
    key_file.chmod(0o644)
    status = kartu_main(["--lang", "en", "server", "import-register", str(register), "--db",
                         f"sqlite:///{tmp_path / 's.db'}", "--household-key", str(key_file)])
    assert status == 2
    assert f"household key {key_file} is readable by others; run 'chmod 600 {key_file}'" in capsys.readouterr().err


def test_cli_missing_file(tmp_path, capsys):
    status = kartu_main(["--lang", "en", "server", "import-register", str(tmp_path / "none.csv"),
                         "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert status == 2
    assert "failed to read" in capsys.readouterr().err


def test_cli_recompute(tmp_path, capsys):
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes(FAMILY))
    database = f"sqlite:///{tmp_path / 'server.db'}"
    assert kartu_main(["server", "import-register", str(register), "--db", database]) == 0
    capsys.readouterr()

    assert kartu_main(["--lang", "en", "server", "recompute-entitlements", "--db", database]) == 0
    assert "0 added, 0 changed, 0 removed" in capsys.readouterr().out


def test_auditor_lists_but_cannot_upload(kit):
    auditor = log_in(kit, "sari", "auditor")
    assert auditor.get(IMPORTS).status_code == 200
    response = auditor.post(IMPORTS, content=csv_bytes(FAMILY), headers={"Content-Type": "text/csv"})
    assert response.status_code == 403
    assert count(kit, Resident) == 0


def test_cli_masks_nik_in_rejected_rows(tmp_path, capsys):
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes(FAMILY + [{**ELDER, "NIK": "3171014101500001"}]))
    status = kartu_main(["--lang", "en", "server", "import-register", str(register), "--db",
                         f"sqlite:///{tmp_path / 's.db'}"])
    output = capsys.readouterr().out
    assert status == 1
    assert "line 5: NIK 317101******0001 does not start with 1571" in output
    assert "3171014101500001" not in output


def test_cli_json_masks_nik(tmp_path, capsys):
    register = tmp_path / "register.csv"
    register.write_bytes(csv_bytes(FAMILY + [{**ELDER, "NIK": "3171014101500001"}]))
    status = kartu_main(["--lang", "en", "server", "import-register", str(register), "--db",
                         f"sqlite:///{tmp_path / 's.db'}", "--json"])
    output = capsys.readouterr().out
    assert status == 1
    errors = json.loads(output)["errors"]
    assert {error["line"] for error in errors} == {5}
    [error] = [error for error in errors if "does not start with 1571" in error["message_en"]]
    assert error["value"] == "317101******0001"
    assert "317101******0001" in error["message_en"]
    assert "3171014101500001" not in output


def test_generated_register_entitles_all_programmes(database_url, tmp_path, capsys):
    register = tmp_path / "register.csv"
    assert kartu_main(["issuance", "generate-register", "--count", "400", "--seed", "2", "--out", str(register)]) == 0
    assert kartu_main(["server", "import-register", str(register), "--db", database_url]) == 0
    capsys.readouterr()

    engine = create_db_engine(database_url)
    with Session(engine) as session:
        counts = dict(session.execute(
            select(Entitlement.program, func.count()).group_by(Entitlement.program)
        ).all())
    engine.dispose()
    for program in ("lpg", "pbi", "lansia", "beasiswa", "bpjstk"):
        assert counts.get(program, 0) > 0, program
