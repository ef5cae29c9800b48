"""The chip and QR credentials: CBOR payloads inside COSE_Sign1, signed by an issuer key.

Payload CBOR key map (a map with unsigned integer keys):
  1 version (uint, 1)           2 profile (uint: 1 chip, 2 QR)
  3 card number (uint, the 16 digits)
  4 holder name as printed (text, at most 60 characters)
  5 birth date (int, days since 1970-01-01)   6 sex (uint: 1 L, 2 P)
  7 kelurahan code (uint, 10 digits)          8 household id (8 bytes)
  9 issued (int, days since 1970-01-01)       10 expires (int, days since 1970-01-01)
  11 photo digest (32 bytes, SHA-256 of the facial image; chip only)
  12 card key (33 bytes, compressed P-256 point of slot 9E; chip only)
Dates are days, not timestamps, so a credential says nothing finer than a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import IntEnum

from card import cbor, cose
from card.cardnumber import is_valid_card_number

__all__ = ["Profile", "Holder", "Credential", "CredentialError", "encode_payload", "decode_payload", "sign_credential"]

VERSION = 1
MAX_NAME_LENGTH = 60
EPOCH = date(1970, 1, 1)
SEX_CODES = {"L": 1, "P": 2}


class Profile(IntEnum):
    CHIP = 1
    QR = 2


class CredentialError(ValueError):
    """A credential payload is malformed."""


@dataclass(frozen=True)
class Holder:
    name: str
    birth_date: date
    sex: str
    kelurahan_code: str


@dataclass(frozen=True)
class Credential:
    profile: Profile
    card_number: str
    holder: Holder
    household_id: bytes
    issued: date
    expires: date
    photo_digest: bytes | None = None
    card_key: bytes | None = None
    version: int = VERSION

    def __post_init__(self) -> None:
        _check(self)


def _days(value: date) -> int:
    return (value - EPOCH).days


def _date(days: int) -> date:
    try:
        return EPOCH + timedelta(days=days)
    except OverflowError:
        raise CredentialError(f"day number {days} is out of range") from None


def _check(c: Credential) -> None:
    if c.version != VERSION:
        raise CredentialError(f"credential version {c.version} is not supported (expected {VERSION})")
    if not is_valid_card_number(c.card_number):
        raise CredentialError(f"card number {c.card_number!r} is not 16 digits starting 1571 with a valid check digit")
    if not c.holder.name or len(c.holder.name) > MAX_NAME_LENGTH:
        raise CredentialError(f"holder name must be 1 to {MAX_NAME_LENGTH} characters")
    if c.holder.sex not in SEX_CODES:
        raise CredentialError(f"holder sex {c.holder.sex!r} must be 'L' or 'P'")
    code = c.holder.kelurahan_code
    if not (len(code) == 10 and code.isascii() and code.isdigit() and code.startswith("1571")):
        raise CredentialError(f"kelurahan code {code!r} must be 10 digits starting 1571")
    if len(c.household_id) != 8:
        raise CredentialError(f"household id must be 8 bytes, got {len(c.household_id)}")
    if c.expires < c.issued:
        raise CredentialError(f"credential expires {c.expires} before it is issued {c.issued}")
    chip_fields = (c.photo_digest, c.card_key)
    if c.profile is Profile.CHIP:
        if c.photo_digest is None or len(c.photo_digest) != 32:
            raise CredentialError("chip credential needs a 32-byte photo digest")
        if c.card_key is None or len(c.card_key) != 33 or c.card_key[0] not in (2, 3):
            raise CredentialError("chip credential needs the card key as a 33-byte compressed point")
    elif any(field is not None for field in chip_fields):
        raise CredentialError("QR credential must not carry a photo digest or card key")


def encode_payload(c: Credential) -> bytes:
    item = {
        1: c.version,
        2: int(c.profile),
        3: int(c.card_number),
        4: c.holder.name,
        5: _days(c.holder.birth_date),
        6: SEX_CODES[c.holder.sex],
        7: int(c.holder.kelurahan_code),
        8: c.household_id,
        9: _days(c.issued),
        10: _days(c.expires),
    }
    if c.profile is Profile.CHIP:
        item[11] = c.photo_digest
        item[12] = c.card_key
    return cbor.encode(item)


_REQUIRED = {1: int, 2: int, 3: int, 4: str, 5: int, 6: int, 7: int, 8: bytes, 9: int, 10: int}
_OPTIONAL = {11: bytes, 12: bytes}


def _field(item: dict, key: int, kind: type) -> object:
    value = item[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CredentialError(f"credential field {key} must be {kind.__name__}, got {type(value).__name__}")
    return value


def decode_payload(payload: bytes) -> Credential:
    """Decode and check a credential payload; raise CredentialError on any fault."""
    try:
        item = cbor.decode(payload)
    except cbor.CBORError as exc:
        raise CredentialError(str(exc)) from None
    if not isinstance(item, dict):
        raise CredentialError("credential payload must be a CBOR map")
    if cbor.encode(item) != payload:
        raise CredentialError("credential payload is not deterministically encoded CBOR")
    missing = [key for key in _REQUIRED if key not in item]
    unknown = [key for key in item if key not in _REQUIRED and key not in _OPTIONAL]
    if missing or unknown:
        raise CredentialError(f"credential fields missing {missing} or unknown {unknown}")
    fields = {key: _field(item, key, kind) for key, kind in {**_REQUIRED, **_OPTIONAL}.items() if key in item}
    sex = {code: letter for letter, code in SEX_CODES.items()}.get(fields[6])
    if sex is None:
        raise CredentialError(f"credential sex code {fields[6]} is not 1 or 2")
    try:
        profile = Profile(fields[2])
    except ValueError:
        raise CredentialError(f"credential profile {fields[2]} is not 1 (chip) or 2 (QR)") from None
    return Credential(
        version=fields[1],
        profile=profile,
        card_number=str(fields[3]),
        holder=Holder(
            name=fields[4], birth_date=_date(fields[5]), sex=sex, kelurahan_code=str(fields[7])
        ),
        household_id=fields[8],
        issued=_date(fields[9]),
        expires=_date(fields[10]),
        photo_digest=fields.get(11),
        card_key=fields.get(12),
    )


def sign_credential(credential: Credential, signer: cose.Signer) -> bytes:
    """Return the credential as COSE_Sign1 bytes signed by the issuer key."""
    return cose.sign1(encode_payload(credential), signer)
