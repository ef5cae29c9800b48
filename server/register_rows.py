"""Checking the rows of a register file on the server.

The field checks are the issuance station's (issuance.register.check_row), so
the station and the server accept the same records. Before them this module
handles what clerks' spreadsheets produce and the station's CSV reader does
not accept:

- birth dates typed as DD-MM-YYYY, DD/MM/YYYY, DD.MM.YYYY or "12 Maret 1985"
  (day first, as Indonesian forms write them), rewritten to YYYY-MM-DD;
- a NIK or NO_KK of 10 to 15 digits, which a spreadsheet that stored it as a
  number has cut short, and an XLSX cell that stores one as a number;
- the optional columns PEKERJAAN (occupation, used by the BPJS
  Ketenagakerjaan programme) and SEKOLAH (school level, used by the
  scholarship).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from issuance import register
from issuance.register import RowError, row_error
from server.register_files import NUMBER_COLUMNS, RegisterTable

__all__ = ["ParsedRow", "CheckedRegister", "SCHOOL_LEVELS", "MAX_OCCUPATION_LENGTH", "check_table"]

OCCUPATION_COLUMN = "PEKERJAAN"
SCHOOL_COLUMN = "SEKOLAH"
MAX_OCCUPATION_LENGTH = 60
SCHOOL_LEVELS = ("SD", "SMP", "SMA", "SMK", "PT")
# Madrasah levels and everyday words for the same school levels.
_SCHOOL_ALIASES = {"MI": "SD", "MTS": "SMP", "MA": "SMA", "KULIAH": "PT", "UNIVERSITAS": "PT"}

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("januari", "jan", "january"),
            ("februari", "feb", "pebruari", "february"),
            ("maret", "mar", "march"),
            ("april", "apr"),
            ("mei", "may"),
            ("juni", "jun", "june"),
            ("juli", "jul", "july"),
            ("agustus", "agu", "agt", "aug", "august"),
            ("september", "sep", "sept"),
            ("oktober", "okt", "oct", "october"),
            ("november", "nov", "nop", "nopember"),
            ("desember", "des", "dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_FIRST_DATE = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_NAMED_MONTH_DATE = re.compile(r"^(\d{1,2})[-\s]+([A-Za-z]+)[-\s]+(\d{4})$")
_SHORT_NUMBER = re.compile(r"^\d{10,15}$")
_DECIMAL_NUMBER = re.compile(r"^\d{16}[.,]0+$")


@dataclass(frozen=True)
class ParsedRow:
    line: int
    resident: register.Resident
    occupation: str | None
    school: str | None


@dataclass(frozen=True)
class CheckedRegister:
    rows: list[ParsedRow]
    errors: list[RowError]
    lines: int
    """Number of non-blank data rows read, accepted or not."""
    header_valid: bool = True
    """False when the header lacks a required column or repeats one, so no row was checked."""


def parse_clerk_date(text: str) -> date | None:
    """Parse a birth date in a format clerks type; return None when it is not one or not a calendar date."""
    text = " ".join(text.split())
    if match := _ISO_DATE.match(text):
        year, month, day = (int(part) for part in match.groups())
    elif match := _DAY_FIRST_DATE.match(text):
        day, month, year = (int(part) for part in match.groups())
    elif match := _NAMED_MONTH_DATE.match(text):
        month = _MONTHS.get(match.group(2).casefold())
        if month is None:
            return None
        day, year = int(match.group(1)), int(match.group(3))
    else:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _check_number_cell(line: int, column: str, values: dict[str, str], table: RegisterTable) -> RowError | None:
    value = values[column]
    if (line, column) in table.numeric_cells or _DECIMAL_NUMBER.match(value):
        return row_error(line, column, value, "numeric_cell")
    if _SHORT_NUMBER.match(value):
        return row_error(line, column, value, "digits_lost", length=len(value))
    return None


def _prepare(line: int, values: dict[str, str], table: RegisterTable) -> list[RowError]:
    """Rewrite clerk input into the station's format and return the errors found on the way."""
    errors = []
    for column in NUMBER_COLUMNS:
        error = _check_number_cell(line, column, values, table)
        if error is not None:
            errors.append(error)
    birth_date = parse_clerk_date(values["TANGGAL_LAHIR"])
    if birth_date is None:
        errors.append(row_error(line, "TANGGAL_LAHIR", values["TANGGAL_LAHIR"], "birth_date_format_clerk"))
    else:
        values["TANGGAL_LAHIR"] = birth_date.isoformat()
    return errors


def _optional_columns(line: int, cells: list[str], extra_index: dict[str, int]) -> tuple[str | None, str | None, list[RowError]]:
    errors = []
    occupation = school = None
    if OCCUPATION_COLUMN in extra_index:
        occupation = " ".join(cells[extra_index[OCCUPATION_COLUMN]].upper().split()) or None
        if occupation and len(occupation) > MAX_OCCUPATION_LENGTH:
            errors.append(row_error(line, OCCUPATION_COLUMN, occupation, "occupation_too_long",
                                    length=len(occupation), maximum=MAX_OCCUPATION_LENGTH))
            occupation = None
    if SCHOOL_COLUMN in extra_index:
        text = " ".join(cells[extra_index[SCHOOL_COLUMN]].upper().split())
        school = _SCHOOL_ALIASES.get(text, text) or None
        if school is not None and school not in SCHOOL_LEVELS:
            errors.append(row_error(line, SCHOOL_COLUMN, text, "school_invalid", choices=", ".join(SCHOOL_LEVELS)))
            school = None
    return occupation, school, errors


def _check_one(
    line: int, cells: list[str], table: RegisterTable, column_index: dict[str, int],
    extra_index: dict[str, int], first_line_of_nik: dict[str, int],
) -> tuple[ParsedRow | None, list[RowError]]:
    values, count_error = register.row_values(line, cells, column_index, len(table.header))
    if count_error is not None:
        return None, [count_error]
    prepare_errors = _prepare(line, values, table)
    resident, check_errors = register.check_row(line, values, first_line_of_nik)
    # One error per cell is enough: the clerk-format checks above explain the cause better.
    flagged = {error.column for error in prepare_errors}
    errors = prepare_errors + [error for error in check_errors if error.column not in flagged]
    occupation, school, optional_errors = _optional_columns(line, cells, extra_index)
    errors.extend(optional_errors)
    if errors:
        return None, errors
    return ParsedRow(line, resident, occupation, school), []


def check_table(table: RegisterTable) -> CheckedRegister:
    """Check every row of the table; a row with any error is left out and each error reported."""
    column_index, header_errors = register.parse_header(table.header)
    if header_errors:
        return CheckedRegister(rows=[], errors=header_errors, lines=len(table.rows), header_valid=False)
    names = [cell.strip().upper() for cell in table.header]
    extra_index = {name: names.index(name) for name in (OCCUPATION_COLUMN, SCHOOL_COLUMN) if name in names}

    rows: list[ParsedRow] = []
    errors: list[RowError] = []
    first_line_of_nik: dict[str, int] = {}
    for line, cells in table.rows:
        parsed, row_errors = _check_one(line, cells, table, column_index, extra_index, first_line_of_nik)
        errors.extend(row_errors)
        if parsed is not None:
            rows.append(parsed)
    return CheckedRegister(rows=rows, errors=errors, lines=len(table.rows))
