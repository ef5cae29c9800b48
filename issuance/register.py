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
lines is reported at the line where the row starts. The field checks are in
issuance.register_checks and the error message templates in issuance.register_messages.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from card.i18n import translate
from issuance.register_checks import (
    MAX_NAME_LENGTH,
    check_birth_date,
    check_desil,
    check_kk,
    check_name,
    check_nik,
    check_nik_matches_person,
    check_region,
    check_sex,
)
from issuance.register_messages import TEMPLATES

__all__ = [
    "COLUMNS",
    "RELATIONSHIPS",
    "MAX_NAME_LENGTH",
    "Resident",
    "RowError",
    "RegisterReadResult",
    "ResidentNotFoundError",
    "read_register",
    "parse_header",
    "row_values",
    "check_row",
    "row_error",
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
HOUSEHOLD_ID_SIZE = 8
MIN_HOUSEHOLD_KEY_SIZE = 16


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
    message_id: str  # Bahasa Indonesia text ("id" is the language code, not a gettext msgid)
    message_en: str


@dataclass(frozen=True)
class RegisterReadResult:
    residents: list[Resident]
    errors: list[RowError]


def row_error(line: int, column: str, value: str, code: str, **params: object) -> RowError:
    """Build the RowError for code, with its message in Bahasa Indonesia and English."""
    template = TEMPLATES[code]
    params = {"line": line, "column": column, "value": value, **params}
    message_id = translate(template, "id", **params)
    message_en = translate(template, "en", **params)
    return RowError(line, column, value, code, message_id, message_en)


class ResidentNotFoundError(KeyError):
    """No resident in the register has the requested NIK."""

    def __init__(self, nik: str) -> None:
        super().__init__(nik)
        self.nik = nik
        self.code = "resident_not_found"
        self.message_id = translate(TEMPLATES[self.code], "id", value=nik)
        self.message_en = translate(TEMPLATES[self.code], "en", value=nik)

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


def write_register(
    residents: Iterable[Resident], path: str | Path, *, extra_columns: Sequence[str] = (),
    extra_cells: Callable[[Resident], Sequence[str]] | None = None,
) -> None:
    """Write residents as a register CSV in the layout above (UTF-8 without BOM, CRLF line ends).

    extra_columns are appended to the header and extra_cells(resident)
    returns their cells for each row. The file gets mode 0600, also when it
    existed before, because it contains NIKs.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with open(descriptor, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([*COLUMNS, *extra_columns])
        for resident in residents:
            extra = list(extra_cells(resident)) if extra_cells is not None else []
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
                    *extra,
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
        return RegisterReadResult([], [row_error(line, "", bad_bytes, "encoding_not_utf8")])

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return RegisterReadResult([], [row_error(1, "", "", "header_missing", columns=",".join(COLUMNS))])
    column_index, header_errors = parse_header(header)
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
        values, count_error = row_values(line, row, column_index, len(header))
        if count_error is not None:
            errors.append(count_error)
            continue
        resident, row_errors = check_row(line, values, first_line_of_nik)
        errors.extend(row_errors)
        if resident is not None:
            residents.append(resident)

    logger.info("read register %s: %d residents accepted, %d errors", path, len(residents), len(errors))
    return RegisterReadResult(residents, errors)


def parse_header(header: list[str]) -> tuple[dict[str, int], list[RowError]]:
    """Return the index of each required column in the header row, and the header errors."""
    names = [cell.strip().upper() for cell in header]
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    errors = [row_error(1, name, name, "header_duplicate_column") for name in duplicates]
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        unknown = [cell for cell, name in zip(header, names) if name not in COLUMNS]
        errors.append(
            row_error(
                1,
                ", ".join(missing),
                ",".join(header),
                "header_missing_columns",
                missing=", ".join(missing),
                unknown=", ".join(unknown) or "-",
            )
        )
    return {name: names.index(name) for name in COLUMNS if name in names}, errors


def row_values(
    line: int, row: list[str], column_index: dict[str, int], header_size: int
) -> tuple[dict[str, str], RowError | None]:
    """Return the stripped cells of a row by column name, or a field-count error."""
    # Excel pads rows with empty trailing cells, which are harmless.
    found = len(row)
    if found < header_size or any(cell.strip() for cell in row[header_size:]):
        return {}, row_error(line, "", ",".join(row), "field_count", found=found, expected=header_size)
    return {column: row[index].strip() for column, index in column_index.items()}, None


def check_row(
    line: int, values: dict[str, str], first_line_of_nik: dict[str, int]
) -> tuple[Resident | None, list[RowError]]:
    """Check every column of one row; first_line_of_nik maps each NIK seen so far to its line."""
    errors: list[RowError] = []

    def fail(column: str, code: str, **params: object) -> None:
        errors.append(row_error(line, column, values[column], code, **params))

    nik = check_nik(values["NIK"], fail)
    kk = check_kk(values["NO_KK"], fail)
    name = check_name(values["NAMA"], fail)
    birth_date = check_birth_date(values["TANGGAL_LAHIR"], fail)
    sex = check_sex(values["JENIS_KELAMIN"], fail)
    if not values["ALAMAT"]:
        fail("ALAMAT", "address_missing")
    kelurahan = check_region(values["KELURAHAN"], values["KECAMATAN"], fail)
    desil = check_desil(values["DESIL"], fail)
    relationship = " ".join(values["HUBUNGAN_KELUARGA"].upper().split())
    if relationship not in RELATIONSHIPS:
        fail("HUBUNGAN_KELUARGA", "relationship_invalid", choices=", ".join(RELATIONSHIPS))

    if nik is not None:
        if nik in first_line_of_nik:
            fail("NIK", "nik_duplicate", first_line=first_line_of_nik[nik])
        else:
            first_line_of_nik[nik] = line
        if birth_date is not None and sex is not None:
            check_nik_matches_person(values["NIK"], birth_date, sex, fail)

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


