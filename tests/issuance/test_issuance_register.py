"""Register CSV import: every validation rule, header and encoding errors, household id."""

import hashlib
import hmac
from datetime import date

import pytest

from card.i18n import translate
from issuance.register import (
    COLUMNS,
    ResidentNotFoundError,
    find_resident,
    household_id,
    read_register,
)
from issuance.register_messages import TEMPLATES

# Three members of one synthetic household in Kenali Asam Bawah, Kota Baru.
WIFE = {
    "NIK": "1571015203850001",  # day 12 + 40: a woman born 12-03-1985
    "NO_KK": "1571011506100001",
    "NAMA": "SITI AISYAH HARAHAP",
    "TANGGAL_LAHIR": "1985-03-12",
    "JENIS_KELAMIN": "P",
    "ALAMAT": "JL. KENANGA NO. 12 RT 007",
    "KELURAHAN": "KENALI ASAM BAWAH",
    "KECAMATAN": "KOTA BARU",
    "DESIL": "2",
    "HUBUNGAN_KELUARGA": "ISTRI",
}
HEAD = {
    **WIFE,
    "NIK": "1571010101800001",
    "NAMA": "BUDI SANTOSO",
    "TANGGAL_LAHIR": "1980-01-01",
    "JENIS_KELAMIN": "L",
    "HUBUNGAN_KELUARGA": "KEPALA KELUARGA",
}
CHILD = {
    **WIFE,
    "NIK": "1571012507100001",
    "NAMA": "RIZKY SANTOSO",
    "TANGGAL_LAHIR": "2010-07-25",
    "JENIS_KELAMIN": "L",
    "HUBUNGAN_KELUARGA": "ANAK",
}


def csv_line(row: dict) -> str:
    return ",".join(f'"{row[column]}"' if "," in row[column] else row[column] for column in COLUMNS)


def write_csv(tmp_path, rows, header=",".join(COLUMNS), encoding="utf-8", name="register.csv"):
    path = tmp_path / name
    text = "\n".join([header, *[csv_line(row) for row in rows]]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def test_valid_rows_are_all_read(tmp_path):
    result = read_register(write_csv(tmp_path, [WIFE, HEAD, CHILD]))

    assert result.errors == []
    assert [resident.nik for resident in result.residents] == [WIFE["NIK"], HEAD["NIK"], CHILD["NIK"]]


def test_resident_fields_are_parsed(tmp_path):
    wife = read_register(write_csv(tmp_path, [WIFE])).residents[0]

    assert wife.nik == "1571015203850001"
    assert wife.kk == "1571011506100001"
    assert wife.name == "SITI AISYAH HARAHAP"
    assert wife.birth_date == date(1985, 3, 12)
    assert wife.sex == "P"
    assert wife.address == "JL. KENANGA NO. 12 RT 007"
    assert wife.kelurahan == "Kenali Asam Bawah"
    assert wife.kelurahan_code == "1571011002"
    assert wife.kecamatan == "Kota Baru"
    assert wife.desil == 2
    assert wife.relationship == "ISTRI"


BAD_VALUES = [
    ("NIK", "157101010180001", "nik_format"),
    ("NIK", "15710101018000A1", "nik_format"),
    ("NIK", "1.57101E+15", "scientific_notation"),
    ("NIK", "1671010101800001", "nik_region"),
    ("NIK", "1571990101800001", "nik_kecamatan"),
    ("NIK", "1571013201800001", "nik_date"),
    ("NIK", "1571010213800001", "nik_date"),
    ("NIK", "1571010201800001", "nik_birth_date_mismatch"),
    ("NIK", "1571010101810001", "nik_birth_date_mismatch"),
    ("NIK", "1571014101800001", "nik_sex_mismatch"),
    ("NIK", "1571010101800000", "nik_serial"),
    ("NO_KK", "15710115061000", "kk_format"),
    ("NO_KK", "1.571011506E+15", "scientific_notation"),
    ("NO_KK", "1671011506100001", "kk_region"),
    ("NO_KK", "1571991506100001", "kk_region"),
    ("NO_KK", "1571011513100001", "kk_date"),
    ("NO_KK", "1571015506100001", "kk_date"),
    ("NO_KK", "1571013002100001", "kk_date"),
    ("NAMA", "", "name_missing"),
    ("NAMA", "A" * 61, "name_too_long"),
    ("NAMA", "BUDI SANTOSO 2", "name_characters"),
    ("TANGGAL_LAHIR", "01-01-1980", "birth_date_format"),
    ("TANGGAL_LAHIR", "1980-02-30", "birth_date_format"),
    ("TANGGAL_LAHIR", "1980-W01-1", "birth_date_format"),
    ("TANGGAL_LAHIR", "2999-01-01", "birth_date_range"),
    ("TANGGAL_LAHIR", "1880-01-01", "birth_date_range"),
    ("JENIS_KELAMIN", "X", "sex_invalid"),
    ("JENIS_KELAMIN", "", "sex_invalid"),
    ("ALAMAT", "", "address_missing"),
    ("KELURAHAN", "ATLANTIS", "kelurahan_unknown"),
    ("KELURAHAN", "1571999001", "kelurahan_unknown"),
    ("KECAMATAN", "ATLANTIS", "kecamatan_unknown"),
    ("KECAMATAN", "JELUTUNG", "kelurahan_kecamatan_mismatch"),
    ("DESIL", "0", "desil_invalid"),
    ("DESIL", "11", "desil_invalid"),
    ("DESIL", "2.5", "desil_invalid"),
    ("DESIL", "", "desil_invalid"),
    ("HUBUNGAN_KELUARGA", "SUAMI", "relationship_invalid"),
]


@pytest.mark.parametrize("column, value, code", BAD_VALUES)
def test_bad_value_reported_and_good_rows_kept(tmp_path, column, value, code):
    path = write_csv(tmp_path, [WIFE, {**HEAD, column: value}, CHILD])

    result = read_register(path)

    assert len(result.errors) == 1, result.errors
    error = result.errors[0]
    assert error.line == 3
    assert error.column == column
    assert error.value == value
    assert error.code == code
    assert [resident.nik for resident in result.residents] == [WIFE["NIK"], CHILD["NIK"]]


@pytest.mark.parametrize("column, value, code", BAD_VALUES)
def test_error_messages_name_value_in_both_languages(tmp_path, column, value, code):
    error = read_register(write_csv(tmp_path, [{**HEAD, column: value}])).errors[0]

    assert error.message_id
    assert error.message_en
    assert error.message_id != error.message_en
    if value and code != "name_too_long":
        assert value in error.message_id
        assert value in error.message_en


def test_error_message_wording_in_both_languages(tmp_path):
    error = read_register(write_csv(tmp_path, [{**HEAD, "DESIL": "0"}])).errors[0]

    assert error.message_id == 'DESIL "0" tidak valid. Isi angka 1 sampai 10 sesuai DTSEN.'
    assert error.message_en == 'Invalid DESIL "0". Enter a whole number from 1 to 10, as in DTSEN.'


@pytest.mark.parametrize("code", sorted(TEMPLATES))
def test_every_message_template_translated(code):
    template = TEMPLATES[code]

    assert translate(template, "id") != template
    assert translate(template, "en") == template


def test_duplicate_nik_reported_on_second_line(tmp_path):
    result = read_register(write_csv(tmp_path, [WIFE, HEAD, WIFE]))

    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.line == 4
    assert error.column == "NIK"
    assert error.code == "nik_duplicate"
    assert "2" in error.message_en
    assert [resident.nik for resident in result.residents] == [WIFE["NIK"], HEAD["NIK"]]


def test_row_with_several_errors_reports_each(tmp_path):
    bad = {**HEAD, "DESIL": "0", "JENIS_KELAMIN": "X", "KELURAHAN": "ATLANTIS"}

    result = read_register(write_csv(tmp_path, [bad]))

    assert {(error.column, error.code) for error in result.errors} == {
        ("DESIL", "desil_invalid"),
        ("JENIS_KELAMIN", "sex_invalid"),
        ("KELURAHAN", "kelurahan_unknown"),
    }
    assert result.residents == []


def test_sixty_character_name_is_accepted(tmp_path):
    name = "MUHAMMAD RIZKY SYAHRUL HIDAYAT KURNIAWAN SAPUTRA NASUTION AB"
    assert len(name) == 60

    result = read_register(write_csv(tmp_path, [{**HEAD, "NAMA": name}]))

    assert result.errors == []
    assert result.residents[0].name == name


def test_values_are_normalised(tmp_path):
    row = {
        **HEAD,
        "NAMA": "  BUDI   SANTOSO ",
        "JENIS_KELAMIN": "l",
        "KELURAHAN": "1571011002",
        "KECAMATAN": "kota baru",
        "HUBUNGAN_KELUARGA": "kepala  keluarga",
    }

    resident = read_register(write_csv(tmp_path, [row])).residents[0]

    assert resident.name == "BUDI SANTOSO"
    assert resident.sex == "L"
    assert resident.kelurahan == "Kenali Asam Bawah"
    assert resident.kecamatan == "Kota Baru"
    assert resident.relationship == "KEPALA KELUARGA"


def test_field_count_mismatch_reported(tmp_path):
    path = tmp_path / "register.csv"
    path.write_text(",".join(COLUMNS) + "\n" + csv_line(WIFE) + "\n" + "1571010101800001,1571011506100001\n")

    result = read_register(path)

    assert [(error.line, error.code) for error in result.errors] == [(3, "field_count")]
    assert len(result.residents) == 1


def test_empty_trailing_cells_and_blank_lines_ignored(tmp_path):
    path = tmp_path / "register.csv"
    lines = [",".join(COLUMNS), csv_line(WIFE) + ",,", "", ",,,,,,,,,", csv_line({**HEAD, "DESIL": "0"})]
    path.write_text("\r\n".join(lines) + "\r\n")

    result = read_register(path)

    assert [resident.nik for resident in result.residents] == [WIFE["NIK"]]
    assert [(error.line, error.code) for error in result.errors] == [(5, "desil_invalid")]


def test_line_number_after_multiline_field(tmp_path):
    path = tmp_path / "register.csv"
    wife = csv_line({**WIFE, "ALAMAT": "X"}).replace(",X,", ',"JL. KENANGA\nRT 007",')
    path.write_text("\n".join([",".join(COLUMNS), wife, csv_line({**HEAD, "DESIL": "0"})]) + "\n")

    result = read_register(path)

    assert result.residents[0].address == "JL. KENANGA\nRT 007"
    assert [(error.line, error.code) for error in result.errors] == [(4, "desil_invalid")]


def test_header_case_order_and_extra_columns_accepted(tmp_path):
    header_columns = ["ID_DTSEN", *reversed(COLUMNS)]
    path = tmp_path / "register.csv"
    header = ",".join(f" {column.lower()} " for column in header_columns)
    row = ",".join(["X123", *[WIFE[column] for column in reversed(COLUMNS)]])
    path.write_text(header + "\n" + row + "\n")

    result = read_register(path)

    assert result.errors == []
    assert result.residents[0].nik == WIFE["NIK"]


def test_missing_columns_are_one_error(tmp_path):
    header = ",".join(column for column in COLUMNS if column not in ("NAMA", "DESIL")) + ",NAMA_LENGKAP"

    result = read_register(write_csv(tmp_path, [], header=header))

    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.line == 1
    assert error.code == "header_missing_columns"
    assert error.column == "NAMA, DESIL"
    assert "NAMA, DESIL" in error.message_id
    assert "NAMA, DESIL" in error.message_en
    assert "NAMA_LENGKAP" in error.message_en
    assert result.residents == []


def test_file_without_header_row_is_one_error(tmp_path):
    path = tmp_path / "register.csv"
    path.write_text(csv_line(WIFE) + "\n" + csv_line(HEAD) + "\n")

    result = read_register(path)

    assert [(error.line, error.code) for error in result.errors] == [(1, "header_missing_columns")]
    assert result.residents == []


def test_empty_file_is_one_error(tmp_path):
    path = tmp_path / "register.csv"
    path.write_bytes(b"")

    result = read_register(path)

    assert [(error.line, error.code) for error in result.errors] == [(1, "header_missing")]


def test_duplicate_header_column_reported(tmp_path):
    result = read_register(write_csv(tmp_path, [WIFE], header=",".join(COLUMNS) + ",DESIL"))

    assert [(error.line, error.column, error.code) for error in result.errors] == [
        (1, "DESIL", "header_duplicate_column")
    ]


def test_utf8_without_bom_keeps_non_ascii_names(tmp_path):
    path = write_csv(tmp_path, [{**WIFE, "NAMA": "SITI NUR'AINI ANDRÉ"}])
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")

    result = read_register(path)

    assert result.errors == []
    assert result.residents[0].name == "SITI NUR'AINI ANDRÉ"


def test_utf8_with_bom_accepted(tmp_path):
    path = write_csv(tmp_path, [WIFE], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    result = read_register(path)

    assert result.errors == []
    assert result.residents[0].nik == WIFE["NIK"]


def test_non_utf8_file_is_one_error(tmp_path):
    path = write_csv(tmp_path, [WIFE, {**HEAD, "NAMA": "ANDRÉ SANTOSO"}], encoding="cp1252")

    result = read_register(path)

    assert len(result.errors) == 1
    error = result.errors[0]
    assert error.code == "encoding_not_utf8"
    assert error.line == 3
    assert error.value == "c9"
    assert "UTF-8" in error.message_id
    assert result.residents == []


def test_find_resident_by_nik(tmp_path):
    residents = read_register(write_csv(tmp_path, [WIFE, HEAD])).residents

    assert find_resident(residents, HEAD["NIK"]).name == "BUDI SANTOSO"
    assert find_resident(residents, f" {WIFE['NIK']} ").name == "SITI AISYAH HARAHAP"


def test_find_resident_unknown_nik_raises(tmp_path):
    residents = read_register(write_csv(tmp_path, [WIFE])).residents

    with pytest.raises(KeyError) as info:
        find_resident(residents, "1571010101800009")

    error = info.value
    assert isinstance(error, ResidentNotFoundError)
    assert error.code == "resident_not_found"
    assert "1571010101800009" in error.message_id
    assert "1571010101800009" in error.message_en
    assert error.message_id.startswith("Penduduk dengan NIK 1571010101800009 tidak ada di register.")
    assert str(error) == error.message_en


def test_household_id_is_truncated_hmac():
    key = bytes(range(32))

    expected = hmac.new(key, b"1571011506100001", hashlib.sha256).digest()[:8]

    assert household_id("1571011506100001", key) == expected
    assert len(household_id("1571011506100001", key)) == 8


def test_household_id_depends_on_key_and_kk():
    key = b"k" * 32

    assert household_id("1571011506100001", key) != household_id("1571011506100002", key)
    assert household_id("1571011506100001", key) != household_id("1571011506100001", b"j" * 32)


@pytest.mark.parametrize(
    "kk, key",
    [("157101150610000", b"k" * 32), ("157101150610000X", b"k" * 32), ("1571011506100001", b"short")],
)
def test_household_id_rejects_bad_input(kk, key):
    with pytest.raises(ValueError):
        household_id(kk, key)
