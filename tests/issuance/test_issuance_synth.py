"""Synthetic register generator and its generate-register command."""

import argparse
import csv
import re
import stat
from collections import Counter
from datetime import date

import pytest

from issuance import regions
from issuance.register import MAX_NAME_LENGTH, read_register
from issuance.synth import (
    DEFAULT_AS_OF, add_commands, generate_register, work_and_school, write_register, write_synthetic_register,
)

ADDRESS = re.compile(r"^JL\. [A-Z ]+ NO\. \d{1,3} RT 0\d\d$")


@pytest.fixture(scope="module")
def register():
    return generate_register(250, seed=11)


def test_generated_rows_pass_read_register(tmp_path, register):
    path = tmp_path / "register.csv"
    write_register(register, path)

    result = read_register(path)

    assert result.errors == []
    assert result.residents == register


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 200, 201])
def test_exact_row_count(count):
    assert len(generate_register(count, seed=3)) == count


def test_negative_count_rejected():
    with pytest.raises(ValueError):
        generate_register(-1, seed=3)


def test_same_seed_same_register():
    assert generate_register(220, seed=5) == generate_register(220, seed=5)


def test_different_seed_different_register():
    assert generate_register(220, seed=5) != generate_register(220, seed=6)


def test_nik_unique(register):
    niks = [resident.nik for resident in register]
    assert len(set(niks)) == len(niks)


def test_nik_structure(register):
    for resident in register:
        nik = resident.nik
        assert re.fullmatch(r"\d{16}", nik), resident
        assert nik[:6] == resident.kelurahan_code[:6], resident
        day = resident.birth_date.day + (40 if resident.sex == "P" else 0)
        expected_date = f"{day:02d}{resident.birth_date.month:02d}{resident.birth_date.year % 100:02d}"
        assert nik[6:12] == expected_date, resident
        assert nik[12:] != "0000", resident


def test_female_nik_day_plus_40(register):
    women = [resident for resident in register if resident.sex == "P"]
    men = [resident for resident in register if resident.sex == "L"]
    assert women and men
    assert all(41 <= int(resident.nik[6:8]) <= 71 for resident in women)
    assert all(1 <= int(resident.nik[6:8]) <= 31 for resident in men)


def test_kk_structure(register):
    for resident in register:
        kk = resident.kk
        assert re.fullmatch(r"\d{16}", kk), resident
        assert regions.kecamatan_by_code(kk[:6]).name == resident.kecamatan
        issued = date(2000 + int(kk[10:12]), int(kk[8:10]), int(kk[6:8]))
        assert issued <= date(2025, 7, 1), resident
        assert kk[12:] != "0000", resident


def test_household_head_and_size(register):
    households = Counter(resident.kk for resident in register)
    heads = Counter(resident.kk for resident in register if resident.relationship == "KEPALA KELUARGA")
    assert set(households.values()) <= {2, 3, 4, 5, 6}
    assert heads == Counter(dict.fromkeys(households, 1))
    assert len(set(households.values())) >= 4


def test_household_members_share_address_and_desil(register):
    by_kk = {}
    for resident in register:
        by_kk.setdefault(resident.kk, set()).add((resident.address, resident.kelurahan_code, resident.desil))
    assert all(len(values) == 1 for values in by_kk.values())


def test_ages_realistic(register):
    as_of = date(2025, 7, 1)
    for resident in register:
        age = (as_of - resident.birth_date).days // 365
        if resident.relationship == "KEPALA KELUARGA":
            assert 25 <= age <= 76, resident
        if resident.relationship == "ANAK":
            assert 0 <= age <= 31, resident


def test_relationships_include_grandparents(register):
    relationships = Counter(resident.relationship for resident in register)
    assert set(relationships) == {"KEPALA KELUARGA", "ISTRI", "ANAK", "FAMILI LAIN"}


def test_desil_weighted_to_poorer_households():
    residents = generate_register(2000, seed=2)
    low = sum(1 for resident in residents if resident.desil <= 5)
    assert low > 0.65 * len(residents)
    assert {resident.desil for resident in residents} == set(range(1, 11))


def test_address_format(register):
    for resident in register:
        assert ADDRESS.match(resident.address), resident.address


def test_register_has_one_name_of_maximum_length():
    for seed in range(5):
        names = [resident.name for resident in generate_register(200, seed=seed)]
        assert max(len(name) for name in names) == MAX_NAME_LENGTH
        assert sum(1 for name in names if len(name) == MAX_NAME_LENGTH) == 1


def test_small_register_has_ordinary_names():
    names = [resident.name for resident in generate_register(50, seed=1)]
    assert max(len(name) for name in names) < 40


def command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kartu")
    parser.add_argument("--lang", choices=["id", "en"], default="id")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def test_generate_register_command(tmp_path, capsys):
    out = tmp_path / "out.csv"

    args = command_parser().parse_args(["generate-register", "--count", "30", "--seed", "4", "--out", str(out)])
    exit_code = args.handler(args)

    assert exit_code == 0
    assert read_register(out).residents == generate_register(30, seed=4)
    assert "30 penduduk sintetis" in capsys.readouterr().out


def test_generate_register_command_in_english(tmp_path, capsys):
    argv = ["--lang", "en", "generate-register", "--count", "5", "--seed", "4", "--out", str(tmp_path / "out.csv")]

    args = command_parser().parse_args(argv)
    args.handler(args)

    assert "Wrote 5 synthetic residents" in capsys.readouterr().out


def test_generate_register_command_rejects_zero_count(tmp_path):
    with pytest.raises(SystemExit):
        command_parser().parse_args(
            ["generate-register", "--count", "0", "--seed", "4", "--out", str(tmp_path / "x.csv")]
        )


def test_generate_register_command_writes_work_and_school(tmp_path):
    out = tmp_path / "out.csv"
    args = command_parser().parse_args(["generate-register", "--count", "300", "--seed", "4", "--out", str(out)])
    assert args.handler(args) == 0

    with open(out, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    occupations = Counter(row["PEKERJAAN"] for row in rows)
    schools = Counter(row["SEKOLAH"] for row in rows if row["SEKOLAH"])
    assert {"KETUA RT", "GURU NGAJI", "PETUGAS KEBERSIHAN"} & set(occupations)
    assert set(schools) <= {"SD", "SMP", "SMA", "SMK", "PT"}
    assert schools["SD"] > 0
    for row in rows:
        if row["SEKOLAH"]:
            assert row["HUBUNGAN_KELUARGA"] == "ANAK"
            assert row["PEKERJAAN"] == "PELAJAR/MAHASISWA"


def test_work_and_school_by_age(register):
    for resident in register:
        occupation, school = work_and_school(resident, seed=11)
        birth = resident.birth_date
        age = DEFAULT_AS_OF.year - birth.year - ((DEFAULT_AS_OF.month, DEFAULT_AS_OF.day) < (birth.month, birth.day))
        if school == "SD":
            assert 7 <= age <= 12
        if age < 6:
            assert (occupation, school) == ("BELUM/TIDAK BEKERJA", "")


def test_register_file_mode_0600(tmp_path, register):
    path = tmp_path / "register.csv"
    path.write_text("old\n")
    path.chmod(0o644)
    write_synthetic_register(register, path, seed=11)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_register(path).residents == register
