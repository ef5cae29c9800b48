"""Field types of the JSON API and how binary values are written.

Binary values use one encoding per kind:

- fixed-size identifiers and points (household id, issuer kid, card key) are
  lower-case hex; input may use either case;
- variable-length blobs (SubjectPublicKeyInfo DER, COSE_Sign1 records) are
  standard base64 with padding (RFC 4648 section 4).

Dates are ISO 8601 "YYYY-MM-DD", timestamps ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictInt, StrictStr

from card.cardnumber import is_valid_card_number

__all__ = [
    "TERMINAL_ID_PATTERN",
    "PROGRAMME_CODE_PATTERN",
    "CardNumber",
    "Desil",
    "IsoDate",
    "TerminalId",
    "ProgrammeCode",
    "Name",
    "KelurahanCode",
    "HouseholdId",
    "Kid",
    "CompressedPoint",
    "hex_bytes",
    "decode_base64",
    "encode_base64",
]

TERMINAL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PROGRAMME_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_KELURAHAN_PATTERN = re.compile(r"^1571[0-9]{6}$")
_ISO_DATE_PATTERN = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_HEX_PATTERN = re.compile(r"^[0-9A-Fa-f]*$")


def _check_card_number(text: str) -> str:
    if not is_valid_card_number(text):
        raise ValueError("is not a valid card number (16 digits starting with 1571 and ending in a Luhn check digit)")
    return text


def _check_kelurahan(text: str) -> str:
    if not _KELURAHAN_PATTERN.match(text):
        raise ValueError("must be a 10-digit Kemendagri kelurahan code of Kota Jambi, starting with 1571, without dots")
    return text


def _parse_iso_date(value: Any) -> date:
    if not isinstance(value, str) or not _ISO_DATE_PATTERN.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a calendar date") from None


def _check_terminal_id(text: str) -> str:
    if not TERMINAL_ID_PATTERN.match(text):
        raise ValueError("must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return text


def _check_programme_code(text: str) -> str:
    if not PROGRAMME_CODE_PATTERN.match(text):
        raise ValueError("must be 1 to 32 lower-case letters, digits or '_', starting with a letter")
    return text


def hex_bytes(size: int) -> Any:
    """Return a field type that reads exactly size bytes written as hex."""

    def parse(text: str) -> bytes:
        if len(text) != 2 * size or not _HEX_PATTERN.match(text):
            raise ValueError(f"must be {size} bytes written as {2 * size} hex digits")
        return bytes.fromhex(text)

    return Annotated[StrictStr, AfterValidator(parse)]


def decode_base64(text: str) -> bytes:
    """Decode standard base64 with padding; raise ValueError on any other input."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("is not standard base64 (RFC 4648 section 4, with padding)") from None


def encode_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


CardNumber = Annotated[StrictStr, AfterValidator(_check_card_number)]
Desil = Annotated[StrictInt, Field(ge=1, le=10)]
IsoDate = Annotated[date, BeforeValidator(_parse_iso_date)]
TerminalId = Annotated[StrictStr, AfterValidator(_check_terminal_id)]
ProgrammeCode = Annotated[StrictStr, AfterValidator(_check_programme_code)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200)]
KelurahanCode = Annotated[StrictStr, AfterValidator(_check_kelurahan)]
HouseholdId = hex_bytes(8)
Kid = hex_bytes(8)
CompressedPoint = hex_bytes(33)
