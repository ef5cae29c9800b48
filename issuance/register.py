"""Import of the social-welfare register (a DTSEN-like CSV export) and the household id.

File layout: UTF-8 (with or without the byte-order mark that Excel writes), comma
separated, fields quoted as in RFC 4180, one header row, then one resident per row.
Header names are matched ignoring case and surrounding spaces, columns may come in any
order, and extra columns are ignored.

    NIK                16 digits: kecamatan code (6), birth date DDMMYY with 40 added
                       to the day for women, serial (4, not 0000)
    NO_KK              16 digits: kecamatan code (6), KK issue date DDMMYY, serial (4)
    NAMA               full name as printed on the card, 1-60 characters
    TANGGAL_LAHIR      birth date, YYYY-MM-DD
    JENIS_KELAMIN      L (laki-laki) or P (perempuan)
    ALAMAT             street address with RT, e.g. JL. KENANGA NO. 12 RT 007
    KELURAHAN          kelurahan name, or its 10-digit code
    KECAMATAN          kecamatan name, or its 6-digit code
    DESIL              DTSEN desil 1-10 (1 is the poorest tenth of households)
    HUBUNGAN_KELUARGA  KEPALA KELUARGA, ISTRI, ANAK or FAMILI LAIN

Every row is checked, every failed check becomes one RowError, and a row with any error
is left out of the result while the valid rows are still returned. Line numbers count
physical lines from 1, the header being line 1. A row whose quoted field spans several
lines is reported at the line where the row starts.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from issuance import regions

__all__ = [
    "COLUMNS",
    "RELATIONSHIPS",
    "MAX_NAME_LENGTH",
    "Resident",
    "RowError",
    "RegisterReadResult",
    "ResidentNotFoundError",
    "read_register",
    "write_register",
    "find_resident",
    "household_id",
]

logger = logging.getLogger(__name__)

COLUMNS = (
    "NIK",
    "NO_KK",
    "NAMA",
    "TANGGAL_LAHIR",
    "JENIS_KELAMIN",
    "ALAMAT",
    "KELURAHAN",
    "KECAMATAN",
    "DESIL",
    "HUBUNGAN_KELUARGA",
)
RELATIONSHIPS = ("KEPALA KELUARGA", "ISTRI", "ANAK", "FAMILI LAIN")
MAX_NAME_LENGTH = 60
HOUSEHOLD_ID_SIZE = 8
MIN_HOUSEHOLD_KEY_SIZE = 16
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
FEMALE_DAY_OFFSET = 40

# Spreadsheets turn a 16-digit number typed into a General cell into e.g. 1.57101E+15.
_SCIENTIFIC_NOTATION = re.compile(r"^\d(?:[.,]\d+)?[eE]\+?\d+$")
_NAME_PUNCTUATION = frozenset(" .,'-")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Records one RowError for a column of the current row: fail(column, code, **message_params).
_Fail = Callable[..., None]


@dataclass(frozen=True)
class Resident:
    nik: str
    kk: str
    name: str
    birth_date: date
    sex: str  # "L" or "P"
    address: str
    kelurahan: str
    kelurahan_code: str
    kecamatan: str
    desil: int
    relationship: str


@dataclass(frozen=True)
class RowError:
    """One failed check: where it is, the offending value, and what the clerk should do."""

    line: int
    column: str
    value: str
    code: str
    message_id: str
    message_en: str


@dataclass(frozen=True)
class RegisterReadResult:
    residents: list[Resident]
    errors: list[RowError]


# Error code -> (Bahasa Indonesia, English) message templates.
_MESSAGES: dict[str, tuple[str, str]] = {
    "encoding_not_utf8": (
        "File bukan UTF-8: ada byte tidak valid di baris {line}. Simpan ulang file sebagai \"CSV UTF-8\", lalu impor lagi.",
        "The file is not UTF-8: line {line} contains an invalid byte. Save the file again as \"CSV UTF-8\" and import it again.",
    ),
    "header_missing": (
        "File kosong. Baris pertama harus berisi judul kolom: {columns}.",
        "The file is empty. Its first line must contain the column names: {columns}.",
    ),
    "header_missing_columns": (
        "Kolom wajib tidak ada di baris judul: {missing}. Kolom lain di file: {unknown}. Perbaiki baris pertama, lalu impor lagi.",
        "Required columns are missing from the header: {missing}. Other columns in the file: {unknown}. Fix the first line and import again.",
    ),
    "header_duplicate_column": (
        "Kolom {value} muncul lebih dari sekali di baris judul. Hapus kolom gandanya, lalu impor lagi.",
        "Column {value} appears more than once in the header. Remove the duplicate column and import again.",
    ),
    "field_count": (
        "Baris ini berisi {found} kolom, padahal baris judul berisi {expected}. Periksa koma dan tanda kutip di baris ini.",
        "This row has {found} fields but the header has {expected}. Check the commas and quotes on this row.",
    ),
    "scientific_notation": (
        "{column} \"{value}\" sudah diubah spreadsheet menjadi angka eksponen. Format kolom {column} sebagai Teks, ketik ulang angkanya, lalu ekspor lagi.",
        "{column} \"{value}\" was turned into scientific notation by a spreadsheet. Format the {column} column as Text, re-enter the number and export again.",
    ),
    "nik_format": (
        "NIK \"{value}\" tidak valid: NIK harus 16 angka. Salin NIK dari KTP atau KK.",
        "Invalid NIK \"{value}\": a NIK is exactly 16 digits. Copy it from the KTP or KK.",
    ),
    "nik_region": (
        "NIK {value} tidak diawali 1571 (Kota Jambi). Hanya penduduk dengan NIK Kota Jambi yang dapat didaftarkan. Periksa NIK di KTP.",
        "NIK {value} does not start with 1571 (Kota Jambi). Only residents with a Kota Jambi NIK can be registered. Check the NIK on the KTP.",
    ),
    "nik_kecamatan": (
        "Kode kecamatan {region} di NIK {value} tidak ada di Kota Jambi. Periksa digit 1-6 NIK di KTP.",
        "Kecamatan code {region} in NIK {value} does not exist in Kota Jambi. Check digits 1-6 of the NIK on the KTP.",
    ),
    "nik_date": (
        "Digit 7-12 NIK {value} ({digits}) bukan tanggal lahir yang valid. Periksa NIK di KTP.",
        "Digits 7-12 of NIK {value} ({digits}) are not a valid birth date. Check the NIK on the KTP.",
    ),
    "nik_birth_date_mismatch": (
        "Tanggal lahir di NIK {value} ({digits}) tidak sama dengan TANGGAL_LAHIR {birth_date}. Periksa keduanya di KTP.",
        "The birth date in NIK {value} ({digits}) does not match TANGGAL_LAHIR {birth_date}. Check both on the KTP.",
    ),
    "nik_sex_mismatch": (
        "NIK {value} adalah NIK jenis kelamin {nik_sex} (untuk perempuan, tanggal lahir di NIK ditambah 40), tetapi JENIS_KELAMIN berisi {sex}. Periksa keduanya di KTP.",
        "NIK {value} belongs to sex {nik_sex} (for women, 40 is added to the day in the NIK), but JENIS_KELAMIN is {sex}. Check both on the KTP.",
    ),
    "nik_serial": (
        "Nomor urut NIK {value} (4 digit terakhir) tidak boleh 0000. Periksa NIK di KTP.",
        "The serial of NIK {value} (last 4 digits) must not be 0000. Check the NIK on the KTP.",
    ),
    "nik_duplicate": (
        "NIK {value} sudah ada di baris {first_line}. Hapus baris gandanya atau perbaiki NIK-nya.",
        "NIK {value} already appears on line {first_line}. Remove the duplicate row or correct the NIK.",
    ),
    "kk_format": (
        "NO_KK \"{value}\" tidak valid: nomor KK harus 16 angka. Salin nomor dari Kartu Keluarga.",
        "Invalid NO_KK \"{value}\": a KK number is exactly 16 digits. Copy it from the Kartu Keluarga.",
    ),
    "kk_region": (
        "NO_KK {value} bukan KK Kota Jambi: 6 digit pertama harus kode kecamatan Kota Jambi (1571xx). Periksa Kartu Keluarga.",
        "NO_KK {value} is not a Kota Jambi KK: its first 6 digits must be a Kota Jambi kecamatan code (1571xx). Check the Kartu Keluarga.",
    ),
    "kk_date": (
        "Digit 7-12 NO_KK {value} ({digits}) bukan tanggal terbit KK yang valid. Periksa Kartu Keluarga.",
        "Digits 7-12 of NO_KK {value} ({digits}) are not a valid KK issue date. Check the Kartu Keluarga.",
    ),
    "name_missing": (
        "NAMA kosong. Isi nama lengkap seperti di KTP.",
        "NAMA is empty. Enter the full name as on the KTP.",
    ),
    "name_too_long": (
        "NAMA berisi {length} karakter, padahal maksimal {maximum}. Singkat nama tengah seperti di KTP.",
        "NAMA has {length} characters but at most {maximum} fit on the card. Abbreviate middle names as on the KTP.",
    ),
    "name_characters": (
        "NAMA \"{value}\" berisi karakter tidak diizinkan: {characters}. Gunakan huruf, spasi, titik, koma, apostrof atau tanda hubung.",
        "NAMA \"{value}\" contains characters that are not allowed: {characters}. Use letters, spaces, full stops, commas, apostrophes or hyphens.",
    ),
    "birth_date_format": (
        "TANGGAL_LAHIR \"{value}\" tidak valid. Gunakan format TTTT-BB-HH, misalnya 1985-03-12.",
        "Invalid TANGGAL_LAHIR \"{value}\". Use the format YYYY-MM-DD, for example 1985-03-12.",
    ),
    "birth_date_range": (
        "TANGGAL_LAHIR {value} di luar rentang yang mungkin ({earliest} sampai hari ini). Periksa tanggal di KTP.",
        "TANGGAL_LAHIR {value} is outside the possible range ({earliest} to today). Check the date on the KTP.",
    ),
    "sex_invalid": (
        "JENIS_KELAMIN \"{value}\" tidak valid. Isi L (laki-laki) atau P (perempuan).",
        "Invalid JENIS_KELAMIN \"{value}\". Enter L (laki-laki, male) or P (perempuan, female).",
    ),
    "address_missing": (
        "ALAMAT kosong. Isi alamat dengan RT, misalnya JL. KENANGA NO. 12 RT 007.",
        "ALAMAT is empty. Enter the address with its RT, for example JL. KENANGA NO. 12 RT 007.",
    ),
    "kelurahan_unknown": (
        "Kelurahan \"{value}\" tidak ada di Kota Jambi. Periksa ejaan nama kelurahan.",
        "Kelurahan \"{value}\" does not exist in Kota Jambi. Check the spelling of the kelurahan name.",
    ),
    "kecamatan_unknown": (
        "Kecamatan \"{value}\" tidak ada di Kota Jambi. Periksa ejaan nama kecamatan.",
        "Kecamatan \"{value}\" does not exist in Kota Jambi. Check the spelling of the kecamatan name.",
    ),
    "kelurahan_kecamatan_mismatch": (
        "Kelurahan {kelurahan} termasuk Kecamatan {expected}, bukan {value}. Perbaiki KELURAHAN atau KECAMATAN.",
        "Kelurahan {kelurahan} is in Kecamatan {expected}, not {value}. Correct KELURAHAN or KECAMATAN.",
    ),
    "desil_invalid": (
        "DESIL \"{value}\" tidak valid. Isi angka 1 sampai 10 sesuai DTSEN.",
        "Invalid DESIL \"{value}\". Enter a whole number from 1 to 10, as in DTSEN.",
    ),
    "relationship_invalid": (
        "HUBUNGAN_KELUARGA \"{value}\" tidak valid. Isi salah satu: {choices}.",
        "Invalid HUBUNGAN_KELUARGA \"{value}\". Enter one of: {choices}.",
    ),
    "resident_not_found": (
        "Penduduk dengan NIK {value} tidak ada di register. Periksa NIK atau impor register terbaru.",
        "No resident with NIK {value} is in the register. Check the NIK or import the latest register.",
    ),
}


def _row_error(line: int, column: str, value: str, code: str, **params: object) -> RowError:
    template_id, template_en = _MESSAGES[code]
    params = {"line": line, "column": column, "value": value, **params}
    return RowError(line, column, value, code, template_id.format(**params), template_en.format(**params))


class ResidentNotFoundError(KeyError):
    """No resident in the register has the requested NIK."""

    def __init__(self, nik: str) -> None:
        super().__init__(nik)
        self.nik = nik
        self.code = "resident_not_found"
        self.message_id, self.message_en = (text.format(value=nik) for text in _MESSAGES[self.code])

    def __str__(self) -> str:
        return self.message_en


def find_resident(residents: Iterable[Resident], nik: str) -> Resident:
    """Return the resident with the NIK (surrounding spaces ignored), or raise ResidentNotFoundError."""
    requested = nik.strip()
    for resident in residents:
        if resident.nik == requested:
            return resident
    raise ResidentNotFoundError(requested)


def household_id(kk: str, key: bytes) -> bytes:
    """Derive the 8-byte pseudonymous household id: the first 8 bytes of HMAC-SHA256(key, KK number).

    The key must stay secret and be at least 16 bytes, because KK numbers are few and
    structured enough that anyone could hash them all to undo a public or short key.
    """
    if len(kk) != 16 or not (kk.isascii() and kk.isdigit()):
        raise ValueError(f"KK number must be 16 digits, got {kk!r}")
    if len(key) < MIN_HOUSEHOLD_KEY_SIZE:
        raise ValueError(f"household key must be at least {MIN_HOUSEHOLD_KEY_SIZE} bytes, got {len(key)}")
    return hmac.new(key, kk.encode("ascii"), hashlib.sha256).digest()[:HOUSEHOLD_ID_SIZE]


def write_register(residents: Iterable[Resident], path: str | Path) -> None:
    """Write residents as a register CSV in the layout above (UTF-8 without BOM, CRLF line ends)."""
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for resident in residents:
            writer.writerow(
                [
                    resident.nik,
                    resident.kk,
                    resident.name,
                    resident.birth_date.isoformat(),
                    resident.sex,
                    resident.address,
                    resident.kelurahan.upper(),
                    resident.kecamatan.upper(),
                    str(resident.desil),
                    resident.relationship,
                ]
            )


def read_register(path: str | Path) -> RegisterReadResult:
    """Read and check a register CSV. OSError (such as a missing file) propagates."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad_bytes = raw[exc.start : exc.end].hex(" ")
        return RegisterReadResult([], [_row_error(line, "", bad_bytes, "encoding_not_utf8")])

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return RegisterReadResult([], [_row_error(1, "", "", "header_missing", columns=",".join(COLUMNS))])
    column_index, header_errors = _parse_header(header)
    if header_errors:
        return RegisterReadResult([], header_errors)

    residents: list[Resident] = []
    errors: list[RowError] = []
    first_line_of_nik: dict[str, int] = {}
    while True:
        line = reader.line_num + 1
        row = next(reader, None)
        if row is None:
            break
        if not any(cell.strip() for cell in row):
            continue
        values, count_error = _row_values(line, row, column_index, len(header))
        if count_error is not None:
            errors.append(count_error)
            continue
        resident, row_errors = _check_row(line, values, first_line_of_nik)
        errors.extend(row_errors)
        if resident is not None:
            residents.append(resident)

    logger.info("read register %s: %d residents accepted, %d errors", path, len(residents), len(errors))
    return RegisterReadResult(residents, errors)


def _parse_header(header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    names = [cell.strip().upper() for cell in header]
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    errors = [_row_error(1, name, name, "header_duplicate_column") for name in duplicates]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        unknown = [cell for cell, name in zip(header, names) if name not in COLUMNS]
        errors.append(
            _row_error(
                1,
                ", ".join(missing),
                ",".join(header),
                "header_missing_columns",
                missing=", ".join(missing),
                unknown=", ".join(unknown) or "-",
            )
        )
    return {name: names.index(name) for name in COLUMNS if name in names}, errors


def _row_values(
    line: int, row: list[str], column_index: dict[str, int], header_size: int
) -> tuple[dict[str, str], RowError | None]:
    # Excel pads rows with empty trailing cells, which are harmless.
    found = len(row)
    if found < header_size or any(cell.strip() for cell in row[header_size:]):
        return {}, _row_error(line, "", ",".join(row), "field_count", found=found, expected=header_size)
    return {column: row[index].strip() for column, index in column_index.items()}, None


def _check_row(
    line: int, values: dict[str, str], first_line_of_nik: dict[str, int]
) -> tuple[Resident | None, list[RowError]]:
    errors: list[RowError] = []

    def fail(column: str, code: str, **params: object) -> None:
        errors.append(_row_error(line, column, values[column], code, **params))

    nik = _check_nik(values["NIK"], fail)
    kk = _check_kk(values["NO_KK"], fail)
    name = _check_name(values["NAMA"], fail)
    birth_date = _check_birth_date(values["TANGGAL_LAHIR"], fail)
    sex = _check_sex(values["JENIS_KELAMIN"], fail)
    if not values["ALAMAT"]:
        fail("ALAMAT", "address_missing")
    kelurahan = _check_region(values["KELURAHAN"], values["KECAMATAN"], fail)
    desil = _check_desil(values["DESIL"], fail)
    relationship = " ".join(values["HUBUNGAN_KELUARGA"].upper().split())
    if relationship not in RELATIONSHIPS:
        fail("HUBUNGAN_KELUARGA", "relationship_invalid", choices=", ".join(RELATIONSHIPS))

    if nik is not None:
        if nik in first_line_of_nik:
            fail("NIK", "nik_duplicate", first_line=first_line_of_nik[nik])
        else:
            first_line_of_nik[nik] = line
        if birth_date is not None and sex is not None:
            _check_nik_matches_person(values["NIK"], birth_date, sex, fail)

    if errors:
        return None, errors
    return (
        Resident(
            nik=nik,
            kk=kk,
            name=name,
            birth_date=birth_date,
            sex=sex,
            address=values["ALAMAT"],
            kelurahan=kelurahan.name,
            kelurahan_code=kelurahan.code,
            kecamatan=kelurahan.kecamatan.name,
            desil=desil,
            relationship=relationship,
        ),
        [],
    )


def _check_sixteen_digits(column: str, value: str, format_code: str, fail: _Fail) -> bool:
    if len(value) == 16 and value.isascii() and value.isdigit():
        return True
    if _SCIENTIFIC_NOTATION.match(value):
        fail(column, "scientific_notation")
    else:
        fail(column, format_code)
    return False


def _check_nik(value: str, fail: _Fail) -> str | None:
    """Return the NIK if it is 16 digits, even when its region, date or serial is invalid, for the duplicate check."""
    if not _check_sixteen_digits("NIK", value, "nik_format", fail):
        return None
    if not value.startswith(regions.CITY_CODE):
        fail("NIK", "nik_region")
    elif not _is_kecamatan_code(value[:6]):
        fail("NIK", "nik_kecamatan", region=value[:6])
    if _ddmmyy_to_day_month_year(value[6:12], allow_female_offset=True) is None:
        fail("NIK", "nik_date", digits=value[6:12])
    if value[12:] == "0000":
        fail("NIK", "nik_serial")
    return value


def _check_nik_matches_person(nik: str, birth_date: date, sex: str, fail: _Fail) -> None:
    parsed = _ddmmyy_to_day_month_year(nik[6:12], allow_female_offset=True)
    if parsed is None:
        return
    day, month, short_year = parsed
    raw_day = int(nik[6:8])
    if (day, month, short_year) != (birth_date.day, birth_date.month, birth_date.year % 100):
        fail("NIK", "nik_birth_date_mismatch", digits=nik[6:12], birth_date=birth_date.isoformat())
        return
    nik_sex = "P" if raw_day > FEMALE_DAY_OFFSET else "L"
    if nik_sex != sex:
        fail("NIK", "nik_sex_mismatch", nik_sex=nik_sex, sex=sex)


def _check_kk(value: str, fail: _Fail) -> str | None:
    if not _check_sixteen_digits("NO_KK", value, "kk_format", fail):
        return None
    valid = True
    if not _is_kecamatan_code(value[:6]):
        fail("NO_KK", "kk_region")
        valid = False
    if _ddmmyy_to_day_month_year(value[6:12], allow_female_offset=False) is None:
        fail("NO_KK", "kk_date", digits=value[6:12])
        valid = False
    return value if valid else None


def _ddmmyy_to_day_month_year(digits: str, *, allow_female_offset: bool) -> tuple[int, int, int] | None:
    """Return (day, month, two-digit year) if DDMMYY is a calendar date in 19YY or 20YY."""
    day, month, short_year = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    if allow_female_offset and day > FEMALE_DAY_OFFSET:
        day -= FEMALE_DAY_OFFSET
    for century in (2000, 1900):
        try:
            date(century + short_year, month, day)
        except ValueError:
            continue
        return day, month, short_year
    return None


def _is_kecamatan_code(code: str) -> bool:
    try:
        regions.kecamatan_by_code(code)
    except regions.RegionNotFoundError:
        return False
    return True


def _check_name(value: str, fail: _Fail) -> str | None:
    name = " ".join(value.split())
    if not name:
        fail("NAMA", "name_missing")
        return None
    bad_characters = sorted({char for char in name if not (char.isalpha() or char in _NAME_PUNCTUATION)})
    if bad_characters:
        fail("NAMA", "name_characters", characters=" ".join(bad_characters))
        return None
    if len(name) > MAX_NAME_LENGTH:
        fail("NAMA", "name_too_long", length=len(name), maximum=MAX_NAME_LENGTH)
        return None
    return name


def _check_birth_date(value: str, fail: _Fail) -> date | None:
    try:
        if not _ISO_DATE.match(value):
            raise ValueError(value)
        birth_date = date.fromisoformat(value)
    except ValueError:
        fail("TANGGAL_LAHIR", "birth_date_format")
        return None
    if not EARLIEST_BIRTH_DATE <= birth_date <= date.today():
        fail("TANGGAL_LAHIR", "birth_date_range", earliest=EARLIEST_BIRTH_DATE.isoformat())
        return None
    return birth_date


def _check_sex(value: str, fail: _Fail) -> str | None:
    sex = value.upper()
    if sex in ("L", "P"):
        return sex
    fail("JENIS_KELAMIN", "sex_invalid")
    return None


def _check_region(kelurahan_value: str, kecamatan_value: str, fail: _Fail) -> regions.Kelurahan | None:
    kelurahan = kecamatan = None
    try:
        if kelurahan_value.isdigit():
            kelurahan = regions.kelurahan_by_code(kelurahan_value)
        else:
            kelurahan = regions.kelurahan_by_name(kelurahan_value)
    except regions.RegionNotFoundError:
        fail("KELURAHAN", "kelurahan_unknown")
    try:
        if kecamatan_value.isdigit():
            kecamatan = regions.kecamatan_by_code(kecamatan_value)
        else:
            kecamatan = regions.kecamatan_by_name(kecamatan_value)
    except regions.RegionNotFoundError:
        fail("KECAMATAN", "kecamatan_unknown")
    if kelurahan is None or kecamatan is None:
        return None
    if kelurahan.kecamatan_code != kecamatan.code:
        fail("KECAMATAN", "kelurahan_kecamatan_mismatch", kelurahan=kelurahan.name, expected=kelurahan.kecamatan.name)
        return None
    return kelurahan


def _check_desil(value: str, fail: _Fail) -> int | None:
    if value.isascii() and value.isdigit() and 1 <= int(value) <= 10:
        return int(value)
    fail("DESIL", "desil_invalid")
    return None
