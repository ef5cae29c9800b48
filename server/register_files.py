"""Reading a register file (CSV or XLSX) into a header and numbered rows of text cells.

CSV: UTF-8 with or without the byte-order mark, comma or semicolon separated
(the separator is the one of the two that occurs more often in the header
line; Excel in an Indonesian locale writes semicolons), quoted as in RFC 4180.
XLSX: the first worksheet, read with openpyxl. A file is taken as XLSX when it
starts with the ZIP signature, whatever its name.

Line numbers are the ones a text editor or spreadsheet shows. In a CSV file it
is the physical line where the row starts, in XLSX the worksheet row number,
and the header is line 1.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime

from issuance.register import COLUMNS, RowError, row_error

__all__ = ["RegisterTable", "FileError", "read_table", "NUMBER_COLUMNS"]

ZIP_SIGNATURE = b"PK\x03\x04"
# Columns whose cells must hold digits as text; a spreadsheet number there has lost precision.
NUMBER_COLUMNS = ("NIK", "NO_KK")


class FileError(Exception):
    """The file as a whole cannot be read; error is the RowError to report."""

    def __init__(self, error: RowError):
        super().__init__(error.message_en)
        self.error = error


@dataclass
class RegisterTable:
    """The header cells and (line, cells) rows of a register file, blank rows left out."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    # (line, column) of NIK or NO_KK cells that an XLSX file stores as numbers.
    numeric_cells: set[tuple[int, str]] = field(default_factory=set)


def read_table(data: bytes) -> RegisterTable:
    """Read a CSV or XLSX register from its bytes; raise FileError when it cannot be read at all."""
    if data.startswith(ZIP_SIGNATURE):
        return _read_xlsx(data)
    return _read_csv(data)


def _header_missing() -> FileError:
    return FileError(row_error(1, "", "", "header_missing", columns=",".join(COLUMNS)))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad_bytes = data[exc.start : exc.end].hex(" ")
        raise FileError(row_error(line, "", bad_bytes, "encoding_not_utf8")) from None


def _delimiter(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _read_csv(data: bytes) -> RegisterTable:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader, None)
        if header is None:
            raise _header_missing()
        rows = []
        while True:
            line = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if any(cell.strip() for cell in row):
                rows.append((line, row))
    except csv.Error as exc:
        # Raised for a NUL byte, which a binary file saved under a .csv name contains.
        raise FileError(row_error(reader.line_num or 1, "", "", "csv_unreadable", reason=str(exc))) from None
    return RegisterTable(header=header, rows=rows)


def _read_xlsx(data: bytes) -> RegisterTable:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 because openpyxl raises many types for a damaged file
        raise FileError(row_error(1, "", "", "xlsx_unreadable", reason=type(exc).__name__)) from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        if first is None or not any(cell is not None for cell in first):
            raise _header_missing()
        header = [_cell_text(cell) for cell in first]
        table = RegisterTable(header=header, rows=[])
        columns = {index: name.strip().upper() for index, name in enumerate(header)}
        for line, cells in enumerate(rows, start=2):
            _add_xlsx_row(table, line, cells, columns)
        return table
    finally:
        workbook.close()


def _add_xlsx_row(table: RegisterTable, line: int, cells: tuple, columns: dict[int, str]) -> None:
    if not any(cell is not None and str(cell).strip() for cell in cells):
        return
    texts = []
    for index, cell in enumerate(cells):
        if columns.get(index) in NUMBER_COLUMNS and isinstance(cell, (int, float)) and not isinstance(cell, bool):
            table.numeric_cells.add((line, columns[index]))
        texts.append(_cell_text(cell))
    # A row shorter than the header is padded, as a CSV row of empty trailing cells would be.
    texts.extend("" for _ in range(len(table.header) - len(texts)))
    table.rows.append((line, texts))


def _cell_text(cell: object) -> str:
    """Return the text a clerk would see in the cell: dates as YYYY-MM-DD, whole numbers without '.0'."""
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer():
        return f"{cell:.0f}"
    return str(cell)
