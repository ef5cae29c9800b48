"""Message templates for the register import errors, one per error code.

Each template is an English source string marked with N_() for the gettext catalogue.
card.i18n.translate turns it into Bahasa Indonesia or English and fills in the
{named} parameters. Every RowError passes line, column and value, and
ResidentNotFoundError passes value, plus the other names in each template.
"""

from __future__ import annotations

from card.i18n import N_

__all__ = ["TEMPLATES"]

# Error code (RowError.code, ResidentNotFoundError.code) -> English message template.
TEMPLATES: dict[str, str] = {
    "encoding_not_utf8": N_(
        "The file is not UTF-8: line {line} contains an invalid byte. Save the file again as \"CSV UTF-8\" and import it again."
    ),
    "header_missing": N_(
        "The file is empty. Its first line must contain the column names: {columns}."
    ),
    "header_missing_columns": N_(
        "Required columns are missing from the header: {missing}. Other columns in the file: {unknown}. Fix the first line and import again."
    ),
    "header_duplicate_column": N_(
        "Column {value} appears more than once in the header. Remove the duplicate column and import again."
    ),
    "field_count": N_(
        "This row has {found} fields but the header has {expected}. Check the commas and quotes on this row."
    ),
    "scientific_notation": N_(
        "{column} \"{value}\" was turned into scientific notation by a spreadsheet. Format the {column} column as Text, re-enter the number and export again."
    ),
    "nik_format": N_(
        "Invalid NIK \"{value}\": a NIK is exactly 16 digits. Copy it from the KTP or KK."
    ),
    "nik_region": N_(
        "NIK {value} does not start with 1571 (Kota Jambi). Only residents with a Kota Jambi NIK can be registered. Check the NIK on the KTP."
    ),
    "nik_kecamatan": N_(
        "Kecamatan code {region} in NIK {value} does not exist in Kota Jambi. Check digits 1-6 of the NIK on the KTP."
    ),
    "nik_date": N_(
        "Digits 7-12 of NIK {value} ({digits}) are not a valid birth date. Check the NIK on the KTP."
    ),
    "nik_birth_date_mismatch": N_(
        "The birth date in NIK {value} ({digits}) does not match TANGGAL_LAHIR {birth_date}. Check both on the KTP."
    ),
    "nik_sex_mismatch": N_(
        "NIK {value} belongs to sex {nik_sex} (for women, 40 is added to the day in the NIK), but JENIS_KELAMIN is {sex}. Check both on the KTP."
    ),
    "nik_serial": N_(
        "The serial of NIK {value} (last 4 digits) must not be 0000. Check the NIK on the KTP."
    ),
    "nik_duplicate": N_(
        "NIK {value} already appears on line {first_line}. Remove the duplicate row or correct the NIK."
    ),
    "kk_format": N_(
        "Invalid NO_KK \"{value}\": a KK number is exactly 16 digits. Copy it from the Kartu Keluarga."
    ),
    "kk_region": N_(
        "NO_KK {value} is not a Kota Jambi KK: its first 6 digits must be a Kota Jambi kecamatan code (1571xx). Check the Kartu Keluarga."
    ),
    "kk_date": N_(
        "Digits 7-12 of NO_KK {value} ({digits}) are not a valid KK issue date. Check the Kartu Keluarga."
    ),
    "name_missing": N_(
        "NAMA is empty. Enter the full name as on the KTP."
    ),
    "name_too_long": N_(
        "NAMA has {length} characters but at most {maximum} fit on the card. Abbreviate middle names as on the KTP."
    ),
    "name_characters": N_(
        "NAMA \"{value}\" contains characters that are not allowed: {characters}. Use letters, spaces, full stops, commas, apostrophes or hyphens."
    ),
    "birth_date_format": N_(
        "Invalid TANGGAL_LAHIR \"{value}\". Use the format YYYY-MM-DD, for example 1985-03-12."
    ),
    "birth_date_range": N_(
        "TANGGAL_LAHIR {value} is outside the possible range ({earliest} to today). Check the date on the KTP."
    ),
    "sex_invalid": N_(
        "Invalid JENIS_KELAMIN \"{value}\". Enter L (laki-laki, male) or P (perempuan, female)."
    ),
    "address_missing": N_(
        "ALAMAT is empty. Enter the address with its RT, for example JL. KENANGA NO. 12 RT 007."
    ),
    "kelurahan_unknown": N_(
        "Kelurahan \"{value}\" does not exist in Kota Jambi. Check the spelling of the kelurahan name."
    ),
    "kecamatan_unknown": N_(
        "Kecamatan \"{value}\" does not exist in Kota Jambi. Check the spelling of the kecamatan name."
    ),
    "kelurahan_kecamatan_mismatch": N_(
        "Kelurahan {kelurahan} is in Kecamatan {expected}, not {value}. Correct KELURAHAN or KECAMATAN."
    ),
    "desil_invalid": N_(
        "Invalid DESIL \"{value}\". Enter a whole number from 1 to 10, as in DTSEN."
    ),
    "relationship_invalid": N_(
        "Invalid HUBUNGAN_KELUARGA \"{value}\". Enter one of: {choices}."
    ),
    # The codes below are used by the server's register import, which also reads
    # semicolon-separated CSV, XLSX, clerk date formats and two optional columns.
    "digits_lost": N_(
        "{column} \"{value}\" has {length} digits instead of 16: a spreadsheet probably stored it as a number and dropped digits. Format the {column} column as Text, re-enter the number from the KTP or KK and export again."
    ),
    "numeric_cell": N_(
        "{column} {value} is stored as a number in the spreadsheet, which keeps only 15 significant digits, so its last digit may have changed. Format the {column} column as Text, re-enter the number from the KTP or KK and save again."
    ),
    "birth_date_format_clerk": N_(
        "Invalid TANGGAL_LAHIR \"{value}\". Write day, month and a four-digit year, such as 12-03-1985, 12/03/1985 or 12 Maret 1985, or YYYY-MM-DD."
    ),
    "school_invalid": N_(
        "Invalid SEKOLAH \"{value}\". Enter one of: {choices}, or leave it empty for a resident who is not in school."
    ),
    "occupation_too_long": N_(
        "PEKERJAAN has {length} characters but at most {maximum} are allowed. Shorten it."
    ),
    "csv_unreadable": N_(
        "The CSV file cannot be read at line {line} ({reason}). Save it again as \"CSV UTF-8\" and import it again."
    ),
    "xlsx_unreadable": N_(
        "The XLSX file cannot be read ({reason}). Open it in a spreadsheet, save it again as .xlsx or as CSV UTF-8, and import it again."
    ),
    "resident_not_found": N_(
        "No resident with NIK {value} is in the register. Check the NIK or import the latest register."
    ),
}
