"""Checks of the register fields, one function per column or pair of columns.

Each check receives the stripped cell text and a fail callback, calls fail for the
rules the value breaks (some checks stop at the first), and returns the parsed value,
or None when the value cannot be used. issuance.register runs the checks on every row
and turns each fail call into a RowError.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from issuance import regions

__all__ = [
    "MAX_NAME_LENGTH",
    "EARLIEST_BIRTH_DATE",
    "FEMALE_DAY_OFFSET",
    "Fail",
    "check_nik",
    "check_nik_matches_person",
    "check_kk",
    "check_name",
    "check_birth_date",
    "check_sex",
    "check_region",
    "check_desil",
]

MAX_NAME_LENGTH = 60
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
FEMALE_DAY_OFFSET = 40

# Spreadsheets turn a 16-digit number typed into a General cell into e.g. 1.57101E+15.
_SCIENTIFIC_NOTATION = re.compile(r"^\d(?:[.,]\d+)?[eE]\+?\d+$")
_NAME_PUNCTUATION = frozenset(" .,'-")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Callback that records one failed check of the current row, called as
# fail(column, code, **message_params) with a code from issuance.register_messages.
Fail = Callable[..., None]


def _check_sixteen_digits(column: str, value: str, format_code: str, fail: Fail) -> bool:
    if len(value) == 16 and value.isascii() and value.isdigit():
        return True
    if _SCIENTIFIC_NOTATION.match(value):
        fail(column, "scientific_notation")
    else:
        fail(column, format_code)
    return False


def check_nik(value: str, fail: Fail) -> str | None:
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


def check_nik_matches_person(nik: str, birth_date: date, sex: str, fail: Fail) -> None:
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


def check_kk(value: str, fail: Fail) -> str | None:
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


def check_name(value: str, fail: Fail) -> str | None:
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


def check_birth_date(value: str, fail: Fail) -> date | None:
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


def check_sex(value: str, fail: Fail) -> str | None:
    sex = value.upper()
    if sex in ("L", "P"):
        return sex
    fail("JENIS_KELAMIN", "sex_invalid")
    return None


def check_region(kelurahan_value: str, kecamatan_value: str, fail: Fail) -> regions.Kelurahan | None:
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


def check_desil(value: str, fail: Fail) -> int | None:
    if value.isascii() and value.isdigit() and 1 <= int(value) <= 10:
        return int(value)
    fail("DESIL", "desil_invalid")
    return None
