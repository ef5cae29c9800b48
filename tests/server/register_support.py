"""Synthetic register rows and files for the server's register and entitlement tests."""

from __future__ import annotations

import io

from issuance.register import COLUMNS, household_id

HOUSEHOLD_KEY = b"k" * 32
KK = "1571011506100001"

# One synthetic household in Kenali Asam Bawah, Kota Baru (kelurahan 1571011002).
HEAD = {
    "NIK": "1571010101800001",
    "NO_KK": KK,
    "NAMA": "BUDI SANTOSO",
    "TANGGAL_LAHIR": "1980-01-01",
    "JENIS_KELAMIN": "L",
    "ALAMAT": "JL. KENANGA NO. 12 RT 007",
    "KELURAHAN": "KENALI ASAM BAWAH",
    "KECAMATAN": "KOTA BARU",
    "DESIL": "2",
    "HUBUNGAN_KELUARGA": "KEPALA KELUARGA",
}
WIFE = {**HEAD, "NIK": "1571015203850001", "NAMA": "SITI AISYAH", "TANGGAL_LAHIR": "1985-03-12",
        "JENIS_KELAMIN": "P", "HUBUNGAN_KELUARGA": "ISTRI"}
CHILD = {**HEAD, "NIK": "1571012507100001", "NAMA": "RIZKY SANTOSO", "TANGGAL_LAHIR": "2010-07-25",
         "HUBUNGAN_KELUARGA": "ANAK"}
# A 64-year-old on 2026-03-15 (the live server's clock) in another household.
ELDER = {**HEAD, "NIK": "1571014506610001", "NO_KK": "1571010203050001", "NAMA": "HALIMAH",
         "TANGGAL_LAHIR": "1961-06-05", "JENIS_KELAMIN": "P", "DESIL": "6", "HUBUNGAN_KELUARGA": "KEPALA KELUARGA"}

FAMILY = [HEAD, WIFE, CHILD]


def csv_bytes(rows: list[dict], *, delimiter: str = ",", extra: tuple[str, ...] = (), bom: bool = False) -> bytes:
    """Write rows as a register CSV; extra names optional columns taken from each row (default empty)."""
    columns = [*COLUMNS, *extra]
    lines = [delimiter.join(columns)]
    for row in rows:
        lines.append(delimiter.join(row.get(column, "") for column in columns))
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def xlsx_bytes(header: list[str], rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def household_of(row: dict) -> bytes:
    return household_id(row["NO_KK"], HOUSEHOLD_KEY)
